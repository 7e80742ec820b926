"""GraphML road graphs: osmnx-saved or any networkx-readable file, `.gz` allowed (spec `*.graphml`)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from core.errors import DataFormatError, show_text
from core.geo.formats._common import (RoadFormat, check_coords, ids_array, names_file,
                                      open_road_file, require_file)
from core.geo.network import RoadNetwork


def _find_line(data: bytes, needle: str) -> int | None:
    """1-based number of the first line containing `needle` (used only to locate errors)."""
    i = data.find(needle.encode())
    return None if i < 0 else data.count(b"\n", 0, i) + 1


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

    p = require_file(path)
    with open_road_file(p, line_based=False) as src:  # gzip by magic bytes, errors named
        raw = src.stream.read()
    try:
        G = nx.read_graphml(io.BytesIO(raw))
    except ET.ParseError as e:
        line, col = e.position
        raise DataFormatError(f"not valid XML ({e})", path=str(p), line=line,
                              column=str(col + 1)) from None
    except (nx.NetworkXError, KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
        raise DataFormatError(f"not a readable GraphML graph ({type(e).__name__}: "
                              f"{show_text(str(e), 200)})", path=str(p)) from None
    if G.number_of_nodes() == 0:
        raise DataFormatError("the graph has no nodes", path=str(p))

    nodes = list(G.nodes)
    data = [G.nodes[n] for n in nodes]
    if all("lat" in d and "lon" in d for d in data):
        lat_key, lon_key, unproject = "lat", "lon", False
    else:
        lat_key, lon_key, unproject = "y", "x", _is_projected(G.graph.get("crs"))

    def line_of(i: int) -> int | None:
        return _find_line(raw, f'id="{nodes[i]}"')

    lat = np.empty(len(nodes))
    lon = np.empty(len(nodes))
    for i, d in enumerate(data):
        for key, out in ((lat_key, lat), (lon_key, lon)):
            if key not in d:
                raise DataFormatError(f"node {show_text(nodes[i])} has no {key!r} attribute (nodes need lat/lon "
                                      f"or x/y coordinates; a node only referenced by an edge has none)",
                                      path=str(p), line=line_of(i), column=key)
            try:
                out[i] = float(d[key])
            except (TypeError, ValueError):
                raise DataFormatError(f"node {show_text(nodes[i])}: {key}={show_text(d[key])} is not a "
                                      "number",
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
    check_coords(lat, lon, p, line_of, lat_key, lon_key)

    index = {n: i for i, n in enumerate(nodes)}
    edges = np.array([(index[u], index[v]) for u, v in G.edges()], dtype=np.int64).reshape(-1, 2)
    return RoadNetwork(name or p.name.split(".")[0], ids_array(nodes), lat, lon,
                       edges[:, 0], edges[:, 1], directed=G.is_directed())


def _claims(spec: str) -> bool:
    return names_file(spec, (".graphml",))


def _load(spec: str) -> RoadNetwork:
    return load_graphml(Path(spec).expanduser())


FORMAT = RoadFormat("a *.graphml file", _claims, _load)
