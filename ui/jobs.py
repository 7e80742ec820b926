"""Long work off the page: a Job runs core calls in a worker *process*, reports progress, can be
stopped, and its result is saved to the run store when it ends.

Why a process, not a thread: the attack's torch ops release and re-take the GIL hundreds of times
per iteration; while the page re-rendered its live view (folium/jinja and plotly are pure Python)
a worker thread ran 3-5x slower (measured in the browser: a 6 s run took 21 s). Workers are forked
from a `forkserver` that has torch, core and the demo city preloaded, so a run starts in
milliseconds; every update crosses a pipe to the page's Job (kept in `st.session_state`, so it is
private to the browser session). The worker exits when the job ends: nothing a user uploaded stays
in it. `$ST_GIA_WORKER=thread` runs jobs in threads instead (no multiprocessing).

The page re-renders a running job with `st.fragment(run_every=...)`: cheap parts (progress,
metrics) often, the map and charts every couple of seconds.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import traceback
import types
from contextlib import contextmanager
from typing import Any, Callable

import streamlit as st

from ui.jobcore import (Job, LiveJobs, Stopped, app_env, child_main, run_work,  # noqa: F401
                        torch_threads)

POLL_SECONDS = 0.7
SLOW_POLL_SECONDS = 2.5
WORKER_ENV = "ST_GIA_WORKER"
# Imported once by the fork server, so a forked worker starts warm. (No torch.optim/_dynamo:
# the attack engine's Adam is hand-written, nothing on the run path builds a torch optimiser.)
PRELOAD = ["torch", "numpy", "scipy.spatial", "core.experiments.runner",
           "core.experiments.report", "core.experiments.setup", "ui.jobcore", "ui.work",
           "ui.warm"]
# Threads mode only: see `tune_process`.
SWITCH_INTERVAL_S = 0.0005


def tune_process() -> None:
    """Thread mode: a shorter GIL switch interval, so a worker thread waits less for the GIL
    while the page renders (3.1 -> 1.3 s per round at full render duty, AppTest measurement)."""
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)


def _mode() -> str:
    return "thread" if os.environ.get(WORKER_ENV, "process") == "thread" else "process"


def _context():
    import multiprocessing as mp

    try:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
    except ValueError:  # no forkserver on this platform
        ctx = mp.get_context("spawn")
    return ctx


_MAIN_LOCK = threading.Lock()


@contextmanager
def _no_main_module():
    """multiprocessing re-runs the parent's `__main__` in every worker (as `__mp_main__`). In a
    Streamlit server `__main__` is the page script being run, so a worker would execute the
    page (in bare mode) before its job. While a worker is launched, `__main__` is a bare module
    with neither file nor spec: there is nothing to re-run. (Streamlit executes a script from
    its module's dict, so a concurrent run is not affected by the brief swap.)"""
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def warm_up() -> None:
    """Start the fork server in the background (once per server process), so the first run
    does not wait for torch to import."""
    if _mode() == "process":
        _warm_once()


@st.cache_resource(show_spinner=False)
def _warm_once() -> bool:
    def go() -> None:
        try:
            p = _context().Process(target=_noop, daemon=True)
            with _no_main_module():
                p.start()
            p.join(120)
        except Exception:  # noqa: BLE001 - warming is best effort
            traceback.print_exc(file=sys.stderr)
    threading.Thread(target=go, name="st-gia-warm", daemon=True).start()
    return True


def _noop() -> None:
    pass


@st.cache_resource(show_spinner=False)
def live_jobs() -> LiveJobs:
    """This server process's running jobs (one registry per process, holding no session's
    data for other sessions): stopped and saved when the server exits (`LiveJobs.stop_all`)."""
    registry = LiveJobs()
    atexit.register(registry.stop_all)
    return registry


def _finish(job: Job, outcome: tuple[str, Any], save, registry: LiveJobs) -> None:
    registry.discard(job)
    if not job.claim_end():  # already saved by a shutdown that could not wait
        return
    kind, payload = outcome
    if kind == "error":
        job.error = payload
        job.message = "stopped by an error (see below)"  # not the last step's "loading data…"
        job.finished = time.time()
        job.status = "error"
        return
    job.doc = payload
    if save is not None and payload is not None:
        try:
            job.run_id = save(job, payload)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc(file=sys.stderr)
            job.error = f"the result could not be saved ({type(exc).__name__}: {exc})"
    job.message = "finished" if kind != "stopped" else _stopped_message(payload)
    job.finished = time.time()
    job.status = kind


def _stopped_message(doc: dict | None) -> str:
    """What a stop kept: the finished cells of a sweep, or a single run's finished rounds."""
    grid = (doc or {}).get("grid") or {}
    if grid.get("cells", 0) > 1:
        return f"stopped; the {grid['finished']} of {grid['cells']} runs that finished are kept"
    return "stopped; the finished rounds are kept"


def start(key: str, job: Job, work: Callable[[Any], dict],
          save: Callable[[Job, dict], str | None] | None = None) -> Job:
    """Put `job` under `st.session_state[key]` and run `work(job)` in a worker.

    `work` must be picklable (a module-level function, e.g. bound with functools.partial).
    `save(job, doc)` stores the document in the page's process (also for stopped runs: what
    finished is kept, and when the server stops: `live_jobs`). InputError becomes a readable
    message; anything else a one-line internal error (the traceback goes to the server log,
    never to the page).
    """
    old = st.session_state.get(key)
    if isinstance(old, Job) and old.running:
        old.stop()
    st.session_state[key] = job
    registry = live_jobs()
    registry.add(job, save)
    if _mode() == "thread":
        tune_process()
        threading.Thread(target=lambda: _finish(job, run_work(job, work), save, registry),
                         name=f"st-gia-{job.kind}", daemon=True).start()
        return job

    ctx = _context()
    reader, writer = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    job._stop_remote = stop
    proc = ctx.Process(target=child_main, args=(writer, stop, work, app_env()), daemon=True,
                       name=f"st-gia-{job.kind}")
    job._proc = proc
    with _no_main_module():
        proc.start()
    writer.close()

    def pump() -> None:
        outcome = None
        try:
            while True:
                try:
                    msg = reader.recv()
                except (EOFError, OSError):
                    break
                if msg[0] == "set":
                    setattr(job, msg[1], msg[2])
                elif msg[0] == "extra":
                    job.extra[msg[1]] = msg[2]
                elif msg[0] == "event":
                    job.event(msg[1], msg[2], msg[3])
                elif msg[0] == "end":
                    outcome = (msg[1], msg[2])
                    break
        finally:
            reader.close()
            proc.join(timeout=30)
            if outcome is None:
                outcome = ("error", "the worker process ended unexpectedly "
                                    f"(exit code {proc.exitcode}); see the server log")
            _finish(job, outcome, save, registry)

    threading.Thread(target=pump, name=f"st-gia-{job.kind}-pump", daemon=True).start()
    return job


def get(key: str) -> Job | None:
    job = st.session_state.get(key)
    return job if isinstance(job, Job) else None


def wait(job: Job, timeout: float = 600.0) -> Job:
    """Block until the job ends (tests and scripts)."""
    t0 = time.time()
    while job.running and time.time() - t0 < timeout:
        time.sleep(0.05)
    return job


def panel(key: str, render: Callable[[Job], Any], slow: Callable[[Job], Any] | None = None,
          poll: float = POLL_SECONDS, slow_poll: float = SLOW_POLL_SECONDS) -> Job | None:
    """Render the job under `key`. While it runs, `render(job)` (progress, metrics: cheap) is
    re-run every `poll` s and `slow(job)` (map, charts) every `slow_poll` s, each in its own
    fragment so only that part of the page reruns; when the job ends the page reruns once,
    showing the final result with full widgets."""
    job = get(key)
    if job is None:
        return None
    was_running = job.running

    def fragment(body: Callable[[Job], Any], every: float):
        @st.fragment(run_every=every if was_running else None)
        def _live() -> None:
            j = get(key)
            if j is None:
                return
            if was_running and not j.running:
                st.rerun()  # switch the timers off and show the final result
            body(j)
        return _live

    fragment(render, poll)()
    if slow is not None:
        fragment(slow, slow_poll)()
    return job


def progress_line(job: Job) -> None:
    """Progress bar, status text and the stop button of a running job."""
    frac = min(job.done / job.total, 1.0) if job.total else 0.0
    label = job.message or job.status
    if job.total:
        label = f"{label} — {job.done}/{job.total} · {job.elapsed:.1f} s"
    st.progress(frac, text=label)
    if job.running:
        st.button("Stop", icon=":material/stop_circle:", key=f"stop_{job.kind}_{id(job)}",
                  on_click=job.stop, help="Stop after the current round; finished rounds are kept")
