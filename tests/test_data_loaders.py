"""Trajectory loaders (core.data.formats, core.data.load) and the `datasets` command.

Every fixture is written into tmp_path by the test itself; the real Foursquare NYC file is used
only when ../shared/data is present.
"""
from __future__ import annotations

import argparse
import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from core.data.formats import _table, format_names
from core.data.load import load_dataset, sniff_format, summarize
from core.errors import DataFormatError, InputError, MalformedRowError, ParameterError

NYC = Path(__file__).resolve().parents[2] / "shared/data/foursquare_nyc/nyc_checkins.csv"


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def assert_where(exc: pytest.ExceptionInfo, path: Path, line: int, column: str | None) -> None:
    """The message names the file, the 1-based line and the column; the attributes agree."""
    msg = str(exc.value)
    assert str(path) in msg
    assert f"line {line}" in msg
    assert exc.value.path == str(path) and exc.value.line == line
    if column is not None:
        assert repr(column) in msg
        assert exc.value.column == column


# --------------------------------------------------------------------------------------------
# fixtures: small files in each format

FSQ_ROWS = [
    # userId, venueId, catId, category, lat, lon, tzOffset, utcTimestamp
    ("470", "v1", "c1", "Arts & Crafts Store", "40.719810", "-74.002581", "-240",
     "Tue Apr 03 18:00:09 +0000 2012"),
    ("979", "v2", "c2", 'Bar "The Pub"', "40.606800", "-74.044170", "-240",
     "Tue Apr 03 18:00:25 +0000 2012"),
    ("470", "v3", "c3", "Caf\xe9", "40.716162", "-73.883070", "-240",
     "Tue Apr 03 17:50:00 +0000 2012"),  # earlier than row 1: must be sorted first
    ("69", "v4", "c4", "Gym", "40.745164", "-73.982519", "-240",
     "Wed Apr 04 01:02:03 +0000 2012"),
]


def fsq_text(rows=FSQ_ROWS) -> str:
    return "".join("\t".join(r) + "\n" for r in rows)


GOWALLA = (
    "0\t2010-10-19T23:55:27Z\t30.2359091167\t-97.7951395833\t22847\n"
    "0\t2010-10-18T22:17:43Z\t30.2691029532\t-97.7493953705\t420315\n"
    "1\t2010-10-17T23:42:03Z\t30.2557309927\t-97.7633857727\t316637\n"
    "1\t2010-10-17T19:26:05Z\t30.2634181234\t-97.7575966669\t16516\n"
)

MTA_HEADER = ("RecordedAtTime,DirectionRef,PublishedLineName,OriginName,OriginLat,OriginLong,"
              "DestinationName,DestinationLat,DestinationLong,VehicleRef,"
              "VehicleLocation.Latitude,VehicleLocation.Longitude,NextStopPointName,"
              "ArrivalProximityText,DistanceFromStop,ExpectedArrivalTime,ScheduledArrivalTime\n")


def mta_row(time: str, bus: str, lat: str, lon: str, stop: str = "E 10 ST/3 AV") -> str:
    return (f"{time},0,B8,4 AV/95 ST,40.616104,-74.031143,BROWNSVILLE ROCKAWAY AV,40.656048,"
            f"-73.907379,{bus},{lat},{lon},{stop},approaching,76,2017-06-01 00:03:59,24:06:14\n")


MTA = (MTA_HEADER
       + mta_row("2017-06-01 00:03:34", "NYCT_430", "40.635170", "-73.960803")
       + mta_row("2017-06-01 00:13:34", "NYCT_430", "40.640000", "-73.950000",
                 stop='"AV U, E 16 ST"')  # quoted comma: still 17 fields
       + mta_row("2017-06-01 00:03:43", "NYCT_8263", "40.590802", "-74.158340")
       + mta_row("2017-06-01 00:05:00", "NYCT_8263", "0", "0"))  # null island: skipped

