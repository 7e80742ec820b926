"""Road-network formats: one module per format, each registered here by name.

The registry follows `core.data.formats` and the accountant registry of Opacus: a literal dict
from name to format, `register` refuses duplicates, `get_road_format` fails loudly on an unknown
name. Adding a format is one module that defines `FORMAT` (a `RoadFormat`) plus one line in
`ROAD_FORMATS` below.

Order matters for recognising a spec: `core.geo.loaders.sniff_road_format` asks each format in
registration order whether it claims the spec string. `place:` comes first (a place name may hold
a comma), the CSV pair last (it also takes any missing path with a comma in it).
"""
from __future__ import annotations

from core.errors import ParameterError
from core.geo.formats import csv_pair, graphml, osm_xml, place
from core.geo.formats._common import RoadFormat

__all__ = ["ROAD_FORMATS", "RoadFormat", "get_road_format", "register", "road_format_names"]

ROAD_FORMATS: dict[str, RoadFormat] = {
    "place": place.FORMAT,
    "graphml": graphml.FORMAT,
    "osm-xml": osm_xml.FORMAT,
    "csv-pair": csv_pair.FORMAT,
}


def register(name: str, fmt: RoadFormat) -> None:
    """Add a format under `name`; a name can be registered once."""
    if name in ROAD_FORMATS:
        raise ValueError(f"road format {name!r} is already registered")
    ROAD_FORMATS[name] = fmt


def get_road_format(name: str) -> RoadFormat:
    """The format registered as `name`; ParameterError naming the choices otherwise."""
    try:
        return ROAD_FORMATS[name]
    except KeyError:
        raise ParameterError("road format", name, "one of " + ", ".join(ROAD_FORMATS)) from None


def road_format_names() -> list[str]:
    return list(ROAD_FORMATS)
