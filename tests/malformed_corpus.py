"""A generated corpus of malformed (and a few awkward but valid) inputs, and a runner that sorts
each outcome into: clear error, traceback, hang, silent wrong result, or valid input accepted.

Every file is written into a temporary directory by `build_corpus`; nothing trains a model: file
cases run the `datasets` command or a road loader, parameter cases parse the command line and
validate the configuration exactly as a run does before reading data (`checked_config`).

    python -m tests.malformed_corpus      # prints the counts and every non-clear outcome

A clear error names where the problem is: the file and, when the case knows them, the line and
column; a parameter error names the parameter and what is allowed (its range or choices).
"""
from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.errors import InputError

TIMEOUT_S = 5.0

# --------------------------------------------------------------------------------------------
# valid base files, one per trajectory format: (header lines, rows as field lists, separator)

CSV_HEADER = ["user", "time", "lat", "lon"]
CSV_ROWS = [["a", "2012-04-03T18:00:09Z", "40.71", "-74.00"],
            ["a", "2012-04-03T19:00:09Z", "40.72", "-74.01"],
            ["b", "2012-04-03T18:30:00Z", "40.60", "-74.04"],
            ["b", "2012-04-03T20:30:00Z", "40.61", "-74.05"]]
GOWALLA_ROWS = [["0", "2010-10-19T23:55:27Z", "30.2359091", "-97.7951395", "22847"],
                ["0", "2010-10-18T22:17:43Z", "30.2691029", "-97.7493953", "420315"],
                ["1", "2010-10-17T23:42:03Z", "30.2557309", "-97.7633266", "316637"],
                ["1", "2010-10-17T19:26:05Z", "30.2634018", "-97.7575513", "16516"]]
FSQ_ROWS = [["470", "v1", "c1", "Arts & Crafts Store", "40.719810", "-74.002581", "-240",
             "Tue Apr 03 18:00:09 +0000 2012"],
            ["470", "v3", "c3", "Cafe", "40.716162", "-73.883070", "-240",
             "Tue Apr 03 17:50:00 +0000 2012"],
            ["979", "v2", "c2", "Bar", "40.606800", "-74.044170", "-240",
             "Tue Apr 03 18:00:25 +0000 2012"],
            ["979", "v4", "c4", "Gym", "40.745164", "-73.982519", "-240",
             "Wed Apr 04 01:02:03 +0000 2012"]]
MTA_HEADER = ["RecordedAtTime", "DirectionRef", "PublishedLineName", "OriginName", "OriginLat",
              "OriginLong", "DestinationName", "DestinationLat", "DestinationLong", "VehicleRef",
              "VehicleLocation.Latitude", "VehicleLocation.Longitude", "NextStopPointName",
              "ArrivalProximityText", "DistanceFromStop", "ExpectedArrivalTime",
              "ScheduledArrivalTime"]


def _mta(time: str, bus: str, lat: str, lon: str) -> list[str]:
    return [time, "0", "B8", "4 AV/95 ST", "40.616104", "-74.031143", "BROWNSVILLE", "40.656048",
            "-73.907379", bus, lat, lon, "E 10 ST", "approaching", "76", "2017-06-01 00:03:59",
            "24:06:14"]


MTA_ROWS = [_mta("2017-06-01 00:03:34", "NYCT_430", "40.635170", "-73.960803"),
            _mta("2017-06-01 00:13:34", "NYCT_430", "40.640000", "-73.950000"),
            _mta("2017-06-01 00:03:43", "NYCT_8263", "40.590802", "-74.158340"),
            _mta("2017-06-01 00:23:43", "NYCT_8263", "40.591802", "-74.148340")]


