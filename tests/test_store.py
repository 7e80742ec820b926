"""The SQLite run store (core.store): persistence, visibility of private runs, exports."""
from __future__ import annotations

import csv
import io
import threading

import pytest

from core.store import RunStore, default_path
from core.store.export import defense_rows, points_csv, rounds_csv

DOC = {
    "config": {"dataset": "demo", "attack": "st-gia", "clients": 2, "rounds": 2, "defense": "none"},
    "rounds": [{"round": 1, "asr": 0.5, "ait": 10.0}, {"round": 2, "asr": 0.75, "ait": 8.0}],
    "summary": {"mean_asr": 0.625},
    "reconstructions": {"clients": [{"client": 0, "user_id": "u1", "points": [
        {"index": 0, "true": [41.0, -87.0], "rec": [41.001, -87.0], "error_m": 111.2,
         "first_round": 1}]}], "by_round": []},
}


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.sqlite")


def test_save_get_roundtrip_and_listing(store):
    rid = store.save("attack", DOC, owner="alice", private=False)
    assert store.get(rid, "bob") == DOC
    [info] = store.list("bob")
    assert info.id == rid and info.kind == "attack" and info.summary == {"mean_asr": 0.625}
    assert info.config["attack"] == "st-gia" and "st-gia" in info.title
    assert store.count() == 1


def test_persists_across_instances(tmp_path):
    rid = RunStore(tmp_path / "r.sqlite").save("attack", DOC, owner="a", private=False)
    assert RunStore(tmp_path / "r.sqlite").get(rid, "someone else") == DOC


def test_private_runs_are_visible_only_to_their_owner(store):
    mine = store.save("attack", DOC, owner="alice", private=True)
    public = store.save("attack", DOC, owner="alice", private=False)
    assert {r.id for r in store.list("alice")} == {mine, public}
    assert {r.id for r in store.list("bob")} == {public}
    assert store.get(mine, "bob") is None and store.info(mine, "bob") is None
    assert store.delete(mine, "bob") is False          # cannot delete what one cannot see
    assert store.set_shared(mine, "bob", True) is False  # only the owner shares
    assert store.set_shared(mine, "alice", True) is True
    assert store.get(mine, "bob") == DOC
    assert store.delete(mine, "bob") is False          # shared, but still not bob's to delete
    assert store.delete(mine, "alice") is True
    assert store.get(mine, "alice") is None


def test_only_the_maker_deletes_a_public_run_and_kind_filter(store):
    a = store.save("attack", DOC, owner="alice", private=False)
    store.save("ablation", {"config": {}, "variants": {}}, owner="alice", private=False)
    assert [r.kind for r in store.list("x", kind="ablation")] == ["ablation"]
    info = store.info(a, "bob")
    assert info is not None and not info.deletable_by("bob") and info.deletable_by("alice")
    assert store.delete(a, "bob") is False              # bob sees alice's demo run, may not delete it
    assert store.count() == 2
    assert store.delete(a, "alice") is True
    assert store.count() == 1


def test_env_var_chooses_the_location(tmp_path, monkeypatch):
    monkeypatch.setenv("ST_GIA_STORE", str(tmp_path / "elsewhere" / "s.sqlite"))
    assert default_path() == tmp_path / "elsewhere" / "s.sqlite"
    s = RunStore()
    assert s.path == tmp_path / "elsewhere" / "s.sqlite" and s.path.exists()
    monkeypatch.delenv("ST_GIA_STORE")
    assert default_path().parts[-3:] == ("share", "st-gia-lab", "runs.sqlite")


def test_concurrent_saves_from_threads(store):
    ids: list[str] = []

    def work(i: int) -> None:
        ids.append(store.save("attack", DOC, owner=f"o{i}", private=False))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 8 and store.count() == 8


def test_csv_exports():
    rows = list(csv.DictReader(io.StringIO(rounds_csv(DOC))))
    assert [r["asr"] for r in rows] == ["0.5", "0.75"]
    pts = list(csv.DictReader(io.StringIO(points_csv(DOC))))
    assert pts[0]["user_id"] == "u1" and float(pts[0]["rec_lat"]) == 41.001
    cmp = {"config": {}, "attacks": {"dlg": {"rounds": [{"round": 1, "asr": 0.1}]},
                                     "st-gia": {"rounds": [{"round": 1, "asr": 0.9}]}}}
    rows = list(csv.DictReader(io.StringIO(rounds_csv(cmp))))
    assert [(r["attack"], r["asr"]) for r in rows] == [("dlg", "0.1"), ("st-gia", "0.9")]
    dd = {"defenses": {"none": {"asr": 0.9, "recall_at_5": 0.2, "asr_per_round": [0.9]},
                       "geoi": {"1": {"asr": 0.1, "recall_at_5": 0.05, "allocation": [1.0]}}}}
    flat = defense_rows(dd)
    assert flat[0] == {"defense": "none", "epsilon": None, "asr": 0.9, "recall_at_5": 0.2}
    assert flat[1]["defense"] == "geoi" and flat[1]["epsilon"] == 1.0
    assert "geoi" in rounds_csv(dd)
