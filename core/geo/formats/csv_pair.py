"""A nodes CSV and an edges CSV (spec `NODES.csv,EDGES.csv`, or a nodes CSV with a sibling edges file).

Both files are UTF-8 unless a byte-order mark says otherwise or `encoding` (CLI
``--road-encoding``) names another encoding (e.g. ``shift_jis`` for Japanese road names). Columns
are found by name, or given with `columns` (CLI ``--road-columns node=name,lat=y,lon=x,u=a,v=b``;
roles node, lat, lon, u, v; ``x``/``y`` are accepted for lon/lat).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from core.errors import DataFormatError, InputError, ParameterError, show_text
from core.files import check_encoding
from core.geo.formats._common import (RoadFormat, check_coords, ids_array, names_file,
                                      open_road_file, require_file)
from core.geo.network import RoadNetwork

ROAD_ROLES = ("node", "lat", "lon", "u", "v")
_ROLE_ALIASES = {"y": "lat", "x": "lon"}

_NODE_ID = ("node_id", "id", "node", "nodeid", "osmid", "osm_id")
_NODE_LAT = ("lat", "latitude", "y")
_NODE_LON = ("lon", "lng", "long", "longitude", "x")
_EDGE_U = ("u", "from", "from_node", "from_id", "source", "src", "start", "start_node", "node1")
_EDGE_V = ("v", "to", "to_node", "to_id", "target", "dst", "end", "end_node", "node2")
_EDGE_OTHER = ("edge_id", "id", "key", "length", "length_m", "weight", "oneway", "name", "osmid")


def road_columns(columns: dict | None) -> dict[str, str]:
    """A role -> column-name mapping with aliases resolved; ParameterError for unknown roles."""
    out: dict[str, str] = {}
    for role, name in (columns or {}).items():
        key = _ROLE_ALIASES.get(str(role).strip().lower(), str(role).strip().lower())
        if key not in ROAD_ROLES:
            raise ParameterError("road_columns", columns, "ROLE=NAME pairs with roles among "
                                 "node, lat (or y), lon (or x), u, v")
        out[key] = str(name).strip()
    return out


def _read_rows(path: Path, encoding: str | None) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with their 1-based line numbers (fields stripped)."""
    rows = []
    with open_road_file(path) as src:
        enc = src.encoding(encoding, "utf-8")
        with src.text(enc) as f:
            reader = csv.reader(f)
            try:
                for row in reader:
                    fields = [c.strip() for c in row]
                    if any(fields):
                        rows.append((reader.line_num, fields))
            except csv.Error as e:
                raise DataFormatError(f"cannot parse CSV ({e})", path=str(path),
                                      line=reader.line_num + 1) from None
    if not rows:
        raise DataFormatError("the file is empty or holds only blank lines (no data rows)",
                              path=str(path))
    return rows


def _found(header: list[str]) -> str:
    return ", ".join(show_text(h, 30) for h in header[:20])


