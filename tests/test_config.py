"""The one run configuration: validated once when built, JSON round trip, presets, and every
field reachable as a CLI flag of every experiment command that reads it and as a widget on the
pages that run that experiment."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli.main import build_parser, main
from core.errors import ParameterError
from core.experiments.config import EXECUTION_FIELDS, PRESETS, RunConfig, all_fields, preset_default
from core.experiments.registry import EXPERIMENTS

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = [f for f in all_fields().values() if f.kind in (int, float)]


def test_defaults_build_and_round_trip_through_json():
    for preset in PRESETS:
        cfg = RunConfig.build(preset)
        doc = json.loads(json.dumps(cfg.to_dict()))
        assert RunConfig.from_dict(doc) == cfg
        assert doc["preset"] == preset and set(doc) == {"preset", *all_fields()}


def test_flat_names_reach_their_sections():
    cfg = RunConfig.build(clients=7, epsilon=3.0, defense="geoi", attacks=["dlg"])
    assert cfg.federation.clients == 7 and cfg.defense.epsilon == 3.0
    assert cfg.sweep.attacks == ("dlg",) and cfg.get("clients") == 7
    assert cfg.with_(clients=9).federation.clients == 9 and cfg.with_(clients=9).defense.epsilon == 3.0


def test_presets_change_defaults_never_explicit_values():
    real = RunConfig.build("realistic")
    assert (real.model.head, real.federation.protocol, real.federation.server_optimizer) == \
           ("classification", "history", "adam")
    assert RunConfig.build("realistic", head="regression").model.head == "regression"
    assert preset_default("hidden", "realistic") == 64 and preset_default("hidden") == 16
    assert real.explicit() == {}


@pytest.mark.parametrize("info", NUMBERS, ids=lambda f: f.name)
def test_every_number_refuses_nan_and_inf(info):
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ParameterError) as exc:
            RunConfig.build(**{info.name: [bad] if info.sequence else bad})
        assert info.name in str(exc.value)


@pytest.mark.parametrize("info", NUMBERS, ids=lambda f: f.name)
def test_every_range_is_enforced_with_the_allowed_range_named(info):
    p = info.param
    if p.low is None:
        pytest.skip("no lower bound")
    below = p.low if p.low_open else p.low - 1
    with pytest.raises(ParameterError) as exc:
        RunConfig.build(**{info.name: [below] if info.sequence else below})
    assert info.name in str(exc.value) and "allowed" in str(exc.value)


@pytest.mark.parametrize("values, needle", [
    (dict(seed=-1), "seed"), (dict(clients=2.5), "whole number"),
    (dict(attack="nope"), "st-gia"), (dict(defense="nope"), "geogi"),
    (dict(dataset="demo", format="csv"), "demo"), (dict(history=3), "history"),
    (dict(protocol="history", batch=2), "batch"), (dict(epsilons=[]), "epsilons"),
    (dict(colour="red"), "colour"), (dict(skip_bad_rows="yes"), "true or false"),
])
def test_bad_values_name_the_parameter(values, needle):
    with pytest.raises(ParameterError) as exc:
        RunConfig.build(**values)
    assert needle in str(exc.value)


def test_options_that_do_not_apply_are_errors():
    exp = EXPERIMENTS["attack"]
    with pytest.raises(ParameterError, match="does not apply"):
        exp.check(RunConfig.build(epsilons=[3.0]))
    with pytest.raises(ParameterError, match="without a defense"):
        exp.check(RunConfig.build(epsilon=3.0))
    with pytest.raises(ParameterError, match="defense 'geoi'"):
        exp.check(RunConfig.build(defense="geoi"))
    exp.check(RunConfig.build(defense="geoi", epsilon=3.0))
    with pytest.raises(ParameterError, match="does not apply"):
        EXPERIMENTS["compare-defenses"].check(RunConfig.build(defense="geoi", epsilon=1.0))


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_field_of_an_experiment_is_a_flag_with_its_default(name):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[name]  # noqa: SLF001
    flags = {opt: a for a in sub._actions for opt in a.option_strings}  # noqa: SLF001
    for field in EXPERIMENTS[name].fields:
        info = all_fields()[field]
        assert info.flag in flags, f"{name} lacks {info.flag}"
        assert "default:" in flags[info.flag].help
        if info.param.allowed() is not None:  # choices listed, registry names included
            assert all(str(c) in flags[info.flag].help for c in info.param.allowed())
    given = [a.dest for a in sub._actions if a.dest not in ("help", "json", "quiet", "preset")]  # noqa: SLF001
    assert sorted(given) == sorted(EXPERIMENTS[name].fields)


def test_attack_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in EXPERIMENTS["attack"].fields:
        assert all_fields()[field].flag in text
    assert text.count("default:") >= len(EXPERIMENTS["attack"].fields)
    assert "dlg, idlg, invgrad, cpl, sapag, st-gia, st-gia+" in text


@pytest.mark.parametrize("argv, needle", [
    (["attack", "--seed", "-1"], "seed"), (["attack", "--server-lr", "nan"], "server_lr"),
    (["attack", "--threshold-m", "nan"], "threshold_m"), (["attack", "--format", "csv"], "demo"),
    (["attack", "--epsilon", "2"], "without a defense"),
    (["compare-defenses", "--epsilons", "1,0"], "epsilons"),
])
def test_cli_refuses_bad_values_before_loading_data(argv, needle, capsys):
    assert main(argv + ["--quiet"]) == 2
    assert needle in capsys.readouterr().err


def test_cli_refuses_an_unwritable_json_before_running(tmp_path, capsys):
    assert main(["attack", "--clients", "2", "--rounds", "1", "--json", str(tmp_path), "--quiet"]) == 2
    assert "directory" in capsys.readouterr().err


# ---- the dashboard: one widget per field of the page's experiment(s) -------------------------

PAGE_EXPERIMENTS = {"app_pages/attack_lab.py": ["attack"],
                    "app_pages/attack_comparison.py": ["compare-attacks", "ablation"],
                    "app_pages/defenses.py": ["compare-defenses", "defense-maps"]}
CHOSEN_BY_SOURCE = {"dataset", "roads"}  # the data-source radios and uploads choose these
# how a sweep's cells run: the dashboard's worker runs them one after another itself
NOT_ON_PAGES = CHOSEN_BY_SOURCE | set(EXECUTION_FIELDS)


def _widget_keys(at) -> set[str]:
    kinds = ("number_input", "selectbox", "multiselect", "checkbox", "text_input", "radio")
    return {w.key for kind in kinds for w in at.get(kind) if w.key}


@pytest.mark.parametrize("page", list(PAGE_EXPERIMENTS))
def test_every_field_is_a_widget_on_the_pages_that_use_it(page, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ST_GIA_STORE", str(tmp_path / "runs.sqlite"))
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    # a file source shows the file-only fields; a defense shows ε
    at.query_params.update({"source": "server", "defense": "geoi"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    keys = _widget_keys(at)
    for exp in PAGE_EXPERIMENTS[page]:
        for field in set(EXPERIMENTS[exp].fields) - NOT_ON_PAGES:
            assert any(k == field or k.endswith("_" + field) for k in keys), \
                f"{page}: no widget for {field} ({exp})"


def test_widget_values_are_validated_by_the_config(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ST_GIA_STORE", str(tmp_path / "runs.sqlite"))
    at = AppTest.from_file(str(ROOT / "app_pages/attack_lab.py"), default_timeout=120)
    at.query_params.update({"window": "60"})  # the config's range is [1, 50]
    at.run()
    assert any("window" in e.value and "[1, 50]" in e.value for e in at.error)
    assert at.button[0].disabled
