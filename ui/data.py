"""Getting a user's data into core: uploads and server paths -> TrajectoryDataset / RoadNetwork.

Privacy: an upload's bytes live only in this session's widget state and in the job that runs on
them (never in a module-level or `st.cache_*` cache); the worker process that parses them exits
when the run ends. The bytes touch the disk only inside a private temporary directory (mode 0700)
for the duration of the parse, because the loaders read files. Error messages name the uploaded
file, not the temporary path.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from core.data.trajectory import TrajectoryDataset
from core.errors import InputError

@dataclass(frozen=True)
class FileBlob:
    """An uploaded file's name and bytes, copied out of Streamlit's UploadedFile."""

    name: str
    data: bytes

    @cached_property
    def sha(self) -> str:
        return hashlib.sha256(self.data).hexdigest()[:12]


@dataclass(frozen=True)
class DataChoice:
    """Where the trajectories and the road network come from (resolved in the worker thread)."""

    source: str                       # demo | upload | path
    path: str | None = None           # source == path
    upload: FileBlob | None = None    # source == upload
    fmt: str | None = None            # None: sniff
    roads_path: str | None = None     # a road spec understood by core.geo.loaders
    roads_upload: tuple[FileBlob, ...] = ()

    @property
    def private(self) -> bool:
        """Runs on anything but the generated demo are private to the session."""
        return self.source != "demo"

    def dataset_name(self) -> str:
        if self.source == "demo":
            return "demo"
        if self.source == "upload" and self.upload is not None:
            # the content hash keeps different files with the same name apart (e.g. in caches)
            return f"upload:{self.upload.name}#{self.upload.sha}"
        return self.path or ""

    def label(self) -> str:
        """The data as a reader knows it: 'demo', the uploaded file's name or the path's name."""
        if self.source == "upload" and self.upload is not None:
            return self.upload.name
        if self.source == "path" and self.path:
            return self.path.replace("\\", "/").rsplit("/", 1)[-1]
        return self.source

    def checked(self) -> "DataChoice":
        """Server paths resolved and confined to the data directories (InputError if not)."""
        from dataclasses import replace

        if self.source == "path":
            if not self.path:
                raise InputError("enter the path of a trajectory file on the server")
            return replace(self, path=str(server_path(self.path)),
                           roads_path=_checked_roads(self.roads_path))
        return replace(self, roads_path=_checked_roads(self.roads_path))

    def roads_name(self) -> str | None:
        if self.roads_upload:
            return "upload:" + ",".join(b.name for b in self.roads_upload)
        return self.roads_path or None


DATA_DIRS_ENV = "ST_GIA_DATA_DIRS"
_REPO = Path(__file__).resolve().parents[1]


def data_dirs() -> list[Path]:
    """Directories whose files the "file on the server" option may read: `$ST_GIA_DATA_DIRS`
    (os.pathsep-separated), else `<repo>/data` and `<repo>/../shared/data` where they exist.

    A dashboard user must not be able to make the server read arbitrary files (an error message
    quotes a file's first line when its format is unknown)."""
    env = os.environ.get(DATA_DIRS_ENV)
    dirs = [Path(p).expanduser() for p in env.split(os.pathsep) if p] if env else \
        [_REPO / "data", _REPO.parent / "shared" / "data"]
    return [d.resolve() for d in dirs if d.is_dir()]


def server_path(path: str, what: str = "dataset") -> Path:
    """`path` resolved, if it lies inside one of `data_dirs()`; InputError otherwise."""
    roots = data_dirs()
    p = Path(path).expanduser()
    if not p.is_absolute() and roots:
        p = roots[0] / p
    p = p.resolve()
    if not any(p == r or r in p.parents for r in roots):
        allowed = ", ".join(str(r) for r in roots) or f"none (set {DATA_DIRS_ENV})"
        raise InputError(f"{what} path {path!r} is outside the server's data directories "
                         f"({allowed}); upload the file instead")
    if not p.is_file():
        raise InputError(f"{what} {path!r}: no such file on the server")
    return p


def _checked_roads(spec: str | None) -> str | None:
    if not spec or not spec.strip():
        return None
    spec = spec.strip()
    if spec.lower().startswith("place:"):   # an osmnx download by name (online, cached)
        return spec
    return ",".join(str(server_path(part.strip(), "road network")) for part in spec.split(","))


def _safe_name(name: str) -> str:
    base = Path(name).name or "upload"
    return re.sub(r"[^A-Za-z0-9._-]", "_", base)[:120]


def _rename_paths(exc: InputError, mapping: dict[str, str]) -> InputError:
    msg = str(exc)
    for tmp, shown in mapping.items():
        msg = msg.replace(tmp, shown)
    return InputError(msg)


def load_trajectories(choice: DataChoice, data=None, cache: dict | None = None) -> TrajectoryDataset | None:
    """The chosen dataset (None for the demo: `prepare` builds it). `data`: the config's data
    section (column mapping, row limit, bad rows). `cache`: an optional dict owned by the
    caller (parsed uploads by content hash)."""
    from core.data.load import load_dataset
    from core.experiments.setup import parse_columns

    if choice.source == "demo":
        return None
    opts = {} if data is None else dict(columns=parse_columns(data.columns), max_rows=data.max_rows,
                                        bad_rows="skip" if data.skip_bad_rows else "error",
                                        encoding=data.encoding)
    if choice.source == "path":
        if not choice.path:
            raise InputError("enter the path of a trajectory file on the server")
        return load_dataset(str(server_path(choice.path)), choice.fmt, **opts)
    if choice.upload is None:
        raise InputError("upload a trajectory file first (Foursquare, Gowalla, MTA bus or CSV)")
    key = (choice.upload.sha, choice.fmt, tuple(sorted((k, str(v)) for k, v in opts.items())))
    if cache is not None and key in cache:
        return cache[key]
    if not choice.upload.data.strip():
        raise InputError(f"{choice.upload.name}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="st-gia-upload-") as tmp:
        p = Path(tmp) / _safe_name(choice.upload.name)
        p.write_bytes(choice.upload.data)
        try:
            ds = load_dataset(str(p), choice.fmt, **opts)
        except InputError as exc:
            raise _rename_paths(exc, {str(p): choice.upload.name}) from None
        except (UnicodeDecodeError, ValueError, OSError) as exc:  # defensive: never a traceback
            raise InputError(f"{choice.upload.name}: cannot read this file ({exc})") from None
    if cache is not None:
        cache.clear()          # keep only the latest upload in memory
        cache[key] = ds
    return ds


def load_roads(choice: DataChoice, data=None):
    """The chosen road network, or None (the demo brings its own; None otherwise). `data`: the
    config's data section (a road CSV pair's encoding and column mapping)."""
    from functools import partial

    from core.experiments.setup import parse_road_columns
    from core.geo.loaders import load_road_network

    if data is not None:
        load_road_network = partial(load_road_network, encoding=data.road_encoding,
                                    columns=parse_road_columns(data.road_columns))
    if choice.source == "demo":
        return None
    if choice.roads_upload:
        with tempfile.TemporaryDirectory(prefix="st-gia-roads-") as tmp:
            paths = []
            for blob in choice.roads_upload:
                p = Path(tmp) / _safe_name(blob.name)
                p.write_bytes(blob.data)
                paths.append(p)
            mapping = {str(p): b.name for p, b in zip(paths, choice.roads_upload)}
            if len(paths) == 1:
                spec = str(paths[0])
            elif len(paths) == 2 and all(p.suffix.lower() in (".csv", ".gz") for p in paths):
                nodes, edges = sorted(paths, key=lambda p: "edge" in p.name.lower())
                spec = f"{nodes},{edges}"
            else:
                raise InputError("upload one road network file (GraphML or OSM XML) or two CSV "
                                 "files (nodes and edges)")
            try:
                return load_road_network(spec)
            except InputError as exc:
                raise _rename_paths(exc, mapping) from None
            except (UnicodeDecodeError, ValueError, OSError) as exc:
                raise InputError(f"road network: cannot read the uploaded file ({exc})") from None
    if choice.roads_path:
        return load_road_network(_checked_roads(choice.roads_path))
    return None
