"""The streaming table reader shared by every trajectory format.

A format module describes its file as a `TableSpec` (separator, fields, which field holds the
user, time, latitude and longitude, how to parse the time) and hands an open text stream to
`read_table`. The reader then

1. reads the stream in blocks of `BLOCK_ROWS` physical lines, remembering each line's number;
2. checks the field count of every line in Python (a `str.count`, cheap; quoted CSV lines go
   through the `csv` module), because pandas pads short rows with NaN and cannot tell them from
   rows with an empty last field;
3. parses the block's well-formed lines with pandas' C parser, only the four needed columns;
4. validates them vectorised (non-empty user, finite coordinates within ±90/±180, parseable time)
   and reports the first bad row by physical line and column — or, with ``bad_rows="skip"``,
   drops and counts the bad rows and keeps a few examples in the dataset's meta;
5. accumulates compact columns (int32 user code, int64 seconds, float64 lat/lon: 28 bytes per
   row) and at the end sorts once by (user, time) and slices per-user trajectories out of the
   sorted arrays.

Memory is bounded by one block plus the accumulated columns, so a 400 MB file needs far less
than its own size in RAM. Records spanning several physical lines (quoted newlines in CSV) are
not supported: a line with an unbalanced quote is reported as malformed.
"""
from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, TextIO

import numpy as np

from core.data.trajectory import Trajectory, TrajectoryDataset
from core.errors import DataFormatError, MalformedRowError, ParameterError, plain_number, show_text
from core.files import EMPTY_FILE

if TYPE_CHECKING:  # pandas is imported where a table is read: it costs ~0.3 s of start-up
    import pandas as pd

# Physical lines per block: large enough that pandas' per-call overhead vanishes, small enough that
# a block (strings + frame) stays at tens of megabytes.
BLOCK_ROWS = 100_000

# How many skipped rows are kept as examples in meta["skipped_examples"] with bad_rows="skip".
MAX_SKIP_EXAMPLES = 10

BAD_ROWS_CHOICES = ("error", "skip")

