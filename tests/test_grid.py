"""Sweeps as grids of cells: executors agree, finished cells are stored and reused (also after a
SIGKILL), several seeds give mean ± 95 % CI, and a stopped dashboard sweep keeps its cells."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import ParameterError
from core.experiments import compare, defenses, single
from core.experiments.config import RunConfig
from core.experiments.grid import Cell, CellStore, cell_config, results_only
from core.experiments.seeds import ci95
from core.experiments.setup import prepare

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(clients=3, rounds=2, iters=3, hidden=4)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ST_GIA_CACHE", str(tmp_path / "cache"))


def test_cells_do_not_depend_on_the_sweep_or_the_executor():
    cfg = RunConfig.build(**SMALL, defenses=["dpsgd"], epsilons=[1.0], executor="serial")
    other = RunConfig.build(**SMALL, defenses=["geoi", "dpsgd"], epsilons=[1.0, 5.0],
                            executor="local", processes=2)
    a = Cell("defense", cell_config(cfg, seed=0, defense="dpsgd", epsilon=1.0))
    b = Cell("defense", cell_config(other, seed=0, defense="dpsgd", epsilon=1.0))
    assert a == b and a.key() == b.key()
    assert a.key() != Cell("defense", cell_config(cfg, seed=1, defense="dpsgd", epsilon=1.0)).key()


def test_bad_executor_settings_name_the_parameter():
    with pytest.raises(ParameterError, match="executor.*local, serial, ray"):
        RunConfig.build(executor="dask")
    cfg = RunConfig.build(**SMALL, attacks=["dlg", "idlg"], ray_address="10.0.0.1:6379")
    with pytest.raises(ParameterError, match="ray_address"):
        compare.compare_attacks(cfg)
    with pytest.raises(ParameterError, match="seeds.*either --seed or --seeds"):
        compare.compare_attacks(RunConfig.build(**SMALL, seed=3, seeds=[0, 1]))


def test_per_attack_cells_equal_one_shared_training_run():
    """compare-attacks' cells (one attack each) reproduce the old shared run exactly."""
    cfg = RunConfig.build(**SMALL, attacks=["dlg", "st-gia"], executor="serial")
    prep = prepare(cfg)
    from core.attacks import registry

    shared = compare.run_specs(cfg, {n: registry.get(n) for n in cfg.sweep.attacks}, prep=prep)
    grid = compare.compare_attacks(cfg, prep=prep)
    assert results_only(grid["attacks"]) == results_only(shared["attacks"])
    assert grid["grid"]["cells"] == 2 and not grid["stopped"]


def test_same_seed_same_numbers_serial_and_local_processes():
    base = dict(**SMALL, defenses=["dpsgd", "geoi"], epsilons=[1.0, 5.0])
    serial = defenses.compare_defenses(RunConfig.build(**base, executor="serial"))
    local = defenses.compare_defenses(RunConfig.build(**base, executor="local", processes=2))
    assert local["grid"] == {**local["grid"], "executor": "local", "cells": 5, "finished": 5}
    assert results_only(local) == results_only(serial)


def test_ray_executor_equals_serial():
    pytest.importorskip("ray")
    base = dict(**SMALL, attacks=["dlg", "idlg", "st-gia"])
    serial = compare.compare_attacks(RunConfig.build(**base, executor="serial"))
    ray_doc = compare.compare_attacks(RunConfig.build(**base, executor="ray", processes=2))
    assert ray_doc["grid"]["executor"] == "ray"
    assert results_only(ray_doc) == results_only(serial)


def test_store_reuses_finished_cells_and_gives_the_same_document(tmp_path):
    store = CellStore(tmp_path / "cells")
    two = RunConfig.build(**SMALL, attacks=["dlg", "idlg"], executor="serial")
    three = two.with_(attacks=["dlg", "idlg", "st-gia"])
    first = compare.compare_attacks(two, store=store)
    assert first["grid"]["reused"] == 0
    assert len(list((tmp_path / "cells").rglob("*.json"))) == 2
    resumed = compare.compare_attacks(three, store=store)
    assert resumed["grid"] == {**resumed["grid"], "reused": 2, "cells": 3, "finished": 3}
    fresh = compare.compare_attacks(three)
    assert results_only(resumed) == results_only(fresh)


def test_a_corrupt_stored_cell_is_run_again(tmp_path):
    store = CellStore(tmp_path / "cells")
    cfg = RunConfig.build(**SMALL, attacks=["dlg", "idlg"], executor="serial")
    compare.compare_attacks(cfg, store=store)
    victim = next((tmp_path / "cells").rglob("*.json"))
    victim.write_text('{"key": "')  # a torn write from another tool
    again = compare.compare_attacks(cfg, store=store)
    assert again["grid"]["reused"] == 1
    json.loads(victim.read_text())  # rewritten whole


