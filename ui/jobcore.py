"""The Job protocol shared by the page (parent) and the worker (child process or thread).

No Streamlit here: this module is imported by the worker process.

A work function is `work(job) -> dict` (a module-level function, usually bound with
`functools.partial`, so it can be sent to a worker process). It reports through the job:
`job.status`, `job.message`, `job.total`, `job.done`, `job.partial` (live document),
`job.extra[...]` (e.g. the road network for the map), `job.event(ev, done=, total=)`, and checks
`job.should_stop()`. In a worker process the job is a `ChildJob` that forwards every update to
the page over a pipe.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from core.errors import InputError

TORCH_THREADS_ENV = "ST_GIA_TORCH_THREADS"


class Stopped(Exception):
    """Raised from a progress callback to abandon work that has no `should_stop` hook."""


def torch_threads() -> int:
    """Intra-op threads for the calling worker (`$ST_GIA_TORCH_THREADS`, default 1).

    The attack's tensors are small: one thread is several times faster than two on the 2-core
    project machine, and far faster when other work competes for the cores
    (bench/bench_dashboard.py); concurrent runs then share the cores instead of thrashing.
    """
    import torch

    n = max(1, int(os.environ.get(TORCH_THREADS_ENV, "1") or 1))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@dataclass
class Job:
    """A run as the page sees it (attributes are replaced whole, so a reader never sees a
    half-made value)."""

    kind: str
    title: str
    owner: str
    private: bool
    status: str = "starting"          # starting | preparing | running | done | stopped | error
    message: str = ""
    total: int = 0
    done: int = 0
    events: list = field(default_factory=list)
    partial: dict | None = None       # live document (rows and reconstructions so far)
    doc: dict | None = None           # final document
    run_id: str | None = None         # id in the run store
    error: str | None = None
    extra: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    first_result: float | None = None
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _stop_remote: Any = field(default=None, repr=False)   # multiprocessing Event of a child
    _proc: Any = field(default=None, repr=False)          # the worker process, if any
    _ended: bool = field(default=False, repr=False)
    _end_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        return self.status in ("starting", "preparing", "running")

    def stop(self) -> None:
        self._stop.set()
        if self._stop_remote is not None:
            self._stop_remote.set()
        if self.running:
            self.message = "stopping after the current round…"

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def claim_end(self) -> bool:
        """True for the one caller that may record this job's end (and save its result)."""
        with self._end_lock:
            if self._ended:
                return False
            self._ended = True
            return True

    def kill(self) -> None:
        """End the worker process now (a shutdown that cannot wait any longer)."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()

    def event(self, ev: dict, done: int | None = None, total: int | None = None) -> None:
        """Record a progress event (without the live RunResult object it may carry)."""
        ev = {k: v for k, v in ev.items() if k != "result"}
        if self.first_result is None:
            self.first_result = time.time()
        self.events = self.events + [ev]
        if total is not None:
            self.total = total
        if done is not None:
            self.done = done
        self.status = "running"

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started


class _ForwardingDict(dict):
    def __init__(self, send: Callable[[tuple], None]) -> None:
        super().__init__()
        self._send = send

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self._send(("extra", key, value))


class ChildJob:
    """The job inside a worker process: every update goes to the page over `conn`."""

    _FORWARDED = ("status", "message", "total", "done", "partial")

    def __init__(self, conn, stop_event) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_stop_event", stop_event)
        object.__setattr__(self, "extra", _ForwardingDict(self._send))
        for name in self._FORWARDED:
            object.__setattr__(self, name, None)

    def _send(self, msg: tuple) -> None:
        self._conn.send(msg)

    def __setattr__(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        if name in self._FORWARDED:
            self._send(("set", name, value))

    def event(self, ev: dict, done: int | None = None, total: int | None = None) -> None:
        # the live RunResult stays in this process: only plain metrics cross the pipe
        self._send(("event", {k: v for k, v in ev.items() if k != "result"}, done, total))

    def should_stop(self) -> bool:
        return self._stop_event.is_set()


def run_work(job, work: Callable[[Any], dict]) -> tuple[str, Any]:
    """Run `work(job)`; ("done", doc) | ("stopped", doc or None) | ("error", message)."""
    try:
        torch_threads()
        doc = work(job)
        stopped = job.should_stop() or bool((doc or {}).get("stopped"))
        return ("stopped" if stopped else "done"), doc
    except Stopped:
        return "stopped", None
    except InputError as exc:
        return "error", str(exc)
    except Exception as exc:  # noqa: BLE001 - shown as one line; the traceback goes to the log
        traceback.print_exc(file=sys.stderr)
        return "error", f"internal error ({type(exc).__name__}): {exc}"


ENV_PREFIX = "ST_GIA_"


def app_env() -> dict[str, str]:
    """The dashboard's own settings (`ST_GIA_*`) as the page's process sees them now."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def stop_on_signals(stop_event) -> None:
    """In a worker: SIGTERM asks the work to stop after its current round (what finished is sent
    to the page and saved as stopped); SIGINT is ignored, because Ctrl-C in the server's
    terminal reaches the whole process group and the server stops its jobs itself."""
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_event.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def child_main(conn, stop_event, work: Callable[[Any], dict],
               env: dict[str, str] | None = None) -> None:
    """Entry point of a worker process. `env`: the page's `ST_GIA_*` settings (the fork
    server's environment is the one it started with)."""
    stop_on_signals(stop_event)
    if env is not None:
        for k in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
            del os.environ[k]
        os.environ.update(env)
    job = ChildJob(conn, stop_event)
    outcome, payload = run_work(job, work)
    try:
        conn.send(("end", outcome, payload))
    finally:
        conn.close()


