"""Sidebar widgets -> a frozen RunConfig (+ where the data comes from).

Every configuration widget is bound to the URL (`bind="query-params"`, its key is the parameter
name), so the address bar always holds a shareable configuration and opening it restores the
widgets; values equal to the default are left out of the URL, invalid ones are ignored.
Uploaded files are never in the URL (a shared link with `source=upload` asks for the file).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import streamlit as st

from core.errors import InputError
from core.experiments.config import RunConfig
from ui.data import DataChoice, FileBlob

QP = "query-params"
# The dashboard's default run: small enough to finish in seconds on a laptop (bench/bench_dashboard.py).
DEFAULTS = MappingProxyType(dict(clients=20, rounds=20, window=1, iters=100, seed=0, model="lstm",
                                 head="regression", attack="st-gia", defense="none", epsilon=5.0,
                                 hidden=16, threshold_m=500.0))
# Bound radios put their option text in the URL, so the options are short words and the
# explanations are captions.
SOURCES = {"demo": "the embedded demo city", "upload": "a file from your computer",
           "server": "a file on the server"}
ROAD_SOURCES = {"none": "map onto the data's known venues", "upload": "GraphML, OSM XML or CSVs",
                "server": "a path, or place:NAME (online)"}
TILES = {"none": "offline: roads only", "osm": "OpenStreetMap tiles (online)"}


@dataclass(frozen=True)
class FormResult:
    config: RunConfig | None
    choice: DataChoice
    components: dict[str, bool]
    tiles: str
    error: str | None


def _names(kind: str) -> list[str]:
    if kind == "attacks":
        from core.attacks import registry
    else:
        from core.defenses import registry
    return registry.names()


def _blob(f) -> FileBlob | None:
    return None if f is None else FileBlob(f.name, f.getvalue())


def data_widgets(allow_files: bool = True) -> DataChoice:
    """Dataset source (demo / upload / server path), format, and an optional road network."""
    from core.data.load import format_names

    if not allow_files:
        st.caption("Data: the embedded demo city.")
        return DataChoice("demo")
    source = st.radio("Dataset", list(SOURCES), captions=list(SOURCES.values()), key="source",
                      bind=QP)
    if source == "demo":
        st.caption("A generated Chicago-like city, 240 residents, one week of phone traces.")
        return DataChoice("demo")
    upload = path = None
    if source == "upload":
        upload = _blob(st.file_uploader(
            "Trajectory file", key="upload_file",
            help="Foursquare TSMC2014, Gowalla check-ins (plain or .gz), MTA bus-time CSV, or a "
                 "CSV with user, time, lat, lon columns. Visible only to this browser session."))
    else:
        from ui.data import data_dirs
        roots = data_dirs()
        path = st.text_input("Path on the server", key="path", bind=QP,
                             help="a file inside the server's data directories: "
                                  + (", ".join(str(r) for r in roots) or "none configured")
                                  + " (ST_GIA_DATA_DIRS)").strip() or None
    fmt = st.selectbox("Format", ["auto"] + format_names(), key="format", bind=QP)
    roads_src = st.radio("Road network", list(ROAD_SOURCES), captions=list(ROAD_SOURCES.values()),
                         key="roads_source", bind=QP)
    roads_path, roads_up = None, ()
    if roads_src == "upload":
        files = st.file_uploader("GraphML, OSM XML, or nodes + edges CSV", key="roads_files",
                                 accept_multiple_files=True)
        roads_up = tuple(FileBlob(f.name, f.getvalue()) for f in files or [])
    elif roads_src == "server":
        roads_path = st.text_input("Road network spec", key="roads", bind=QP,
                                   help="a .graphml / .osm file, 'NODES.csv,EDGES.csv', or "
                                        "'place:Manhattan, New York' (online, cached)").strip() or None
    return DataChoice("path" if source == "server" else source, path=path, upload=upload,
                      fmt=None if fmt == "auto" else fmt, roads_path=roads_path,
                      roads_upload=roads_up)


def federation_widgets(clients_max: int = 200, rounds_max: int = 100,
                       defaults: dict | None = None) -> dict:
    d = {**DEFAULTS, **(defaults or {})}
    c1, c2 = st.columns(2)
    clients = c1.number_input("Clients", 1, clients_max, d["clients"], key="clients",
                              bind=QP, help="users taking part (one client each)")
    rounds = c2.number_input("Rounds", 1, rounds_max, d["rounds"], key="rounds", bind=QP)
    c3, c4 = st.columns(2)
    window = c3.number_input("Window", 1, 10, d["window"], key="window", bind=QP,
                             help="points per training sample (the target is the next point)")
    iters = c4.number_input("Attack iterations", 1, 2000, d["iters"], key="iters",
                            bind=QP, help="gradient-matching iterations per round (paper: 200)")
    c5, c6 = st.columns(2)
    model = c5.selectbox("Model", ["lstm", "gru"], key="model", bind=QP)
    head = c6.selectbox("Head", ["regression", "classification"], key="head", bind=QP)
    seed = st.number_input("Seed", 0, 10**6, DEFAULTS["seed"], key="seed", bind=QP)
    return dict(clients=int(clients), rounds=int(rounds), window=int(window), iters=int(iters),
                model=model, head=head, seed=int(seed))


def attack_widgets() -> tuple[str, dict[str, bool]]:
    from ui.attack_run import has_components

    names = _names("attacks")
    attack = st.selectbox("Attack", names, index=names.index(DEFAULTS["attack"]), key="attack",
                          bind=QP)
    has = has_components(attack)
    comps = {}
    labels = {"init": "Spatiotemporal initialisation", "mapping": "Mapping onto the road network",
              "calibration": "Calibration over rounds"}
    if any(has.values()):
        st.caption("ST-GIA components (switch off for an ablation):")
    for k, label in labels.items():
        if has[k]:
            comps[k] = st.checkbox(label, True, key=k, bind=QP)
        else:
            comps[k] = True
    return attack, comps


def defense_widgets() -> dict:
    names = _names("defenses")
    defense = st.selectbox("Defense", names, key="defense", bind=QP,
                           help="client-side differential privacy (ε: total per-user budget)")
    eps = None
    if defense != "none":
        eps = st.number_input("ε (total budget per user)", value=DEFAULTS["epsilon"], step=1.0,
                              key="epsilon", bind=QP,
                              help="location mechanisms: ε per km; DP-SGD: (ε, δ=1e-5)")
    return dict(defense=defense, epsilon=None if eps is None else float(eps))


def tiles_widget() -> str:
    return st.radio("Map background", list(TILES), captions=list(TILES.values()), key="tiles",
                    bind=QP)


def run_form(allow_files: bool = True, with_attack: bool = True,
             with_defense: bool = True, defaults: dict | None = None) -> FormResult:
    """A page's sidebar: data, federation, attack, defense -> a validated RunConfig."""
    with st.sidebar:
        st.subheader("Data")
        choice = data_widgets(allow_files)
        st.subheader("Federation")
        fed = federation_widgets(defaults=defaults)
        attack, comps = "st-gia", {}
        if with_attack:
            st.subheader("Attack")
            attack, comps = attack_widgets()
        dfn = {"defense": "none", "epsilon": None}
        if with_defense:
            st.subheader("Defense")
            dfn = defense_widgets()
        st.subheader("Display")
        tiles = tiles_widget()
    try:
        choice = choice.checked()
        cfg = RunConfig(dataset=choice.dataset_name() or "demo", format=choice.fmt,
                        roads=choice.roads_name(), attack=attack, **dfn, **fed)
        error = None
    except InputError as exc:
        cfg, error = None, str(exc)
    return FormResult(cfg, choice, comps, tiles, error)
