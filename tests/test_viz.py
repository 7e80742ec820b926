"""core.viz: folium maps (offline assets, layers, round slider) and plotly figures."""
from __future__ import annotations

import base64

import folium
import numpy as np
import plotly.graph_objects as go
import pytest

from core.geo.network import RoadNetwork
from core.viz import figures, maps
from core.viz.offline import external_urls, leaflet_assets, offline_map

# Two clients, three points each; client 1's point 2 first reconstructed in round 2.
RECON = {
    "clients": [
        {"client": 0, "user_id": "a", "points": [
            {"index": 0, "true": [41.88, -87.65], "rec": [41.881, -87.651], "error_m": 140.0, "first_round": 2},
            {"index": 1, "true": [41.89, -87.64], "rec": [41.889, -87.641], "error_m": 130.0, "first_round": 2},
            {"index": 2, "true": [41.90, -87.63], "rec": [41.95, -87.60], "error_m": 6000.0, "first_round": 2}]},
        {"client": 1, "user_id": "b", "points": [
            {"index": 0, "true": [41.86, -87.67], "rec": [41.86, -87.67], "error_m": 0.0, "first_round": 1},
            {"index": 1, "true": [41.87, -87.66], "rec": [41.871, -87.66], "error_m": 111.0, "first_round": 2},
            {"index": 2, "true": [41.88, -87.66], "rec": [41.881, -87.66], "error_m": 111.0, "first_round": 2}]},
    ],
    "by_round": [
        {"round": 1, "clients": [0, 1], "point_index": [0, 1],
         "rec": [[[41.80, -87.70], [41.81, -87.70]], [[41.86, -87.67], [41.90, -87.60]]],
         "error_m": [[9000.0, 9500.0], [0.0, 7000.0]]},
        {"round": 2, "clients": [0, 1], "point_index": [1, 2],
         "rec": [[[41.889, -87.641], [41.95, -87.60]], [[41.871, -87.66], [41.881, -87.66]]],
         "error_m": [[130.0, 6000.0], [111.0, 111.0]]},
    ],
}


def grid_network(lat0=41.85, lon0=-87.70, n=5, step=0.01) -> RoadNetwork:
    ids, lat, lon, eu, ev = [], [], [], [], []
    for i in range(n):
        for j in range(n):
            ids.append(i * n + j)
            lat.append(lat0 + i * step)
            lon.append(lon0 + j * step)
            if j + 1 < n:
                eu.append(i * n + j); ev.append(i * n + j + 1)
            if i + 1 < n:
                eu.append(i * n + j); ev.append((i + 1) * n + j)
    return RoadNetwork("grid", np.array(ids), np.array(lat), np.array(lon), np.array(eu),
                       np.array(ev), directed=False)


# ---- offline assets ---------------------------------------------------------------------------

def test_leaflet_is_inlined_and_nothing_comes_from_a_cdn():
    js, css = leaflet_assets()
    assert js.startswith("data:text/javascript;base64,")
    assert b"Leaflet" in base64.b64decode(js.split(",", 1)[1])[:200]
    text = base64.b64decode(css.split(",", 1)[1]).decode()
    assert ".leaflet-container" in text and "url(images/" not in text  # icons inlined too
    m = maps.reconstruction_map(RECON, grid_network())
    assert external_urls(m) == []
    html = m.get_root().render()
    assert "cdn.jsdelivr" not in html and "code.jquery" not in html and "bootstrap" not in html


def test_class_level_asset_lists_stay_untouched():
    before = list(folium.Map.default_js)
    offline_map((41.0, -87.0))
    assert folium.Map.default_js == before and "jsdelivr" in folium.Map.default_js[0][1]


def test_tiles_switch():
    assert "openstreetmap" not in offline_map((0, 0)).get_root().render().lower()
    html = offline_map((0, 0), tiles="osm").get_root().render()
    assert "tile.openstreetmap.org" in html
    with pytest.raises(ValueError):
        offline_map((0, 0), tiles="satellite")


# ---- reconstruction map -----------------------------------------------------------------------

