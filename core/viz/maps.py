"""Folium maps of reconstructions (pure builders: a document in, a `folium.Map` out, no display).

The input is the `reconstructions` part of an attack document (`core.experiments.report`):
`{"clients": [{"client", "user_id", "points": [{"index", "true", "rec", "error_m",
"first_round"}]}], "by_round": [{"round", "clients", "point_index", "rec", "error_m"}]}`.
Layers: the road network (drawn first, as the base: offline there are no tiles), the true
trajectories, the reconstructions and the error lines joining each true point to its estimate;
a LayerControl switches them.
"""
from __future__ import annotations

from dataclasses import dataclass

import folium
import numpy as np

from core.viz.offline import offline_map

TRUE_COLOR = "#1f77b4"
REC_COLOR = "#d62728"
ERROR_COLOR = "#7f7f7f"
ROAD_COLOR = "#b0b0b0"
LAYER_ROADS = "Road network"
LAYER_TRUE = "True trajectory"
LAYER_REC = "Reconstruction"
LAYER_ERR = "Error lines"
MAX_ROAD_EDGES = 20_000


@dataclass(frozen=True)
class ClientTrack:
    """One client's attacked points: true and estimated [lat, lon] per trajectory index."""

    client: int
    user_id: str
    index: np.ndarray      # (P,)
    true: np.ndarray       # (P, 2)
    rec: np.ndarray        # (P, 2), NaN where not reconstructed yet
    error_m: np.ndarray    # (P,), NaN where not reconstructed yet


def tracks(recon: dict, round_: int | None = None) -> list[ClientTrack]:
    """Per client, true points and the estimates as they stood after round `round_` (None: final).

    With calibration an estimate changes every round that sees the point again, so the state
    after round r is the last estimate of each point among rounds <= r.
    """
    out = []
    if round_ is None:
        for c in recon.get("clients", []):
            pts = c["points"]
            out.append(ClientTrack(c["client"], str(c["user_id"]),
                                   np.array([p["index"] for p in pts], dtype=int),
                                   np.array([p["true"] for p in pts], dtype=float).reshape(-1, 2),
                                   np.array([p["rec"] for p in pts], dtype=float).reshape(-1, 2),
                                   np.array([p["error_m"] for p in pts], dtype=float)))
        return out
    latest: dict[tuple[int, int], tuple[list, float]] = {}
    for entry in recon.get("by_round", []):
        if entry["round"] > round_:
            continue
        for row, c in enumerate(entry["clients"]):
            for j, p in enumerate(entry["point_index"]):
                latest[(c, p)] = (entry["rec"][row][j], entry["error_m"][row][j])
    for c in recon.get("clients", []):
        pts = c["points"]
        rec = [latest.get((c["client"], p["index"]), ([np.nan, np.nan], np.nan)) for p in pts]
        out.append(ClientTrack(c["client"], str(c["user_id"]),
                               np.array([p["index"] for p in pts], dtype=int),
                               np.array([p["true"] for p in pts], dtype=float).reshape(-1, 2),
                               np.array([r[0] for r in rec], dtype=float).reshape(-1, 2),
                               np.array([r[1] for r in rec], dtype=float)))
    return out


def rounds_of(recon: dict) -> list[int]:
    return sorted({e["round"] for e in recon.get("by_round", [])})


def _bounds(arrays: list[np.ndarray]) -> list[list[float]] | None:
    pts = np.concatenate([a.reshape(-1, 2) for a in arrays if a.size]) if arrays else np.empty((0, 2))
    pts = pts[np.isfinite(pts).all(1)]
    if not len(pts):
        return None
    lo, hi = pts.min(0), pts.max(0)
    pad = np.maximum((hi - lo) * 0.05, 0.002)
    return [(lo - pad).tolist(), (hi + pad).tolist()]


