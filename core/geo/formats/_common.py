"""What the road formats share: the `RoadFormat` record and the file checks every loader makes.

Every loader returns a `RoadNetwork` whose edges are straight segments between nodes; curved edge
geometry (osmnx's `geometry` attribute) is not expanded — at city scale the straight chord between
intersections is within a few metres of the street, well under the 500 m success threshold.
Malformed input raises `DataFormatError` naming the file, line and column when they are known.
"""
from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from core.errors import DataFormatError, InputError
from core.geo.network import RoadNetwork


@dataclass(frozen=True)
class RoadFormat:
    """A road-network format, registered by name in `core.geo.formats.ROAD_FORMATS`.

    `claims(spec)` says whether this format reads the spec string (stripped of outer blanks);
    `load(spec)` reads it. `description` is the spec's form as error messages list it.
    """

    description: str
    claims: Callable[[str], bool]
    load: Callable[[str], RoadNetwork]


def names_file(spec: str, suffixes: tuple[str, ...]) -> bool:
    """Whether `spec` is an existing path whose name ends (case-insensitively, ignoring a final
    `.gz`) with one of `suffixes`."""
    p = Path(spec).expanduser()
    return p.exists() and p.name.lower().removesuffix(".gz").endswith(suffixes)


def require_file(path: str | Path) -> Path:
    """The path, after checking that it is a non-empty file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"road network file not found: {p}")
    if p.stat().st_size == 0:
        raise DataFormatError("file is empty", path=str(p))
    return p


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when its name ends in .gz."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def check_coords(lat: np.ndarray, lon: np.ndarray, path: Path, where: Callable[[int], int | None],
                 lat_col: str, lon_col: str) -> None:
    """Raise DataFormatError at the first non-finite or out-of-range coordinate."""
    for arr, col, lim, what in ((lat, lat_col, 90.0, "latitude"), (lon, lon_col, 180.0, "longitude")):
        bad = np.flatnonzero(~(np.abs(arr) <= lim))  # also catches NaN
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(f"coordinate {arr[i]!r} is not a valid {what} (expected degrees in "
                                  f"[-{lim:g}, {lim:g}])", path=str(path), line=where(i), column=col)


def ids_array(ids: list) -> np.ndarray:
    """int64 array when every id is an integer literal, else an array of str."""
    try:
        return np.array([int(i) for i in ids], dtype=np.int64)
    except (TypeError, ValueError):
        return np.array([str(i) for i in ids], dtype=object)
