"""Sidebar widgets generated from the run configuration's field declarations -> a validated
RunConfig (+ where the data comes from).

A page names its experiment (`core.experiments.registry`); the form shows one widget per field
the experiment reads — the same fields the CLI command has as flags — with the declared label,
range or choices and help (`core.experiments.params`). Advanced fields sit in an expander.
Every widget is bound to the URL (`bind="query-params"`, key = field name), so the address bar
holds a shareable configuration; uploaded files are never in the URL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable

import streamlit as st

from core.errors import InputError
from core.experiments.config import (EXECUTION_FIELDS, PRESETS, SECTIONS, RunConfig, all_fields,
                                     preset_default)
from core.experiments.params import FieldInfo, parse_text
from core.experiments.registry import EXPERIMENTS
from ui.data import DataChoice, FileBlob

QP = "query-params"
# The dashboard's default run: small enough to finish in seconds on a laptop
# (bench/bench_dashboard.py); everything else defaults as in the CLI.
DEFAULTS = MappingProxyType(dict(clients=20, rounds=20, iters=100, epsilon=5.0))
SOURCES = {"demo": "the embedded demo city", "upload": "a file from your computer",
           "server": "a file on the server"}
ROAD_SOURCES = {"none": "map onto the data's known venues", "upload": "GraphML, OSM XML or CSVs",
                "server": "a path, or place:NAME (online)"}
TILES = {"none": "offline: roads only", "osm": "OpenStreetMap tiles (online)"}
PRESET_HELP = {"paper": "the paper's setting: regression head, one window per round, ε per round",
               "realistic": "classification head, each round on all windows so far, server Adam"}
# Chosen through the data source widgets, not as plain fields.
SOURCE_FIELDS = ("dataset", "format", "roads")
INVALID = object()  # a text widget whose value does not parse (the error is already shown)
FILE_ONLY = ("columns", "skip_bad_rows", "max_rows", "encoding")


@dataclass(frozen=True)
class FormResult:
    config: RunConfig | None
    choice: DataChoice
    tiles: str
    error: str | None
    values: dict[str, Any] = field(default_factory=dict)
    preset: str = "paper"

    def with_(self, experiment: str, **values: Any) -> RunConfig:
        """The config of another experiment on this form's values plus `values` (checked)."""
        if any(v is INVALID for v in values.values()):
            raise InputError("fix the highlighted value first")
        cfg = RunConfig.build(self.preset, **{**self.values, **values})
        EXPERIMENTS[experiment].check(cfg)
        return cfg


def _blob(f) -> FileBlob | None:
    return None if f is None else FileBlob(f.name, f.getvalue())


def field_widget(name: str, default: Any = None, key_prefix: str = "") -> Any:
    """The widget for one configuration field; returns its value (not yet validated)."""
    info = all_fields()[name]
    p, key = info.param, key_prefix + name
    label, allowed = p.label or name, p.allowed()
    value = info.default if default is None else default
    common = dict(key=key, help=p.help, bind=QP)
    if info.kind is bool:
        return st.checkbox(label, value=bool(value), **common)
    if info.sequence and allowed is not None:
        return st.multiselect(label, list(allowed), default=list(value), **common)
    if allowed is not None:
        none = p.none_label
        options = ([none] if info.optional else []) + list(allowed)
        chosen = st.selectbox(label, options, index=options.index(none if value is None else value),
                              **common)
        if p.captions and chosen in dict(p.captions):
            st.caption(dict(p.captions)[chosen])
        return None if info.optional and chosen == none else chosen
    if info.sequence or info.kind is str:
        text = value if isinstance(value, str) else ",".join(f"{v:g}" if isinstance(v, float) else str(v)
                                                             for v in (value or ()))
        typed = st.text_input(label, value=text or "", **common)
        try:
            return parse_text(info, typed)
        except InputError as exc:  # shown at the widget; the config is then not built
            st.error(str(exc))
            return INVALID
    return _number(info, label, value, common)


def _number(info: FieldInfo, label: str, value: Any, common: dict) -> Any:
    """A number box. The range is not enforced here but by the config, once, with a message
    that names the parameter and the allowed range (the widget would silently clamp)."""
    kind = info.kind
    step = 1 if kind is int else (1.0 if (value or 1.0) >= 1 else float(value) / 10)
    v = st.number_input(label, value=value, step=step, format=None if kind is int else "%g",
                        **common)
    return None if v is None else kind(v)