def _cli(args, cache, **kw):
    env = {**os.environ, "ST_GIA_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_sigkill_mid_sweep_then_rerun_gives_the_uninterrupted_json(tmp_path):
    args = ["compare-defenses", "--clients", "4", "--rounds", "3", "--iters", "20",
            "--defenses", "dpsgd", "--epsilons", "1,2,5,10,20", "--processes", "2", "--quiet"]
    killed_cache, clean_cache = tmp_path / "a", tmp_path / "b"
    out = tmp_path / "resumed.json"
    proc = _cli(args + ["--json", str(out)], killed_cache, start_new_session=True)
    cells = killed_cache / "cells"
    deadline = time.time() + 600
    while not list(cells.rglob("*.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before a cell was stored: " + proc.stderr.read()
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes
    proc.wait()
    stored = len(list(cells.rglob("*.json")))
    assert 1 <= stored < 6 and not out.exists()

    rerun = _cli(args + ["--json", str(out)], killed_cache)
    _, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err
    reused = int(err.split("reused ")[1].split(" of 6 cells")[0])
    assert reused >= stored
    clean = _cli(args + ["--json", str(tmp_path / "clean.json")], clean_cache)
    _, err2 = clean.communicate(timeout=900)
    assert clean.returncode == 0, err2 and "reused 0 of 6 cells" in err2
    a, b = (json.loads(p.read_text()) for p in (out, tmp_path / "clean.json"))
    assert results_only(a) == results_only(b)


def test_ci95_is_the_student_t_interval():
    mean, half = ci95([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302653 / 3 ** 0.5, abs=1e-5)
    assert ci95([0.5]) == (0.5, None)
    assert ci95([None, float("nan")]) == (None, None)


def test_seeds_give_mean_and_ci_and_each_seed_is_its_single_run():
    cfg = RunConfig.build(**SMALL, defenses=["dpsgd"], epsilons=[5.0], seeds=[0, 1],
                          executor="serial")
    doc = defenses.compare_defenses(cfg)
    row = doc["defenses"]["dpsgd"]["5"]
    assert doc["seeds"] == [0, 1] and set(row["per_seed"]) == {"0", "1"}
    one = defenses.compare_defenses(RunConfig.build(**SMALL, defenses=["dpsgd"], epsilons=[5.0],
                                                    seed=1, executor="serial"))
    assert results_only(row["per_seed"]["1"]) == results_only(one["defenses"]["dpsgd"]["5"])
    vals = [row["per_seed"][s]["asr"] for s in ("0", "1")]
    assert row["asr"] == pytest.approx(sum(vals) / 2, abs=1e-6)
    assert (row["ci95"]["asr"] is not None) and "±" in defenses.markdown_tables(doc)


def test_seeds_on_attack_ablation_and_defense_maps():
    kw = dict(**SMALL, seeds=[0, 1], executor="serial")
    att = single.run_attack(RunConfig.build(**kw))
    assert att["seeds"] == [0, 1] and set(att["per_seed"]) == {"0", "1"}
    assert att["ci95"]["summary"]["mean_asr"] is not None and att["reconstructions"]["clients"]
    abl = compare.ablation(RunConfig.build(**kw, components=["mapping"]))
    assert list(abl["variants"]) == ["st-gia", "st-gia-no-mapping"]
    assert "±" in compare.markdown_table(abl) and "asr_ci95" in compare.csv_text(abl)
    maps = single.run_defense_maps(RunConfig.build(**kw, defenses=["geoi"], epsilon=5.0))
    assert set(maps["runs"]) == {"none", "geoi"} and "ci95" in maps["runs"]["geoi"]


def test_a_stopped_dashboard_sweep_keeps_shows_and_saves_its_finished_cells(tmp_path):
    from core.store.runs import RunStore
    from ui.data import DataChoice
    from ui.jobcore import Job
    from ui.work import run_experiment, save_doc
    from ui.views import defense_view  # noqa: F401 - the page's view reads the same document

    class StopAfterFirstCell(Job):
        def event(self, ev, done=None, total=None):
            super().event(ev, done, total)
            if done is not None and done >= SMALL["rounds"]:  # the undefended cell is done
                self.stop()

    cfg = RunConfig.build(**SMALL, defenses=["dpsgd"], epsilons=[1.0, 5.0])
    job = StopAfterFirstCell("compare-defenses", "sweep", owner="me", private=False)
    doc = run_experiment(job, "compare-defenses", cfg, DataChoice("demo"))
    assert doc["stopped"] and doc["grid"]["finished"] == 1 and doc["grid"]["cells"] == 3
    assert list(doc["defenses"]) == ["none"] and len(doc["defenses"]["none"]["asr_per_round"]) == 2
    store = RunStore(tmp_path / "runs.sqlite")
    run_id = save_doc(store, "compare-defenses")(job, doc)
    assert store.info(run_id, "me").status == "stopped"
    assert store.get(run_id, "me")["defenses"]["none"] == doc["defenses"]["none"]
    from ui.jobs import _stopped_message
    assert _stopped_message(doc) == "stopped; the 1 of 3 runs that finished are kept"


def test_local_workers_are_forked_only_from_a_process_without_other_threads():
    """The CLI (one thread) forks its cell workers; a threaded process (the dashboard's server)
    must use the fork server: a fork could copy a lock another thread holds."""
    import threading

    from core.experiments.grid import _mp_context

    if threading.active_count() == 1:
        assert _mp_context().get_start_method() == "fork"
    release = threading.Event()
    t = threading.Thread(target=release.wait)
    t.start()
    try:
        assert _mp_context().get_start_method() == "forkserver"
    finally:
        release.set()
        t.join()
