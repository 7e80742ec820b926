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

PAGES = ["app.py", "app_pages/home.py", "app_pages/attack_lab.py", "app_pages/defenses.py",
         "app_pages/attack_comparison.py", "app_pages/learn.py", "app_pages/history.py"]
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
    at = app("app_pages/home.py", **TINY)
    at.button[0].click().run()
    job = finish(at, "home_job")
    assert job.status == "done", job.error
    [args] = map_args(at)
    first = job.doc["reconstructions"]["clients"][0]["client"]
    assert_map_shows(args, job.doc["reconstructions"], client=first)  # one user by default
    assert plotly_count(at) == 4
    assert [r.id for r in isolated.list("anyone")] == [job.run_id]  # demo runs are public


def test_attack_lab_tiny_run(isolated):
    at = app("app_pages/attack_lab.py", **TINY)
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
    assert [m.label for m in at.metric][:2] == ["Rounds finished", "ASR, last round"]
    assert all(m.help for m in at.metric)  # every metric says what it measures
    assert any(d.proto.label == "Download report" for d in at.get("download_button"))
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
    at = app("app_pages/attack_lab.py", **TINY, disable="mapping", defense="geoi", epsilon="4",
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
    at = app("app_pages/attack_lab.py", defense="geoi", epsilon=eps)
    assert any("epsilon" in e.value for e in at.error)
    assert at.button[0].disabled


def test_stop_keeps_finished_rounds(isolated):
    at = app("app_pages/attack_lab.py", clients="3", rounds="60", iters="5")
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
    at = app("app_pages/attack_comparison.py", **TINY)
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
    at = app("app_pages/defenses.py", **TINY)
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
    at = app("app_pages/defenses.py", **TINY)
    at.text_input(key="epsilons").set_value("1, zero").run()
    assert not at.exception and any("zero" in e.value for e in at.error)
    assert at.button(key="run_sweep").disabled


def test_learn_inversion(isolated):
    at = app("app_pages/learn.py", learn_iters="20")
    args, emb = map_args(at)
    assert "Dummy" in args["script"] and "True location" in args["script"]
    assert "Non-zero embedding rows" in emb["script"]   # 4 · why embeddings leak
    assert plotly_count(at) == 2
    at.slider(key="learn_step").set_value(5).run()
    assert not at.exception and "After 5 iterations" in [m.label for m in at.metric]
    at.button(key="learn_calib").click().run()
    assert not at.exception and plotly_count(at) == 3


def test_learn_embedding_rows_follow_the_round(isolated):
    at = app("app_pages/learn.py", learn_iters="10", learn_emb_round="2")
    rows = {m.label: m.value for m in at.metric}
    assert not at.exception and rows["Non-zero rows in this upload"] == rows[
        "Distinct places the client fed in"]
    at.slider(key="learn_emb_round").set_value(5).run()
    assert not at.exception and len(map_args(at)) == 2


def test_history_reopen_compare_delete(isolated):
    lab = app("app_pages/attack_lab.py", **TINY)
    lab.button[0].click().run()
    first = finish(lab, "lab_job")
    lab.button[0].click().run()
    second = finish(lab, "lab_job")
    at = app("app_pages/history.py")
    assert len(at.dataframe[0].value) == 2
    # another visitor sees the public demo runs but cannot delete them
    at = app("app_pages/history.py", run=first.run_id)
    assert not [b for b in at.button if b.key == "hist_delete"]
    assert any("only its maker" in c.value for c in at.caption)
    at = AppTest.from_file(str(ROOT / "app_pages/history.py"), default_timeout=120)
    at.session_state["_workspace_key"] = lab.session_state["_workspace_key"]
    at.query_params["run"] = first.run_id
    at.run()
    [args] = map_args(at)
    assert_map_shows(args, first.doc["reconstructions"],
                     client=first.doc["reconstructions"]["clients"][0]["client"])
    assert {b.label for b in at.get("download_button")} >= {"JSON", "CSV (rounds)", "CSV (points)"}
    both = AppTest.from_file(str(ROOT / "app_pages/history.py"), default_timeout=120)
    both.query_params["run"] = [first.run_id, second.run_id]
    both.run()
    assert not both.exception and plotly_count(both) == 2  # ASR and error per round, overlaid
    at.button(key="hist_delete").click().run()
    assert not at.exception
    assert isolated.get(first.run_id, "x") is None and isolated.get(second.run_id, "x") is not None
    # deleting the run opened from a link: the link goes, no "does not exist" error
    assert "run" not in at.query_params and not at.error
    assert any("Deleted run" in s.value for s in at.success)


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


# ---- nothing finished is lost when the server stops -----------------------------------------

def _stubborn(job):
    """Finishes two rounds, publishes them as its live document, then never checks for a stop."""
    import time
    job.total = 10
    job.partial = {"config": {}, "rounds": [{"round": 1}, {"round": 2}], "live": True}
    job.event({"round": 2}, done=2)
    time.sleep(120)
    return {"done": 10}


def _saving_job_app():
    import importlib

    import streamlit as st

    from ui import jobs, session
    from ui.work import save_doc
    mod = importlib.import_module(st.session_state["work_module"])
    work = getattr(mod, st.session_state["work_name"])
    if st.button("go"):
        jobs.start("job", jobs.Job("attack", "t", session.workspace(), False), work,
                   save_doc(session.store(), "attack"))


def _start_saving_job(monkeypatch, mode: str, work: str, rounds: int = 3):
    monkeypatch.setenv("ST_GIA_WORKER", mode)
    at = AppTest.from_function(_saving_job_app, default_timeout=60)
    at.session_state["work_module"] = __name__
    at.session_state["work_name"] = work
    at.run()
    at.button[0].click().run()
    job = at.session_state["job"]
    t0 = time.time()
    while job.done < rounds and time.time() - t0 < 60:
        time.sleep(0.02)
    assert job.done >= rounds, job
    return at, job


def test_sigterm_to_a_worker_saves_its_finished_rounds(monkeypatch, isolated):
    import os
    import signal
    at, job = _start_saving_job(monkeypatch, "process", "_stoppable")
    os.kill(job._proc.pid, signal.SIGTERM)
    job = finish(at, "job", timeout=60)
    assert job.status == "stopped" and job.doc["stopped"] and 3 <= job.doc["done"] < 100
    assert isolated.info(job.run_id, "anyone").status == "stopped"


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_server_exit_saves_running_jobs_as_stopped(monkeypatch, isolated, mode):
    from ui import jobs
    at, job = _start_saving_job(monkeypatch, mode, "_stoppable")
    assert job in jobs.live_jobs().running()
    assert jobs.live_jobs().stop_all(timeout=60) >= 1      # what atexit runs
    assert job.status == "stopped" and job not in jobs.live_jobs().running()
    info = isolated.info(job.run_id, "anyone")
    assert info.status == "stopped" and isolated.get(job.run_id, "anyone")["done"] < 100


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_a_round_too_slow_for_the_shutdown_is_saved_from_its_live_document(monkeypatch, isolated,
                                                                            mode):
    from ui import jobs
    at, job = _start_saving_job(monkeypatch, mode, "_stubborn", rounds=2)
    t0 = time.time()
    while job.partial is None and time.time() - t0 < 30:
        time.sleep(0.02)
    jobs.live_jobs().stop_all(timeout=0.5)
    assert job.status == "stopped" and job.run_id is not None
    doc = isolated.get(job.run_id, "anyone")
    assert doc["stopped"] is True and "live" not in doc and len(doc["rounds"]) == 2
    assert isolated.count() == 1
    if mode == "process":
        job._proc.join(timeout=30)
        assert not job._proc.is_alive()


# ---- the workspace key: kept by the browser, never in a link --------------------------------

def test_the_router_has_the_browser_keep_the_workspace_key():
    from ui import session
    at = app("app.py")
    key = at.session_state["_workspace_key"]
    assert session.valid_key(key)
    [script] = [h.proto.body for h in at.get("html") if "st_gia_workspace" in h.proto.body]
    assert f"st_gia_workspace={key};" in script and "SameSite=Strict" in script
    assert key not in json.dumps(dict(at.query_params))


def test_a_reload_adopts_the_key_the_browser_sent(monkeypatch):
    from ui import session
    monkeypatch.setattr(session, "_cookie_key", lambda: "k" * 22)
    at = app("app.py")
    assert at.session_state["_workspace_key"] == "k" * 22
    assert not [h for h in at.get("html") if "st_gia_workspace" in h.proto.body]  # already kept


@pytest.mark.parametrize("bad", ["short", "x" * 20 + "';alert(1);'", "a b" * 10])
def test_a_pasted_key_that_is_not_a_workspace_key_is_refused(bad):
    at = app("app_pages/history.py")
    mine = at.session_state["_workspace_key"]
    at.text_input(key="ws_key").set_value(bad).run()
    at.button(key="ws_use").click().run()
    assert not at.exception and at.session_state["_workspace_key"] == mine
    assert any("not a workspace key" in e.value for e in at.error)
