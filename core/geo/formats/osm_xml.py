"""OSM XML extracts: ways tagged `highway=*` from a `.osm` / `.xml` file, `.gz` allowed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import DataFormatError, show_text
from core.geo.formats._common import RoadFormat, names_file, open_road_file, require_file
from core.geo.network import RoadNetwork
from core.geo.snap import unique_int

# highway values osmnx also drops for its "all" network: not (yet / any more) usable roads
_SKIP_HIGHWAY = frozenset({"abandoned", "construction", "no", "planned", "platform", "proposed",
                           "raceway", "razed"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_REVERSE = frozenset({"-1", "reverse"})


def load_osm_xml(path: str | Path, name: str | None = None) -> RoadNetwork:
    """Load ways tagged `highway=*` from an OSM XML file (`.osm`, `.xml`, optionally `.gz`).

    Streams the file with expat (the parser under xml.etree, used directly because it reports line
    numbers for error messages). Every pair of consecutive nodes of a highway way is an edge.
    Ways with `area=yes` or a non-road highway value (construction, proposed, ...) are skipped.
    One-way handling, as in osmnx: `oneway=yes|true|1` (or a roundabout without `oneway=no`) gives
    only the forward edge, `oneway=-1|reverse` only the backward edge, anything else both
    directions; the result is therefore `directed=True`. Nodes used by no highway are dropped.
    A way referring to a node absent from the file raises DataFormatError (clip extracts with
    complete ways, as the OSM API and `osmium extract --strategy complete_ways` do).
    """
    from xml.parsers import expat

    p = require_file(path)
    node_index: dict[int, int] = {}
    node_ids: list[int] = []
    lat: list[float] = []
    lon: list[float] = []
    ways: list[tuple[list[int], list[int], int]] = []  # (node refs, their lines, direction)
    state: dict = {"way": None}
    parser = expat.ParserCreate()

    def fail(msg: str, column: str | None = None, line: int | None = None):
        raise DataFormatError(msg, path=str(p), line=line or parser.CurrentLineNumber, column=column)

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "node":
            try:
                nid = int(attrs["id"])
            except (KeyError, ValueError):
                fail(f"node without a valid integer id ({show_text(attrs.get('id'))})", "id")
            vals = []
            for key in ("lat", "lon"):
                try:
                    vals.append(float(attrs[key]))
                except KeyError:
                    fail(f"node {nid} has no {key} attribute", key)
                except ValueError:
                    fail(f"node {nid}: {key}={show_text(attrs[key])} is not a number", key)
            if not (abs(vals[0]) <= 90 and abs(vals[1]) <= 180):
                fail(f"node {nid}: ({vals[0]}, {vals[1]}) is not a valid lat/lon", "lat")
            if nid in node_index:
                fail(f"node {nid} defined twice", "id")
            node_index[nid] = len(node_ids)
            node_ids.append(nid)
            lat.append(vals[0])
            lon.append(vals[1])
        elif tag == "way":
            state["way"] = ([], [], {})
        elif state["way"] is not None and tag == "nd":
            try:
                state["way"][0].append(int(attrs["ref"]))
            except (KeyError, ValueError):
                fail(f"<nd> without a valid integer ref ({show_text(attrs.get('ref'))})", "ref")
            state["way"][1].append(parser.CurrentLineNumber)
        elif state["way"] is not None and tag == "tag":
            state["way"][2][attrs.get("k", "")] = attrs.get("v", "")

    def end(tag: str) -> None:
        if tag != "way" or state["way"] is None:
            return
        refs, lines, tags = state["way"]
        state["way"] = None
        hw = tags.get("highway")
        if hw is None or hw in _SKIP_HIGHWAY or tags.get("area") == "yes" or len(refs) < 2:
            return
        oneway = tags.get("oneway", "").lower()
        if oneway in _ONEWAY_FORWARD or (tags.get("junction") in ("roundabout", "circular")
                                         and oneway != "no"):
            direction = 1
        elif oneway in _ONEWAY_REVERSE:
            direction = -1
        else:
            direction = 0
        ways.append((refs, lines, direction))

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with open_road_file(p, line_based=False) as src:  # gzip by magic bytes, errors named
            parser.ParseFile(src.stream)
    except expat.ExpatError as e:
        raise DataFormatError(f"not valid XML ({expat.ErrorString(e.code)})", path=str(p),
                              line=e.lineno, column=str(e.offset + 1)) from e
    except (OSError, EOFError) as e:
        raise DataFormatError(f"cannot read file ({e})", path=str(p)) from e

    eu: list[int] = []
    ev: list[int] = []
    for refs, lines, direction in ways:
        idx = []
        for ref, line in zip(refs, lines):
            if ref not in node_index:
                raise DataFormatError(f"way refers to node {ref}, which is not in the file",
                                      path=str(p), line=line, column="ref")
            idx.append(node_index[ref])
        a, b = np.asarray(idx[:-1]), np.asarray(idx[1:])
        keep = a != b
        a, b = a[keep], b[keep]
        if direction >= 0:
            eu.extend(a.tolist()); ev.extend(b.tolist())
        if direction <= 0:
            eu.extend(b.tolist()); ev.extend(a.tolist())
    if not eu:
        raise DataFormatError("no ways tagged highway=* (no road edges) in the file", path=str(p))
    eu_a, ev_a = np.asarray(eu, dtype=np.int64), np.asarray(ev, dtype=np.int64)
    used = unique_int(np.concatenate([eu_a, ev_a]))
    remap = np.full(len(node_ids), -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return RoadNetwork(name or p.name.split(".")[0], np.asarray(node_ids, dtype=np.int64)[used],
                       np.asarray(lat)[used], np.asarray(lon)[used], remap[eu_a], remap[ev_a],
                       directed=True)


def _claims(spec: str) -> bool:
    return names_file(spec, (".osm", ".xml"))


def _load(spec: str) -> RoadNetwork:
    return load_osm_xml(Path(spec).expanduser())


FORMAT = RoadFormat("a *.osm/*.xml file", _claims, _load)