def road_layer(roads, bounds: list[list[float]] | None = None, max_edges: int = MAX_ROAD_EDGES,
               name: str = LAYER_ROADS) -> folium.FeatureGroup:
    """The road network as one multi-segment polyline, clipped to `bounds` (+ margin), at most
    `max_edges` segments (evenly strided) so a city-size graph stays light in the browser."""
    lat, lon = np.asarray(roads.lat), np.asarray(roads.lon)
    u, v = np.asarray(roads.edge_u), np.asarray(roads.edge_v)
    if roads.directed:  # draw a two-way street once
        key = np.sort(np.stack([u, v], 1), axis=1)
        _, first = np.unique(key, axis=0, return_index=True)
        u, v = u[np.sort(first)], v[np.sort(first)]
    if bounds is not None:
        (la0, lo0), (la1, lo1) = bounds
        mla, mlo = (la1 - la0) * 0.25, (lo1 - lo0) * 0.25
        inside = ((lat >= la0 - mla) & (lat <= la1 + mla) & (lon >= lo0 - mlo) & (lon <= lo1 + mlo))
        keep = inside[u] | inside[v]
        u, v = u[keep], v[keep]
    if len(u) > max_edges:
        step = int(np.ceil(len(u) / max_edges))
        u, v = u[::step], v[::step]
    fg = folium.FeatureGroup(name=name, show=True)
    if len(u):
        segs = np.stack([np.stack([lat[u], lon[u]], 1), np.stack([lat[v], lon[v]], 1)], 1)
        folium.PolyLine(np.round(segs, 6).tolist(), color=ROAD_COLOR, weight=1.2, opacity=0.9,
                        interactive=False).add_to(fg)
    return fg


def client_bounds(recons: list[dict], client: int | None = None) -> list[list[float]] | None:
    """One frame for several maps of the same client (e.g. one map per defense): the box around
    its true and reconstructed points in every document, so side-by-side maps share a zoom."""
    arrays = []
    for recon in recons:
        for t in tracks(recon):
            if client is None or t.client == client:
                arrays += [t.true, t.rec]
    return _bounds(arrays)


