"""Issue 14, input side: a generated corpus of malformed inputs (every format, every parameter),
a property test with gzip-aware mutations, opening files once (pipes, FIFOs, devices), explicit
encodings, and Ctrl-C / SIGTERM during an `attack` run keeping the finished rounds.

The corpus itself lives in `tests/malformed_corpus.py` (`python -m tests.malformed_corpus`
prints its counts).
"""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import files
from core.data.load import load_dataset
from core.errors import DataFormatError, InputError
from core.files import Source, write_atomic
from core.geo.loaders import load_road_network
from tests import malformed_corpus as corpus

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# the corpus


def test_corpus_of_malformed_inputs_gets_only_clear_errors(tmp_path, capsys):
    cases = corpus.build_corpus(tmp_path)
    report = corpus.run_corpus(cases)
    with capsys.disabled():
        print("\nmalformed-input corpus:", report.summary())
    assert len(cases) >= 300
    assert [f"{o.kind}: {o.case.name}: {o.detail}" for o in report.problems()] == []
    assert report.count("traceback") == report.count("hang") == report.count("silent-wrong") == 0
    assert report.count("clear") == sum(not c.valid for c in cases)


# --------------------------------------------------------------------------------------------
# property test: mutated files, plain and gzip, raise nothing but the project's errors

_TRAJ = {"csv": corpus.FORMATS[0].text(), "gowalla": corpus.FORMATS[1].text(),
         "foursquare": corpus.FORMATS[2].text(), "mta-bus": corpus.FORMATS[3].text()}
_ROAD = {"osm": corpus.OSM, "graphml": corpus.GRAPHML, "road-csv": corpus.SQUARE_NODES}
_TOKENS = [b"\x00", b"\xff", b"\xfe", b",", b"\t", b"\n", b"\r", b'"', b"nan", b"-0", b"9999",
           b"1e400", b"\xef\xbb\xbf", b"\xff\xfe", b"\x1f\x8b", b"<", b"&", b" ", b""]


@st.composite
def _mutate(draw, data: bytes, gz: bool = False) -> bytes:
    """0-3 edits: flip, truncate, insert a token or random bytes, delete, duplicate a slice. For
    gzip data the position is drawn from the header, the body or the trailer alike."""
    for _ in range(draw(st.integers(0, 3))):
        n = len(data)
        if gz and n > 18:
            region = draw(st.sampled_from(["header", "body", "trailer"]))
            lo, hi = {"header": (0, 10), "body": (10, n - 8), "trailer": (n - 8, n)}[region]
            i = draw(st.integers(lo, max(lo, hi - 1)))
        else:
            i = draw(st.integers(0, max(n - 1, 0)))
        op = draw(st.sampled_from(["flip", "truncate", "insert", "random", "delete", "dup"]))
        if op == "flip" and n:
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
        elif op == "truncate":
            data = data[:i]
        elif op == "insert":
            data = data[:i] + draw(st.sampled_from(_TOKENS)) + data[i:]
        elif op == "random":
            data = data[:i] + draw(st.binary(max_size=6)) + data[i:]
        elif op == "delete":
            data = data[:i] + data[i + draw(st.integers(1, 8)):]
        elif op == "dup":
            data = data[:i] + data[i:i + 30] + data[i:]
    return data


@st.composite
def _mutated_file(draw) -> tuple[str, bytes, bool]:
    kind = draw(st.sampled_from(sorted(_TRAJ) + sorted(_ROAD)))
    data = draw(_mutate((_TRAJ | _ROAD)[kind].encode()))
    compressed = draw(st.booleans())
    if compressed:
        data = draw(_mutate(gzip.compress(data, mtime=0), gz=True))
    return kind, data, compressed


def _load(kind: str, path: Path, sniff: bool, skip: bool) -> None:
    if kind in _TRAJ:
        load_dataset(str(path), None if sniff else kind, bad_rows="skip" if skip else "error")
    elif kind == "road-csv":
        edges = path.with_name("e_edges.csv")
        edges.write_text(corpus.SQUARE_EDGES)
        load_road_network(f"{path},{edges}")
    else:
        load_road_network(str(path))