@dataclass(frozen=True)
class TrajFormat:
    """A format's base file and where its roles are (column names as errors give them)."""

    name: str
    header: list[str] | None
    rows: list[list[str]]
    sep: str
    roles: dict[str, tuple[int, str]]           # role -> (field index, column name in errors)
    bad_times: tuple[str, ...]

    def text(self, rows: list[list[str]] | None = None) -> str:
        lines = [self.sep.join(self.header)] if self.header else []
        lines += [self.sep.join(r) for r in (self.rows if rows is None else rows)]
        return "\n".join(lines) + "\n"

    def line_of(self, row: int) -> int:
        return row + (2 if self.header else 1)


ISO_BAD = ("-0", "now", "today", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1000-06-01T00:00:00Z",
           "2262-04-12T00:00:00Z", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z",
           "2100-01-01T00:00:00Z", "2012-13-45T99:99:99Z", "yesterday", "")
FORMATS = (
    TrajFormat("csv", CSV_HEADER, CSV_ROWS, ",",
               {"user": (0, "user"), "time": (1, "time"), "lat": (2, "lat"), "lon": (3, "lon")},
               ISO_BAD),
    TrajFormat("gowalla", None, GOWALLA_ROWS, "\t",
               {"user": (0, "user"), "time": (1, "time"), "lat": (2, "latitude"),
                "lon": (3, "longitude")}, ISO_BAD),
    TrajFormat("foursquare", None, FSQ_ROWS, "\t",
               {"user": (0, "userId"), "time": (7, "utcTimestamp"), "lat": (4, "latitude"),
                "lon": (5, "longitude")},
               ("now", "Mon Jan 01 00:00:00 +0000 0001", "Fri Dec 31 00:00:00 +0000 9999",
                "Sat Apr 12 00:00:00 +0000 2262", "Tue Apr 03 18:00:09 2012", "-0", "")),
    TrajFormat("mta-bus", MTA_HEADER, MTA_ROWS, ",",
               {"user": (9, "VehicleRef"), "time": (0, "RecordedAtTime"),
                "lat": (10, "VehicleLocation.Latitude"), "lon": (11, "VehicleLocation.Longitude")},
               ("now", "today", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "2262-04-12 00:00:00",
                "1000-06-01 00:00:00", "2017-06-01T00:03:34", "-0", "")),
)
BAD_LAT = ("abc", "nan", "inf", "-inf", "91", "-90.0001", "1e400", "", "\x1b[31mred")
BAD_LON = ("181", "-180.5", "nan", "x", "", "0x10")


# --------------------------------------------------------------------------------------------
# cases


@dataclass
class Case:
    """One input. `run` returns (status, message): status 0 = accepted, 2 = refused."""

    name: str
    run: Callable[[], tuple[int, str]]
    must_name: tuple[str, ...] = ()          # substrings a refusal must contain
    valid: bool = False                      # an awkward but valid input: must be accepted
    check: Callable[[], bool] | None = None  # for valid inputs: the accepted result is right


@dataclass
class Outcome:
    case: Case
    kind: str          # clear | vague | traceback | hang | silent-wrong | rejected-valid | ok
    detail: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)

    def summary(self) -> str:
        kinds = ("clear", "ok", "traceback", "hang", "silent-wrong", "vague", "rejected-valid")
        return (f"{len(self.outcomes)} inputs: " + ", ".join(f"{self.count(k)} {k}" for k in kinds))

    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind not in ("clear", "ok")]


class _Hang(BaseException):
    pass


def _alarm(signum, frame) -> None:
    raise _Hang()


