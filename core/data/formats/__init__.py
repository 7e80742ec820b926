"""Trajectory file formats: one module per format, each registered here by its `--format` name.

The registry follows the accountant registry of Opacus: a dict from name to format, `register`
refuses duplicates, `get_format` fails loudly on an unknown name. Adding a format is one module
that defines `FORMAT` plus one line in `_BUILTIN` below.

Order matters for sniffing: `core.data.load.sniff_format` asks each format in registration
order whether it recognises the file's first line; the generic CSV comes last.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from core.data.trajectory import TrajectoryDataset
from core.errors import ParameterError


@dataclass(frozen=True)
class Format:
    """A loadable format.

    `sniff(first_line)` says whether a file whose first non-blank line is `first_line` (decoded
    as latin-1 unless a byte-order mark or the user names the encoding, newline stripped) is in
    this format. `load(source, columns=None, max_rows=None, bad_rows="error", encoding=None)`
    reads it from a path or an open `core.files.Source` (see `core.data.load.load_dataset`).
    """

    name: str
    description: str
    sniff: Callable[[str], bool]
    load: Callable[..., TrajectoryDataset]
    takes_columns: bool = False  # accepts a {user, time, lat, lon} column mapping


FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> None:
    """Add a format; a name can be registered once."""
    if fmt.name in FORMATS:
        raise ValueError(f"format {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt


def get_format(name: str) -> Format:
    """The format registered as `name`; ParameterError naming the choices otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ParameterError("format", name, "one of " + ", ".join(FORMATS)) from None


def format_names() -> list[str]:
    return list(FORMATS)


_BUILTIN = ("mta_bus", "foursquare", "gowalla", "generic_csv")
for _module in _BUILTIN:
    register(importlib.import_module(f"{__name__}.{_module}").FORMAT)