NYC_HEADER = "user_id,poi_id,latitude,longitude,utc_time,local_time,stan_minutes\n"
CSV = (NYC_HEADER
       + "1,3601,40.784018,-73.974523,2012-04-07T17:42:00Z,2012-04-07T13:42:00-0400,5743\n"
       + "1,3788,40.739397,-73.993209,2012-04-08T18:20:00Z,2012-04-08T14:20:00-0400,7221\n"
       + "2,12,40.700000,-74.000000,2012-04-08T14:20:00-04:00,x,1\n"
       + "2,13,40.710000,-74.010000,2012-04-08 19:00:00,x,2\n")  # naive = UTC


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    gz = tmp_path / "loc-gowalla_totalCheckins.txt.gz"
    with gzip.open(gz, "wb") as f:
        f.write(GOWALLA.encode())
    return {
        "foursquare": write(tmp_path / "dataset_TSMC2014_NYC.txt", fsq_text(), "latin-1"),
        "gowalla": write(tmp_path / "gowalla.txt", GOWALLA),
        "gowalla-gz": gz,
        "mta-bus": write(tmp_path / "mta_1706.csv", MTA),
        "csv": write(tmp_path / "checkins.csv", CSV),
    }


# --------------------------------------------------------------------------------------------
# loading well-formed files


def test_foursquare_latin1_sorted_utc(files):
    ds = load_dataset(files["foursquare"], "foursquare")
    assert ds.name == "dataset_TSMC2014_NYC"
    assert [tr.user_id for tr in ds.trajectories] == ["470", "979", "69"]  # first appearance
    tr = ds.trajectories[0]
    assert tr.t.dtype == np.int64 and tr.lat.dtype == np.float64
    assert tr.t.tolist() == [utc("2012-04-03 17:50:00"), utc("2012-04-03 18:00:09")]
    assert tr.lat.tolist() == [40.716162, 40.719810]
    assert ds.meta["format"] == "foursquare" and ds.meta["rows_read"] == 4
    assert ds.meta["path"] == str(files["foursquare"])


def test_foursquare_with_header_csv(tmp_path):
    header = ("userId,venueId,venueCategoryId,venueCategory,latitude,longitude,timezoneOffset,"
              "utcTimestamp\n")
    rows = "".join(",".join(f'"{x}"' if "," in x else x for x in r) + "\n"
                   for r in [r[:3] + ("Bar, Pub",) + r[4:] for r in FSQ_ROWS])
    path = write(tmp_path / "dataset_TSMC2014_NYC.csv", header + rows)
    assert sniff_format(path) == "foursquare"
    ds = load_dataset(path)
    assert ds.n_users == 3 and ds.n_points == 4


@pytest.mark.parametrize("key", ["gowalla", "gowalla-gz"])
def test_gowalla_plain_and_gz(files, key):
    ds = load_dataset(files[key], "gowalla")
    assert ds.n_users == 2 and ds.n_points == 4
    u0 = ds.trajectories[0]
    assert u0.user_id == "0"
    # SNAP lists newest first; trajectories are sorted ascending
    assert u0.t.tolist() == [utc("2010-10-18 22:17:43"), utc("2010-10-19 23:55:27")]
    assert u0.lon.tolist() == [-97.7493953705, -97.7951395833]


def test_mta_bus_local_time_to_utc_and_null_island(files):
    ds = load_dataset(files["mta-bus"], "mta-bus")
    assert [tr.user_id for tr in ds.trajectories] == ["NYCT_430", "NYCT_8263"]
    bus = ds.trajectories[0]
    # June: New York is UTC-4
    assert bus.t.tolist() == [utc("2017-06-01 04:03:34"), utc("2017-06-01 04:13:34")]
    assert bus.lat.tolist() == [40.635170, 40.640000]
    assert ds.meta["rows_read"] == 4 and ds.meta["rows_used"] == 3
    assert ds.meta["rows_skipped_null_island"] == 1
    assert ds.meta["columns"]["user"] == "VehicleRef"


def test_csv_reads_iso_variants(files):
    ds = load_dataset(files["csv"], "csv")
    assert ds.meta["columns"] == {"user": "user_id", "time": "utc_time", "lat": "latitude",
                                  "lon": "longitude"}
    u1, u2 = ds.trajectories
    assert u1.t.tolist() == [utc("2012-04-07 17:42:00"), utc("2012-04-08 18:20:00")]
    assert u2.t.tolist() == [utc("2012-04-08 18:20:00"), utc("2012-04-08 19:00:00")]


