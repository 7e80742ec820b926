"""Road-network loaders (DESIGN §6): osmnx GraphML, OSM XML, a nodes/edges CSV pair, an osmnx
download by place name (cached on disk), or — with no road data — a k-nearest-neighbour graph over
the dataset's known locations. `load_road_network(spec)` dispatches on a spec string.

Every loader returns a `RoadNetwork` whose edges are straight segments between nodes; curved edge
geometry (osmnx's `geometry` attribute) is not expanded — at city scale the straight chord between
intersections is within a few metres of the street, well under the 500 m success threshold.
Malformed input raises `DataFormatError` naming the file, line and column when they are known.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from core.errors import DataFormatError, InputError, check_range
from core.geo.distance import LocalProjection
from core.geo.network import RoadNetwork
from core.geo.snap import unique_int

# --- helpers ----------------------------------------------------------------------------------


def _require_file(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"road network file not found: {p}")
    if p.stat().st_size == 0:
        raise DataFormatError("file is empty", path=str(p))
    return p


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _find_line(path: Path, needle: str) -> int | None:
    """1-based number of the first line containing `needle` (used only to locate errors)."""
    try:
        with _open_binary(path) as f:
            b = needle.encode()
            for i, line in enumerate(f, 1):
                if b in line:
                    return i
    except OSError:
        pass
    return None


def _check_coords(lat: np.ndarray, lon: np.ndarray, path: Path, where: Callable[[int], int | None],
                  lat_col: str, lon_col: str) -> None:
    """Raise DataFormatError at the first non-finite or out-of-range coordinate."""
    for arr, col, lim, what in ((lat, lat_col, 90.0, "latitude"), (lon, lon_col, 180.0, "longitude")):
        bad = np.flatnonzero(~(np.abs(arr) <= lim))  # also catches NaN
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(f"coordinate {arr[i]!r} is not a valid {what} (expected degrees in "
                                  f"[-{lim:g}, {lim:g}])", path=str(path), line=where(i), column=col)


def _ids_array(ids: list) -> np.ndarray:
    """int64 array when every id is an integer literal, else an array of str."""
    try:
        return np.array([int(i) for i in ids], dtype=np.int64)
    except (TypeError, ValueError):
        return np.array([str(i) for i in ids], dtype=object)


# --- GraphML ----------------------------------------------------------------------------------


def _is_projected(crs: object) -> bool:
    if not crs:
        return False
    try:
        import pyproj
        return not pyproj.CRS.from_user_input(crs).is_geographic
    except Exception:  # unknown CRS string: fall back to a textual test
        text = str(crs).lower()
        return "utm" in text or ("+proj=" in text and "longlat" not in text and "latlong" not in text)


def load_graphml(path: str | Path, name: str | None = None) -> RoadNetwork:
    """Load a GraphML road graph (osmnx-saved or any networkx-readable file, `.gz` allowed).

    Node coordinates come from `lat`/`lon` attributes when every node has them (osmnx keeps them on
    projected graphs), else from `y`/`x`: taken as degrees when the graph has no `crs` or a
    geographic one, and unprojected with pyproj when `crs` is a projected CRS. Edges are all graph
    edges (parallel ones kept); `directed` follows the graph.
    """
    import xml.etree.ElementTree as ET

    import networkx as nx

    p = _require_file(path)
    try:
        G = nx.read_graphml(p)
    except ET.ParseError as e:
        line, col = e.position
        raise DataFormatError(f"not valid XML ({e})", path=str(p), line=line, column=str(col + 1)) from e
    except (nx.NetworkXError, KeyError, ValueError) as e:
        raise DataFormatError(f"not a readable GraphML graph ({e})", path=str(p)) from e
    if G.number_of_nodes() == 0:
        raise DataFormatError("the graph has no nodes", path=str(p))

    nodes = list(G.nodes)
    data = [G.nodes[n] for n in nodes]
    if all("lat" in d and "lon" in d for d in data):
        lat_key, lon_key, unproject = "lat", "lon", False
    else:
        lat_key, lon_key, unproject = "y", "x", _is_projected(G.graph.get("crs"))

    def line_of(i: int) -> int | None:
        return _find_line(p, f'id="{nodes[i]}"')

    lat = np.empty(len(nodes))
    lon = np.empty(len(nodes))
    for i, d in enumerate(data):
        for key, out in ((lat_key, lat), (lon_key, lon)):
            if key not in d:
                raise DataFormatError(f"node {nodes[i]!r} has no {key!r} attribute (nodes need lat/lon "
                                      f"or x/y coordinates; a node only referenced by an edge has none)",
                                      path=str(p), line=line_of(i), column=key)
            try:
                out[i] = float(d[key])
            except (TypeError, ValueError):
                raise DataFormatError(f"node {nodes[i]!r}: {key}={d[key]!r} is not a number",
                                      path=str(p), line=line_of(i), column=key) from None
    if unproject:
        import pyproj
        try:
            tf = pyproj.Transformer.from_crs(G.graph["crs"], "EPSG:4326", always_xy=True)
            lon, lat = (np.asarray(a, dtype=float) for a in tf.transform(lon, lat))
        except pyproj.exceptions.ProjError as e:
            raise DataFormatError(f"cannot convert x/y from crs {G.graph['crs']!r} to lat/lon ({e})",
                                  path=str(p)) from e
    elif lat_key == "y":
        lat_key, lon_key = "y (latitude: the graph has no projected crs)", "x (longitude)"
    _check_coords(lat, lon, p, line_of, lat_key, lon_key)

    index = {n: i for i, n in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in G.edges()], dtype=np.int64).reshape(-1, 2)
    return RoadNetwork(name or p.name.split(".")[0], _ids_array(nodes), lat, lon,
                       edges[:, 0], edges[:, 1], directed=G.is_directed())


# --- OSM XML ----------------------------------------------------------------------------------

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

    p = _require_file(path)
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
                fail(f"node without a valid integer id ({attrs.get('id')!r})", "id")
            vals = []
            for key in ("lat", "lon"):
                try:
                    vals.append(float(attrs[key]))
                except KeyError:
                    fail(f"node {nid} has no {key} attribute", key)
                except ValueError:
                    fail(f"node {nid}: {key}={attrs[key]!r} is not a number", key)
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
                fail(f"<nd> without a valid integer ref ({attrs.get('ref')!r})", "ref")
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
        with _open_binary(p) as f:
            parser.ParseFile(f)
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


# --- CSV pair ---------------------------------------------------------------------------------

_NODE_ID = ("node_id", "id", "node", "nodeid", "osmid", "osm_id")
_NODE_LAT = ("lat", "latitude", "y")
_NODE_LON = ("lon", "lng", "long", "longitude", "x")
_EDGE_U = ("u", "from", "from_node", "from_id", "source", "src", "start", "start_node", "node1")
_EDGE_V = ("v", "to", "to_node", "to_id", "target", "dst", "end", "end_node", "node2")
_EDGE_OTHER = ("edge_id", "id", "key", "length", "length_m", "weight", "oneway", "name", "osmid")


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with their 1-based line numbers (fields stripped)."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            for row in reader:
                fields = [c.strip() for c in row]
                if any(fields):
                    rows.append((reader.line_num, fields))
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataFormatError(f"cannot parse CSV ({e})", path=str(path),
                                  line=reader.line_num + 1) from e
    if not rows:
        raise DataFormatError("file is empty (no rows)", path=str(path))
    return rows


def _pick(header: list[str], names: tuple[str, ...], what: str, path: Path, line: int) -> int:
    low = [h.lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    raise DataFormatError(f"header has no {what} column (expected one of {', '.join(names)}; "
                          f"found {', '.join(header)})", path=str(path), line=line)


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
                raise DataFormatError(f"{v!r} is not a number", path=str(path), line=line,
                                      column=name) from None
        raise


def load_csv_pair(nodes_path: str | Path, edges_path: str | Path, directed: bool = True,
                  name: str | None = None) -> RoadNetwork:
    """Load a nodes CSV and an edges CSV, with or without a header row.

    Without a header, nodes are `node_id,latitude,longitude` and edges `edge_id,from_node,to_node`
    (or just `from_node,to_node` when a row has two fields) — the layout of the Manhattan graph in
    /work/shared/data/road_nyc. With a header (detected by known column names, or by non-numeric
    coordinates in the first row), columns are found by name: node id `node_id|id|osmid|...`,
    `lat|latitude|y`, `lon|lng|longitude|x`; edge endpoints `u|from|from_node|source|...` and
    `v|to|to_node|target|...`; other columns are ignored. Edges are read as directed by default.
    """
    npath, epath = _require_file(nodes_path), _require_file(edges_path)

    rows = _read_rows(npath)
    first_line, first = rows[0]
    known = set(_NODE_ID + _NODE_LAT + _NODE_LON)
    if any(f.lower() in known for f in first) or not any(_is_number(f) for f in first):
        j_id = _pick(first, _NODE_ID, "node id", npath, first_line)
        j_lat = _pick(first, _NODE_LAT, "latitude", npath, first_line)
        j_lon = _pick(first, _NODE_LON, "longitude", npath, first_line)
        names = (first[j_id], first[j_lat], first[j_lon])
        rows = rows[1:]
    else:
        j_id, j_lat, j_lon = 0, 1, 2
        names = ("node_id", "latitude", "longitude")
    if not rows:
        raise DataFormatError("no node rows after the header", path=str(npath))
    ids = _column(rows, j_id, npath, names[0])
    lat = _floats(_column(rows, j_lat, npath, names[1]), rows, npath, names[1])
    lon = _floats(_column(rows, j_lon, npath, names[2]), rows, npath, names[2])
    _check_coords(lat, lon, npath, lambda i: rows[i][0], names[1], names[2])
    node_ids = _ids_array(ids)
    index: dict[str, int] = {}
    for i, (nid, (line, _)) in enumerate(zip(ids, rows)):
        key = str(node_ids[i])
        if key in index:
            raise DataFormatError(f"node id {nid!r} appears twice (first on line "
                                  f"{rows[index[key]][0]})", path=str(npath), line=line, column=names[0])
        index[key] = i

    erows = _read_rows(epath)
    first_line, first = erows[0]
    if any(f.lower() in set(_EDGE_U + _EDGE_V + _EDGE_OTHER) for f in first):
        j_u = _pick(first, _EDGE_U, "edge start (from) node", epath, first_line)
        j_v = _pick(first, _EDGE_V, "edge end (to) node", epath, first_line)
        enames = (first[j_u], first[j_v])
        erows = erows[1:]
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
                raise DataFormatError(f"edge refers to node {ref!r}, which is not in {npath.name}",
                                      path=str(epath), line=line, column=col)
            out[k] = i
        ends.append(out)
    return RoadNetwork(name or npath.name.split(".")[0].removesuffix("_nodes"), node_ids, lat, lon,
                       ends[0], ends[1], directed=directed)


# --- no road data: a graph over known locations -------------------------------------------------


def _bridge_components(xy: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shortest extra edges that make the graph connected: a minimum spanning tree over components,
    using Delaunay edges as the bridges (they contain the Euclidean MST)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

    n = xy.shape[0]
    adj = coo_matrix((np.ones(u.size), (u, v)), shape=(n, n))
    ncomp, label = connected_components(adj, directed=False)
    if ncomp <= 1:
        return u[:0], v[:0]
    try:
        from scipy.spatial import Delaunay
        tri = Delaunay(xy).simplices
        cand = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
    except Exception:  # collinear or too few points: the sorted chain contains the EMST
        order = np.lexsort((xy[:, 1], xy[:, 0]))
        cand = np.column_stack([order[:-1], order[1:]])
    a, b = cand[:, 0], cand[:, 1]
    cross = label[a] != label[b]
    a, b = a[cross], b[cross]
    w = np.hypot(*(xy[a] - xy[b]).T) + 1e-9  # > 0: csgraph ignores zero weights
    # cheapest candidate per component pair, then an MST over the components
    ca, cb = np.minimum(label[a], label[b]), np.maximum(label[a], label[b])
    order = np.lexsort((w, cb, ca))
    first = order[np.r_[True, (ca[order][1:] != ca[order][:-1]) | (cb[order][1:] != cb[order][:-1])]]
    mst = minimum_spanning_tree(coo_matrix((w[first], (ca[first], cb[first])), shape=(ncomp, ncomp))).tocoo()
    pick = {(int(r), int(c)) for r, c in zip(mst.row, mst.col)}
    sel = np.array([(int(ca[i]), int(cb[i])) in pick or (int(cb[i]), int(ca[i])) in pick for i in first])
    return a[first][sel], b[first][sel]


def from_locations(lat, lon, k: int = 4, connect: bool = True, name: str = "locations") -> RoadNetwork:
    """A stand-in road network over known locations (venues) when no road data is available.

    Duplicate locations are merged (first occurrence kept, in input order). Each location is joined
    to its `k` nearest neighbours (haversine ranks them; a cKDTree on locally projected metres finds
    them), undirected. With `connect`, the fewest shortest extra edges are added to make the graph
    connected, so shortest-path distances (GeoGI, PGEM) are finite.
    """
    check_range("k", k, low=1)
    lat = np.asarray(lat, dtype=np.float64).reshape(-1)
    lon = np.asarray(lon, dtype=np.float64).reshape(-1)
    if lat.shape != lon.shape:
        raise InputError(f"lat and lon have different lengths ({lat.size}, {lon.size})")
    if lat.size == 0:
        raise InputError("no locations to build a network from")
    bad = np.flatnonzero(~((np.abs(lat) <= 90) & (np.abs(lon) <= 180)))
    if bad.size:
        raise InputError(f"location {int(bad[0])} ({lat[bad[0]]}, {lon[bad[0]]}) is not a valid lat/lon")
    _, first = np.unique(np.stack([lat, lon], axis=1), axis=0, return_index=True)
    keep = np.sort(first)
    lat, lon = lat[keep], lon[keep]
    n = lat.size
    from scipy.spatial import cKDTree

    proj = LocalProjection(0.5 * (lat.min() + lat.max()), 0.5 * (lon.min() + lon.max()))
    xy = np.column_stack(proj.to_xy(lat, lon))
    kk = min(int(k), n - 1)
    if kk > 0:
        _, nb = cKDTree(xy).query(xy, k=kk + 1)
        u = np.repeat(np.arange(n), kk)
        v = nb[:, 1:].reshape(-1)
        a, b = np.minimum(u, v), np.maximum(u, v)
        key = unique_int(a * n + b)
        u, v = key // n, key % n
    else:
        u = v = np.zeros(0, dtype=np.int64)
    if connect and n > 1:
        bu, bv = _bridge_components(xy, u, v)
        u, v = np.concatenate([u, bu]), np.concatenate([v, bv])
    return RoadNetwork(name, np.arange(n, dtype=np.int64), lat, lon, u, v, directed=False)


# --- osmnx download by place name, cached ---------------------------------------------------------

Downloader = Callable[..., object]  # (place, network_type="drive") -> networkx MultiDiGraph


def default_cache_dir() -> Path:
    """Where downloaded road networks are cached: `$ST_GIA_CACHE/roads` when ST_GIA_CACHE is set
    (the lab-wide cache root), else `~/.cache/st-gia-lab/roads`."""
    root = os.environ.get("ST_GIA_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "st-gia-lab") / "roads"


def place_cache_path(place: str, cache_dir: str | Path) -> Path:
    """`<slug>-<hash>-drive.graphml`: readable, and distinct for places whose slugs coincide."""
    slug = re.sub(r"[^a-z0-9]+", "_", place.lower()).strip("_")[:60] or "place"
    digest = hashlib.sha1(place.strip().encode("utf-8")).hexdigest()[:8]
    return Path(cache_dir).expanduser() / f"{slug}-{digest}-drive.graphml"


def download_place(place: str, cache_dir: str | Path | None = None,
                   downloader: Downloader | None = None) -> RoadNetwork:
    """The drivable road network of `place` from OpenStreetMap via osmnx, cached as GraphML.

    Downloads (`osmnx.graph_from_place(place, network_type="drive")`, or the injected `downloader`
    with the same call signature) only when the cache file is missing; then loads the cache file.
    """
    place = place.strip()
    if not place:
        raise InputError("empty place name for a road-network download")
    path = place_cache_path(place, cache_dir if cache_dir is not None else default_cache_dir())
    if not path.is_file():
        if downloader is None:
            import osmnx
            downloader = osmnx.graph_from_place
        try:
            G = downloader(place, network_type="drive")
        except Exception as e:  # network, geocoding and Overpass errors all land here
            raise InputError(f"could not download the road network of {place!r} ({type(e).__name__}: "
                             f"{e}). Without internet, load a GraphML/OSM/CSV file instead, or place "
                             f"a GraphML file at {path}") from e
        import osmnx
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        osmnx.save_graphml(G, tmp)
        os.replace(tmp, path)  # atomic: a crashed download never leaves a half-written cache
    return load_graphml(path, name=place)


# --- dispatch --------------------------------------------------------------------------------------

_SPEC_HELP = ("a *.graphml file, a *.osm/*.xml file, 'NODES.csv,EDGES.csv', a nodes CSV with a "
              "sibling *_edges.csv or edges.csv, or 'place:Some Place'")


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


def load_road_network(spec: str) -> RoadNetwork:
    """Load a road network from a spec string (dispatch on its form).

    * `place:Some Place` — osmnx download, cached under `default_cache_dir()`;
    * `*.graphml[.gz]` — `load_graphml`; `*.osm`, `*.xml` (optionally `.gz`) — `load_osm_xml`;
    * `NODES.csv,EDGES.csv` — `load_csv_pair`; a single nodes CSV uses its sibling edges file
      (`foo_nodes.csv` -> `foo_edges.csv`, else `foo_edges.csv` after the stem, else `edges.csv`).
    """
    spec = str(spec).strip()
    if spec.lower().startswith("place:"):
        return download_place(spec[len("place:"):], default_cache_dir())
    p = Path(spec).expanduser()
    if not p.exists() and "," in spec:
        parts = [s.strip() for s in spec.split(",")]
        if len(parts) != 2 or not all(parts):
            raise InputError(f"road network spec {spec!r}: expected 'NODES.csv,EDGES.csv'")
        return load_csv_pair(parts[0], parts[1])
    if not p.exists():
        raise InputError(f"road network file not found: {p} (expected {_SPEC_HELP})")
    low = p.name.lower().removesuffix(".gz")
    if low.endswith(".graphml"):
        return load_graphml(p)
    if low.endswith((".osm", ".xml")):
        return load_osm_xml(p)
    if low.endswith(".csv"):
        return load_csv_pair(p, _sibling_edges(p))
    raise InputError(f"road network spec {spec!r}: unknown file type (expected {_SPEC_HELP})")