def run_case(case: Case, timeout: float = TIMEOUT_S) -> Outcome:
    """Run one case under a timer (SIGALRM) and classify what happened."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        status, message = case.run()
    except _Hang:
        return Outcome(case, "hang")
    except Exception as exc:  # anything but the project's errors is a traceback
        return Outcome(case, "traceback", f"{type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    if case.valid:
        if status != 0:
            return Outcome(case, "rejected-valid", message)
        good = case.check() if case.check else True
        return Outcome(case, "ok" if good else "silent-wrong", "accepted, wrong content")
    if status == 0:
        return Outcome(case, "silent-wrong", "accepted")
    missing = [m for m in case.must_name if m not in message]
    if missing or "Traceback" in message or "np.float64" in message or "\x1b" in message:
        return Outcome(case, "vague", f"missing {missing}: {message}")
    return Outcome(case, "clear", message)


def run_corpus(cases: list[Case]) -> Report:
    report = Report()
    for case in cases:
        report.outcomes.append(run_case(case))
    return report


# --------------------------------------------------------------------------------------------
# how cases run


def cli(argv: list[str], check_only: bool = False) -> tuple[int, str]:
    """Run `python -m core ARGV` in-process; with `check_only`, only parse and validate the
    configuration (what a run does before it reads any data). (status, stderr)."""
    from core.cli.main import build_parser, checked_config, main
    from core.errors import terminal_safe

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            if not check_only:
                return main(argv), err.getvalue()
            args = build_parser().parse_args(argv)
            checked_config(args)
            return 0, err.getvalue()
        except SystemExit as exc:  # argparse: usage error, printed on stderr
            return int(exc.code or 0), err.getvalue()
        except InputError as exc:
            return 2, terminal_safe(str(exc))


def call(fn: Callable[[], object]) -> tuple[int, str]:
    """A loader call: (0, '') when it returns, (2, message) for the project's errors."""
    from core.errors import terminal_safe

    try:
        fn()
        return 0, ""
    except InputError as exc:
        return 2, terminal_safe(str(exc))


def _datasets(path: Path | str, *extra: str) -> Callable[[], tuple[int, str]]:
    return lambda: cli(["datasets", "--dataset", str(path), *extra])


# --------------------------------------------------------------------------------------------
# the corpus


def build_corpus(root: Path) -> list[Case]:
    """Every case, its files written under `root`."""
    cases: list[Case] = []
    cases += _field_cases(root)
    cases += _file_cases(root)
    cases += _encoding_cases(root)
    cases += _special_file_cases(root)
    cases += _road_cases(root)
    cases += _parameter_cases(root)
    return cases


def _write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def _field_cases(root: Path) -> list[Case]:
    """One bad value in row 2 (index 1) of each format: named by file, line and column."""
    cases = []
    for fmt in FORMATS:
        bad_values = {"user": ("",), "time": fmt.bad_times, "lat": BAD_LAT, "lon": BAD_LON}
        for role, values in bad_values.items():
            idx, column = fmt.roles[role]
            for k, value in enumerate(values):
                rows = [list(r) for r in fmt.rows]
                rows[1][idx] = value
                p = _write(root / f"{fmt.name}-{role}-{k}.txt", fmt.text(rows))
                where = (str(p), f"line {fmt.line_of(1)}", repr(column))
                if fmt.name == "csv" and role == "time" and value == "":
                    where = (str(p), f"line {fmt.line_of(1)}")
                cases.append(Case(f"{fmt.name} {role}={value!r}",
                                  _datasets(p, "--format", fmt.name), where))
        # structure: a field too many or too few, a NUL byte, a raw binary line
        structural = {
            "extra field": lambda r: r + ["extra"],
            "missing field": lambda r: r[:-1],
            "NUL byte": lambda r: [r[0] + "\x00"] + r[1:],
        }
        for label, mutate in structural.items():
            rows = [list(r) for r in fmt.rows]
            rows[1] = mutate(rows[1])
            p = _write(root / f"{fmt.name}-{label.replace(' ', '_')}.txt", fmt.text(rows))
            cases.append(Case(f"{fmt.name} {label}", _datasets(p, "--format", fmt.name),
                              (str(p), f"line {fmt.line_of(1)}")))
        if fmt.sep == ",":
            rows = [list(r) for r in fmt.rows]
            rows[1][0] = '"' + rows[1][0]
            p = _write(root / f"{fmt.name}-quote.txt", fmt.text(rows))
            cases.append(Case(f"{fmt.name} unbalanced quote", _datasets(p, "--format", fmt.name),
                              (str(p), f"line {fmt.line_of(1)}", "quote")))
    return cases


