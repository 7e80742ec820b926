"""Foursquare TSMC2014 check-ins (NYC and Tokyo), format name ``foursquare``.

Source: D. Yang, D. Zhang, V. W. Zheng, Z. Yu, "Modeling User Activity Preference by
Leveraging User Spatial Temporal Characteristics in LBSNs", IEEE Trans. SMC: Systems
45(1):129-142, 2015; files ``dataset_TSMC2014_NYC.txt`` and ``dataset_TSMC2014_TKY.txt``
distributed by the first author (sites.google.com/site/yangdingqi/home/foursquare-dataset).
Free for research; cite the paper.

Layout of the raw text: tab-separated, no header, one check-in per line, 8 fields (one example
row, shown one field per line)::

    userId            470
    venueId           49bbd6c0f964a520f4531fe3
    venueCategoryId   4bf58dd8d48988d127951735
    venueCategory     Arts & Crafts Store
    latitude          40.719810375488535
    longitude         -74.00258103213994
    timezoneOffset    -240
    utcTimestamp      Tue Apr 03 18:00:09 +0000 2012

`utcTimestamp` is UTC in the form ``%a %b %d %H:%M:%S %z %Y``; `timezoneOffset` (minutes) gives
local time and is not needed. Venue category names in the distributed files may carry non-UTF-8
(latin-1) bytes, so the file is decoded as latin-1 by default (``--encoding`` overrides it), which
never fails and leaves the ASCII fields the loader uses intact. Venue category text may contain
quote characters: quotes are not special in this format.

Also accepted: the comma-separated re-distribution with a header line naming the same 8 fields
(e.g. ``dataset_TSMC2014_NYC.csv`` on Kaggle); there CSV quoting is honoured.

Errors give the column by its field name (``latitude``) and the message its 1-based
position (``field 5: latitude is not a number``).
"""
from __future__ import annotations

import re
from pathlib import Path

from core.data.formats import Format
from core.data.formats._table import (TableSpec, dataset_name, parse_strptime, read_table,
                                      show_names, sniff_separator, split_header)
from core.data.trajectory import TrajectoryDataset
from core.errors import DataFormatError
from core.files import Source, as_source

NAME = "foursquare"
FIELDS = ("userId", "venueId", "venueCategoryId", "venueCategory", "latitude", "longitude",
          "timezoneOffset", "utcTimestamp")
TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"
TIME_HINT = "like 'Tue Apr 03 18:00:09 +0000 2012'"
ENCODING = "latin-1"
_TIME_RE = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} [+-]\d{4} \d{4}$")


def _is_header(line: str) -> bool:
    return "venueCategoryId" in line and "utcTimestamp" in line


def sniff(line: str) -> bool:
    if _is_header(line):
        return True
    parts = line.split("\t")
    return len(parts) == len(FIELDS) and bool(_TIME_RE.match(parts[-1].strip()))


def load(source: str | Source, columns: dict | None = None, max_rows: int | None = None,
         bad_rows: str = "error", encoding: str | None = None) -> TrajectoryDataset:
    with as_source(source) as src:
        return _load(src, max_rows, bad_rows, src.encoding(encoding, ENCODING))


def _load(src: Source, max_rows: int | None, bad_rows: str, encoding: str) -> TrajectoryDataset:
    path = src.path
    header_text, header_line = src.require_content(encoding)
    with src.text(encoding) as f:
        if _is_header(header_text):
            sep = sniff_separator(header_text)
            names = split_header(header_text, sep)
            missing = [n for n in FIELDS if n not in names]
            if missing or len(names) != len(FIELDS):
                raise DataFormatError(f"header does not list the 8 TSMC2014 fields "
                                      f"{', '.join(FIELDS)} (got {show_names(names)})",
                                      path=path, line=header_line)
            for _ in range(header_line):
                next(f)
            spec = TableSpec(NAME, path, sep, tuple(names), names.index("userId"),
                             names.index("utcTimestamp"), names.index("latitude"),
                             names.index("longitude"), parse_strptime(TIME_FORMAT), TIME_HINT,
                             headerless=False, quoted=True)
            first = header_line + 1
        else:
            spec = TableSpec(NAME, path, "\t", FIELDS, 0, 7, 4, 5, parse_strptime(TIME_FORMAT),
                             TIME_HINT)
            first = 1
        return read_table(f, spec, first, max_rows, bad_rows, dataset_name(Path(path)),
                          {"encoding": encoding})


FORMAT = Format(NAME, "Foursquare TSMC2014 raw text (NYC, Tokyo): tab-separated, no header",
                sniff, load)
