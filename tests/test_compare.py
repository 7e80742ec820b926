"""compare-attacks and ablation: documented JSON shape, paper-layout tables, CLI behaviour."""
import csv
import io
import json

import numpy as np
import pytest

from core.cli.main import main
from core.data.trajectory import Trajectory, TrajectoryDataset
from core.experiments import compare
from core.experiments.config import PAPER_ATTACKS, RunConfig
from core.experiments.setup import prepare

ROUNDS = 2
ROUND_FIELDS = {"round", "asr", "ait", "ait_success", "median_error_m", "recall_at_5",
                "attack_seconds"}


def _trajectories(n_users: int = 4, n_points: int = 8, seed: int = 1) -> list[Trajectory]:
    rng = np.random.default_rng(seed)
    venues = np.stack([41.87 + 0.02 * rng.random(20), -87.65 + 0.02 * rng.random(20)], 1)
    trs = []
    for u in range(n_users):
        v = venues[rng.integers(0, len(venues), n_points)]
        t = 1_700_000_000 + 900 * np.arange(n_points, dtype=np.int64)
        trs.append(Trajectory(f"u{u}", t, v[:, 0].copy(), v[:, 1].copy()))
    return trs


@pytest.fixture(scope="module")
def tiny():
    cfg = RunConfig.build(dataset="tiny", clients=3, rounds=ROUNDS, iters=3, hidden=4)
    return cfg, prepare(cfg, raw=TrajectoryDataset.build("tiny", _trajectories()))


def _check_rounds(entry: dict) -> None:
    assert [r["round"] for r in entry["rounds"]] == list(range(1, ROUNDS + 1))
    for r in entry["rounds"]:
        assert ROUND_FIELDS <= set(r)
        assert 0.0 <= r["asr"] <= 1.0 and 0.0 <= r["ait"] <= 3
    assert entry["summary"]["rounds_run"] == ROUNDS
    assert entry["summary"]["wall_seconds"] >= 0


def test_compare_attacks_document_shape(tiny, tmp_path):
    cfg, prep = tiny
    events = []
    doc = compare.compare_attacks(cfg, progress=events.append, prep=prep)
    json.loads(json.dumps(doc))  # JSON-serialisable
    assert set(doc) >= {"config", "attacks", "wall_seconds"}
    assert list(doc["attacks"]) == list(PAPER_ATTACKS)
    assert doc["config"]["attacks"] == list(PAPER_ATTACKS)
    assert doc["config"]["clients"] == 3 and doc["config"]["iters"] == 3
    for entry in doc["attacks"].values():
        _check_rounds(entry)
    # local worker processes: one event per finished cell (attack), the step counting rounds
    assert len(events) == len(PAPER_ATTACKS)
    assert {"round", "attack", "step", "total"} <= set(events[0])
    assert events[-1]["step"] == events[-1]["total"] == ROUNDS * len(PAPER_ATTACKS)
    # tables: paper layout (rows attacks, columns rounds), long CSV of every round
    md = compare.markdown_table(doc)
    lines = md.splitlines()
    assert lines[0].startswith("| attack") and "| 1 | 2 |" in lines[0]
    assert len(lines) == 2 + len(PAPER_ATTACKS)
    rows = list(csv.DictReader(io.StringIO(compare.csv_text(doc))))
    assert len(rows) == ROUNDS * len(PAPER_ATTACKS)
    assert {"attack"} | ROUND_FIELDS <= set(rows[0])
    written = compare.write_outputs(doc, tmp_path / "cmp.json")
    assert sorted(p.suffix for p in written) == [".csv", ".json", ".md"]
    assert json.loads((tmp_path / "cmp.json").read_text())["attacks"].keys() == doc["attacks"].keys()


def test_ablation_document_shape_and_figure(tiny):
    cfg, prep = tiny
    doc = compare.ablation(cfg, prep=prep)
    names = ["st-gia", "st-gia-no-initialisation", "st-gia-no-mapping", "st-gia-no-calibration"]
    assert set(doc) >= {"config", "variants", "wall_seconds"}
    assert list(doc["variants"]) == names
    for entry in doc["variants"].values():
        _check_rounds(entry)
    specs = {n: e["spec"] for n, e in doc["variants"].items()}
    assert specs["st-gia"]["previous"] and not specs["st-gia-no-initialisation"]["previous"]
    assert not specs["st-gia-no-mapping"]["mapping"]
    assert not specs["st-gia-no-calibration"]["calibration"]
    assert compare.markdown_table(doc).startswith("| variant")
    fig = compare.asr_figure(doc)
    assert fig is not None and [t.name for t in fig.data] == names


def test_table_columns_follow_the_paper():
    assert compare.table_rounds(range(1, 51)) == [1, 10, 20, 30, 40, 50]
    assert compare.table_rounds(range(1, 13)) == [1, 10, 12]
    assert compare.table_rounds([1, 2]) == [1, 2]
    assert compare.table_rounds([]) == []


def test_unknown_names_fail_with_the_known_list(capsys):
    with pytest.raises(Exception) as exc:
        RunConfig.build(attacks=["dlg", "nope"])
    assert "nope" in str(exc.value) and "st-gia" in str(exc.value) and "sapag" in str(exc.value)
    assert main(["compare-attacks", "--attacks", "dlg,nope", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "idlg" in err
    assert main(["ablation", "--components", "mapping,colour", "--quiet"]) == 2
    assert "colour" in capsys.readouterr().err


def test_cli_writes_json_md_csv_and_html(tmp_path, capsys):
    data = tmp_path / "tiny.csv"
    lines = ["user,time,lat,lon"] + [f"{tr.user_id},{t},{la},{lo}" for tr in _trajectories()
                                     for t, la, lo in zip(tr.t, tr.lat, tr.lon)]
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "abl.json"
    rc = main(["ablation", "--dataset", str(data), "--clients", "2", "--rounds", "2", "--iters", "2",
               "--hidden", "4", "--components", "mapping", "--json", str(out), "--quiet"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert list(doc["variants"]) == ["st-gia", "st-gia-no-mapping"]
    for suffix in (".md", ".csv", ".html"):
        assert out.with_suffix(suffix).exists(), suffix
    html = out.with_suffix(".html").read_text()
    assert html.count("plotly.js (basic") == 1 and len(html) < 2_000_000  # not plotly.py's 4.8 MB
    printed = capsys.readouterr().out
    assert "| st-gia-no-mapping |" in printed


def test_comparison_runs_under_a_defense(tiny):
    cfg, prep = tiny
    cfg = cfg.with_(defense="dpsgd", epsilon=10.0, attacks=["dlg", "st-gia"])
    doc = compare.compare_attacks(cfg, prep=prep)
    assert doc["config"]["defense"] == "dpsgd" and list(doc["attacks"]) == ["dlg", "st-gia"]
    for entry in doc["attacks"].values():
        _check_rounds(entry)
