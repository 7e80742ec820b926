"""Road-network formats (core.geo.formats: GraphML, OSM XML, CSV pair, place download), their
registry, and the spec dispatch of core.geo.loaders."""
from __future__ import annotations

import gzip
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from core.errors import DataFormatError, InputError, ParameterError
from core.geo.formats import ROAD_FORMATS, RoadFormat, get_road_format, register
from core.geo.formats.csv_pair import load_csv_pair
from core.geo.formats.graphml import load_graphml
from core.geo.formats.osm_xml import load_osm_xml
from core.geo.formats.place import default_cache_dir, download_place, place_cache_path
from core.geo.loaders import load_road_network, sniff_road_format
from core.geo.network import RoadNetwork

ROAD_NYC = Path(__file__).resolve().parents[2] / "shared/data/road_nyc"
MANHATTAN_NODES = ROAD_NYC / "manhattan_nodes.csv"
MANHATTAN_EDGES = ROAD_NYC / "manhattan_edges.csv"
MOMEPY = ROAD_NYC / "momepy_nyc_graph.graphml"
needs_manhattan = pytest.mark.skipif(not MANHATTAN_NODES.is_file(), reason=f"{ROAD_NYC} absent")
needs_momepy = pytest.mark.skipif(not MOMEPY.is_file(), reason=f"{MOMEPY} absent")

# A 2x2 block: four corners, four streets, one diagonal (lat/lon near Midtown)
SQUARE = {1: (40.750, -73.990), 2: (40.750, -73.980), 3: (40.760, -73.980), 4: (40.760, -73.990)}
SQUARE_EDGES = [(1, 2), (2, 3), (3, 4), (4, 1), (1, 3)]


def _unprojected_graph(directed: bool = True) -> nx.MultiDiGraph:
    G = nx.MultiDiGraph(crs="epsg:4326") if directed else nx.MultiGraph(crs="epsg:4326")
    for n, (lat, lon) in SQUARE.items():
        G.add_node(n, y=lat, x=lon)
    for u, v in SQUARE_EDGES:
        G.add_edge(u, v, length=1.0)
    return G


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- GraphML ---------------------------------------------------------------------------------


def test_graphml_written_by_networkx_xy(tmp_path):
    p = tmp_path / "square.graphml"
    nx.write_graphml(_unprojected_graph(), p)
    net = load_graphml(p)
    assert net.name == "square"
    assert (net.n_nodes, net.n_edges, net.directed) == (4, 5, True)
    i = {int(n): k for k, n in enumerate(net.node_ids)}
    for n, (lat, lon) in SQUARE.items():
        assert (net.lat[i[n]], net.lon[i[n]]) == (lat, lon)
    got = sorted((int(net.node_ids[u]), int(net.node_ids[v])) for u, v in zip(net.edge_u, net.edge_v))
    assert got == sorted(SQUARE_EDGES)


def test_graphml_lat_lon_attributes_win_over_projected_xy(tmp_path):
    G = nx.Graph(crs="+proj=utm +zone=18 +datum=WGS84")
    G.add_node("a", x=586400.2, y=4515546.1, lat=40.7863627, lon=-73.9759753)
    G.add_node("b", x=586438.7, y=4515617.5, lat=40.7870011, lon=-73.9755093)
    G.add_edge("a", "b")
    p = tmp_path / "proj.graphml"
    nx.write_graphml(G, p)
    net = load_graphml(p)
    assert not net.directed and net.n_edges == 1
    assert net.lat.tolist() == [40.7863627, 40.7870011]


def test_graphml_missing_coordinates_names_line_and_column(tmp_path):
    G = _unprojected_graph()
    G.add_edge(4, 99)  # node 99 gets no coordinates
    p = tmp_path / "bad.graphml"
    nx.write_graphml(G, p)
    with pytest.raises(DataFormatError) as e:
        load_graphml(p)
    err = e.value
    assert err.path == str(p) and err.column == "y" and err.line is not None
    assert 'id="99"' in p.read_text().splitlines()[err.line - 1]
    assert "99" in str(err)


