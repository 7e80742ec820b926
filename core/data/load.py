"""Loading trajectory datasets: format sniffing, `load_dataset`, and `summarize`.

Naming a dataset as "demo" or a file path (the CLI's and the dashboard's `--dataset`) is
`core.demo.resolve.resolve_dataset`, above this package: data never imports the demo world.

Formats live in `core.data.formats` (one module each, documented there): ``foursquare``,
``gowalla``, ``mta-bus``, ``csv``. Every loader streams the file in blocks, stops at the first
malformed row with a `DataFormatError` naming file, line (1-based physical line) and column, and
returns per-user time-sorted trajectories with int64 UTC seconds.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from core.data.formats import FORMATS, get_format
from core.data.formats._table import BAD_ROWS_CHOICES
from core.data.trajectory import TrajectoryDataset
from core.errors import DataFormatError, ParameterError, show_text
from core.files import Source, as_source, check_encoding


def sniff_format(source: str | Path | Source, encoding: str | None = None) -> str:
    """The format name of a file, recognised from its first non-blank line (decoded with
    `encoding`, else the encoding its byte-order mark names, else latin-1, which never fails).

    Raises DataFormatError (an InputError) listing the supported formats when no format matches.
    """
    with as_source(source) as src:
        text, lineno = src.require_content(src.encoding(encoding, "latin-1"))
        for fmt in FORMATS.values():
            if fmt.sniff(text):
                return fmt.name
        hint = ""
        if "\x00" in text:
            hint = ("; the line holds NUL bytes: binary data, or UTF-16/32 text without a "
                    "byte-order mark (pass --encoding utf-16-le or utf-16-be)")
        raise DataFormatError(
            f"cannot tell the format from this line: {show_text(text, 80)}{hint}; pass a "
            "format, one of " + "; ".join(f"{f.name} ({f.description})" for f in FORMATS.values()),
            path=src.path, line=lineno)


def load_dataset(path: str, fmt: str | None = None, columns: dict | None = None,
                 max_rows: int | None = None, *, bad_rows: str = "error",
                 encoding: str | None = None) -> TrajectoryDataset:
    """Read a trajectory file into a TrajectoryDataset (per user, time-sorted t/lat/lon).

    Parameters
    ----------
    path : file to read (plain or gzip).
    fmt : one of ``format_names()``; when None, ``csv`` if `columns` is given, else sniffed
        from the file's first line.
    columns : ``{role: header name}`` for roles user, time, lat, lon (``csv`` format only).
    max_rows : stop after this many data rows (meta["truncated"] says whether it did).
    bad_rows : "error" (default) raises on the first malformed row; "skip" drops malformed rows,
        counting them in meta["rows_skipped"] with a few examples in meta["skipped_examples"].
    encoding : the text encoding (a Python codec name); default: what a byte-order mark says,
        else the format's default (UTF-8; latin-1 for foursquare). See `core.files`.

    The file is opened once (`core.files.Source`): sniffing reads ahead and replays, so pipes and
    process substitutions work; gzip is recognised by its magic bytes.

    `meta` holds format, path, rows_read, rows_used, truncated and the columns used.
    """
    if bad_rows not in BAD_ROWS_CHOICES:
        raise ParameterError("bad_rows", bad_rows, " or ".join(BAD_ROWS_CHOICES))
    if max_rows is not None and (int(max_rows) != max_rows or max_rows < 1):
        raise ParameterError("max_rows", max_rows, "an integer >= 1")
    check_encoding(encoding)
    if fmt is not None:
        get_format(fmt)  # an unknown name is reported before the file is opened
    with as_source(path) as src:
        if fmt is None:
            fmt = "csv" if columns else sniff_format(src, encoding)  # a mapping implies csv
        spec = get_format(fmt)
        if columns and not spec.takes_columns:
            raise ParameterError("columns", columns, "only with format 'csv' (format "
                                 f"{fmt!r} has fixed columns)")
        return spec.load(src, columns=columns, max_rows=max_rows, bad_rows=bad_rows,
                         encoding=encoding)


def _iso_date(t: int) -> str:
    return datetime.fromtimestamp(int(t), tz=timezone.utc).strftime("%Y-%m-%d")


def summarize(ds: TrajectoryDataset) -> dict:
    """Plain-data description of a dataset: users, points, locations, bbox, time span."""
    lengths = np.array([len(tr) for tr in ds.trajectories], dtype=np.int64)
    t0, t1 = ds.time_span()
    return {
        "name": ds.name,
        "users": ds.n_users,
        "points": ds.n_points,
        "distinct_locations": int(ds.locations.shape[0]),
        "points_per_user": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                            "max": int(lengths.max())},
        "bbox": {"lat_min": ds.bbox.lat_min, "lat_max": ds.bbox.lat_max,
                 "lon_min": ds.bbox.lon_min, "lon_max": ds.bbox.lon_max},
        "time_span": {"start": _iso_date(t0), "end": _iso_date(t1),
                      "days": round((t1 - t0) / 86400.0, 1)},
    }