def reconstruction_map(recon: dict, roads=None, client: int | None = None,
                       round_: int | None = None, tiles: str = "none", error_lines: bool = True,
                       max_road_edges: int = MAX_ROAD_EDGES,
                       bounds: list[list[float]] | None = None) -> folium.Map:
    """True trajectory vs reconstruction for one client (`client` = its index) or all (None).

    `round_` shows the estimates as they stood after that round (the round slider); `bounds`
    ([[south, west], [north, east]]) fixes the frame (default: this map's own points).
    """
    all_tracks = tracks(recon, round_)
    shown = [t for t in all_tracks if client is None or t.client == client]
    bounds = bounds or _bounds([t.true for t in shown] + [t.rec for t in shown])
    center = ((bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2) if bounds \
        else (0.0, 0.0)
    m = offline_map(center, tiles=tiles)
    if roads is not None:
        road_layer(roads, bounds, max_road_edges).add_to(m)
    g_true = folium.FeatureGroup(name=LAYER_TRUE, show=True)
    g_rec = folium.FeatureGroup(name=LAYER_REC, show=True)
    g_err = folium.FeatureGroup(name=LAYER_ERR, show=error_lines)
    small = len(shown) <= 5  # markers for every point only when few clients are shown
    for t in shown:
        label = f"user {t.user_id} (client {t.client})"
        if len(t.true):
            folium.PolyLine(np.round(t.true, 7).tolist(), color=TRUE_COLOR, weight=3, opacity=0.85,
                            tooltip=f"true trajectory · {label}").add_to(g_true)
        ok = np.isfinite(t.rec).all(1)
        if ok.any():
            folium.PolyLine(np.round(t.rec[ok], 7).tolist(), color=REC_COLOR, weight=3,
                            opacity=0.85, dash_array="6 6",
                            tooltip=f"reconstruction · {label}").add_to(g_rec)
        if small:  # every point gets markers and its own error line with a tooltip
            for i in range(len(t.true)):
                folium.CircleMarker(t.true[i].tolist(), radius=4, color=TRUE_COLOR, fill=True,
                                    fill_opacity=0.9,
                                    tooltip=f"{label}, point {t.index[i]}: true").add_to(g_true)
                if ok[i]:
                    folium.CircleMarker(t.rec[i].tolist(), radius=4, color=REC_COLOR, fill=True,
                                        fill_opacity=0.9,
                                        tooltip=f"{label}, point {t.index[i]}: reconstructed, "
                                                f"error {t.error_m[i]:,.0f} m").add_to(g_rec)
                    folium.PolyLine([t.true[i].tolist(), t.rec[i].tolist()], color=ERROR_COLOR,
                                    weight=1.5, opacity=0.8, dash_array="2 4",
                                    tooltip=f"error {t.error_m[i]:,.0f} m").add_to(g_err)
        elif ok.any():  # many clients: one multi-segment line per client keeps the page light
            segs = np.stack([t.true[ok], t.rec[ok]], 1)
            med = float(np.median(t.error_m[ok]))
            folium.PolyLine(np.round(segs, 7).tolist(), color=ERROR_COLOR, weight=1.2,
                            opacity=0.7, dash_array="2 4",
                            tooltip=f"errors · {label}: median {med:,.0f} m").add_to(g_err)
    for g in (g_true, g_rec, g_err):
        g.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    return m


def inversion_map(true_latlon: list[list[float]], path_latlon: np.ndarray, roads=None,
                  tiles: str = "none") -> folium.Map:
    """Learn page: where the dummy point went, iteration by iteration, and the true point.

    `path_latlon` (N, 2): the dummy after each iteration (first row: its starting guess).
    """
    path = np.asarray(path_latlon, dtype=float).reshape(-1, 2)
    path = path[np.isfinite(path).all(1)]
    truth = np.asarray(true_latlon, dtype=float).reshape(-1, 2)
    bounds = _bounds([truth, path])
    center = tuple(truth[0]) if len(truth) else (0.0, 0.0)
    m = offline_map(center, tiles=tiles)
    if roads is not None:
        road_layer(roads, bounds).add_to(m)
    g = folium.FeatureGroup(name="Dummy's path", show=True)
    if len(path):
        folium.PolyLine(np.round(path, 7).tolist(), color=REC_COLOR, weight=2.5, opacity=0.9,
                        tooltip="the dummy's path over iterations").add_to(g)
        marks = sorted(set(np.linspace(0, len(path) - 1, min(len(path), 8)).astype(int).tolist()))
        for k in marks:
            folium.CircleMarker(path[k].tolist(), radius=3 if k else 6, color=REC_COLOR, fill=True,
                                fill_opacity=1.0 if k else 0.3,
                                tooltip="start" if k == 0 else f"after iteration {k}").add_to(g)
    t = folium.FeatureGroup(name="True location", show=True)
    for p in truth:
        folium.CircleMarker(p.tolist(), radius=7, color=TRUE_COLOR, fill=True, fill_opacity=0.9,
                            tooltip="true location").add_to(t)
    g.add_to(m)
    t.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    return m


def layer_polylines(m: folium.Map) -> dict[str, list[list[list[float]]]]:
    """{layer name: [polyline locations]} of a map built here (for tests and summaries)."""
    out: dict[str, list] = {}
    for child in m._children.values():
        if isinstance(child, folium.FeatureGroup):
            out[child.layer_name] = [c.locations for c in child._children.values()
                                     if isinstance(c, folium.PolyLine)]
    return out


def embedding_rows_map(rows_latlon: np.ndarray, row_norms: np.ndarray, true_latlon: np.ndarray,
                       target_latlon: list[float] | None = None, roads=None,
                       tiles: str = "none") -> folium.Map:
    """Learn page, "why embeddings leak": the locations whose embedding-gradient row is
    non-zero in one client's upload (red, radius growing with the row's norm), the places the
    client really fed in (blue rings) and the next place read off the output bias (orange)."""
    rows = np.asarray(rows_latlon, dtype=float).reshape(-1, 2)
    norms = np.asarray(row_norms, dtype=float).reshape(-1)
    truth = np.asarray(true_latlon, dtype=float).reshape(-1, 2)
    extra = [np.asarray(target_latlon, dtype=float).reshape(-1, 2)] if target_latlon is not None else []
    bounds = _bounds([rows, truth] + extra)
    center = tuple(truth[0]) if len(truth) else (0.0, 0.0)
    m = offline_map(center, tiles=tiles)
    if roads is not None:
        road_layer(roads, bounds).add_to(m)
    t = folium.FeatureGroup(name="Places the client fed in", show=True)
    for p in truth:
        folium.CircleMarker(p.tolist(), radius=11, color=TRUE_COLOR, weight=2, fill=False,
                            tooltip="a place in the client's windows").add_to(t)
    g = folium.FeatureGroup(name="Non-zero embedding rows", show=True)
    top = float(norms.max()) if len(norms) else 1.0
    for p, n in zip(rows, norms):
        folium.CircleMarker(p.tolist(), radius=3 + 6 * float(np.sqrt(n / top)), color=REC_COLOR,
                            fill=True, fill_opacity=0.8,
                            tooltip=f"row norm {n:.2e}").add_to(g)
    t.add_to(m)
    g.add_to(m)
    if target_latlon is not None:
        y = folium.FeatureGroup(name="Next place (output bias)", show=True)
        folium.CircleMarker(list(target_latlon), radius=7, color="#ff7f0e", fill=True,
                            fill_opacity=0.9, tooltip="next place, from the output bias").add_to(y)
        y.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    return m