def test_csv_unix_seconds_semicolon_and_column_mapping(tmp_path):
    path = write(tmp_path / "trips.csv", "uid;ts;y;x\n"
                 "a;1333820520;40.7;-74.0\n"
                 "b;1333820580.9;40.8;-73.9\n"
                 "a;1333820400;40.6;-74.1\n")
    with pytest.raises(DataFormatError, match="no time, lat, lon column"):
        load_dataset(path, "csv")
    ds = load_dataset(path, "csv", columns={"user": "uid", "time": "ts", "lat": "y", "lon": "x"})
    a, b = ds.trajectories
    assert a.t.tolist() == [1333820400, 1333820520]
    assert b.t.tolist() == [1333820580]  # fractions floored
    assert ds.meta["time_kind"] == "unix"


def test_csv_mapping_to_missing_column(files):
    with pytest.raises(DataFormatError) as exc:
        load_dataset(files["csv"], "csv", columns={"time": "local"})
    assert_where(exc, files["csv"], 1, "local")


def test_csv_unix_milliseconds_rejected(tmp_path):
    path = write(tmp_path / "ms.csv", "user,time,lat,lon\na,1333820520000,40,-74\nb,1,40,-74\n")
    with pytest.raises(DataFormatError, match="unix seconds") as exc:
        load_dataset(path)
    assert_where(exc, path, 2, "time")


def test_blank_lines_and_missing_final_newline(tmp_path):
    path = write(tmp_path / "b.csv", "user,time,lat,lon\n\na,0,1,1\n\nb,60,2,2")
    ds = load_dataset(path)
    assert ds.n_points == 2


def test_max_rows(files):
    ds = load_dataset(files["gowalla"], max_rows=3)
    assert ds.meta["rows_read"] == 3 and ds.meta["truncated"] is True
    assert load_dataset(files["gowalla"], max_rows=4).meta["truncated"] is False
    with pytest.raises(ParameterError):
        load_dataset(files["gowalla"], max_rows=0)


# --------------------------------------------------------------------------------------------
# sniffing and parameters


@pytest.mark.parametrize("key,fmt", [("foursquare", "foursquare"), ("gowalla", "gowalla"),
                                     ("gowalla-gz", "gowalla"), ("mta-bus", "mta-bus"),
                                     ("csv", "csv")])
def test_sniff(files, key, fmt):
    assert sniff_format(files[key]) == fmt
    assert load_dataset(files[key]).meta["format"] == fmt


def test_sniff_unknown_lists_formats(tmp_path):
    path = write(tmp_path / "mystery.dat", "hello world\n1 2 3\n")
    with pytest.raises(InputError) as exc:
        load_dataset(path)
    for name in format_names():
        assert name in str(exc.value)
    assert str(path) in str(exc.value)


def test_parameters(files):
    with pytest.raises(ParameterError, match="format"):
        load_dataset(files["csv"], "geojson")
    with pytest.raises(ParameterError, match="columns"):
        load_dataset(files["gowalla"], "gowalla", columns={"user": "x"})
    with pytest.raises(ParameterError, match="columns"):
        load_dataset(files["csv"], "csv", columns={"who": "user_id"})
    with pytest.raises(ParameterError, match="bad_rows"):
        load_dataset(files["csv"], bad_rows="ignore")


def test_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        load_dataset(tmp_path / "nope.csv", "csv")


# --------------------------------------------------------------------------------------------
# malformed files: the first bad row is reported with file, line and column


def fsq_bad(field: int, value: str) -> str:
    rows = [list(r) for r in FSQ_ROWS]
    rows[2][field] = value
    return fsq_text([tuple(r) for r in rows])


