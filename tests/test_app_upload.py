"""Uploads in the dashboard: bad input becomes a clear message (never a traceback), good input
runs, and an upload — and the runs made from it — stay private to the session."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
TINY = {"clients": "3", "rounds": "2", "iters": "5", "source": "upload"}


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ST_GIA_STORE", str(tmp_path / "runs.sqlite"))
    monkeypatch.setenv("ST_GIA_CACHE", str(tmp_path / "cache"))
    return RunStore(tmp_path / "runs.sqlite")


def trajectories_csv(n_users: int = 4, n_points: int = 30, lat0: float = 41.88,
                     lon0: float = -87.65) -> bytes:
    """user,time,lat,lon rows: a random walk per user, one point every 15 minutes."""
    rng = np.random.default_rng(1)
    t0 = datetime(2024, 5, 1, 8, tzinfo=timezone.utc)
    lines = ["user,time,lat,lon"]
    for u in range(n_users):
        lat, lon = lat0 + rng.normal(0, 0.01), lon0 + rng.normal(0, 0.01)
        for i in range(n_points):
            lat += rng.normal(0, 0.002)
            lon += rng.normal(0, 0.002)
            t = (t0 + timedelta(minutes=15 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(f"user{u},{t},{lat:.6f},{lon:.6f}")
    return ("\n".join(lines) + "\n").encode()


def lab(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app_pages/attack_lab.py"), default_timeout=180)
    at.query_params.update({**TINY, **query})
    at.run()
    assert not at.exception
    return at


def upload_and_run(at: AppTest, name: str, data: bytes, roads=None):
    at.file_uploader(key="upload_file").set_value((name, data, "text/csv")).run()
    if roads is not None:
        at.file_uploader(key="roads_files").set_value(roads).run()
    assert not at.exception, [e.value for e in at.exception]
    at.button[0].click().run()
    job = at.session_state["lab_job"]
    t0 = time.time()
    while job.running and time.time() - t0 < 300:
        time.sleep(0.1)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return job


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("name, data, expected", [
    ("bad.csv", b"user,time,lat,lon\nu1,2024-05-01T08:00:00Z,41.8,-87.6\n"
                b"u1,2024-05-01T08:15:00Z,not-a-number,-87.6\n", "line 3"),
    ("empty.csv", b"", "empty"),
    ("photo.jpg", b"\xff\xd8\xff\xe0 JFIF binary junk \x00\x01", "format"),
    ("nocols.csv", b"a,b,c\n1,2,3\n", "column"),
])
def test_malformed_upload_is_a_message(name, data, expected):
    at = lab()
    job = upload_and_run(at, name, data)
    assert job.status == "error"
    msgs = errors(at)
    assert msgs, "an st.error is shown"
    text = " ".join(msgs)
    assert name in text or expected in text.lower()
    assert "/tmp/" not in text and "st-gia-upload" not in text  # the user's file name, not ours
    assert "Traceback" not in text


def test_unsupported_format_names_the_formats():
    at = lab()
    upload_and_run(at, "notes.txt", b"hello world, this is not a trajectory file\n")
    text = " ".join(errors(at))
    assert "cannot tell the format" in text and "foursquare" in text


def test_too_few_users_is_a_message():
    at = lab(clients="5")
    job = upload_and_run(at, "small.csv", trajectories_csv(n_users=3))
    assert job.status == "error"
    assert any("fewer than the 5 clients" in m for m in errors(at))


def test_roads_that_do_not_cover_the_data():
    nodes = b"node_id,lat,lon\n1,48.85,2.35\n2,48.86,2.36\n3,48.87,2.35\n"
    edges = b"u,v\n1,2\n2,3\n"
    at = lab(roads_source="upload")
    job = upload_and_run(at, "trips.csv", trajectories_csv(),
                         roads=[("paris_nodes.csv", nodes, "text/csv"),
                                ("paris_edges.csv", edges, "text/csv")])
    assert job.status == "error"
    assert any("does not cover" in m for m in errors(at))


def test_valid_upload_runs_and_stays_private(store):
    alice = lab()
    job = upload_and_run(alice, "alice_trips.csv", trajectories_csv())
    assert job.status == "done", job.error
    assert job.doc["config"]["dataset"].startswith("upload:alice_trips.csv#")
    alice_key = alice.session_state["_workspace_key"]
    info = store.info(job.run_id, alice_key)
    assert info is not None and info.private

    # Bob: another browser session on the same server and store
    bob = AppTest.from_file(str(ROOT / "app_pages/history.py"), default_timeout=120)
    bob.run()
    assert not bob.exception
    bob_key = bob.session_state["_workspace_key"]
    assert bob_key != alice_key
    assert store.list(bob_key) == [] and store.get(job.run_id, bob_key) is None
    assert "_uploaded_datasets" not in bob.session_state
    assert any("No runs yet" in i.value for i in bob.info)
    # even with the run's id in the link, Bob gets a message, not the data
    bob2 = AppTest.from_file(str(ROOT / "app_pages/history.py"), default_timeout=120)
    bob2.session_state["_workspace_key"] = bob_key
    bob2.query_params["run"] = job.run_id
    bob2.run()
    assert not bob2.exception and not bob2.get("component_instance")
    # Bob's attack lab shows no trace of Alice's upload
    bob_lab = lab()
    assert "lab_job" not in bob_lab.session_state and "_uploaded_datasets" not in bob_lab.session_state

    # Alice sees her run in History, and can share it
    mine = AppTest.from_file(str(ROOT / "app_pages/history.py"), default_timeout=120)
    mine.session_state["_workspace_key"] = alice_key
    mine.query_params["run"] = job.run_id
    mine.run()
    assert not mine.exception and mine.get("component_instance")
    assert store.set_shared(job.run_id, alice_key, True)
    assert store.get(job.run_id, bob_key) is not None


def test_server_paths_are_confined_to_the_data_directories(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "trips.csv").write_bytes(trajectories_csv())
    monkeypatch.setenv("ST_GIA_DATA_DIRS", str(data))
    for path in ("/etc/passwd", str(data / ".." / "runs.sqlite"), "../runs.sqlite"):
        at = lab(source="server", path=path)
        assert any("outside the server's data directories" in m for m in errors(at))
        assert at.button[0].disabled and "root:" not in " ".join(errors(at))
    at = lab(source="server", path="nope.csv")
    assert any("no such file" in m for m in errors(at))
    at = lab(source="server", path="trips.csv")  # relative to the data directory
    at.button[0].click().run()
    job = at.session_state["lab_job"]
    while job.running:
        time.sleep(0.05)
    assert job.status == "done", job.error
    assert job.doc["config"]["dataset"].endswith("trips.csv")
