"""Maps that draw with no internet: Leaflet inlined from `assets/vendor/leaflet/` (DESIGN.md §9).

folium 0.20 links Leaflet, jQuery, Bootstrap and Awesome-Markers from public CDNs, and
streamlit-folium loads those links one after the other in the component's frame: offline the first
fails and the map stays empty. Our maps use only Leaflet's own layers (polylines, circle markers,
tooltips, layer control), so every map built here replaces folium's asset lists — on the instance,
never on the class, which other code shares — by Leaflet 1.9.4 alone, as `data:` URLs: the
script and the stylesheet, whose images (layer-control icon, default marker) are inlined in turn.
`data:` URLs work both in streamlit-folium (it appends `<script src=...>`) and in a saved HTML file.

Tiles are a switch: `none` (offline; the road network is drawn as the base layer) or `osm`
(OpenStreetMap tiles, online only).
"""
from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path

import folium

LEAFLET_DIR = Path(__file__).resolve().parents[2] / "assets" / "vendor" / "leaflet"
LEAFLET_VERSION = "1.9.4"
TILES = ("none", "osm")


def _data_url(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


@lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str]:
    """(script, stylesheet) of the vendored Leaflet as data URLs (files shipped with the app)."""
    js = (LEAFLET_DIR / "leaflet.js").read_bytes()
    css = (LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8")

    def inline(m: re.Match) -> str:
        img = LEAFLET_DIR / m.group(1)
        return f"url({_data_url('image/png', img.read_bytes())})" if img.is_file() else m.group(0)

    css = re.sub(r"url\((images/[\w.-]+\.png)\)", inline, css)
    return _data_url("text/javascript", js), _data_url("text/css", css.encode("utf-8"))


def offline_map(location: tuple[float, float] = (0.0, 0.0), zoom_start: int = 13,
                tiles: str = "none", **kwargs) -> folium.Map:
    """A folium Map that loads nothing from the network unless `tiles="osm"`."""
    if tiles not in TILES:
        raise ValueError(f"tiles must be one of {TILES}, not {tiles!r}")
    # zoomSnap 0.25: fit_bounds may pick fractional zoom levels, so a city fills the frame
    m = folium.Map(location=list(location), zoom_start=zoom_start, tiles=None,
                   control_scale=True, prefer_canvas=True, zoom_snap=0.25, **kwargs)
    js, css = leaflet_assets()
    m.default_js = [("leaflet", js)]          # instance attributes: the class lists stay intact
    m.default_css = [("leaflet_css", css)]
    # offline there are no tiles: a light paper colour instead of Leaflet's grey
    m.get_root().header.add_child(folium.Element(
        "<style>.leaflet-container{background:#f7f7f4;}</style>"), name="st_gia_background")
    if tiles == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap (online)", control=True).add_to(m)
    return m


def external_urls(m: folium.Map) -> list[str]:
    """Every http(s) asset the rendered map would fetch (for tests and the offline check)."""
    html = m.get_root().render()
    return sorted(set(re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)))