# A time parser maps a column of strings to (UTC epoch seconds int64, bad-value mask).
TimeParser = Callable[["pd.Series"], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class TableSpec:
    """How to read one delimited trajectory file.

    `fields` names every field of a row (the header's names, or the documented names of a
    headerless format); `user`, `time`, `lat`, `lon` are 0-based indices into it. Errors name
    the column by its field name; for headerless formats the message adds its 1-based position.
    """

    fmt: str
    path: str
    sep: str
    fields: tuple[str, ...]
    user: int
    time: int
    lat: int
    lon: int
    parse_time: TimeParser
    time_hint: str
    headerless: bool = True
    quoted: bool = False  # CSV double-quote quoting is honoured (else quotes are ordinary chars)
    skip_null_island: bool = False  # rows with lat == lon == 0 exactly are skipped and counted

    @property
    def n_fields(self) -> int:
        return len(self.fields)

    def column(self, idx: int) -> str:
        """The column name used in error messages."""
        return self.fields[idx]

    def where(self, idx: int) -> str:
        """Message prefix 'field 5: ' for headerless formats (the column name is in the error's
        location already), '' otherwise."""
        return f"field {idx + 1}: " if self.headerless else ""


# ---------------------------------------------------------------------------------------------
# opening files


def read_header(f: TextIO, path: str, expected: str) -> tuple[str, int]:
    """The first non-blank line without its line break, and its 1-based number (blank lines
    before a header are skipped, as every format skips blank lines)."""
    for lineno, line in enumerate(iter(f.readline, ""), start=1):
        if line.strip():
            return line.rstrip("\r\n"), lineno
    raise DataFormatError(f"{EMPTY_FILE}; {expected}", path=path)


def show_names(names: list[str], limit: int = 20) -> str:
    """Header names for a message, each quoted (raw bytes never reach the terminal)."""
    shown = ", ".join(show_text(n, 30) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def split_header(line: str, sep: str) -> list[str]:
    """Split a header line with CSV quoting; names are stripped of surrounding whitespace."""
    return [name.strip() for name in next(csv.reader([line], delimiter=sep))]


def sniff_separator(line: str, candidates: Iterable[str] = (",", ";", "\t", "|")) -> str:
    """The candidate separator occurring most often in a header line (',' on a tie or none)."""
    best, count = ",", 0
    for sep in candidates:
        n = line.count(sep)
        if n > count:
            best, count = sep, n
    return best


# ---------------------------------------------------------------------------------------------
# time parsers


def _seconds(dt: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """tz-aware UTC datetimes -> (int64 epoch seconds, floored; NaT mask)."""
    bad = dt.isna().to_numpy()
    secs = dt.dt.tz_convert(None).to_numpy().astype("datetime64[s]").astype(np.int64)
    secs[bad] = 0
    return secs, bad


def _relative_words(values: pd.Series) -> np.ndarray:
    """Values pandas would read as the current time ('now', 'today'): never a recorded time."""
    text = values.astype(str)
    short = (text.str.len() <= 9).to_numpy()
    out = np.zeros(len(values), dtype=bool)
    if short.any():
        out[short] = text[short].str.strip().str.lower().isin(("now", "today")).to_numpy()
    return out


def parse_iso(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 with 'Z' or an offset; naive times are taken as UTC."""
    import pandas as pd
    secs, bad = _seconds(pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce"))
    return secs, bad | _relative_words(values)


def parse_strptime(fmt: str, local_tz: str | None = None) -> TimeParser:
    """A parser for a fixed strptime format; naive results are localised to `local_tz` (else UTC).

    Local times falling in a daylight-saving change are resolved as follows: an ambiguous hour
    (clocks set back) is read as daylight time, the first occurrence; a non-existent time
    (clocks set forward) is moved forward to the first valid instant.
    """

    def parse(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        import pandas as pd
        if local_tz is None:
            secs, bad = _seconds(pd.to_datetime(values, format=fmt, utc=True, errors="coerce"))
            return secs, bad | _relative_words(values)
        dt = pd.to_datetime(values, format=fmt, errors="coerce")
        # years the time-zone database cannot localise (9999) are out of range anyway
        far = (dt.notna() & ((dt.dt.year < 1900) | (dt.dt.year >= 2100))).to_numpy()
        dt = dt.mask(far)
        dt = dt.dt.tz_localize(local_tz, ambiguous=np.ones(len(dt), dtype=bool),
                               nonexistent="shift_forward")
        secs, bad = _seconds(dt.dt.tz_convert("UTC"))
        bad = bad | _relative_words(values)
        secs[far], bad[far] = UNIX_MAX, False  # reported by the range check, not as unparseable
        return secs, bad

    return parse


# Times outside [1900, 2100) are almost surely a unit mistake (milliseconds as seconds), a
# placeholder (0001-01-01, 9999-12-31, "-0" read as year 0) or garbage; every format, ISO or unix,
# refuses them (`_parse_rows`).
UNIX_MIN, UNIX_MAX = -2_208_988_800, 4_102_444_800
TIME_RANGE_TEXT = "1900-01-01T00:00:00Z to 2099-12-31T23:59:59Z (unix -2208988800 to 4102444799)"


def parse_unix(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Unix epoch seconds (integer or fractional, floored); values beyond int64 come out as
    UNIX_MAX (out of range, reported by the caller's range check)."""
    import pandas as pd
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(x)
    clipped = np.clip(np.where(bad, 0.0, x), UNIX_MIN - 1.0, float(UNIX_MAX))
    return np.floor(clipped).astype(np.int64), bad


# ---------------------------------------------------------------------------------------------
# accumulation


class _Accumulator:
    """Compact growing columns; users get integer codes in order of first appearance."""

    def __init__(self) -> None:
        self.user_codes: dict[str, int] = {}
        self.code: list[np.ndarray] = []
        self.t: list[np.ndarray] = []
        self.lat: list[np.ndarray] = []
        self.lon: list[np.ndarray] = []

    def add(self, users: np.ndarray, t: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> None:
        import pandas as pd
        if len(users) == 0:
            return
        local, uniques = pd.factorize(users)
        codes = self.user_codes
        glob = np.fromiter((codes.setdefault(str(u), len(codes)) for u in uniques),
                           dtype=np.int32, count=len(uniques))
        self.code.append(glob[local])
        self.t.append(np.asarray(t, dtype=np.int64))
        self.lat.append(np.asarray(lat, dtype=np.float64))
        self.lon.append(np.asarray(lon, dtype=np.float64))

    def trajectories(self) -> list[Trajectory]:
        """Per-user trajectories sorted by time (stable: equal times keep file order)."""
        if not self.code:
            return []
        # concatenate and permute one column at a time, releasing the chunks, to bound the peak
        code, t = _take(self.code), _take(self.t)
        span = int(t.max()) - int(t.min())
        if span < 2**31:  # (user, time) packed in one int64: a single stable sort, ~5x lexsort
            order = np.argsort((code.astype(np.int64) << 32) | (t - t.min()), kind="stable")
        else:
            order = np.lexsort((t, code))
        code, t = code[order], t[order]
        lat = _take(self.lat)[order]
        lon = _take(self.lon)[order]
        del order
        bounds = np.flatnonzero(np.diff(code)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(code)]])
        names = list(self.user_codes)
        return [Trajectory(names[int(code[s])], t[s:e], lat[s:e], lon[s:e])
                for s, e in zip(starts.tolist(), ends.tolist())]


def _take(chunks: list[np.ndarray]) -> np.ndarray:
    """Concatenate and empty a list of chunks."""
    out = np.concatenate(chunks)
    chunks.clear()
    return out


# ---------------------------------------------------------------------------------------------
# the reader


@dataclass
class _State:
    spec: TableSpec
    bad_rows: str
    acc: _Accumulator = field(default_factory=_Accumulator)
    rows_read: int = 0
    rows_used: int = 0
    rows_skipped: int = 0
    rows_null_island: int = 0
    examples: list[dict] = field(default_factory=list)

    def bad(self, line: int, column: str | None, message: str) -> None:
        """Raise for a bad row, or count it when skipping."""
        if self.bad_rows == "error":
            raise MalformedRowError(message, path=self.spec.path, line=line, column=column)
        self.rows_skipped += 1
        if len(self.examples) < MAX_SKIP_EXAMPLES:
            self.examples.append({"line": line, "column": column, "problem": message})


def _show(value: object) -> str:
    return show_text(value, 40)


def _field_counts(lines: list[str], spec: TableSpec) -> tuple[np.ndarray, np.ndarray]:
    """Fields per line and a mask of lines with an unbalanced double quote (CSV only)."""
    sep = spec.sep
    counts = np.fromiter((ln.count(sep) + 1 for ln in lines), dtype=np.int64, count=len(lines))
    unbalanced = np.zeros(len(lines), dtype=bool)
    if spec.quoted:
        for i, ln in enumerate(lines):
            if '"' in ln:
                if ln.count('"') % 2:
                    unbalanced[i] = True
                else:
                    counts[i] = len(next(csv.reader([ln], delimiter=sep)))
    return counts, unbalanced


def _nul_mask(lines: list[str]) -> np.ndarray:
    """Lines holding a NUL character: binary data (or UTF-16 read as UTF-8), never text."""
    if not any("\x00" in ln for ln in lines):
        return np.zeros(len(lines), dtype=bool)
    return np.fromiter(("\x00" in ln for ln in lines), dtype=bool, count=len(lines))


def _process_block(lines: list[str], linenos: list[int], st: _State) -> None:
    spec = st.spec
    counts, unbalanced = _field_counts(lines, spec)
    nul = _nul_mask(lines)
    malformed = (counts != spec.n_fields) | unbalanced | nul
    first_malformed = int(np.argmax(malformed)) if malformed.any() else len(lines)
    if st.bad_rows == "error":
        # validate the rows before the first malformed line first: an earlier bad value wins
        good = np.arange(first_malformed)
    else:
        good = np.flatnonzero(~malformed)
    if len(good):
        _parse_rows([lines[i] for i in good.tolist()], [linenos[i] for i in good.tolist()], st)
    for i in np.flatnonzero(malformed).tolist():
        if nul[i]:
            st.bad(linenos[i], None, "the line holds a NUL byte: binary data, or UTF-16/32 text "
                                     "without a byte-order mark (pass --encoding utf-16-le)")
            continue
        if unbalanced[i]:
            st.bad(linenos[i], None, "unbalanced double quote (records spanning lines are "
                                     "not supported)")
            continue
        n = int(counts[i])
        # name the first field that is missing, or the first one too many
        column = spec.fields[n] if n < spec.n_fields else f"field {spec.n_fields + 1}"
        what = "format" if spec.headerless else "header"
        st.bad(linenos[i], column, f"expected {spec.n_fields} fields (per the {what}, separator "
                                   f"{spec.sep!r}), found {n}")


def _parse_rows(lines: list[str], linenos: list[int], st: _State) -> None:
    import pandas as pd
    spec = st.spec
    cols = sorted({spec.user, spec.time, spec.lat, spec.lon})
    df = pd.read_csv(
        io.StringIO("".join(lines)), sep=spec.sep, header=None, names=list(range(spec.n_fields)),
        usecols=cols, dtype={spec.user: object, spec.time: object}, na_filter=False,
        quoting=csv.QUOTE_MINIMAL if spec.quoted else csv.QUOTE_NONE, skip_blank_lines=False,
        engine="c", low_memory=False)  # one pass per block: consistent dtypes, no DtypeWarning
    if len(df) != len(lines):  # cannot happen after the field-count check; be loud if it does
        raise DataFormatError(f"internal: parsed {len(df)} rows from {len(lines)} lines",
                              path=spec.path, line=linenos[0])
    users = df[spec.user].to_numpy(dtype=object)
    lat = pd.to_numeric(df[spec.lat], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    lon = pd.to_numeric(df[spec.lon], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    t, bad_t = spec.parse_time(df[spec.time])
    far_t = ~bad_t & ((t < UNIX_MIN) | (t >= UNIX_MAX))
    bad_user = users == ""
    nan_lat, nan_lon = ~np.isfinite(lat), ~np.isfinite(lon)
    with np.errstate(invalid="ignore"):
        far_lat = ~nan_lat & (np.abs(lat) > 90.0)
        far_lon = ~nan_lon & (np.abs(lon) > 180.0)
    # checks in the order they are reported for one row: user, time, lat, lon by field position
    checks = [
        (spec.user, bad_user, lambda i: f"{spec.where(spec.user)}empty user id"),
        (spec.time, bad_t, lambda i: f"{spec.where(spec.time)}cannot parse time "
                                     f"{_show(df[spec.time].iat[i])} (expected {spec.time_hint})"),
        (spec.time, far_t, lambda i: f"{spec.where(spec.time)}time {_show(df[spec.time].iat[i])} "
                                     f"is outside the allowed range {TIME_RANGE_TEXT}; expected "
                                     f"{spec.time_hint}"),
        (spec.lat, nan_lat, lambda i: f"{spec.where(spec.lat)}latitude is not a number: "
                                      f"{_show(df[spec.lat].iat[i])}"),
        (spec.lat, far_lat, lambda i: f"{spec.where(spec.lat)}impossible latitude "
                                      f"{plain_number(lat[i])} (must be within ±90)"),
        (spec.lon, nan_lon, lambda i: f"{spec.where(spec.lon)}longitude is not a number: "
                                      f"{_show(df[spec.lon].iat[i])}"),
        (spec.lon, far_lon, lambda i: f"{spec.where(spec.lon)}impossible longitude "
                                      f"{plain_number(lon[i])} (must be within ±180)"),
    ]
    checks.sort(key=lambda c: c[0])  # stable: a field's checks keep their order
    bad_any = np.zeros(len(lines), dtype=bool)
    for _, mask, _ in checks:
        bad_any |= mask
    if bad_any.any():
        rows = np.flatnonzero(bad_any)
        for i in (rows[:1] if st.bad_rows == "error" else rows).tolist():
            for idx, mask, message in checks:
                if mask[i]:
                    st.bad(linenos[i], spec.column(idx), message(i))
                    break
    keep = ~bad_any
    if spec.skip_null_island:
        zero = keep & (lat == 0.0) & (lon == 0.0)
        st.rows_null_island += int(zero.sum())
        keep &= ~zero
    st.rows_used += int(keep.sum())
    st.acc.add(users[keep], t[keep], lat[keep], lon[keep])


def read_table(stream: Iterable[str], spec: TableSpec, first_lineno: int = 1,
               max_rows: int | None = None, bad_rows: str = "error", name: str | None = None,
               meta: dict | None = None) -> TrajectoryDataset:
    """Read data rows from `stream` (already past any header; its next line is `first_lineno`).

    Blank lines are ignored. `max_rows` stops after that many data rows. `bad_rows` is "error"
    (raise DataFormatError on the first malformed row) or "skip" (drop and count malformed rows).
    """
    if bad_rows not in BAD_ROWS_CHOICES:
        raise ParameterError("bad_rows", bad_rows, " or ".join(BAD_ROWS_CHOICES))
    if max_rows is not None and max_rows < 1:
        raise ParameterError("max_rows", max_rows, "an integer >= 1")
    st = _State(spec, bad_rows)
    it = iter(stream)
    next_lineno = first_lineno
    truncated = False
    while True:
        lines = list(itertools.islice(it, BLOCK_ROWS))  # C-speed; physical lines incl. blanks
        if not lines:
            break
        linenos = list(range(next_lineno, next_lineno + len(lines)))
        next_lineno += len(lines)
        if lines.count("\n"):  # drop blank lines (newlines are normalised to \n on reading)
            keep = [i for i, ln in enumerate(lines) if ln != "\n"]
            lines = [lines[i] for i in keep]
            linenos = [linenos[i] for i in keep]
        if max_rows is not None and st.rows_read + len(lines) > max_rows:
            n = max_rows - st.rows_read
            lines, linenos = lines[:n], linenos[:n]
            truncated = True  # the dropped lines are data rows (blanks were removed above)
        if lines and not lines[-1].endswith("\n"):  # the file's last line may lack one
            lines[-1] += "\n"
        st.rows_read += len(lines)
        if lines:
            _process_block(lines, linenos, st)
        if truncated:
            break
    return _finish(st, name or dataset_name(spec.path), truncated, meta or {})


def _finish(st: _State, name: str, truncated: bool, meta: dict) -> TrajectoryDataset:
    spec = st.spec
    if st.rows_read == 0:
        raise DataFormatError("no data rows (the file is empty"
                              + (" apart from its header)" if not spec.headerless else ")"),
                              path=spec.path)
    trajectories = st.acc.trajectories()
    if not trajectories:
        raise DataFormatError(f"no usable rows: all {st.rows_read} data rows were skipped "
                              f"({st.rows_skipped} malformed, {st.rows_null_island} at lat=lon=0)",
                              path=spec.path)
    if len(trajectories) < 2:
        raise DataFormatError(
            f"only {len(trajectories)} user ({trajectories[0].user_id!r}) has usable points; at "
            f"least 2 users are needed (each user is one federated client)", path=spec.path)
    info = dict(meta)
    info.update(format=spec.fmt, path=spec.path, rows_read=st.rows_read, rows_used=st.rows_used,
                truncated=truncated, columns={"user": spec.fields[spec.user],
                                              "time": spec.fields[spec.time],
                                              "lat": spec.fields[spec.lat],
                                              "lon": spec.fields[spec.lon]})
    if st.bad_rows == "skip":
        examples = sorted(st.examples, key=lambda e: e["line"])
        info.update(rows_skipped=st.rows_skipped, skipped_examples=examples)
    if spec.skip_null_island:
        info["rows_skipped_null_island"] = st.rows_null_island
    return TrajectoryDataset.build(name, trajectories, info)


def dataset_name(path: str | Path) -> str:
    """'nyc_checkins' for '.../nyc_checkins.csv' or '.../nyc_checkins.csv.gz'."""
    p = Path(path)
    stem = p.name[:-3] if p.name.endswith(".gz") else p.name
    return stem.rsplit(".", 1)[0] if "." in stem[1:] else stem