def data_widgets(allow_files: bool = True) -> DataChoice:
    """Dataset source (demo / upload / server path), format, and an optional road network."""
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
    fmt = field_widget("format")
    roads_src = st.radio("Road network", list(ROAD_SOURCES), captions=list(ROAD_SOURCES.values()),
                         key="roads_source", bind=QP)
    roads_path, roads_up = None, ()
    if roads_src == "upload":
        files = st.file_uploader("GraphML, OSM XML, or nodes + edges CSV", key="roads_files",
                                 accept_multiple_files=True)
        roads_up = tuple(FileBlob(f.name, f.getvalue()) for f in files or [])
    elif roads_src == "server":
        roads_path = st.text_input("Road network spec", key="roads", bind=QP,
                                   help=all_fields()["roads"].param.help).strip() or None
    return DataChoice("path" if source == "server" else source, path=path, upload=upload,
                      fmt=fmt, roads_path=roads_path, roads_upload=roads_up)


def preset_widget() -> str:
    preset = st.radio("Preset", list(PRESETS), captions=[PRESET_HELP[p] for p in PRESETS],
                      key="preset", bind=QP, horizontal=False)
    last = st.session_state.get("_preset_applied")
    if last is not None and last != preset:  # a preset switch resets the fields it sets
        for name in set(PRESETS[last]) | set(PRESETS[preset]):
            st.session_state.pop(name, None)
    st.session_state["_preset_applied"] = preset
    return preset


def fields_widgets(names: Iterable[str], preset: str, defaults: dict) -> dict[str, Any]:
    """One widget per field, grouped by section; advanced ones in one expander."""
    infos = [all_fields()[n] for n in names]
    values: dict[str, Any] = {}
    plain = [i for i in infos if not i.param.advanced]
    advanced = [i for i in infos if i.param.advanced]
    for section in SECTIONS:
        group = [i for i in plain if i.section == section]
        if group:
            st.subheader(section.capitalize())
        for info in group:
            values[info.name] = field_widget(info.name, defaults.get(info.name,
                                                                     preset_default(info.name, preset)))
    if advanced:
        with st.expander("Advanced"):
            for info in advanced:
                values[info.name] = field_widget(info.name, defaults.get(info.name,
                                                                         preset_default(info.name, preset)))
    return values


def run_form(experiment: str, allow_files: bool = True, defaults: dict | None = None,
             exclude: Iterable[str] = ()) -> FormResult:
    """A page's sidebar for `experiment`: data, preset, the experiment's fields -> its config.

    `exclude`: fields the page shows itself (e.g. in a tab); pass them to `FormResult.with_`.
    """
    exp = EXPERIMENTS[experiment]
    d = {**DEFAULTS, **(defaults or {})}
    with st.sidebar:
        st.subheader("Data")
        choice = data_widgets(allow_files)
        preset = preset_widget()
        skip = (set(SOURCE_FIELDS) | set(exclude) | set(EXECUTION_FIELDS)
                | ({"epsilon"} if "defense" in exp.fields else set()))
        if choice.source == "demo":
            skip |= set(FILE_ONLY)
        names = [n for n in exp.fields if n not in skip]
        values = fields_widgets(names, preset, d)
        if "defense" in exp.fields and values.get("defense", "none") != "none":
            values["epsilon"] = field_widget("epsilon", d.get("epsilon"))
        st.subheader("Display")
        tiles = st.radio("Map background", list(TILES), captions=list(TILES.values()),
                         key="tiles", bind=QP)
    values.update({"format": choice.fmt})
    bad = [k for k, v in values.items() if v is INVALID]
    if bad:
        return FormResult(None, choice, tiles, f"fix {', '.join(bad)} first", values, preset)
    try:
        choice = choice.checked()
        values.update({"dataset": choice.dataset_name() or "demo", "roads": choice.roads_name()})
        cfg = RunConfig.build(preset, **values)
        if not exclude:
            exp.check(cfg)
        return FormResult(cfg, choice, tiles, None, values, preset)
    except InputError as exc:
        return FormResult(None, choice, tiles, str(exc), values, preset)


def start_experiment(form: FormResult, kind: str, key: str, title: str, **values: Any) -> None:
    """Start `kind` on the form's config plus `values` (a page's tab widgets) as a job under
    `key`, saved to the run store when it ends; a config error is shown, nothing starts."""
    from ui import jobs, session
    from ui.work import experiment_work, save_doc

    try:
        cfg = form.with_(kind, **values)
    except InputError as exc:
        st.error(str(exc))
        return
    f = cfg.federation
    data = form.choice.label()
    if data not in title:  # every run says which data it ran on (an upload: its file name)
        title = f"{title} on {data}"
    job = jobs.Job(kind, f"{title} · {f.clients} clients · {f.rounds} rounds",
                   owner=session.workspace(), private=form.choice.private)
    jobs.start(key, job, experiment_work(kind, cfg, form.choice), save_doc(session.store(), kind))