def test_graphml_bad_coordinate_value(tmp_path):
    G = _unprojected_graph()
    G.nodes[2]["y"] = 123.0  # not a latitude
    p = tmp_path / "bad.graphml"
    nx.write_graphml(G, p)
    with pytest.raises(DataFormatError, match="latitude") as e:
        load_graphml(p)
    assert e.value.line is not None and e.value.column.startswith("y")


def test_graphml_not_xml_and_empty(tmp_path):
    p = _write(tmp_path / "broken.graphml", "<graphml>\n<graph>\n<node id='1'>\n</graphml>\n")
    with pytest.raises(DataFormatError) as e:
        load_graphml(p)
    assert e.value.line == 4 and e.value.column is not None
    with pytest.raises(DataFormatError, match="empty"):
        load_graphml(_write(tmp_path / "empty.graphml", ""))
    with pytest.raises(InputError, match="not found"):
        load_graphml(tmp_path / "missing.graphml")


@needs_momepy
def test_momepy_graphml():
    net = load_graphml(MOMEPY)
    assert (net.n_nodes, net.n_edges, net.directed) == (46, 73, False)
    # SOURCE.md bbox of the lat/lon attributes
    assert net.lat.min() == pytest.approx(40.78573, abs=1e-5)
    assert net.lat.max() == pytest.approx(40.79271, abs=1e-5)
    assert net.lon.min() == pytest.approx(-73.97691, abs=1e-5)
    assert net.lon.max() == pytest.approx(-73.96747, abs=1e-5)
    assert net.node_ids.dtype == np.int64


@needs_momepy
def test_momepy_projected_xy_without_latlon_is_unprojected(tmp_path):
    """Dropping lat/lon forces the UTM x/y + crs path; pyproj must give the same coordinates."""
    G = nx.read_graphml(MOMEPY)
    for _, d in G.nodes(data=True):
        del d["lat"], d["lon"]
    p = tmp_path / "utm_only.graphml"
    nx.write_graphml(G, p)
    ref, net = load_graphml(MOMEPY), load_graphml(p)
    assert np.max(np.abs(net.lat - ref.lat)) < 1e-6
    assert np.max(np.abs(net.lon - ref.lon)) < 1e-6


# --- OSM XML ---------------------------------------------------------------------------------

OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
  <node id="1" lat="40.750" lon="-73.990"/>
  <node id="2" lat="40.750" lon="-73.980"/>
  <node id="3" lat="40.760" lon="-73.980"/>
  <node id="4" lat="40.760" lon="-73.990"/>
  <node id="5" lat="40.770" lon="-73.990"><tag k="amenity" v="cafe"/></node>
  <way id="100">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/>
  </way>
  <way id="101">
    <nd ref="3"/><nd ref="4"/>
    <tag k="highway" v="primary"/><tag k="oneway" v="yes"/>
  </way>
  <way id="102">
    <nd ref="1"/><nd ref="4"/>
    <tag k="highway" v="secondary"/><tag k="oneway" v="-1"/>
  </way>
  <way id="103">
    <nd ref="4"/><nd ref="5"/>
    <tag k="building" v="yes"/>
  </way>
  <way id="104">
    <nd ref="2"/><nd ref="4"/>
    <tag k="highway" v="proposed"/>
  </way>
