"""Where road networks come from (DESIGN §6): a spec string, or — with no road data — the dataset's
known locations.

`load_road_network(spec)` recognises the spec's form and hands it to the road format that claims it
(`core.geo.formats`, one module each: a `place:` name downloaded with osmnx and cached on disk,
GraphML, OSM XML, a nodes/edges CSV pair). `from_locations` (`core.geo.knn`) builds a
k-nearest-neighbour stand-in over known locations.
"""
from __future__ import annotations

from pathlib import Path

from core.errors import InputError, ParameterError
from core.geo.formats import ROAD_FORMATS, get_road_format
from core.geo.knn import from_locations
from core.geo.network import RoadNetwork

__all__ = ["from_locations", "load_road_network", "sniff_road_format"]


def _spec_help() -> str:
    forms = [fmt.description for fmt in ROAD_FORMATS.values()]
    return ", ".join(forms[:-1]) + ", or " + forms[-1] if len(forms) > 1 else forms[0]


def sniff_road_format(spec: str) -> str:
    """The name of the first registered road format that claims `spec` (see `core.geo.formats`).

    Raises InputError when none does: the file is missing, or its type is unknown; either message
    lists the spec forms the formats accept.
    """
    spec = str(spec).strip()
    for name, fmt in ROAD_FORMATS.items():
        if fmt.claims(spec):
            return name
    p = Path(spec).expanduser()
    if not p.exists():
        raise InputError(f"road network file not found: {p} (expected {_spec_help()})")
    raise InputError(f"road network spec {spec!r}: unknown file type (expected {_spec_help()})")


def load_road_network(spec: str, *, encoding: str | None = None,
                      columns: dict | None = None) -> RoadNetwork:
    """Load a road network from a spec string (dispatch on its form, see `sniff_road_format`).

    With the built-in formats (`core.geo.formats.<module>`):

    * `place:Some Place` — osmnx download, cached under `default_cache_dir()` (`place`);
    * `*.graphml[.gz]` — `load_graphml` (`graphml`); `*.osm`, `*.xml` (optionally `.gz`) —
      `load_osm_xml` (`osm_xml`);
    * `NODES.csv,EDGES.csv` — `load_csv_pair` (`csv_pair`); a single nodes CSV uses its sibling
      edges file (`foo_nodes.csv` -> `foo_edges.csv`, else `foo_edges.csv` after the stem, else
      `edges.csv`).

    `encoding` and `columns` (a {role: header name} mapping, roles node, lat, lon, u, v) apply
    to the CSV pair only; given for another format they are a ParameterError.
    """
    spec = str(spec).strip()
    name = sniff_road_format(spec)
    fmt = get_road_format(name)
    options = {k: v for k, v in (("encoding", encoding), ("columns", columns)) if v}
    for key, value in options.items():
        if key not in fmt.options:
            raise ParameterError(f"road_{key}", value, f"nothing for a {name} road network "
                                 "(only a NODES.csv,EDGES.csv pair takes it)")
    return fmt.load(spec, **options)