def _pick(header: list[str], names: tuple[str, ...], what: str, path: Path, line: int,
          given: str | None = None, flag: str = "") -> int:
    if given is not None:
        if given in header:
            return header.index(given)
        raise DataFormatError(f"column {show_text(given)} given for the {what} is not in the "
                              f"header (found {_found(header)})", path=str(path), line=line)
    low = [h.lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    raise DataFormatError(f"header has no {what} column (expected one of {', '.join(names)}; "
                          f"found {_found(header)}); name it with --road-columns {flag}=NAME",
                          path=str(path), line=line)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _column(rows, j: int, path: Path, name: str) -> list[str]:
    out = []
    for line, fields in rows:
        if j >= len(fields) or fields[j] == "":
            raise DataFormatError(f"missing value (row has {len(fields)} fields)", path=str(path),
                                  line=line, column=name)
        out.append(fields[j])
    return out


def _floats(values: list[str], rows, path: Path, name: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        for (line, _), v in zip(rows, values):
            if not _is_number(v):
                raise DataFormatError(f"{show_text(v)} is not a number", path=str(path),
                                      line=line, column=name) from None
        raise


def load_csv_pair(nodes_path: str | Path, edges_path: str | Path, directed: bool = True,
                  name: str | None = None, *, encoding: str | None = None,
                  columns: dict | None = None) -> RoadNetwork:
    """Load a nodes CSV and an edges CSV, with or without a header row.

    Without a header, nodes are `node_id,latitude,longitude` and edges `edge_id,from_node,to_node`
    (or just `from_node,to_node` when a row has two fields) — the layout of the Manhattan graph in
    /work/shared/data/road_nyc. With a header (detected by known column names, or by non-numeric
    coordinates in the first row), columns are found by name: node id `node_id|id|osmid|...`,
    `lat|latitude|y`, `lon|lng|longitude|x`; edge endpoints `u|from|from_node|source|...` and
    `v|to|to_node|target|...`; other columns are ignored. Edges are read as directed by default.
    `columns` ({role: header name}, roles node, lat, lon, u, v) names columns the candidates
    miss; with it the files must have a header. `encoding`: see the module docstring.
    """
    check_encoding(encoding, "road_encoding")
    given = road_columns(columns)
    npath, epath = require_file(nodes_path), require_file(edges_path)

    rows = _read_rows(npath, encoding)
    first_line, first = rows[0]
    known = set(_NODE_ID + _NODE_LAT + _NODE_LON) | {given.get(r) for r in ("node", "lat", "lon")}
    named = any(f.lower() in known or f in known for f in first)
    if named or not any(_is_number(f) for f in first):
        j_id = _pick(first, _NODE_ID, "node id", npath, first_line, given.get("node"), "node")
        j_lat = _pick(first, _NODE_LAT, "latitude", npath, first_line, given.get("lat"), "lat")
        j_lon = _pick(first, _NODE_LON, "longitude", npath, first_line, given.get("lon"), "lon")
        names = (first[j_id], first[j_lat], first[j_lon])
        rows = rows[1:]
    elif any(r in given for r in ("node", "lat", "lon")):
        raise DataFormatError("--road-columns names node columns, but the file has no header "
                              f"(first row {_found(first)})", path=str(npath), line=first_line)
    else:
        j_id, j_lat, j_lon = 0, 1, 2
        names = ("node_id", "latitude", "longitude")
    if not rows:
        raise DataFormatError("no node rows after the header", path=str(npath))
    ids = _column(rows, j_id, npath, names[0])
    lat = _floats(_column(rows, j_lat, npath, names[1]), rows, npath, names[1])
    lon = _floats(_column(rows, j_lon, npath, names[2]), rows, npath, names[2])
    check_coords(lat, lon, npath, lambda i: rows[i][0], names[1], names[2])
    node_ids = ids_array(ids)
    index: dict[str, int] = {}
    for i, (nid, (line, _)) in enumerate(zip(ids, rows)):
        key = str(node_ids[i])
        if key in index:
            raise DataFormatError(f"node id {show_text(nid)} appears twice (first on line "
                                  f"{rows[index[key]][0]})", path=str(npath), line=line, column=names[0])
        index[key] = i

    erows = _read_rows(epath, encoding)
    first_line, first = erows[0]
    eknown = set(_EDGE_U + _EDGE_V + _EDGE_OTHER) | {given.get("u"), given.get("v")}
    if any(f.lower() in eknown or f in eknown for f in first):
        j_u = _pick(first, _EDGE_U, "edge start (from) node", epath, first_line,
                    given.get("u"), "u")
        j_v = _pick(first, _EDGE_V, "edge end (to) node", epath, first_line,
                    given.get("v"), "v")
        enames = (first[j_u], first[j_v])
        erows = erows[1:]
    elif "u" in given or "v" in given:
        raise DataFormatError("--road-columns names edge columns, but the file has no header "
                              f"(first row {_found(first)})", path=str(epath), line=first_line)
    else:
        j_u, j_v = (0, 1) if len(first) == 2 else (1, 2)
        enames = ("from_node", "to_node")
    if not erows:
        raise DataFormatError("no edge rows after the header", path=str(epath))
    ends = []
    for j, col in ((j_u, enames[0]), (j_v, enames[1])):
        out = np.empty(len(erows), dtype=np.int64)
        for k, ((line, _), ref) in enumerate(zip(erows, _column(erows, j, epath, col))):
            key = ref
            if node_ids.dtype != object:  # integer ids: accept "12" and "12.0" alike
                try:
                    key = str(int(float(ref)))
                except ValueError:
                    pass
            i = index.get(key)
            if i is None:
                raise DataFormatError(f"edge refers to node {show_text(ref)}, which is not in "
                                      f"{npath.name}",
                                      path=str(epath), line=line, column=col)
            out[k] = i
        ends.append(out)
    return RoadNetwork(name or npath.name.split(".")[0].removesuffix("_nodes"), node_ids, lat, lon,
                       ends[0], ends[1], directed=directed)


def _sibling_edges(nodes: Path) -> Path:
    stem = nodes.name[: -len(".csv")]
    tried = []
    if "nodes" in stem:
        tried.append(nodes.with_name(stem.replace("nodes", "edges") + ".csv"))
    tried += [nodes.with_name(stem + "_edges.csv"), nodes.with_name("edges.csv")]
    for t in tried:
        if t.is_file() and t != nodes:
            return t
    raise InputError(f"no edges file next to {nodes} (tried {', '.join(t.name for t in tried)}); "
                     f"pass 'NODES.csv,EDGES.csv'")


def _claims(spec: str) -> bool:
    if Path(spec).expanduser().exists():
        return names_file(spec, (".csv",))
    return "," in spec


def _load(spec: str, encoding: str | None = None, columns: dict | None = None) -> RoadNetwork:
    """`NODES.csv,EDGES.csv`, or one nodes CSV whose edges file is found next to it."""
    p = Path(spec).expanduser()
    if p.exists():
        return load_csv_pair(p, _sibling_edges(p), encoding=encoding, columns=columns)
    parts = [s.strip() for s in spec.split(",")]
    if len(parts) != 2 or not all(parts):
        raise InputError(f"road network spec {spec!r}: expected 'NODES.csv,EDGES.csv'")
    return load_csv_pair(parts[0], parts[1], encoding=encoding, columns=columns)


FORMAT = RoadFormat("'NODES.csv,EDGES.csv' or a nodes CSV with a sibling *_edges.csv or edges.csv",
                    _claims, _load, options=("encoding", "columns"))