def test_mutated_files_raise_only_project_errors():
    loads: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)

        @settings(max_examples=960, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(_mutated_file(), st.booleans(), st.booleans())
        def check(case, sniff, skip):
            kind, data, compressed = case
            suffix = {"osm": ".osm", "graphml": ".graphml", "road-csv": "_nodes.csv"}.get(kind, ".txt")
            path = root / f"m{suffix}{'.gz' if compressed else ''}"
            path.write_bytes(data)
            loads.append(kind)
            try:
                _load(kind, path, sniff, skip)
            except InputError:
                pass  # the project's own errors: fine

        check()
    assert len(loads) >= 900
    assert set(loads) == set(_TRAJ) | set(_ROAD)


# --------------------------------------------------------------------------------------------
# opening once: pipes, FIFOs, bounded reads, encodings


def test_a_pipe_keeps_its_first_line(tmp_path):
    text = corpus.FORMATS[0].text().encode()
    r, w = os.pipe()
    threading.Thread(target=lambda: os.write(w, text) and os.close(w), daemon=True).start()
    try:
        ds = load_dataset(f"/dev/fd/{r}")
    finally:
        os.close(r)
    assert (ds.n_users, ds.n_points, ds.meta["format"]) == (2, 4, "csv")


def test_a_named_pipe_without_writer_is_refused_not_waited_on_forever(tmp_path, monkeypatch):
    fifo = tmp_path / "silent"
    os.mkfifo(fifo)
    monkeypatch.setattr(files, "FIFO_WAIT_S", 0.2)
    t0 = time.perf_counter()
    with pytest.raises(DataFormatError, match="nothing was written") as e:
        load_dataset(str(fifo))
    assert time.perf_counter() - t0 < 3 and str(fifo) in str(e.value)


def test_a_named_pipe_with_a_writer_loads(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    text = corpus.FORMATS[1].text()

    def writer() -> None:
        with open(fifo, "w") as f:
            f.write(text)
    threading.Thread(target=writer, daemon=True).start()
    ds = load_dataset(str(fifo))
    assert (ds.meta["format"], ds.n_points) == ("gowalla", 4)


def test_devices_and_directories_are_refused(tmp_path):
    with pytest.raises(DataFormatError, match="character device"):
        load_dataset("/dev/zero")
    with pytest.raises(DataFormatError, match="directory"):
        load_dataset(str(tmp_path))


def test_a_long_first_line_is_refused_within_bounded_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "HEAD_LIMIT", 1 << 16)
    p = tmp_path / "long.csv"
    p.write_bytes(b"x" * (1 << 17))
    with pytest.raises(DataFormatError, match="no line break"):
        load_dataset(str(p))


def test_a_long_data_line_is_refused(tmp_path):
    p = tmp_path / "long2.csv"
    p.write_bytes(b"user,time,lat,lon\n" + b"a" * (files.MAX_LINE_BYTES + 10))
    with pytest.raises(DataFormatError, match="line 2.*longer than") as e:
        load_dataset(str(p), "csv")
    assert e.value.line == 2


def test_decoding_error_names_encoding_offset_line_and_the_option(tmp_path):
    good = "user,time,lat,lon\na,2012-04-03T18:00:09Z,40.71,-74.00\n"
    p = tmp_path / "bad.csv"
    p.write_bytes(good.encode() + b"b\xff,2012-04-03T18:00:09Z,40.71,-74.00\n")
    with pytest.raises(DataFormatError) as e:
        load_dataset(str(p))
    msg = str(e.value)
    assert f"byte offset {len(good) + 1}" in msg and "line 3" in msg
    assert "utf-8" in msg and "--encoding" in msg and str(p) in msg and "b'\\xff'" in msg


def test_bom_and_utf16_files_are_recognised(tmp_path):
    text = corpus.FORMATS[0].text()
    for enc in ("utf-8-sig", "utf-16", "utf-32"):
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(text.encode(enc))
        ds = load_dataset(str(p))
        assert (ds.meta["format"], ds.n_points) == ("csv", 4)


def test_whitespace_only_files_give_one_message_in_every_format(tmp_path):
    p = tmp_path / "blank.txt"
    p.write_text("  \n\t\n\n")
    messages = set()
    for fmt in (None, "csv", "gowalla", "foursquare", "mta-bus"):
        with pytest.raises(DataFormatError) as e:
            load_dataset(str(p), fmt)
        messages.add(str(e.value))
    for spec in (f"{p.with_name('n_nodes.csv')}", "x.osm", "x.graphml"):
        q = tmp_path / Path(spec).name
        q.write_text("  \n\t\n\n")
        if spec.endswith(".csv"):
            (tmp_path / "n_edges.csv").write_text("1,2\n")
        with pytest.raises(DataFormatError) as e:
            load_road_network(str(q))
        messages.add(str(e.value).replace(str(q), str(p)))
    assert messages == {f"{p}: {files.EMPTY_FILE}"}


def test_iso_times_share_the_unix_range(tmp_path):
    for year in ("0001", "1000", "2262", "9999"):
        p = tmp_path / f"y{year}.csv"
        p.write_text(f"user,time,lat,lon\na,2012-01-01T00:00:00Z,40,-74\nb,{year}-06-01T00:00:00Z,"
                     "40,-74\n")
        with pytest.raises(DataFormatError, match="outside the allowed range 1900") as e:
            load_dataset(str(p))
        assert (e.value.line, e.value.column) == (3, "time")


def test_no_numpy_reprs_in_messages(tmp_path):
    p = tmp_path / "far.csv"
    p.write_text("user,time,lat,lon\na,2012-01-01T00:00:00Z,200.0,-74\n")
    with pytest.raises(DataFormatError) as e:
        load_dataset(str(p))
    assert "np." not in str(e.value) and "200.0" in str(e.value)
    n = tmp_path / "r_nodes.csv"
    n.write_text("node_id,latitude,longitude\n1,200.0,-74\n")
    (tmp_path / "r_edges.csv").write_text("1,1\n")
    with pytest.raises(DataFormatError) as e:
        load_road_network(str(n))
    assert "np." not in str(e.value) and "200.0" in str(e.value)


def test_raw_binary_is_never_echoed(tmp_path):
    p = tmp_path / "bin.csv"
    p.write_bytes(b"\x1b[31mred\x07\x00" * 30 + b"\n")
    with pytest.raises(DataFormatError) as e:
        load_dataset(str(p))
    msg = str(e.value)
    assert "\x1b" not in msg and "\x07" not in msg and "\\x1b" in msg


def test_write_atomic_replaces_whole_files(tmp_path):
    p = tmp_path / "out" / "r.json"
    write_atomic(p, "one")
    write_atomic(p, "two")
    assert p.read_text() == "two" and [q.name for q in p.parent.iterdir()] == ["r.json"]


def test_source_reads_gzip_by_magic_not_name(tmp_path):
    p = tmp_path / "plain-name.csv"
    p.write_bytes(gzip.compress(corpus.FORMATS[0].text().encode()))
    with Source(p) as src:
        assert src.compressed
    assert load_dataset(str(p)).n_points == 4


# --------------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM during a run keep the finished rounds


def _default_sigint() -> None:
    """The child handles Ctrl-C as a terminal would: a test runner started in the background
    (`nohup pytest &`) has SIGINT ignored, and an ignored signal stays ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_an_interrupted_attack_writes_its_finished_rounds(tmp_path, sig, status):
    out = tmp_path / "run.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "attack", "--rounds", "60", "--clients", "4",
         "--iters", "5", "--json", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env, preexec_fn=_default_sigint)
    timer = threading.Timer(240, proc.kill)
    timer.start()
    try:
        seen = b""
        while b"] 2/60" not in seen:  # the progress bar: two rounds finished
            chunk = proc.stderr.read1(256)
            assert chunk, f"the run ended early: {seen[-500:]!r}"
            seen += chunk
        proc.send_signal(sig)
        _, err = proc.communicate()
    finally:
        timer.cancel()
    assert proc.returncode == status, (seen + err)[-2000:]
    doc = json.loads(out.read_text())
    assert doc["stopped"] is True
    assert 2 <= len(doc["rounds"]) < 60 == doc["config"]["rounds"]
    assert [r["round"] for r in doc["rounds"]] == list(range(1, len(doc["rounds"]) + 1))
    assert doc["summary"]["rounds_run"] == len(doc["rounds"])
    assert b"Traceback" not in err
    assert not list(tmp_path.glob("*.tmp"))
