"""An embedded SQLite run store: finished (or stopped) runs, so a reload or restart loses nothing.

One row per run: its kind (`attack`, `compare-attacks`, `ablation`, `compare-defenses`, ...), a
title, the configuration and summary as JSON, and the whole result document (zlib-compressed
JSON; a 20-client demo run is ~1 MB as text, ~0.1 MB compressed).

Privacy of dashboard users (DESIGN.md §6): a run made from user data (an uploaded or server-side
file rather than the generated demo) is *private*: only its `owner` (the dashboard's per-session
workspace key) can list or open it, unless the owner shares it. Runs on the demo are
public. Only the owner deletes a run, public or not. Every query filters on visibility in SQL,
so no caller can forget it.

Location: `$ST_GIA_STORE` if set, else `~/.local/share/st-gia-lab/runs.sqlite`. Each method opens
its own short-lived connection (SQLite connections must not cross threads, and the dashboard saves
from a worker thread); WAL mode lets readers and one writer work at once.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "ST_GIA_STORE"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id       TEXT PRIMARY KEY,
    created  REAL NOT NULL,
    kind     TEXT NOT NULL,
    title    TEXT NOT NULL,
    owner    TEXT NOT NULL,
    private  INTEGER NOT NULL,
    shared   INTEGER NOT NULL DEFAULT 0,
    status   TEXT NOT NULL,
    config   TEXT NOT NULL,
    summary  TEXT NOT NULL,
    doc      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
CREATE INDEX IF NOT EXISTS runs_owner ON runs (owner);
"""

# A row is visible to `owner` when it is public, shared, or theirs.
_VISIBLE = "(private = 0 OR shared = 1 OR owner = :owner)"


def default_path() -> Path:
    """`$ST_GIA_STORE`, else `~/.local/share/st-gia-lab/runs.sqlite`."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "st-gia-lab" / "runs.sqlite"


@dataclass(frozen=True)
class RunInfo:
    """A run's listing entry (everything but the document)."""

    id: str
    created: float
    kind: str
    title: str
    owner: str
    private: bool
    shared: bool
    status: str
    config: dict
    summary: dict

    def visible_to(self, owner: str) -> bool:
        return (not self.private) or self.shared or self.owner == owner

    def deletable_by(self, owner: str) -> bool:
        """Only the workspace that made a run deletes it (public, shared or private alike)."""
        return self.owner == owner


class RunStore:
    """Save, list, open, share and delete runs in one SQLite file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        try:  # runs may hold personal data: keep the file to its user
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode = WAL")
        con.row_factory = sqlite3.Row
        return con

    # ---- writing ---------------------------------------------------------------------------
    def save(self, kind: str, doc: dict, owner: str, private: bool, title: str | None = None,
             status: str = "done", summary: dict | None = None) -> str:
        """Store a result document; returns the new run id."""
        run_id = uuid.uuid4().hex[:12]
        cfg = doc.get("config", {}) if isinstance(doc, dict) else {}
        summ = summary if summary is not None else doc.get("summary", {}) or {}
        blob = zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)
        with closing(self._connect()) as con, con:
            con.execute(
                "INSERT INTO runs (id, created, kind, title, owner, private, shared, status, config,"
                " summary, doc) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (run_id, time.time(), kind, title or _default_title(kind, cfg), owner,
                 int(bool(private)), status, json.dumps(cfg), json.dumps(summ), blob))
        return run_id

    def set_shared(self, run_id: str, owner: str, shared: bool = True) -> bool:
        """Share (or unshare) one of `owner`'s runs; False if it is not theirs."""
        with closing(self._connect()) as con, con:
            cur = con.execute("UPDATE runs SET shared = ? WHERE id = ? AND owner = ?",
                              (int(bool(shared)), run_id, owner))
            return cur.rowcount == 1

    def rename(self, run_id: str, owner: str, title: str) -> bool:
        with closing(self._connect()) as con, con:
            cur = con.execute("UPDATE runs SET title = ? WHERE id = ? AND owner = ?",
                              (title, run_id, owner))
            return cur.rowcount == 1

    def delete(self, run_id: str, owner: str) -> bool:
        """Delete one of `owner`'s runs; False for anyone else's (even a public one)."""
        with closing(self._connect()) as con, con:
            cur = con.execute("DELETE FROM runs WHERE id = ? AND owner = ?",
                              (run_id, owner))
            return cur.rowcount == 1

    # ---- reading ---------------------------------------------------------------------------
    def list(self, owner: str, kind: str | None = None, limit: int = 200) -> list[RunInfo]:
        """Runs visible to `owner`, newest first."""
        sql = ("SELECT id, created, kind, title, owner, private, shared, status, config, summary "
               f"FROM runs WHERE {_VISIBLE}")
        args: dict = {"owner": owner, "limit": int(limit)}
        if kind is not None:
            sql += " AND kind = :kind"
            args["kind"] = kind
        sql += " ORDER BY created DESC LIMIT :limit"
        with closing(self._connect()) as con:
            return [_info(r) for r in con.execute(sql, args)]

    def info(self, run_id: str, owner: str) -> RunInfo | None:
        with closing(self._connect()) as con:
            r = con.execute("SELECT id, created, kind, title, owner, private, shared, status, config,"
                            f" summary FROM runs WHERE id = :id AND {_VISIBLE}",
                            {"id": run_id, "owner": owner}).fetchone()
        return _info(r) if r is not None else None

    def get(self, run_id: str, owner: str) -> dict | None:
        """The run's document, or None when it does not exist or is not visible to `owner`."""
        with closing(self._connect()) as con:
            r = con.execute(f"SELECT doc FROM runs WHERE id = :id AND {_VISIBLE}",
                            {"id": run_id, "owner": owner}).fetchone()
        return json.loads(zlib.decompress(r["doc"])) if r is not None else None

    def count(self) -> int:
        with closing(self._connect()) as con:
            return int(con.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


def _info(r: sqlite3.Row) -> RunInfo:
    return RunInfo(r["id"], r["created"], r["kind"], r["title"], r["owner"], bool(r["private"]),
                   bool(r["shared"]), r["status"], json.loads(r["config"]), json.loads(r["summary"]))


def _default_title(kind: str, cfg: dict) -> str:
    parts = [kind, str(cfg.get("attack", "")) if kind == "attack" else "",
             str(cfg.get("dataset", "")), f"{cfg.get('clients', '?')} clients",
             f"{cfg.get('rounds', '?')} rounds"]
    if cfg.get("defense") not in (None, "none"):
        parts.append(f"{cfg['defense']} ε={cfg.get('epsilon')}")
    return " · ".join(p for p in parts if p)
