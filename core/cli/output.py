"""What each experiment prints and writes: one function per experiment, in a literal dict.

Every experiment writes its JSON document to `--json` (checked writable before the run starts)
and prints a readable table; comparison experiments also write `.md`, `.csv` and a plotly
`.html` next to the JSON (same stem).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

from core.errors import InputError
from core.files import write_atomic
from core.experiments import compare, defenses
from core.experiments.report import table
from core.experiments.seeds import pm


class ProgressBar:
    """A one-line progress bar on stderr fed by the experiments' {"step", "total"} events."""

    def __init__(self, quiet: bool = False, width: int = 30) -> None:
        self.quiet, self.width = quiet, width

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        total = max(int(event.get("total") or event.get("rounds") or 1), 1)
        done = int(event.get("step", event.get("round", 0)))
        bar = "#" * int(min(done / total, 1.0) * self.width)
        extra = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in event.items() if k in ("attack", "asr", "median_error_m"))
        print(f"\r[{bar:<{self.width}}] {done}/{total} {extra}   ", end="", file=sys.stderr,
              flush=True)
        if done >= total:
            print(file=sys.stderr)


def check_output(path: str | None) -> None:
    """Fail before a long run, not after it, when --json cannot be written."""
    if not path:
        return
    p = Path(path)
    if p.is_dir():
        raise InputError(f"--json {path!r} is a directory; give a file name, e.g. {p / 'result.json'}")
    parent = p.parent if str(p.parent) else Path(".")
    existing = next((q for q in [parent, *parent.parents] if q.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise InputError(f"--json {path!r}: cannot write into {str(existing)!r}")


def write_json(path: str | None, doc: dict) -> None:
    """Write the document atomically (temporary file, then rename): never a half-written result."""
    if path:
        write_atomic(path, json.dumps(doc, indent=1))
        print(f"wrote {path}", file=sys.stderr)


def print_grid(doc: dict) -> None:
    """How the sweep's cells ran: how many were reused from the cell store (a rerun resumes)."""
    g = doc.get("grid") or {}
    if g.get("cells", 0) > 1:
        from core.experiments.grid import CellStore

        print(f"reused {g['reused']} of {g['cells']} cells (stored in "
              f"{CellStore.default().root}); {g['finished'] - g['reused']} run on executor "
              f"{g['executor']} in {g['seconds']:.1f} s", file=sys.stderr)


def _with_ci(rows: list[dict], ci_rows: list[dict], cols: tuple[str, ...]) -> list[dict]:
    """Rows whose numbers read 'mean ± half-width' (several seeds)."""
    ci = {r["round"]: r for r in ci_rows}
    return [{c: r[c] if c == "round" else pm(r.get(c), ci.get(r["round"], {}).get(c))
             for c in cols} for r in rows]


def _attack(doc: dict, path: str | None) -> None:
    cols = ("round", "asr", "asr_final", "ait", "median_error_m", "recall_at_5",
            "median_pred_error_m")
    if doc["config"]["defense"] != "none":
        cols += ("epsilon_round", "epsilon_spent")
    if any(r.get("slot_accuracy") is not None for r in doc["rounds"]):
        cols += ("slot_accuracy",)
    if "ci95" in doc:
        print(f"mean ± 95 % CI (Student t) across seeds {', '.join(map(str, doc['seeds']))}")
        print(table(_with_ci(doc["rounds"], doc["ci95"]["rounds"], cols), cols))
    else:
        print(table(doc["rounds"], cols))
    s = doc["summary"]
    base = s.get("baselines") or {}
    print(f"\n{doc['attack']} on {doc['config']['dataset']}: mean ASR {s['mean_asr']}, "
          f"round-1 ASR {s['first_round_asr']}, last-round ASR {s['last_round_asr']}, "
          f"final recall@5 {s['final_recall_at_5']}"
          + (f" (persistence baseline {base['persistence']})" if "persistence" in base else "")
          + f", wall {s['wall_seconds']} s")
    write_json(path, doc)


def _comparison(doc: dict, path: str | None) -> None:
    print(compare.markdown_report(doc))
    if path:
        for p in compare.write_outputs(doc, path) + _report_html(doc, path):
            print(f"wrote {p}", file=sys.stderr)


def _report_html(doc: dict, json_path: str) -> list[Path]:
    """The stakeholder report next to the JSON (same stem, .html): its charts use the 1.2 MB
    plotly.js basic bundle inlined once (plotly.py's own `write_html(include_plotlyjs=True)`
    inlines the full 4.8 MB bundle for one chart)."""
    try:
        from core.reports import build_report
    except ImportError:  # plotly or folium missing
        return []
    p = Path(json_path).with_suffix(".html")
    p.write_text(build_report(doc), encoding="utf-8")
    return [p]


def _defenses(doc: dict, path: str | None) -> None:
    tables = defenses.markdown_tables(doc)
    print(tables)
    print(defenses.frontier_text(doc))
    print(f"\nwall {doc['wall_seconds']} s", file=sys.stderr)
    if path:
        write_json(path, doc)
        md = Path(path).with_suffix(".md")
        write_atomic(md, tables + "\n```\n" + defenses.frontier_text(doc) + "\n```\n")
        print(f"wrote {md}", file=sys.stderr)


def _defense_maps(doc: dict, path: str | None) -> None:
    def cell(r: dict, key: str):
        s, ci = r["summary"], (r.get("ci95") or {}).get("summary")
        return s.get(key) if ci is None else pm(s.get(key), ci.get(key))

    rows = [{"defense": n, "mean_asr": cell(r, "mean_asr"),
             "final_recall_at_5": cell(r, "final_recall_at_5"),
             "epsilon_total": r["summary"].get("epsilon_total")} for n, r in doc["runs"].items()]
    print(table(rows, ("defense", "mean_asr", "final_recall_at_5", "epsilon_total")))
    write_json(path, doc)


OUTPUTS: dict[str, Callable[[dict, str | None], None]] = {
    "attack": _attack,
    "compare-attacks": _comparison,
    "ablation": _comparison,
    "compare-defenses": _defenses,
    "defense-maps": _defense_maps,
}