SHUTDOWN_ENV = "ST_GIA_SHUTDOWN_SECONDS"


def shutdown_seconds() -> float:
    """How long a stopping server waits for its runs' current rounds (`$ST_GIA_SHUTDOWN_SECONDS`,
    default 30)."""
    try:
        return max(0.0, float(os.environ.get(SHUTDOWN_ENV, "30") or 30))
    except ValueError:
        return 30.0


class LiveJobs:
    """The running jobs of one server process, so that stopping the server keeps their work.

    `stop_all` (registered with `atexit` by `ui.jobs`; Streamlit turns SIGTERM and Ctrl-C into
    a normal exit) asks every job to stop after its current round and waits for the results to
    be saved as stopped. A job that does not end in time is saved from its live document (the
    rounds finished so far) when it has one, and its worker is killed. Only the server's exit
    reads this registry; no session can list another session's jobs through it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, tuple[Job, Callable[[Job, dict], Any] | None]] = {}

    def add(self, job: Job, save: Callable[[Job, dict], Any] | None) -> None:
        with self._lock:
            self._jobs[id(job)] = (job, save)

    def discard(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(id(job), None)

    def running(self) -> list[Job]:
        with self._lock:
            return [j for j, _ in self._jobs.values() if j.running]

    def stop_all(self, timeout: float | None = None) -> int:
        """Stop every running job and wait up to `timeout` s for them to end; the number of jobs
        that were running."""
        with self._lock:
            entries = [(j, save) for j, save in self._jobs.values() if j.running]
        for job, _ in entries:
            job.stop()
        deadline = time.time() + (shutdown_seconds() if timeout is None else timeout)
        for job, save in entries:
            while job.running and time.time() < deadline:
                time.sleep(0.05)
            if job.running:
                save_live(job, save)
        return len(entries)


def save_live(job: Job, save: Callable[[Job, dict], Any] | None) -> None:
    """Save a job that could not finish its round in time from its live document (the rounds
    finished so far), marked stopped; then end its worker."""
    if not job.claim_end():
        return
    doc = dict(job.partial) if isinstance(job.partial, dict) else None
    if doc is not None and save is not None:
        doc.pop("live", None)
        doc["stopped"] = True
        try:
            job.run_id = save(job, doc)
        except Exception:  # noqa: BLE001 - the server is exiting: log and go on
            traceback.print_exc(file=sys.stderr)
    job.doc = doc
    job.message = "stopped with the server; the finished rounds are kept"
    job.finished = time.time()
    job.status = "stopped"
    job.kill()