@pytest.mark.parametrize("fmt,text,line,column,words", [
    # wrong field count: a Foursquare row missing its timestamp
    ("foursquare", fsq_text(FSQ_ROWS[:2] + [FSQ_ROWS[2][:7]] + FSQ_ROWS[3:]), 3, "utcTimestamp",
     "expected 8 fields"),
    ("foursquare", fsq_bad(4, "abc"), 3, "latitude", "not a number"),
    ("foursquare", fsq_bad(4, "91.5"), 3, "latitude", "within ±90"),
    ("foursquare", fsq_bad(5, "-181"), 3, "longitude", "within ±180"),
    ("foursquare", fsq_bad(7, "2012-04-03 18:00:09"), 3, "utcTimestamp", "cannot parse time"),
    ("foursquare", fsq_bad(0, ""), 3, "userId", "empty user"),
    ("gowalla", GOWALLA.replace("2010-10-17T23:42:03Z", "yesterday"), 3, "time",
     "cannot parse time"),
    ("gowalla", GOWALLA.replace("\t316637", "\t316637\textra"), 3, "field 6",
     "expected 5 fields"),
    ("gowalla", GOWALLA.replace("30.2557309927", ""), 3, "latitude", "not a number"),
    ("mta-bus", MTA.replace("40.590802", "north"), 4, "VehicleLocation.Latitude",
     "not a number"),
    ("mta-bus", MTA.replace("2017-06-01 00:03:43", "2017-06-01T00:03:43Z"), 4,
     "RecordedAtTime", "cannot parse time"),
    ("mta-bus", MTA.replace(",24:06:14\n", "\n", 1), 2, "ScheduledArrivalTime",
     "expected 17 fields"),
    ("csv", CSV.replace("2012-04-08T18:20:00Z", "8 April 2012"), 3, "utc_time",
     "cannot parse time"),
    ("csv", CSV.replace("-73.993209", "-200"), 3, "longitude", "within ±180"),
    ("csv", CSV.replace(",5743\n", ",5743,9\n"), 2, "field 8", "expected 7 fields"),
])
def test_malformed_row_names_file_line_column(tmp_path, fmt, text, line, column, words):
    path = write(tmp_path / f"bad.{fmt}", text, "latin-1")
    with pytest.raises(MalformedRowError, match=words) as exc:
        load_dataset(path, fmt)
    assert_where(exc, path, line, column)


def test_first_bad_row_wins_across_kinds(tmp_path):
    # a bad value on line 3 before a wrong field count on line 5: line 3 is reported
    text = CSV.replace("40.739397", "x") + "3,1,2\n"
    path = write(tmp_path / "a.csv", text)
    with pytest.raises(DataFormatError) as exc:
        load_dataset(path)
    assert_where(exc, path, 3, "latitude")
    # and the other way round
    text = NYC_HEADER + "1,2\n" + CSV.split("\n", 1)[1].replace("40.739397", "x")
    path = write(tmp_path / "b.csv", text)
    with pytest.raises(DataFormatError) as exc:
        load_dataset(path)
    assert_where(exc, path, 2, "latitude")  # the first missing field


def test_line_numbers_count_blank_lines_and_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(_table, "BLOCK_ROWS", 3)  # errors in a later block keep file line numbers
    rows = [f"u{i % 3}\t2010-10-19T23:55:{i:02d}Z\t30.{i}\t-97.{i}\t{i}\n" for i in range(12)]
    rows[9] = rows[9].replace("30.9", "95")
    path = write(tmp_path / "g.txt", "\n".join(rows))  # a blank line after every row
    with pytest.raises(DataFormatError) as exc:
        load_dataset(path, "gowalla")
    assert_where(exc, path, 19, "latitude")


def test_unbalanced_quote(tmp_path):
    path = write(tmp_path / "q.csv", 'user,time,lat,lon\na,0,1,1\n"b,60,2,2\nc,0,1,1\n')
    with pytest.raises(DataFormatError, match="quote") as exc:
        load_dataset(path)
    assert_where(exc, path, 3, None)


@pytest.mark.parametrize("fmt,text", [("foursquare", ""), ("gowalla", "\n\n"), ("csv", ""),
                                      ("csv", NYC_HEADER), ("mta-bus", MTA_HEADER)])
def test_empty_files(tmp_path, fmt, text):
    path = write(tmp_path / "empty.txt", text)
    with pytest.raises(DataFormatError, match="empty|no data rows|no header") as exc:
        load_dataset(path, fmt)
    assert str(path) in str(exc.value)


def test_empty_file_sniffing(tmp_path):
    path = write(tmp_path / "empty.txt", "")
    with pytest.raises(DataFormatError, match="empty"):
        load_dataset(path)


