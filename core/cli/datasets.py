"""`python -m core datasets`: describe a dataset (users, points, distinct locations, bbox, time
span), as read and after the preprocessing of DESIGN.md §2 (duplicates dropped, time thinning).

    python -m core datasets --dataset demo
    python -m core datasets --dataset ../shared/data/foursquare_nyc/nyc_checkins.csv
    python -m core datasets --dataset loc-gowalla_totalCheckins.txt.gz --format gowalla --json
"""
from __future__ import annotations

import argparse
import json
import time

from core.cli.flags import add_config_arguments, config_from_args
from core.data.load import summarize
from core.data.preprocess import preprocess
from core.experiments.setup import read_dataset


HELP = "describe a dataset: users, points, bbox, time span"
FIELDS = ("dataset", "format", "columns", "skip_bad_rows", "max_rows", "min_gap_minutes", "encoding")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, FIELDS)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _rows(raw: dict, clean: dict) -> list[tuple[str, str, str]]:
    def bbox(s: dict, a: str, b: str) -> str:
        return f"{s['bbox'][a]:.4f} .. {s['bbox'][b]:.4f}"

    def span(s: dict) -> str:
        ts = s["time_span"]
        return f"{ts['start']} .. {ts['end']} ({ts['days']:g} d)"

    def ppu(s: dict) -> str:
        p = s["points_per_user"]
        return f"{p['min']} / {p['median']:g} / {p['max']}"

    return [
        ("users", f"{raw['users']:,}", f"{clean['users']:,}"),
        ("points", f"{raw['points']:,}", f"{clean['points']:,}"),
        ("distinct locations", f"{raw['distinct_locations']:,}",
         f"{clean['distinct_locations']:,}"),
        ("points/user min/median/max", ppu(raw), ppu(clean)),
        ("latitude", bbox(raw, "lat_min", "lat_max"), bbox(clean, "lat_min", "lat_max")),
        ("longitude", bbox(raw, "lon_min", "lon_max"), bbox(clean, "lon_min", "lon_max")),
        ("time span (UTC)", span(raw), span(clean)),
    ]


def run(args: argparse.Namespace) -> int:
    d = config_from_args(args, FIELDS).data
    t0 = time.perf_counter()
    ds, roads = read_dataset(d)
    load_s = time.perf_counter() - t0
    clean_ds = preprocess(ds, d.min_gap_minutes)
    raw, clean = summarize(ds), summarize(clean_ds)
    meta = {k: v for k, v in ds.meta.items() if isinstance(v, (str, int, float, bool, list, dict))}
    report = {"dataset": d.dataset, "meta": meta, "load_seconds": round(load_s, 3),
              "raw": raw, "preprocessed": dict(clean, min_gap_minutes=d.min_gap_minutes),
              "road_network": None if roads is None else {
                  "name": getattr(roads, "name", None),
                  "nodes": int(len(roads.node_ids)), "edges": int(len(roads.edge_u))}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"dataset {ds.name!r} ({d.dataset})")
    if "format" in ds.meta:
        line = (f"format {ds.meta['format']}, {ds.meta.get('rows_read', 0):,} rows read "
                f"in {load_s:.2f} s")
        if ds.meta.get("truncated"):
            line += f" (stopped at --max-rows {d.max_rows})"
        print(line)
        if ds.meta.get("rows_skipped"):
            print(f"skipped {ds.meta['rows_skipped']:,} malformed rows, e.g.:")
            for ex in ds.meta.get("skipped_examples", [])[:3]:
                col = f", column {ex['column']!r}" if ex.get("column") else ""
                print(f"  line {ex['line']}{col}: {ex['problem']}")
        if ds.meta.get("rows_skipped_null_island"):
            print(f"skipped {ds.meta['rows_skipped_null_island']:,} rows at lat = lon = 0")
    if roads is not None:
        print(f"road network: {len(roads.node_ids):,} nodes, {len(roads.edge_u):,} edges")
    header = ("", "raw", f"preprocessed (gap >= {d.min_gap_minutes:g} min)")
    rows = [header] + _rows(raw, clean)
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0
