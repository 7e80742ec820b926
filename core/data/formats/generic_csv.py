"""A generic delimited file with a header, format name ``csv``.

One row per point; the header names the columns. Four roles are needed: ``user``, ``time``,
``lat``, ``lon``. A `columns` mapping ``{role: header name}`` (CLI ``--columns
user=uid,time=ts``) picks them; roles it does not give are found by name, case-insensitively,
trying in order:

- user: user, user_id, userid, uid, user id, id_user
- time: time, utc_time, timestamp, datetime, date_time, utc_timestamp, utctimestamp, time_utc, t
- lat:  lat, latitude, y_lat
- lon:  lon, lng, long, longitude, x_lon

So the shared Foursquare NYC file (header ``user_id,poi_id,latitude,longitude,utc_time,
local_time,stan_minutes``) loads as is, using ``utc_time``.

Text is UTF-8 unless a byte-order mark says otherwise (UTF-8 with BOM as spreadsheet programs
save it, UTF-16, UTF-32) or `encoding` (CLI ``--encoding``) names another encoding.

The separator is the most frequent of ``, ; TAB |`` in the header line; CSV double-quote quoting
is honoured. Times are ISO 8601 (``2012-04-07T17:42:00Z``, an offset such as ``+02:00``, or naive,
which is taken as UTC; fractions of a second are floored) or unix epoch seconds. Which of the two
is decided from the first data row (a plain number means unix seconds); every later row must use
the same kind. Unix times must lie in 1900-2100, which catches milliseconds given as seconds.

This format is the common denominator of trajectory exports (e.g. GeoLife or T-Drive after a
one-line conversion, or the STAN/GETNext Foursquare preprocessing the shared NYC file derives
from); it has no single source.
"""
from __future__ import annotations

import itertools
from pathlib import Path

from core.data.formats import Format
from core.data.formats._table import (TableSpec, dataset_name, parse_iso, parse_unix,
                                      read_header, read_table, show_names, sniff_separator,
                                      split_header)
from core.data.trajectory import TrajectoryDataset
from core.errors import DataFormatError, ParameterError
from core.files import Source, as_source

NAME = "csv"
ENCODING = "utf-8"  # default; a byte-order mark or --encoding overrides it
ROLES = ("user", "time", "lat", "lon")
CANDIDATES: dict[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "userid", "uid", "user id", "id_user"),
    "time": ("time", "utc_time", "timestamp", "datetime", "date_time", "utc_timestamp",
             "utctimestamp", "time_utc", "t"),
    "lat": ("lat", "latitude", "y_lat"),
    "lon": ("lon", "lng", "long", "longitude", "x_lon"),
}


def find_columns(names: list[str], columns: dict | None = None) -> dict[str, str | None]:
    """Role -> header name: the given mapping first, then the first candidate name present."""
    given = dict(columns or {})
    unknown = sorted(set(given) - set(ROLES))
    if unknown:
        raise ParameterError("columns", given, "a mapping with keys among user, time, lat, lon")
    lower = {n.lower(): n for n in reversed(names)}  # first occurrence wins
    found: dict[str, str | None] = {}
    for role in ROLES:
        if role in given:
            found[role] = given[role]
        else:
            found[role] = next((lower[c] for c in CANDIDATES[role] if c in lower), None)
    return found


def sniff(line: str) -> bool:
    names = split_header(line, sniff_separator(line))
    return all(v is not None for v in find_columns(names).values())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load(source: str | Source, columns: dict | None = None, max_rows: int | None = None,
         bad_rows: str = "error", encoding: str | None = None) -> TrajectoryDataset:
    with as_source(source) as src:
        return _load(src, columns, max_rows, bad_rows, src.encoding(encoding, ENCODING))


def _load(src: Source, columns: dict | None, max_rows: int | None, bad_rows: str,
          encoding: str) -> TrajectoryDataset:
    path = src.path
    src.require_content(encoding)
    with src.text(encoding) as f:
        header, header_line = read_header(f, path, "the csv format needs a header naming the "
                                          "columns")
        sep = sniff_separator(header)
        names = split_header(header, sep)
        found = find_columns(names, columns)
        missing = [role for role in ROLES if found[role] is None]
        if missing:
            looked = "; ".join(f"{role}: {', '.join(CANDIDATES[role])}" for role in missing)
            example = ",".join(f"{role}=NAME" for role in missing)
            raise DataFormatError(
                f"no {', '.join(missing)} column in the header (found {show_names(names)}; "
                f"looked for {looked}); name them with columns= (CLI --columns {example})",
                path=path, line=header_line)
        for role in ROLES:
            if found[role] not in names:
                raise DataFormatError(f"column {found[role]!r} given for {role} is not in the "
                                      f"header (found {show_names(names)})", path=path,
                                      line=header_line, column=found[role])
        idx = {role: names.index(found[role]) for role in ROLES}
        # the time kind (ISO or unix seconds) is fixed by the first data row; lines read ahead
        # are put back in front of the stream
        ahead: list[str] = []
        first_data = ""
        for line in iter(f.readline, ""):
            ahead.append(line)
            if line.strip():
                first_data = line
                break
        unix = False
        if first_data:
            fields = split_header(first_data.rstrip("\r\n"), sep)
            unix = len(fields) > idx["time"] and _is_number(fields[idx["time"]])
        parse, hint = ((parse_unix, "unix seconds like the first row, 1900-2100") if unix else
                       (parse_iso, "ISO 8601 like '2012-04-07T17:42:00Z'; naive times are UTC"))
        spec = TableSpec(NAME, path, sep, tuple(names), idx["user"], idx["time"], idx["lat"],
                         idx["lon"], parse, hint, headerless=False, quoted=True)
        meta = {"time_kind": "unix" if unix else "iso8601"}
        meta["encoding"] = encoding
        return read_table(itertools.chain(ahead, f), spec, header_line + 1, max_rows, bad_rows,
                          dataset_name(Path(path)), meta)


FORMAT = Format(NAME, "generic CSV with a header: user, time (ISO 8601 or unix s), lat, lon; "
                "column mapping optional", sniff, load, takes_columns=True)