@pytest.mark.parametrize("fmt,text", [
    ("foursquare", fsq_text([r for r in FSQ_ROWS if r[0] == "470"])),
    ("gowalla", "".join(ln + "\n" for ln in GOWALLA.splitlines() if ln.startswith("0\t"))),
    ("csv", "".join(ln + "\n" for ln in CSV.splitlines() if not ln.startswith("2,"))),
    ("mta-bus", MTA.replace("NYCT_8263", "NYCT_430")),
])
def test_one_user_is_too_few(tmp_path, fmt, text):
    path = write(tmp_path / "one.txt", text, "latin-1")
    with pytest.raises(DataFormatError, match=r"only 1 user .*at least 2") as exc:
        load_dataset(path, fmt)
    assert str(path) in str(exc.value)


def test_header_lacks_mta_columns(tmp_path):
    path = write(tmp_path / "m.csv", MTA.replace("VehicleRef", "Bus"))
    with pytest.raises(DataFormatError, match="VehicleRef") as exc:
        load_dataset(path, "mta-bus")
    assert_where(exc, path, 1, "VehicleRef")


def test_skip_bad_rows_counts_and_keeps_examples(tmp_path):
    text = (GOWALLA + "2\t2010-10-17T19:26:05Z\t91\t-97\t1\n" + "2\tbroken\n"
            + "2\t2010-10-16T19:26:05Z\t30\t-97\t1\n")
    path = write(tmp_path / "g.txt", text)
    with pytest.raises(DataFormatError):
        load_dataset(path, "gowalla")
    ds = load_dataset(path, "gowalla", bad_rows="skip")
    assert ds.n_points == 5 and ds.meta["rows_read"] == 7 and ds.meta["rows_skipped"] == 2
    assert [e["line"] for e in ds.meta["skipped_examples"]] == [5, 6]
    assert ds.meta["skipped_examples"][0]["column"] == "latitude"


# --------------------------------------------------------------------------------------------
# the shared real file


@pytest.mark.skipif(not NYC.exists(), reason="shared Foursquare NYC file not present")
def test_real_foursquare_nyc_csv():
    ds = load_dataset(str(NYC))
    assert ds.meta["format"] == "csv"
    assert ds.n_users == 1083 and ds.n_points == 147_938
    b = ds.bbox  # SOURCE.md: lat 40.5573..40.9876, lon -74.2708..-73.6920
    assert (round(b.lat_min, 4), round(b.lat_max, 4)) == (40.5573, 40.9876)
    assert (round(b.lon_min, 4), round(b.lon_max, 4)) == (-74.2708, -73.6920)
    s = summarize(ds)
    assert (s["time_span"]["start"], s["time_span"]["end"]) == ("2012-04-03", "2013-02-16")
    assert all(np.all(np.diff(tr.t) >= 0) for tr in ds.trajectories)
    first = ds.trajectories[0]
    assert first.user_id == "1" and int(first.t[0]) == utc("2012-04-07 17:42:00")


# --------------------------------------------------------------------------------------------
# the `datasets` command


def run_cli(argv: list[str]) -> int:
    from core.cli import datasets

    parser = argparse.ArgumentParser()
    datasets.add_arguments(parser)
    return datasets.run(parser.parse_args(argv))


def test_cli_datasets_table_and_json(files, capsys):
    assert run_cli(["--dataset", str(files["csv"]), "--min-gap-minutes", "10"]) == 0
    out = capsys.readouterr().out
    assert "users" in out and "points" in out and "2012-04-07 .. 2012-04-08" in out
    assert run_cli(["--dataset", str(files["mta-bus"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["raw"]["users"] == 2 and report["raw"]["points"] == 3
    assert report["preprocessed"]["points"] == 3  # 10 minutes apart exactly: kept
    assert report["meta"]["rows_skipped_null_island"] == 1


def test_cli_datasets_bad_file_hints_skip(tmp_path):
    path = write(tmp_path / "bad.csv", CSV.replace("40.739397", "x"))
    with pytest.raises(InputError, match="--skip-bad-rows"):
        run_cli(["--dataset", str(path)])


def test_cli_columns_option(tmp_path, capsys):
    path = write(tmp_path / "t.csv", "uid,ts,y,x\na,0,1,1\nb,60,2,2\n")
    assert run_cli(["--dataset", str(path), "--columns", "user=uid,time=ts,lat=y,lon=x",
                    "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["raw"]["users"] == 2
    with pytest.raises(ParameterError):
        run_cli(["--dataset", str(path), "--columns", "user"])
