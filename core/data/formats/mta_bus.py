"""MTA bus positions (the paper's NYCB source), format name ``mta-bus``.

Source: the "New York City Bus Data" data set on Kaggle (Michael Stone, kaggle.com/stoney71/
new-york-city-transport-statistics), files ``mta_1706.csv``, ``mta_1708.csv``, ``mta_1710.csv``,
``mta_1712.csv``: MTA Bus Time (SIRI vehicle monitoring) positions of New York City buses,
sampled about every 10 minutes, June/August/October/December 2017.

Layout: comma-separated with a header; the 17 columns are ``RecordedAtTime, DirectionRef,
PublishedLineName, OriginName, OriginLat, OriginLong, DestinationName, DestinationLat,
DestinationLong, VehicleRef, VehicleLocation.Latitude, VehicleLocation.Longitude,
NextStopPointName, ArrivalProximityText, DistanceFromStop, ExpectedArrivalTime,
ScheduledArrivalTime``. The loader needs only ``RecordedAtTime`` (``2017-06-01 00:03:34``),
``VehicleRef`` (the user: one bus is one trajectory), ``VehicleLocation.Latitude`` and
``VehicleLocation.Longitude``; the others may be empty or absent. Column positions are taken from
the header, and every row must have as many fields as the header (CSV quoting honoured).

Times are New York local time (America/New_York) and are converted to UTC. In an ambiguous hour
(clocks set back in November) a time is read as daylight time; a time inside the skipped spring
hour is moved forward to 03:00. None of the four Kaggle months contains a change.

Documented exception to "no silent drops": rows whose vehicle position is exactly
lat = lon = 0 ("null island", what a GPS feed sends when it has no fix) are skipped, and their
number is recorded in ``meta["rows_skipped_null_island"]`` (the CLI prints it).

Known quirk of the Kaggle files: some lines carry an 18th field (reportedly an unquoted
comma in a free-text column). They are reported as malformed (line and field counts named);
``bad_rows="skip"`` (CLI ``--skip-bad-rows``) skips and counts them instead.
"""
from __future__ import annotations

from pathlib import Path

from core.data.formats import Format
from core.data.formats._table import (TableSpec, dataset_name, parse_strptime, read_header,
                                      read_table, show_names, split_header)
from core.data.trajectory import TrajectoryDataset
from core.errors import DataFormatError
from core.files import Source, as_source

NAME = "mta-bus"
TIME_COL, USER_COL = "RecordedAtTime", "VehicleRef"
LAT_COL, LON_COL = "VehicleLocation.Latitude", "VehicleLocation.Longitude"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TIME_HINT = "New York local time like '2017-06-01 00:03:34'"
LOCAL_TZ = "America/New_York"


def sniff(line: str) -> bool:
    return all(name in line for name in (TIME_COL, USER_COL, LAT_COL, LON_COL))


def load(source: str | Source, columns: dict | None = None, max_rows: int | None = None,
         bad_rows: str = "error", encoding: str | None = None) -> TrajectoryDataset:
    with as_source(source) as src:
        return _load(src, max_rows, bad_rows, src.encoding(encoding, "utf-8"))


def _load(src: Source, max_rows: int | None, bad_rows: str, encoding: str) -> TrajectoryDataset:
    path = src.path
    src.require_content(encoding)
    with src.text(encoding) as f:
        header, header_line = read_header(f, path, "expected the MTA bus CSV header")
        names = split_header(header, ",")
        missing = [c for c in (TIME_COL, USER_COL, LAT_COL, LON_COL) if c not in names]
        if missing:
            raise DataFormatError(f"header lacks column(s) {', '.join(missing)} of the MTA bus "
                                  f"CSV (found: {show_names(names)})", path=path, line=header_line,
                                  column=missing[0])
        spec = TableSpec(NAME, path, ",", tuple(names), names.index(USER_COL),
                         names.index(TIME_COL), names.index(LAT_COL), names.index(LON_COL),
                         parse_strptime(TIME_FORMAT, LOCAL_TZ), TIME_HINT, headerless=False,
                         quoted=True, skip_null_island=True)
        return read_table(f, spec, header_line + 1, max_rows, bad_rows,
                          dataset_name(Path(path)), {"local_timezone": LOCAL_TZ,
                                                     "encoding": encoding})


FORMAT = Format(NAME, "MTA bus-time CSV (Kaggle 'New York City Bus Data'); a bus is a user",
                sniff, load)