def test_map_has_true_and_reconstructed_polylines_for_every_client():
    layers = maps.layer_polylines(maps.reconstruction_map(RECON, grid_network()))
    assert set(layers) == {maps.LAYER_ROADS, maps.LAYER_TRUE, maps.LAYER_REC, maps.LAYER_ERR}
    trues = layers[maps.LAYER_TRUE]
    assert [[41.88, -87.65], [41.89, -87.64], [41.90, -87.63]] in trues
    assert [[41.86, -87.67], [41.87, -87.66], [41.88, -87.66]] in trues
    assert [[41.881, -87.651], [41.889, -87.641], [41.95, -87.60]] in layers[maps.LAYER_REC]
    assert len(layers[maps.LAYER_ERR]) == 6
    assert [[41.90, -87.63], [41.95, -87.60]] in layers[maps.LAYER_ERR]


def test_one_client_and_the_round_slider():
    layers = maps.layer_polylines(maps.reconstruction_map(RECON, client=1, round_=1))
    assert layers[maps.LAYER_TRUE] == [[[41.86, -87.67], [41.87, -87.66], [41.88, -87.66]]]
    # after round 1 only points 0 and 1 of client 1 are reconstructed, with round-1 estimates
    assert layers[maps.LAYER_REC] == [[[41.86, -87.67], [41.90, -87.60]]]
    assert maps.LAYER_ROADS not in layers
    t = maps.tracks(RECON, round_=1)[1]
    assert np.isnan(t.rec[2]).all() and t.error_m[1] == 7000.0
    assert maps.rounds_of(RECON) == [1, 2]


def test_road_layer_clips_and_caps():
    net = grid_network(n=10)
    fg = maps.road_layer(net, bounds=[[41.85, -87.70], [41.86, -87.69]], max_edges=10_000)
    [line] = [c for c in fg._children.values() if isinstance(c, folium.PolyLine)]
    assert 0 < len(line.locations) < net.n_edges
    fg = maps.road_layer(net, max_edges=20)
    [line] = [c for c in fg._children.values() if isinstance(c, folium.PolyLine)]
    assert len(line.locations) <= 20


def test_inversion_map():
    path = np.array([[41.80, -87.70], [41.85, -87.66], [41.88, -87.65]])
    layers = maps.layer_polylines(maps.inversion_map([[41.88, -87.65]], path, grid_network()))
    assert layers["Dummy's path"][0] == path.tolist()


# ---- figures ----------------------------------------------------------------------------------

ROWS = [{"round": 1, "asr": 0.9, "ait": 20.0, "ait_success": 15.0, "median_error_m": 50.0,
         "recall_at_5": 0.1, "epsilon_round": 0.5, "epsilon_spent": 0.5},
        {"round": 2, "asr": 0.7, "ait": 40.0, "ait_success": None, "median_error_m": 300.0,
         "recall_at_5": None, "epsilon_round": 0.5, "epsilon_spent": 1.0}]

DEF_DOC = {"config": {"epsilons": [1.0, 10.0]}, "defenses": {
    "none": {"asr": 0.9, "recall_at_5": 0.30},
    "geoi": {"1": {"asr": 0.05, "recall_at_5": 0.10, "allocation": [0.5, 0.5]},
             "10": {"asr": 0.40, "recall_at_5": 0.25, "allocation": [5.0, 5.0]}},
    "adaptive": {"1": {"asr": 0.03, "recall_at_5": 0.12, "allocation": [0.2, 0.8]},
                 "10": {"asr": 0.30, "recall_at_5": 0.27, "allocation": [3.0, 7.0]}}},
    "labels": {"none": "None", "geoi": "Geo-I", "adaptive": "Adaptive (paper)"}}
# the same sweep as written today: the final model's recall@5 and the baselines beside it
NEW_DOC = {**DEF_DOC, "baselines": {"persistence": 0.11, "transition": 0.31},
           "defenses": {n: ({e: {**c, "final_recall_at_5": c["recall_at_5"] + 0.01}
                                 for e, c in b.items()} if n != "none"
                                else {**b, "final_recall_at_5": 0.31})
                        for n, b in DEF_DOC["defenses"].items()}}


def test_round_figures():
    fig = figures.rounds_figure(ROWS)
    assert isinstance(fig, go.Figure) and [t.name for t in fig.data] == ["ASR", "median error (m)"]
    assert list(fig.data[0].y) == [0.9, 0.7]
    assert np.isnan(figures.ait_figure(ROWS, 200).data[1].y[1])
    util = figures.utility_figure(ROWS)
    assert {t.name for t in util.data} == {"recall@5", "ε spent", "ε this round"}
    assert len(figures.utility_figure([{**r, "epsilon_spent": 0.0} for r in ROWS]).data) == 1


