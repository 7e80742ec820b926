"""What the road formats share: the `RoadFormat` record and the file checks every loader makes.

Every loader returns a `RoadNetwork` whose edges are straight segments between nodes; curved edge
geometry (osmnx's `geometry` attribute) is not expanded — at city scale the straight chord between
intersections is within a few metres of the street, well under the 500 m success threshold.
Malformed input raises `DataFormatError` naming the file, line and column when they are known.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import DataFormatError, InputError, plain_number
from core.files import EMPTY_FILE, MAX_LINE_BYTES, Source
from core.geo.network import RoadNetwork


@dataclass(frozen=True)
class RoadFormat:
    """A road-network format, registered by name in `core.geo.formats.ROAD_FORMATS`.

    `claims(spec)` says whether this format reads the spec string (stripped of outer blanks);
    `load(spec, **options)` reads it. `description` is the spec's form as error messages list it.
    `options` names the keyword options `load` takes (`encoding`, `columns`: CSV only); the
    dispatcher refuses the others with the format named.
    """

    description: str
    claims: Callable[[str], bool]
    load: Callable[..., RoadNetwork]
    options: tuple[str, ...] = ()


def names_file(spec: str, suffixes: tuple[str, ...]) -> bool:
    """Whether `spec` is an existing path whose name ends (case-insensitively, ignoring a final
    `.gz`) with one of `suffixes`."""
    p = Path(spec).expanduser()
    return p.exists() and p.name.lower().removesuffix(".gz").endswith(suffixes)


def require_file(path: str | Path) -> Path:
    """The path, after checking that it exists (what it is, and whether it holds anything, is
    checked when it is opened: `open_road_file`)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"road network file not found: {p}")
    return p


def open_road_file(path: Path, line_based: bool = True) -> Source:
    """The file opened once (regular file or pipe; gzip recognised by its magic bytes), after
    refusing an empty or blank one with the message every format gives. XML may be one long line,
    so `line_based=False` lifts the line-length bound."""
    src = Source(path, max_line=MAX_LINE_BYTES if line_based else None,
                 encoding_flag="--road-encoding")
    try:
        if src.first_line(src.encoding(None, "latin-1")) is None:
            raise DataFormatError(EMPTY_FILE, path=str(path))
    except BaseException:
        src.close()
        raise
    return src


def check_coords(lat: np.ndarray, lon: np.ndarray, path: Path, where: Callable[[int], int | None],
                 lat_col: str, lon_col: str) -> None:
    """Raise DataFormatError at the first non-finite or out-of-range coordinate."""
    for arr, col, lim, what in ((lat, lat_col, 90.0, "latitude"), (lon, lon_col, 180.0, "longitude")):
        bad = np.flatnonzero(~(np.abs(arr) <= lim))  # also catches NaN
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(f"coordinate {plain_number(arr[i])} is not a valid {what} (expected degrees in "
                                  f"[-{lim:g}, {lim:g}])", path=str(path), line=where(i), column=col)


def ids_array(ids: list) -> np.ndarray:
    """int64 array when every id is an integer literal, else an array of str."""
    try:
        return np.array([int(i) for i in ids], dtype=np.int64)
    except (TypeError, ValueError):
        return np.array([str(i) for i in ids], dtype=object)
