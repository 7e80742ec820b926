"""Every dashboard page under streamlit's AppTest: loads, runs a tiny configuration, shows the
map with the true and reconstructed polylines, keeps results in the run store."""
from __future__ import annotations

import json
import time

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.store import RunStore
from core.viz import maps

PAGES = ["app.py", "pages/home.py", "pages/attack_lab.py", "pages/defenses.py",
         "pages/attack_comparison.py", "pages/learn.py", "pages/history.py"]
ROOT = Path(__file__).resolve().parents[1]
TINY = {"clients": "3", "rounds": "2", "iters": "5"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private run store and risk-profile cache per test."""
    monkeypatch.setenv("ST_GIA_STORE", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("ST_GIA_CACHE", str(tmp_path / "cache"))
    return RunStore(tmp_path / "runs.sqlite")


def app(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=180)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def finish(at: AppTest, key: str, timeout: float = 300.0):
    """Wait for the job under session_state[key] to end, then re-render the page."""
    job = at.session_state[key]
    t0 = time.time()
    while job.running and time.time() - t0 < timeout:
        time.sleep(0.1)
    assert not job.running, f"job still running after {timeout} s"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return job


def map_args(at: AppTest) -> list[dict]:
    """Arguments of every streamlit-folium component on the page."""
    return [json.loads(c.proto.json_args) for c in at.get("component_instance")
            if "st_folium" in c.proto.component_name]


def assert_map_shows(args: dict, recon: dict, client=None) -> None:
    """The component's script draws each client's true and reconstructed polyline."""
    expected = maps.layer_polylines(maps.reconstruction_map(recon, client=client))
    assert expected[maps.LAYER_TRUE] and expected[maps.LAYER_REC]
    for line in expected[maps.LAYER_TRUE] + expected[maps.LAYER_REC]:
        assert json.dumps(line) in args["script"]
    assert args["js_links"][0].startswith("data:text/javascript")  # offline Leaflet
    assert not any(u.startswith("http") for u in args["js_links"] + args["css_links"])


def plotly_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


@pytest.mark.parametrize("page", PAGES)
def test_page_loads(page):
    at = app(page)
    assert at.title or at.get("title") or page == "app.py"


def test_home_one_click_demo(isolated):
    at = app("pages/home.py", **TINY)
    at.button[0].click().run()
    job = finish(at, "home_job")
    assert job.status == "done", job.error
    [args] = map_args(at)
    first = job.doc["reconstructions"]["clients"][0]["client"]
    assert_map_shows(args, job.doc["reconstructions"], client=first)  # one user by default
    assert plotly_count(at) == 4
    assert [r.id for r in isolated.list("anyone")] == [job.run_id]  # demo runs are public


def test_attack_lab_tiny_run(isolated):
    at = app("pages/attack_lab.py", **TINY)
    assert at.number_input(key="clients").value == 3  # the URL configures the widgets
    at.button[0].click().run()
    job = finish(at, "lab_job")
    assert job.status == "done", job.error
    doc = job.doc
    assert [r["round"] for r in doc["rounds"]] == [1, 2]
    assert len(doc["reconstructions"]["clients"]) == 3
    [args] = map_args(at)
    first = doc["reconstructions"]["clients"][0]["client"]
    assert_map_shows(args, doc["reconstructions"], client=first)
    assert plotly_count(at) == 4
    assert [m.label for m in at.metric][:2] == ["Rounds", "ASR, last round"]
    at.selectbox(key="lab_client").set_value("all").run()  # every client at once
    [args] = map_args(at)
    assert_map_shows(args, doc["reconstructions"])
    # one client on the map, an earlier round on the slider
    at.selectbox(key="lab_client").set_value(first).run()
    at.slider(key="lab_round").set_value(1).run()
    assert not at.exception
    [args] = map_args(at)
    one = maps.layer_polylines(maps.reconstruction_map(doc["reconstructions"], client=first, round_=1))
    for line in one[maps.LAYER_TRUE] + one[maps.LAYER_REC]:
        assert json.dumps(line) in args["script"]
    assert isolated.get(job.run_id, "x")["rounds"] == doc["rounds"]


def test_attack_lab_components_and_defense(isolated):
    at = app("pages/attack_lab.py", **TINY, disable="mapping", defense="geoi", epsilon="4",
             epsilon_scope="total")
    at.button[0].click().run()
    job = finish(at, "lab_job")
    assert job.status == "done", job.error
    assert job.doc["attack"] == "st-gia-no-mapping" and job.doc["config"]["disable"] == ["mapping"]
    assert job.doc["config"]["defense"] == "geoi" and job.doc["config"]["epsilon"] == 4.0
    assert job.doc["rounds"][-1]["epsilon_spent"] == pytest.approx(4.0)
    assert any("geoi" in c.value for c in at.caption)  # allocation and spent budget shown


@pytest.mark.parametrize("eps", ["0", "-2"])
def test_nonpositive_epsilon_is_a_message(eps):
    at = app("pages/attack_lab.py", defense="geoi", epsilon=eps)
    assert any("epsilon" in e.value for e in at.error)
    assert at.button[0].disabled


def test_stop_keeps_finished_rounds(isolated):
    at = app("pages/attack_lab.py", clients="3", rounds="60", iters="5")
    at.button[0].click().run()
    job = at.session_state["lab_job"]
    t0 = time.time()
    while job.done < 1 and time.time() - t0 < 120:
        time.sleep(0.05)
    assert job.partial is not None and job.partial["reconstructions"]["clients"]  # live map data
    at.run()
    stop = [b for b in at.button if b.label == "Stop"]
    assert stop
    stop[0].click().run()
    job = finish(at, "lab_job")
    assert job.status == "stopped"
    assert job.doc["stopped"] and 1 <= len(job.doc["rounds"]) < 60
    assert isolated.info(job.run_id, "x").status == "stopped"


def test_comparison_and_ablation(isolated):
    at = app("pages/attack_comparison.py", **TINY)
    at.multiselect(key="attacks").set_value(["dlg", "st-gia"]).run()
    at.button(key="run_cmp").click().run()
    job = finish(at, "cmp_job")
    assert job.status == "done", job.error
    assert set(job.doc["attacks"]) == {"dlg", "st-gia"}
    at.button(key="run_abl").click().run()
    job = finish(at, "abl_job")
    assert job.status == "done", job.error
    assert len(job.doc["variants"]) == 4
    assert plotly_count(at) >= 3
    assert {r.kind for r in isolated.list("x")} == {"compare-attacks", "ablation"}


def test_defenses_sweep_and_maps(isolated):
    at = app("pages/defenses.py", **TINY)
    at.multiselect(key="defenses").set_value(["geoi", "adaptive"]).run()
    at.text_input(key="epsilons").set_value("1, 10").run()
    at.button(key="run_sweep").click().run()
    job = finish(at, "sweep_job")
    assert job.status == "done", job.error
    assert set(job.doc["defenses"]) == {"none", "geoi", "adaptive"}
    assert plotly_count(at) >= 4  # two heatmaps, frontier, allocation
    at.multiselect(key="maps_defenses").set_value(["geoi"]).run()
    at.button(key="run_maps").click().run()
    job = finish(at, "maps_job")
    assert job.status == "done", job.error
    args = map_args(at)
    assert len(args) == 2
    for a, name in zip(args, ["none", "geoi"]):
        client = job.doc["runs"][name]["reconstructions"]["clients"][0]["client"]
        assert_map_shows(a, job.doc["runs"][name]["reconstructions"], client=client)


def test_bad_epsilon_list():
    at = app("pages/defenses.py", **TINY)
    at.text_input(key="epsilons").set_value("1, zero").run()
    assert not at.exception and any("zero" in e.value for e in at.error)
    assert at.button(key="run_sweep").disabled


def test_learn_inversion(isolated):
    at = app("pages/learn.py", learn_iters="20")
    args, emb = map_args(at)
    assert "Dummy" in args["script"] and "True location" in args["script"]
    assert "Non-zero embedding rows" in emb["script"]   # 4 · why embeddings leak
    assert plotly_count(at) == 2
    at.slider(key="learn_step").set_value(5).run()
    assert not at.exception and "After 5 iterations" in [m.label for m in at.metric]
    at.button(key="learn_calib").click().run()
    assert not at.exception and plotly_count(at) == 3


def test_learn_embedding_rows_follow_the_round(isolated):
    at = app("pages/learn.py", learn_iters="10", learn_emb_round="2")
    rows = {m.label: m.value for m in at.metric}
    assert not at.exception and rows["Non-zero rows in this upload"] == rows[
        "Distinct places the client fed in"]
    at.slider(key="learn_emb_round").set_value(5).run()
    assert not at.exception and len(map_args(at)) == 2


def test_history_reopen_compare_delete(isolated):
    lab = app("pages/attack_lab.py", **TINY)
    lab.button[0].click().run()
    first = finish(lab, "lab_job")
    lab.button[0].click().run()
    second = finish(lab, "lab_job")
    at = app("pages/history.py")
    assert len(at.dataframe[0].value) == 2
    at = app("pages/history.py", run=first.run_id)
    [args] = map_args(at)
    assert_map_shows(args, first.doc["reconstructions"],
                     client=first.doc["reconstructions"]["clients"][0]["client"])
    assert {b.label for b in at.get("download_button")} >= {"JSON", "CSV (rounds)", "CSV (points)"}
    both = AppTest.from_file(str(ROOT / "pages/history.py"), default_timeout=120)
    both.query_params["run"] = [first.run_id, second.run_id]
    both.run()
    assert not both.exception and plotly_count(both) == 2  # ASR and error per round, overlaid
    at.button(key="hist_delete").click().run()
    assert not at.exception
    assert isolated.get(first.run_id, "x") is None and isolated.get(second.run_id, "x") is not None


# ---- the worker machinery -------------------------------------------------------------------

def _crash(job):
    import os
    os._exit(3)


def _boom(job):
    raise RuntimeError("kaboom")


def _bad_input(job):
    from core.errors import InputError
    raise InputError("the file has no users")


def _stoppable(job):
    import time
    job.total = 100
    for i in range(100):
        if job.should_stop():
            return {"stopped": True, "done": i}
        job.event({"round": i + 1}, done=i + 1)
        time.sleep(0.05)
    return {"done": 100}


def _job_app():
    import importlib

    import streamlit as st

    from ui import jobs
    mod = importlib.import_module(st.session_state["work_module"])
    work = getattr(mod, st.session_state["work_name"])
    if st.button("go"):
        jobs.start("job", jobs.Job("test", "t", "owner", False), work)
    j = jobs.get("job")
    if j is not None and j.error:
        st.error(j.error)


@pytest.mark.parametrize("mode", ["process", "thread"])
@pytest.mark.parametrize("work, expected", [
    ("_crash", "ended unexpectedly (exit code 3)"),
    ("_boom", "internal error (RuntimeError): kaboom"),
    ("_bad_input", "the file has no users"),
])
def test_worker_failures_become_messages(monkeypatch, mode, work, expected):
    if mode == "thread" and work == "_crash":
        pytest.skip("os._exit in a thread ends the test process")
    monkeypatch.setenv("ST_GIA_WORKER", mode)
    at = AppTest.from_function(_job_app, default_timeout=60)
    at.session_state["work_module"] = __name__
    at.session_state["work_name"] = work
    at.run()
    at.button[0].click().run()
    job = finish(at, "job", timeout=60)
    assert job.status == "error" and expected in job.error
    assert [e.value for e in at.error] == [job.error]


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_worker_stop_and_progress(monkeypatch, mode):
    monkeypatch.setenv("ST_GIA_WORKER", mode)
    at = AppTest.from_function(_job_app, default_timeout=60)
    at.session_state["work_module"] = __name__
    at.session_state["work_name"] = "_stoppable"
    at.run()
    at.button[0].click().run()
    job = at.session_state["job"]
    t0 = time.time()
    while job.done < 3 and time.time() - t0 < 30:
        time.sleep(0.02)
    assert job.total == 100 and job.events
    job.stop()
    job = finish(at, "job", timeout=30)
    assert job.status == "stopped" and job.doc["stopped"] and job.doc["done"] < 100