def _gzip_variants(data: bytes) -> dict[str, bytes]:
    z = gzip.compress(data, mtime=0)
    flipped = bytearray(z)
    flipped[len(z) // 2] ^= 0xFF
    crc = bytearray(z)
    crc[-6] ^= 0xFF
    return {"truncated half": z[: len(z) // 2], "truncated header": z[:5],
            "truncated trailer": z[:-4], "flipped body byte": bytes(flipped),
            "bad crc": bytes(crc), "garbage after member": z + b"garbage!!",
            "magic only": b"\x1f\x8b"}


def _file_cases(root: Path) -> list[Case]:
    """Whole-file problems, in every format, sniffed and with --format given."""
    cases = []
    for fmt in FORMATS:
        text = fmt.text()
        files = {"empty": b"", "whitespace only": b"  \n\t\n \r\n",
                 "one user": fmt.text(fmt.rows[:2]).encode(),
                 "binary": bytes(range(256)) * 4}
        if fmt.header:
            files["header only"] = fmt.text([]).encode()
        for label, zdata in _gzip_variants(text.encode()).items():
            files[f"gzip {label}"] = zdata
        for label, data in files.items():
            p = _write(root / f"{fmt.name}-{label.replace(' ', '_')}.txt.gz"
                       if label.startswith("gzip") else
                       root / f"{fmt.name}-{label.replace(' ', '_')}.txt", data)
            words = (str(p),)
            if label == "whitespace only" or label == "empty":
                words += ("empty or holds only blank lines",)
            if label.startswith("gzip"):
                words += ("gzip",)
            cases.append(Case(f"{fmt.name} {label} (--format)", _datasets(p, "--format", fmt.name),
                              words))
            if label.startswith("gzip"):
                cases.append(Case(f"{fmt.name} {label} (--skip-bad-rows)",
                                  _datasets(p, "--format", fmt.name, "--skip-bad-rows"), words))
    # sniffed (no --format): one per file-level problem is enough, every format says the same
    for label, data in {"empty": b"", "whitespace only": b" \n\n\t \n",
                        "binary": b"\x00\x01\x02\xff\xfe\x1b[31m\n",
                        "unknown header": b"foo,bar\n1,2\n",
                        "gzip truncated": gzip.compress(CSV_ROWS[0][0].encode() * 100)[:9]}.items():
        p = _write(root / f"sniff-{label.replace(' ', '_')}.dat", data)
        cases.append(Case(f"sniffed {label}", _datasets(p), (str(p),)))
    return cases


def _encoding_cases(root: Path) -> list[Case]:
    """Valid files in other encodings (must load, same content) and undecodable ones."""
    from core.data.load import load_dataset

    cases = []
    base = FORMATS[0]
    plain = _write(root / "enc-plain.csv", base.text())

    def same_as_plain(path: Path, *args, **kwargs) -> Callable[[], bool]:
        def check() -> bool:
            a, b = load_dataset(str(plain)), load_dataset(str(path), *args, **kwargs)
            return (a.n_users, a.n_points, a.name is not None) == (b.n_users, b.n_points, True) \
                and all((x.t == y.t).all() and (x.lat == y.lat).all()
                        for x, y in zip(a.trajectories, b.trajectories))
        return check

    for enc in ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        data = base.text().encode(enc)
        if enc in ("utf-16-le", "utf-16-be"):
            data = (codecs.BOM_UTF16_LE if enc.endswith("le") else codecs.BOM_UTF16_BE) + data
        p = _write(root / f"enc-{enc}.csv", data)
        cases.append(Case(f"csv in {enc} with BOM (sniffed)", _datasets(p), valid=True,
                          check=same_as_plain(p)))
    p = _write(root / "enc-crlf.csv", base.text().replace("\n", "\r\n"))
    cases.append(Case("csv with CRLF line ends", _datasets(p), valid=True, check=same_as_plain(p)))
    p = _write(root / "enc-bom-gz.csv.gz", gzip.compress(base.text().encode("utf-8-sig")))
    cases.append(Case("gzip of a csv with BOM", _datasets(p), valid=True, check=same_as_plain(p)))
    sj = base.text().replace("a,", "ユーザ,")
    p = _write(root / "enc-sjis.csv", sj, "shift_jis")
    cases.append(Case("Shift-JIS csv with --encoding shift_jis", _datasets(p, "--encoding",
                      "shift_jis"), valid=True,
                      check=lambda p=p: load_dataset(str(p), encoding="shift_jis")
                      .trajectories[0].user_id == "ユーザ"))
    cases.append(Case("Shift-JIS csv read as utf-8", _datasets(p),
                      (str(p), "utf-8", "--encoding", "line 2", "byte offset")))
    lat1 = base.text().replace("a,", "Jos\xe9,")
    p = _write(root / "enc-latin1.csv", lat1, "latin-1")
    cases.append(Case("latin-1 csv with --encoding latin-1", _datasets(p, "--encoding", "latin-1"),
                      valid=True))
    cases.append(Case("latin-1 csv read as utf-8", _datasets(p),
                      (str(p), "utf-8", "--encoding", "line 2", "byte offset")))
    cases.append(Case("latin-1 csv read as ascii", _datasets(p, "--encoding", "ascii"),
                      (str(p), "ascii", "--encoding")))
    cases.append(Case("csv with an unknown --encoding", _datasets(p, "--encoding", "klingon"),
                      ("encoding", "klingon", "allowed")))
    for codec in ("rot13", "hex", "base64"):
        cases.append(Case(f"csv with --encoding {codec} (not a text encoding)",
                          _datasets(p, "--encoding", codec), ("encoding", codec, "allowed")))
    p = _write(root / "enc-utf16-nobom.csv", base.text().encode("utf-16-le"))
    cases.append(Case("utf-16 without BOM (sniffed)", _datasets(p), (str(p), "utf-16")))
    cases.append(Case("utf-16 without BOM, --encoding utf-16-le",
                      _datasets(p, "--encoding", "utf-16-le"), valid=True))
    for fmt in FORMATS[1:]:
        if fmt.name == "foursquare":
            continue  # latin-1 by default: every byte decodes
        rows = [list(r) for r in fmt.rows]
        rows[2][fmt.roles["user"][0]] += "\udcff"
        p = _write(root / f"enc-bad-{fmt.name}.txt",
                   fmt.text(rows).encode("utf-8", "surrogateescape"))
        cases.append(Case(f"{fmt.name} with an undecodable byte", _datasets(p, "--format",
                          fmt.name), (str(p), "utf-8", "--encoding", f"line {fmt.line_of(2)}")))
    return cases


def _special_file_cases(root: Path) -> list[Case]:
    """Devices, directories, missing files, pipes with and without a writer."""
    from core.data.load import load_dataset

    cases = [Case("/dev/zero", _datasets("/dev/zero"), ("/dev/zero", "character device")),
             Case("/dev/null", _datasets("/dev/null"), ("/dev/null", "character device")),
             Case("a directory", _datasets(root), (str(root), "directory")),
             Case("a missing file", _datasets(root / "nope.csv"), ("nope.csv", "no such file"))]

    def fifo_no_writer() -> tuple[int, str]:
        from core import files
        p = root / "fifo-silent"
        if not p.exists():
            os.mkfifo(p)
        old, files.FIFO_WAIT_S = files.FIFO_WAIT_S, 0.3
        try:
            return cli(["datasets", "--dataset", str(p)])
        finally:
            files.FIFO_WAIT_S = old

    cases.append(Case("named pipe without a writer", fifo_no_writer, ("fifo-silent", "pipe")))

    def pipe_of(data_fn: Callable[[int], None]) -> str:
        r, w = os.pipe()
        threading.Thread(target=data_fn, args=(w,), daemon=True).start()
        return r

    def zeros(w: int) -> None:
        with contextlib.suppress(OSError):
            with os.fdopen(w, "wb") as f:
                for _ in range(64):
                    f.write(b"\x00" * 65536)

    def pipe_zero() -> tuple[int, str]:
        r = pipe_of(zeros)
        try:
            return cli(["datasets", "--dataset", f"/dev/fd/{r}"])
        finally:
            os.close(r)

    cases.append(Case("a pipe of zeros", pipe_zero, ("/dev/fd/", "line break")))

    text = FORMATS[0].text().encode()

    def pipe_loads(data: bytes) -> Callable[[], tuple[int, str]]:
        def run() -> tuple[int, str]:
            def write(w: int) -> None:
                with os.fdopen(w, "wb") as f:
                    f.write(data)
            r = pipe_of(write)
            try:
                ds = load_dataset(f"/dev/fd/{r}")
            except InputError as exc:
                return 2, str(exc)
            finally:
                os.close(r)
            return (0, "") if ds.n_points == len(CSV_ROWS) else (2, f"{ds.n_points} points")
        return run

    cases.append(Case("a pipe (process substitution) keeps its first line", pipe_loads(text),
                      valid=True))
    cases.append(Case("a pipe of gzip data", pipe_loads(gzip.compress(text)), valid=True))
    return cases


SQUARE_NODES = "node_id,latitude,longitude\n1,40.75,-73.99\n2,40.75,-73.98\n3,40.76,-73.98\n"
SQUARE_EDGES = "edge_id,from_node,to_node\n1,1,2\n2,2,3\n3,3,1\n"
OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
 <node id="1" lat="40.75" lon="-73.99"/>
 <node id="2" lat="40.75" lon="-73.98"/>
 <node id="3" lat="40.76" lon="-73.98"/>
 <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
</osm>
"""
GRAPHML = """<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="d0" for="node" attr.name="y" attr.type="double"/>
<key id="d1" for="node" attr.name="x" attr.type="double"/>
<graph edgedefault="directed">
<node id="1"><data key="d0">40.75</data><data key="d1">-73.99</data></node>
<node id="2"><data key="d0">40.75</data><data key="d1">-73.98</data></node>
<edge source="1" target="2"/>
</graph>
</graphml>
"""


def _road(spec: str, **kw) -> Callable[[], tuple[int, str]]:
    from core.geo.loaders import load_road_network
    return lambda: call(lambda: load_road_network(spec, **kw))


def _road_cases(root: Path) -> list[Case]:
    cases = []
    edges = _write(root / "road_edges.csv", SQUARE_EDGES)
    node_rows = SQUARE_NODES.splitlines()
    for k, (bad, col) in enumerate([("2,forty,-73.98", "latitude"), ("2,nan,-73.98", "latitude"),
                                    ("2,40.75,-273.98", "longitude"), ("2,40.75", "longitude"),
                                    ("1,40.75,-73.98", "node_id"), ("2,inf,-73.98", "latitude"),
                                    ("2,\x1b[31m,-73.98", "latitude")]):
        rows = list(node_rows)
        rows[2] = bad
        p = _write(root / f"road{k}_nodes.csv", "\n".join(rows) + "\n")
        cases.append(Case(f"road nodes {bad!r}", _road(f"{p},{edges}"),
                          (str(p), "line 3", repr(col))))
    nodes = _write(root / "roadok_nodes.csv", SQUARE_NODES)
    for k, (bad, col) in enumerate([("2,2,9", "to_node"), ("2,x,3", "from_node"), ("2,2", "to_node")]):
        rows = SQUARE_EDGES.splitlines()
        rows[2] = bad
        p = _write(root / f"road{k}_edges.csv", "\n".join(rows) + "\n")
        cases.append(Case(f"road edges {bad!r}", _road(f"{nodes},{p}"), (str(p), "line 3", repr(col))))
    for label, data in {"empty": b"", "whitespace only": b"  \n\n\t\n",
                        "undecodable": "node_id,latitude,longitude,name\n1,40.75,-73.99,道\n"
                        .encode("shift_jis"),
                        "binary": bytes(range(256))}.items():
        p = _write(root / f"roadbad-{label.replace(' ', '_')}_nodes.csv", data)
        words = (str(p),) + (("empty or holds only blank lines",) if "empty" in label
                             or "whitespace" in label else ())
        if label == "undecodable":
            words += ("utf-8", "--road-encoding", "line 2")
        cases.append(Case(f"road nodes {label}", _road(f"{p},{edges}"), words))
        for kind, suffix in (("osm", ".osm"), ("graphml", ".graphml")):
            q = _write(root / f"roadbad-{label.replace(' ', '_')}{suffix}", data)
            empty = ("empty or holds only blank lines",) if label in ("empty",
                                                                    "whitespace only") else ()
            cases.append(Case(f"{kind} {label}", _road(str(q)), (str(q),) + empty))
    # column mapping and encodings: valid
    named = _write(root / "named_nodes.csv", "name,x,y\nA,-73.99,40.75\nB,-73.98,40.75\n")
    named_e = _write(root / "named_edges.csv", "a,b\nA,B\n")
    cols = {"node": "name", "lon": "x", "lat": "y", "u": "a", "v": "b"}
    cases.append(Case("road pair name,x,y with --road-columns", _road(f"{named},{named_e}",
                      columns=cols), valid=True))
    cases.append(Case("road pair name,x,y without a mapping", _road(f"{named},{named_e}"),
                      (str(named), "node id", "--road-columns")))
    cases.append(Case("road mapping names a missing column",
                      _road(f"{named},{named_e}", columns={**cols, "node": "nom"}),
                      (str(named), "nom", "not in the header")))
    sj = _write(root / "sj_nodes.csv", "name,x,y,label\nA,-73.99,40.75,道路\nB,-73.98,40.75,橋\n",
                "shift_jis")
    cases.append(Case("Shift-JIS road pair with --road-encoding", _road(
        f"{sj},{named_e}", columns=cols, encoding="shift_jis"), valid=True))
    bom = _write(root / "bom_nodes.csv", SQUARE_NODES, "utf-8-sig")
    cases.append(Case("road nodes with a UTF-8 BOM", _road(f"{bom},{edges}"), valid=True))
    cases.append(Case("road encoding for an OSM file", _road(str(_write(root / "ok.osm", OSM)),
                      encoding="latin-1"), ("road_encoding", "allowed")))
    cases.append(Case("unknown road encoding", _road(f"{nodes},{edges}", encoding="klingon"),
                      ("road_encoding", "klingon", "allowed")))
    # XML: malformed content and broken gzip
    for kind, text, suffix in (("osm", OSM, ".osm"), ("graphml", GRAPHML, ".graphml")):
        mutations = {
            "not XML": text.replace("</", "<"),
            "truncated": text[: len(text) // 2],
            "nan coordinate": text.replace("40.75", "nan", 1),
            "text coordinate": text.replace("40.75", "forty", 1),
            "missing coordinate": text.replace(' lat="40.75"', "", 1).replace(
                '<data key="d0">40.75</data>', "", 1),
        }
        for label, data in mutations.items():
            p = _write(root / f"x-{label.replace(' ', '_')}{suffix}", data)
            cases.append(Case(f"{kind} {label}", _road(str(p)), (str(p),)))
        for label, data in _gzip_variants(text.encode()).items():
            p = _write(root / f"x-{kind}-{label.replace(' ', '_')}{suffix}.gz", data)
            cases.append(Case(f"{kind} gzip {label}", _road(str(p)), (str(p), "gzip")))
    for label, data in _gzip_variants(SQUARE_NODES.encode()).items():
        p = _write(root / f"z-{label.replace(' ', '_')}_nodes.csv.gz", data)
        cases.append(Case(f"road nodes gzip {label}", _road(f"{p},{edges}"), (str(p), "gzip")))
    return cases


def _parameter_cases(root: Path) -> list[Case]:
    """Every numeric and choice parameter of every experiment with values outside what it allows,
    and the combinations issue 14 lists; only parsed and validated, never run."""
    from core.experiments.config import all_fields
    from core.experiments.registry import EXPERIMENTS

    fields = all_fields()
    cases = []
    seen: set[str] = set()
    for exp in EXPERIMENTS.values():
        for name in exp.fields:
            if name in seen:  # each field once, with the first experiment that takes it
                continue
            seen.add(name)
            info = fields[name]
            p = info.param
            flag = info.flag
            values: list[str] = []
            if info.kind in (int, float) and not info.sequence:
                values += ["nan", "inf", "-inf", "abc"]
                if p.low is not None:
                    values.append(str(p.low if p.low_open else p.low - 1))
                if p.high is not None:
                    values.append(str(p.high * 10 + 1))
                if info.kind is int:
                    values.append("1.5")
            elif info.sequence and info.kind is float:
                values += ["1,nan", "1,-2", "", "x"]
            elif p.allowed() is not None:
                values.append("tyop")
            for v in values:
                words = (name,)
                if info.kind in (int, float) and v not in ("abc", "x"):
                    words += ("allowed",)
                cases.append(Case(f"{exp.name} {flag}={v}", (lambda a=[exp.name, f"{flag}={v}"]:
                                  cli(a, check_only=True)), words))
    nodes_csv = _write(root / "p_nodes.csv", SQUARE_NODES)
    data = _write(root / "p.csv", FORMATS[0].text())
    fifo = root / "p-fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    not_dir = _write(root / "plain.txt", "x")
    specific = [
        (["attack", "--seed=-1"], ("seed", "[0, 4294967295]")),
        (["attack", "--seed", "-1"], ("seed", "[0, 4294967295]")),
        (["attack", "--rounds", "-0"], ("rounds", "[1, 10000]")),
        (["attack", "--threshold-m=nan"], ("threshold_m", "allowed")),
        (["ablation", "--base=dlg"], ("base", "st-gia")),
        (["attack", "--epsilon=1"], ("epsilon", "defense")),
        (["attack", "--format=csv"], ("format", "demo")),
        (["attack", "--encoding=latin-1"], ("encoding", "demo")),
        (["datasets", "--dataset", str(fifo), "--format=csvv"], ("format", "csv")),
        (["attack", "--dataset", str(fifo), "--prior=rods"], ("prior", "roads")),
        (["attack", "--json", str(root)], ("--json", "directory")),
        (["attack", "--json", str(not_dir / "out.json")], ("--json", "cannot write")),
        (["attack", "--dataset", str(data), "--encoding=klingon"], ("encoding", "allowed")),
        (["attack", "--dataset", str(data), "--columns=user"], ("columns", "ROLE=NAME")),
        (["attack", "--dataset", str(data), "--columns=user=a,zzz=b"], ("columns", "roles")),
        (["attack", "--road-encoding=utf-8"], ("road_encoding", "--roads")),
        (["attack", "--road-columns=node=a"], ("road_columns", "--roads")),
        (["attack", "--roads", str(nodes_csv), "--road-columns=q=1"], ("road_columns", "roles")),
        (["attack", "--dataset", str(data), "--max-rows=0"], ("max_rows", "allowed")),
        (["compare-defenses", "--epsilons=1,nan"], ("epsilons", "allowed")),
        (["attack", "--defense=dpsgd"], ("epsilon", "dpsgd")),
        (["datasets", "--dataset", str(data), "--min-gap-minutes=nan"], ("min_gap_minutes",)),
    ]
    for argv, words in specific:
        check = argv[0] != "datasets"
        cases.append(Case(" ".join(argv), (lambda a=argv, c=check: cli(a, check_only=c)), words))
    return cases


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        report = run_corpus(build_corpus(Path(d)))
    for o in report.problems():
        print(f"{o.kind}: {o.case.name}: {o.detail}")
    print(report.summary())
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