def test_error_cdf():
    fig = figures.error_cdf([10.0, 100.0, 1000.0, None], 500.0)
    assert list(fig.data[0].y) == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert "67%" in fig.layout.annotations[0].text
    assert len(figures.error_cdf([]).data) == 0


def test_defense_figures():
    names, eps, z, base = figures.defense_matrix(DEF_DOC, "asr")
    assert names == ["geoi", "adaptive"] and eps == ["1", "10"] and base == 0.9
    assert z.tolist() == [[0.05, 0.40], [0.03, 0.30]]
    hm = figures.defense_heatmap(DEF_DOC, "recall_at_5")
    assert list(hm.data[0].y) == ["Geo-I", "Adaptive (paper)"]
    fr = figures.frontier_figure(DEF_DOC)
    assert [t.name for t in fr.data] == ["Geo-I", "Adaptive (paper)", "No defense"]
    assert list(fr.data[1].x) == [0.03, 0.30] and list(fr.data[1].y) == [0.12, 0.27]
    new = figures.frontier_figure(NEW_DOC)  # final-model utility, baselines as reference lines
    assert list(new.data[1].y) == pytest.approx([0.13, 0.28]) and list(new.data[2].y) == [0.31]
    assert sorted(s.y0 for s in new.layout.shapes) == [0.11, 0.31]
    al = figures.allocation_figure({"uniform": [5.0, 5.0], "adaptive": [3.0, 7.0]}, 10.0)
    assert list(al.data[3].y) == [3.0, 10.0]  # adaptive, cumulative


def test_comparison_figures():
    doc = {"attacks": {"dlg": {"rounds": [{"round": 1, "asr": 0.2, "ait": 150.0}]},
                       "st-gia": {"rounds": [{"round": 1, "asr": 0.8, "ait": 30.0}]}}}
    assert [t.name for t in figures.attacks_figure(doc).data] == ["dlg", "st-gia"]
    table = figures.mean_table({n: b["rounds"] for n, b in doc["attacks"].items()})
    assert table[1] == {"name": "st-gia", "mean_asr": 0.8, "mean_ait": 30.0}
    abl = figures.ablation_figure({"variants": {"st-gia": {"rounds": [{"round": 1, "asr": 0.8}]},
                                                "st-gia-no-mapping": {"rounds": [{"round": 1, "asr": 0.3}]}}})
    assert list(abl.data[0].y) == [0.8, 0.3]


def test_learn_figures():
    fig = figures.laplace_figure(2.0)  # mean displacement 2/ε km = 1 km
    assert "1,000 m" in fig.layout.annotations[0].text
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.01)          # a density in metres
    assert np.trapezoid(x * y, x) == pytest.approx(1000.0, rel=0.02)    # its mean
    tr = figures.inversion_trace_figure([1000.0, 10.0, 0.0], [1.0, 1e-3, 1e-6])
    assert len(tr.data) == 2 and min(tr.data[0].y) > 0
    cal = figures.calibration_figure([{"round": 1, "raw_error_m": 100.0, "calibrated_error_m": 100.0}])
    assert len(cal.data) == 2


def test_core_never_imports_streamlit():
    import subprocess
    import sys

    code = ("import sys, core.viz.maps, core.viz.figures, core.viz.offline, core.store, "
            "core.store.export; assert 'streamlit' not in sys.modules, 'core imported streamlit'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_log_axes_read_as_numbers_and_their_labels_land_on_the_threshold():
    import math

    from core.viz import figures
    cdf = figures.error_cdf([10.0, 300.0, 800.0, 5000.0], 500.0)
    [note] = cdf.layout.annotations
    assert note.x == pytest.approx(math.log10(500.0))       # log axis: log10, not 10^500
    assert "500 m: 50% of points" in note.text
    assert cdf.layout.xaxis.type == "log" and cdf.layout.xaxis.tickformat == ",.3~r"
    rounds = figures.rounds_figure([{"round": r, "asr": 0.5, "median_error_m": 4119.8764}
                                    for r in (1, 2, 3)])
    assert rounds.layout.yaxis2.tickformat == ",.3~r" and rounds.layout.yaxis2.hoverformat == ",.0f"
    assert rounds.layout.xaxis.dtick == 1                     # whole rounds, no 1.5
    series = figures.series_figure({"a": [{"round": 1, "recall_at_5": 0.12345}]}, "recall_at_5")
    assert series.layout.yaxis.title.text == "recall@5"      # not the field name
