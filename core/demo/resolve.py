"""Naming a dataset for the CLI and the dashboard: "demo" (the generated world) or a file path.

It sits here, above `core.data` and `core.geo`, because it is the one place that needs both a file
loader (`core.data.load.load_dataset`) and the demo generator.
"""
from __future__ import annotations

from pathlib import Path

from core.data.formats import format_names
from core.data.load import load_dataset
from core.data.trajectory import TrajectoryDataset
from core.demo.world import make_demo_city
from core.errors import InputError, ParameterError
from core.geo.network import RoadNetwork

DEMO = "demo"


def resolve_dataset(spec: str, fmt: str | None = None, columns: dict | None = None,
                    max_rows: int | None = None, *, bad_rows: str = "error",
                    encoding: str | None = None,
                    ) -> tuple[TrajectoryDataset, RoadNetwork | None]:
    """'demo' -> the embedded demo city and its road network; otherwise a file and None.

    The name "demo" is reserved: to load a file called demo, write ./demo.
    """
    if spec == DEMO:
        if fmt is not None or columns:
            raise ParameterError("format", fmt if fmt is not None else columns,
                                 "no format or column mapping with the demo dataset")
        return make_demo_city()
    if not Path(spec).exists():
        raise InputError(f"dataset {spec!r}: no such file (use '{DEMO}' for the embedded demo "
                         f"city; file formats: {', '.join(format_names())})")
    return load_dataset(spec, fmt, columns, max_rows, bad_rows=bad_rows, encoding=encoding), None
