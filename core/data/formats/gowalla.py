"""SNAP Gowalla check-ins, format name ``gowalla`` (plain text or gzip).

Source: E. Cho, S. A. Myers, J. Leskovec, "Friendship and Mobility: User Movement in
Location-Based Social Networks", KDD 2011; Stanford Large Network Dataset Collection,
https://snap.stanford.edu/data/loc-gowalla.html, file ``loc-gowalla_totalCheckins.txt.gz``
(6,442,890 check-ins of 107,092 users, Feb 2009 - Oct 2010).

Layout: tab-separated, no header, one check-in per line, 5 fields::

    [user]  [check-in time]        [latitude]   [longitude]    [location id]
    0       2010-10-19T23:55:27Z   30.2359091   -97.7951395    22847

Times are ISO 8601 UTC with a ``Z``. The SNAP file lists each user's check-ins newest first; the
loader sorts every user by time. Compression is detected from the gzip magic bytes, so
``.txt.gz`` and plain ``.txt`` both work. SNAP's Brightkite file (``loc-brightkite_totalCheckins``)
has the same layout and loads with this format, but it contains rows with empty coordinates,
which are reported as errors unless ``bad_rows="skip"`` (CLI ``--skip-bad-rows``).

Errors give the column by its field name (``latitude``) and the message its 1-based
position (``field 3: latitude is not a number``).
"""
from __future__ import annotations

import re
from pathlib import Path

from core.data.formats import Format
from core.data.formats._table import TableSpec, dataset_name, parse_iso, read_table
from core.data.trajectory import TrajectoryDataset
from core.files import Source, as_source

NAME = "gowalla"
FIELDS = ("user", "time", "latitude", "longitude", "location_id")
TIME_HINT = "ISO 8601 like '2010-10-19T23:55:27Z'"
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def sniff(line: str) -> bool:
    parts = line.split("\t")
    return len(parts) == len(FIELDS) and bool(_TIME_RE.match(parts[1].strip()))


def load(source: str | Source, columns: dict | None = None, max_rows: int | None = None,
         bad_rows: str = "error", encoding: str | None = None) -> TrajectoryDataset:
    with as_source(source) as src:
        enc = src.encoding(encoding, "utf-8")
        src.require_content(enc)
        spec = TableSpec(NAME, src.path, "\t", FIELDS, 0, 1, 2, 3, parse_iso, TIME_HINT)
        with src.text(enc) as f:
            return read_table(f, spec, 1, max_rows, bad_rows, dataset_name(Path(src.path)),
                              {"encoding": enc})


FORMAT = Format(NAME, "SNAP Gowalla check-ins: tab-separated user, time, lat, lon, location "
                "(plain or .gz)", sniff, load)
