"""`python -m core report RESULT.json --out report.html`: the stakeholder report of a result."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from core.errors import InputError

HELP = ("write a self-contained HTML report of a result JSON for readers outside the field "
        "(opens offline, prints to PDF)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("result", metavar="RESULT.json", help="a result document written with --json")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="where to write the HTML (default: RESULT.html next to the JSON)")
    p.add_argument("--no-roads", action="store_true",
                   help="do not draw the demo city's road network under the maps")


def read_doc(path: str) -> dict:
    """The result document at `path`, or an InputError a user can act on."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path!r}: no such file")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path!r} is not a JSON document ({exc})") from exc
    from core.reports import kind_of
    try:
        kind_of(doc)
    except ValueError as exc:
        raise InputError(f"{path!r}: {exc}") from exc
    return doc


def run(args: argparse.Namespace) -> int:
    from core.reports import build_report, default_roads

    doc = read_doc(args.result)
    out = Path(args.out) if args.out else Path(args.result).with_suffix(".html")
    if out.is_dir():
        raise InputError(f"--out {str(out)!r} is a directory; give a file name")
    roads = None if args.no_roads else default_roads(doc)
    stamp = datetime.now(timezone.utc).strftime("generated %Y-%m-%d %H:%M UTC from ") + Path(args.result).name
    html = build_report(doc, roads, generated=stamp)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    print(f"wrote {out} ({len(html.encode('utf-8')) / 1e6:.1f} MB)", file=sys.stderr)
    return 0
