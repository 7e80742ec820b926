"""Error types that name what is wrong with the user's input (file, line, column, parameter)."""
from __future__ import annotations

import math


class InputError(ValueError):
    """A user mistake: bad file, bad parameter. The message is meant to be shown as is."""


class DataFormatError(InputError):
    """A malformed data file; the message names the file, line and column when known."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.line, self.column = path, line, column


class MalformedRowError(DataFormatError):
    """A data row that cannot be used (wrong field count, bad value); loaders can skip these."""


class ParameterError(InputError):
    """A parameter outside its allowed range; the message names the parameter and the range."""

    def __init__(self, name: str, value: object, allowed: str) -> None:
        super().__init__(f"parameter {name}={_plain(value)!r} is invalid: allowed {allowed}")
        self.name, self.value, self.allowed = name, value, allowed


def number_text(x: float) -> str:
    """A bound as people write it: 4294967295, 0.5, 1e-05."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:g}"


def show_text(value: object, limit: int = 60) -> str:
    """File content quoted for a message: repr (so control characters and raw bytes never reach
    the terminal as such), cut to about `limit` characters."""
    text = value if isinstance(value, (str, bytes, bytearray)) else str(_plain(value))
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text)
        cut = len(text) > limit
        return repr(text[:limit - 3] if cut else text) + ("..." if cut else "")
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def terminal_safe(message: str) -> str:
    """A message with every non-printable character (other than line breaks) escaped."""
    return "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in message)


def plain_number(x: object) -> str:
    """A number as people write it, never `np.float64(200.0)`."""
    x = _plain(x)
    return repr(x) if isinstance(x, (int, float)) else str(x)


def _plain(value: object) -> object:
    """numpy scalars as plain Python values, so messages never show `np.float64(200.0)`."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "shape", None) == () else value


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                low_open: bool = False, finite: bool = True) -> None:
    """Raise ParameterError unless low <= value <= high (low < value if low_open).

    NaN is always refused (it compares false with everything, so it would pass every bound);
    ±inf too unless `finite=False`.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        try:
            value = float(value)  # numpy scalars and the like
        except (TypeError, ValueError):
            raise ParameterError(name, value, "a number") from None
    if math.isnan(value) or (finite and math.isinf(value)):
        lo = "-inf" if low is None else number_text(low)
        hi = "inf" if high is None else number_text(high)
        raise ParameterError(name, value, f"a finite number in {'(' if low_open else '['}{lo}, {hi}]")
    bad = False
    if low is not None:
        bad = value <= low if low_open else value < low
    if high is not None and value > high:
        bad = True
    if bad:
        lo = "-inf" if low is None else number_text(low)
        hi = "inf" if high is None else number_text(high)
        allowed = f"{'(' if low_open else '['}{lo}, {hi}]"
        raise ParameterError(name, value, allowed)