</osm>
"""


def _osm_edges(net: RoadNetwork) -> set[tuple[int, int]]:
    return {(int(net.node_ids[u]), int(net.node_ids[v])) for u, v in zip(net.edge_u, net.edge_v)}


def test_osm_xml_highways_and_oneway(tmp_path):
    net = load_osm_xml(_write(tmp_path / "tiny.osm", OSM))
    assert net.directed and net.name == "tiny"
    assert sorted(net.node_ids.tolist()) == [1, 2, 3, 4]  # node 5 is on no highway
    assert _osm_edges(net) == {(1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 1)}
    i = net.node_ids.tolist().index(3)
    assert (net.lat[i], net.lon[i]) == (40.76, -73.98)


def test_osm_xml_gzip_and_dispatch(tmp_path):
    p = tmp_path / "tiny.osm.gz"
    with gzip.open(p, "wt") as f:
        f.write(OSM)
    assert _osm_edges(load_road_network(str(p))) == _osm_edges(load_osm_xml(_write(tmp_path / "t.xml", OSM)))


def test_osm_xml_missing_node_names_line(tmp_path):
    bad = OSM.replace('<nd ref="3"/><nd ref="4"/>', '<nd ref="3"/><nd ref="42"/>')
    p = _write(tmp_path / "bad.osm", bad)
    with pytest.raises(DataFormatError, match="42") as e:
        load_osm_xml(p)
    assert e.value.column == "ref"
    assert 'ref="42"' in bad.splitlines()[e.value.line - 1]


def test_osm_xml_bad_coordinates(tmp_path):
    p = _write(tmp_path / "bad.osm", OSM.replace('lat="40.760" lon="-73.980"', 'lat="north" lon="-73.980"'))
    with pytest.raises(DataFormatError, match="north") as e:
        load_osm_xml(p)
    assert (e.value.line, e.value.column) == (5, "lat")
    p = _write(tmp_path / "bad2.osm", OSM.replace('lat="40.760" lon="-73.980"', 'lat="40.76" lon="-273.98"'))
    with pytest.raises(DataFormatError, match="valid") as e:
        load_osm_xml(p)
    assert e.value.line == 5


def test_osm_xml_syntax_error_and_no_roads(tmp_path):
    p = _write(tmp_path / "bad.osm", OSM.replace("</way>", "</wya>", 1))
    with pytest.raises(DataFormatError, match="not valid XML") as e:
        load_osm_xml(p)
    assert e.value.line == 11 and e.value.column is not None
    p = _write(tmp_path / "none.osm", '<osm><node id="1" lat="1" lon="2"/></osm>')
    with pytest.raises(DataFormatError, match="highway"):
        load_osm_xml(p)


# --- CSV pair --------------------------------------------------------------------------------


def _square_csv(tmp_path: Path, header: bool, prefix: str = "square") -> tuple[Path, Path]:
    nodes = [f"{n},{lat},{lon}" for n, (lat, lon) in SQUARE.items()]
    edges = [f"{k},{u},{v}" for k, (u, v) in enumerate(SQUARE_EDGES, 1)]
    if header:
        nodes.insert(0, "node_id,latitude,longitude")
        edges.insert(0, "edge_id,from_node,to_node")
    np_, ep = tmp_path / f"{prefix}_nodes.csv", tmp_path / f"{prefix}_edges.csv"
    np_.write_text("\n".join(nodes) + "\n")
    ep.write_text("\n".join(edges) + "\n")
    return np_, ep


@pytest.mark.parametrize("header", [False, True])
def test_csv_pair_with_and_without_header(tmp_path, header):
    np_, ep = _square_csv(tmp_path, header)
    net = load_csv_pair(np_, ep)
    assert (net.n_nodes, net.n_edges, net.directed, net.name) == (4, 5, True, "square")
    assert net.node_ids.tolist() == [1, 2, 3, 4]
    assert net.lat.tolist() == [40.75, 40.75, 40.76, 40.76]
    assert sorted(_osm_edges(net)) == sorted(SQUARE_EDGES)


def test_csv_pair_named_columns_in_any_order(tmp_path):
    np_ = _write(tmp_path / "n.csv", "lon,lat,id\n-73.99,40.75,a\n-73.98,40.75,b\n")
    ep = _write(tmp_path / "e.csv", "length,target,source\n5,b,a\n")
    net = load_csv_pair(np_, ep)
    assert net.node_ids.tolist() == ["a", "b"]
    assert (int(net.edge_u[0]), int(net.edge_v[0])) == (0, 1)
    assert net.lon.tolist() == [-73.99, -73.98]


def test_csv_pair_two_column_edges(tmp_path):
    np_, _ = _square_csv(tmp_path, False)
    ep = _write(tmp_path / "e2.csv", "1,2\n2,3\n")
    assert load_csv_pair(np_, ep).n_edges == 2


def test_csv_edge_with_missing_node(tmp_path):
    np_, ep = _square_csv(tmp_path, True)
    ep.write_text("edge_id,from_node,to_node\n1,1,2\n2,2,77\n")
    with pytest.raises(DataFormatError) as e:
        load_csv_pair(np_, ep)
    err = e.value
    assert (err.path, err.line, err.column) == (str(ep), 3, "to_node")
    assert "77" in str(err) and str(ep) in str(err) and "line 3" in str(err)


@pytest.mark.parametrize("row, column, match", [
    ("3,forty,-73.98", "latitude", "not a number"),
    ("3,40.76,-973.98", "longitude", "longitude"),
    ("3,nan,-73.98", "latitude", "latitude"),
    ("3,40.76", "longitude", "missing"),
    ("2,40.76,-73.98", "node_id", "twice"),
])
def test_csv_bad_node_rows(tmp_path, row, column, match):
    np_, ep = _square_csv(tmp_path, False)
    lines = np_.read_text().splitlines()
    lines[2] = row
    np_.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=match) as e:
        load_csv_pair(np_, ep)
    assert (e.value.path, e.value.line, e.value.column) == (str(np_), 3, column)


def test_csv_empty_files_and_bad_header(tmp_path):
    np_, ep = _square_csv(tmp_path, False)
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(DataFormatError, match="empty"):
        load_csv_pair(empty, ep)
    with pytest.raises(DataFormatError, match="empty"):
        load_csv_pair(np_, _write(tmp_path / "blank.csv", "\n\n"))
    with pytest.raises(DataFormatError, match="no node rows"):
        load_csv_pair(_write(tmp_path / "h.csv", "id,lat,lon\n"), ep)
    with pytest.raises(DataFormatError, match="longitude column") as e:
        load_csv_pair(_write(tmp_path / "h2.csv", "id,lat,elevation\n1,40,12\n"), ep)
    assert e.value.line == 1


def test_dispatch_csv_sibling_and_pair(tmp_path):
    np_, ep = _square_csv(tmp_path, True)
    assert load_road_network(str(np_)).n_edges == 5
    assert load_road_network(f"{np_},{ep}").n_edges == 5
    d = tmp_path / "plain"
    d.mkdir()
    (d / "nodes.csv").write_text(np_.read_text())
    (d / "edges.csv").write_text(ep.read_text())
    assert load_road_network(str(d / "nodes.csv")).n_edges == 5
    lonely = _write(tmp_path / "lonely.csv", "1,40,-74\n")
    with pytest.raises(InputError, match="edges"):
        load_road_network(str(lonely))


def test_dispatch_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_road_network(str(tmp_path / "nope.graphml"))
    with pytest.raises(InputError, match="unknown file type"):
        load_road_network(str(_write(tmp_path / "roads.json", "{}")))
    with pytest.raises(InputError):
        load_road_network("a.csv,b.csv,c.csv")


@needs_manhattan
def test_manhattan_csv_pair():
    net = load_csv_pair(MANHATTAN_NODES, MANHATTAN_EDGES)
    assert (net.n_nodes, net.n_edges, net.directed) == (4091, 9452, True)
    b = net.bbox
    assert (b.lat_min, b.lat_max, b.lon_min, b.lon_max) == (40.701239, 40.873222, -74.017946, -73.911227)
    assert load_road_network(str(MANHATTAN_NODES)).n_edges == 9452
    assert load_road_network(f"{MANHATTAN_NODES},{MANHATTAN_EDGES}").n_nodes == 4091
    # SOURCE.md: connected as an undirected graph
    assert nx.is_connected(net.graph)


@needs_momepy
def test_dispatch_graphml():
    assert load_road_network(str(MOMEPY)).n_edges == 73


# --- download by place name ------------------------------------------------------------------


class _StubDownloader:
    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def __call__(self, place, network_type="all"):
        self.calls.append((place, network_type))
        return _unprojected_graph()


def test_download_place_caches(tmp_path):
    dl = _StubDownloader()
    a = download_place("Midtown, Manhattan", tmp_path, downloader=dl)
    assert dl.calls == [("Midtown, Manhattan", "drive")]
    assert (a.n_nodes, a.n_edges, a.name) == (4, 5, "Midtown, Manhattan")
    cached = place_cache_path("Midtown, Manhattan", tmp_path)
    assert cached.is_file() and cached.suffix == ".graphml"
    b = download_place("Midtown, Manhattan", tmp_path, downloader=dl)
    assert len(dl.calls) == 1  # second call hit the cache
    assert np.array_equal(a.lat, b.lat) and np.array_equal(a.edge_u, b.edge_u)
    download_place("Midtown Manhattan", tmp_path, downloader=dl)  # a different place: new file
    assert len(dl.calls) == 2
    assert len(list(tmp_path.glob("*.graphml"))) == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_download_place_offline_error(tmp_path):
    def offline(place, network_type="all"):
        raise ConnectionError("no route to host")

    with pytest.raises(InputError, match="could not download.*no route to host"):
        download_place("Atlantis", tmp_path, downloader=offline)
    assert not list(tmp_path.glob("*"))


def test_place_spec_uses_env_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ST_GIA_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "roads"
    # pre-seed the cache as a download would, so the spec loads without network access
    import osmnx
    osmnx.save_graphml(_unprojected_graph(), place_cache_path("Somewhere", tmp_path / "roads"))
    net = load_road_network("place: Somewhere")
    assert net.n_edges == 5 and net.name == "Somewhere"
    monkeypatch.delenv("ST_GIA_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "st-gia-lab" / "roads"


# --- the registry and the dispatch -----------------------------------------------------------


def test_registry_refuses_duplicates_and_lists_the_formats():
    assert list(ROAD_FORMATS) == ["place", "graphml", "osm-xml", "csv-pair"]
    assert get_road_format("graphml") is ROAD_FORMATS["graphml"]
    with pytest.raises(ValueError, match="already registered"):
        register("graphml", ROAD_FORMATS["graphml"])
    with pytest.raises(ParameterError, match="place, graphml, osm-xml, csv-pair"):
        get_road_format("shapefile")


def test_sniff_spec_forms(tmp_path):
    np_, ep = _square_csv(tmp_path, True)
    gml = tmp_path / "g.graphml.gz"
    gml.write_bytes(b"x")
    assert sniff_road_format(" place:New York, NY ") == "place"  # a comma, yet not a CSV pair
    assert sniff_road_format(str(gml)) == "graphml"
    assert sniff_road_format(str(_write(tmp_path / "m.XML", "<osm/>"))) == "osm-xml"
    assert sniff_road_format(f"{np_},{ep}") == "csv-pair"
    assert sniff_road_format(str(np_)) == "csv-pair"
    with pytest.raises(InputError, match="not found.*'place:Some Place', a \\*.graphml file"):
        sniff_road_format(str(tmp_path / "nope.graphml"))


def test_a_registered_format_is_dispatched_to(tmp_path):
    toy = RoadFormat("a *.toy file", lambda spec: spec.endswith(".toy"),
                     lambda spec: RoadNetwork(spec, [1], [40.0], [-74.0], [], []))
    register("toy", toy)
    try:
        assert load_road_network("a.toy").name == "a.toy"
        with pytest.raises(InputError, match="unknown file type.*, or a \\*.toy file"):
            load_road_network(str(_write(tmp_path / "roads.json", "{}")))
    finally:
        del ROAD_FORMATS["toy"]
