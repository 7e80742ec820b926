"""Download by place name (spec `place:Some Place`): osmnx's drivable network, cached as GraphML."""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from core.errors import InputError
from core.geo.formats._common import RoadFormat
from core.geo.formats.graphml import load_graphml
from core.geo.network import RoadNetwork

PREFIX = "place:"

Downloader = Callable[..., object]  # (place, network_type="drive") -> networkx MultiDiGraph


def default_cache_dir() -> Path:
    """Where downloaded road networks are cached: `$ST_GIA_CACHE/roads` when ST_GIA_CACHE is set
    (the lab-wide cache root), else `~/.cache/st-gia-lab/roads`."""
    root = os.environ.get("ST_GIA_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "st-gia-lab") / "roads"


def place_cache_path(place: str, cache_dir: str | Path) -> Path:
    """`<slug>-<hash>-drive.graphml`: readable, and distinct for places whose slugs coincide."""
    slug = re.sub(r"[^a-z0-9]+", "_", place.lower()).strip("_")[:60] or "place"
    digest = hashlib.sha1(place.strip().encode("utf-8")).hexdigest()[:8]
    return Path(cache_dir).expanduser() / f"{slug}-{digest}-drive.graphml"


def download_place(place: str, cache_dir: str | Path | None = None,
                   downloader: Downloader | None = None) -> RoadNetwork:
    """The drivable road network of `place` from OpenStreetMap via osmnx, cached as GraphML.

    Downloads (`osmnx.graph_from_place(place, network_type="drive")`, or the injected `downloader`
    with the same call signature) only when the cache file is missing; then loads the cache file.
    """
    place = place.strip()
    if not place:
        raise InputError("empty place name for a road-network download")
    path = place_cache_path(place, cache_dir if cache_dir is not None else default_cache_dir())
    if not path.is_file():
        if downloader is None:
            import osmnx
            downloader = osmnx.graph_from_place
        try:
            G = downloader(place, network_type="drive")
        except Exception as e:  # network, geocoding and Overpass errors all land here
            raise InputError(f"could not download the road network of {place!r} ({type(e).__name__}: "
                             f"{e}). Without internet, load a GraphML/OSM/CSV file instead, or place "
                             f"a GraphML file at {path}") from e
        import osmnx
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        osmnx.save_graphml(G, tmp)
        os.replace(tmp, path)  # atomic: a crashed download never leaves a half-written cache
    return load_graphml(path, name=place)


def _claims(spec: str) -> bool:
    return spec.lower().startswith(PREFIX)


def _load(spec: str) -> RoadNetwork:
    return download_place(spec[len(PREFIX):], default_cache_dir())


FORMAT = RoadFormat(f"'{PREFIX}Some Place'", _claims, _load)
