"""Basemaps by name: OpenStreetMap, Tianditu, AMap (GCJ-02), Esri imagery, none, orthophoto.

| name | tiles | overlay shift |
|---|---|---|
| ``osm`` (default) | OpenStreetMap standard tiles | none |
| ``tianditu-vec``, ``tianditu-img`` | Tianditu vector or imagery with labels (CGCS2000, needs a
  ``tk`` key: ``[map] tianditu_key`` or the TIANDITU_KEY environment variable) | none |
| ``amap`` | AMap (Gaode) street tiles, drawn in GCJ-02 | overlays shifted to GCJ-02 |
| ``esri-imagery`` | Esri World Imagery | none |
| ``none`` | no tiles (offline use, intranets) | none |

A planner's own orthophoto (``[map] orthophoto``, any GeoTIFF) is reprojected and embedded as an
image overlay at most ``orthophoto_max_px`` on its long side.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import folium
import numpy as np

from mujun.errors import ConfigError, InputFileError

__all__ = ["BASEMAPS", "Basemap", "add_basemap", "add_orthophoto"]

_TDT = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}"
    "&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)


@dataclass(frozen=True)
class Basemap:
    """Tile layers (URL templates with their attribution) and whether overlays need GCJ-02."""

    layers: tuple[tuple[str, str, str], ...]  # (url, attribution, subdomains)
    gcj02: bool = False
    needs_key: bool = False


BASEMAPS: dict[str, Basemap] = {
    "osm": Basemap(
        (
            (
                "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
                "contributors",
                "abc",
            ),
        )
    ),
    "tianditu-vec": Basemap(
        (
            (_TDT.replace("{layer}", "vec"), "天地图 Tianditu", "01234567"),
            (_TDT.replace("{layer}", "cva"), "天地图 Tianditu", "01234567"),
        ),
        needs_key=True,
    ),
    "tianditu-img": Basemap(
        (
            (_TDT.replace("{layer}", "img"), "天地图 Tianditu", "01234567"),
            (_TDT.replace("{layer}", "cia"), "天地图 Tianditu", "01234567"),
        ),
        needs_key=True,
    ),
    "amap": Basemap(
        (
            (
                "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                "&x={x}&y={y}&z={z}",
                "&copy; 高德地图 AMap",
                "1234",
            ),
        ),
        gcj02=True,
    ),
    "esri-imagery": Basemap(
        (
            (
                "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/"
                "{z}/{y}/{x}",
                "Tiles &copy; Esri",
                "abc",
            ),
        )
    ),
    "none": Basemap(()),
}
_ALIASES = {
    "openstreetmap": "osm",
    "tianditu": "tianditu-vec",
    "gaode": "amap",
    "esri": "esri-imagery",
}


def basemap(name: str) -> Basemap:
    """The :class:`Basemap` called ``name`` (case-insensitive; ``OpenStreetMap`` = ``osm``)."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in BASEMAPS:
        raise ConfigError(f"unknown basemap {name!r}; use one of {', '.join(BASEMAPS)}")
    return BASEMAPS[key]


def add_basemap(
    fmap: folium.Map, name: str, *, tianditu_key: str | None = None, label: str | None = None
) -> Basemap:
    """Add the tile layers of basemap ``name`` to ``fmap``, listed as ``label`` (default: the
    name) in the basemap control; returns it (for its GCJ-02 flag)."""
    base = basemap(name)
    key = tianditu_key or os.environ.get("TIANDITU_KEY")
    if base.needs_key and not key:
        raise ConfigError(
            f"basemap {name!r} needs a Tianditu key: set [map] tianditu_key or the "
            "TIANDITU_KEY environment variable (free at console.tianditu.gov.cn)"
        )
    for i, (url, attribution, subdomains) in enumerate(base.layers):
        folium.TileLayer(
            tiles=url.replace("{key}", key or ""),
            attr=attribution,
            subdomains=subdomains,
            name=(label or name) if i == 0 else f"{name} labels",
            overlay=i > 0,
            control=i == 0,
            max_zoom=18,
        ).add_to(fmap)
    return base


def add_orthophoto(
    fmap: folium.Map, path: str | Path, *, max_px: int = 2048, name: str = "orthophoto"
) -> None:
    """Embed a GeoTIFF (any CRS) as an image overlay, reprojected to Web Mercator for Leaflet
    and downsampled to at most ``max_px`` pixels on its long side."""
    import rasterio  # noqa: PLC0415 - only when an orthophoto is given
    from rasterio.warp import Resampling, calculate_default_transform, reproject  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise InputFileError(f"orthophoto {path} does not exist")
    with rasterio.open(path) as src, warnings.catch_warnings():
        # rasterio 1.4 multiplies affine transforms with "*", which affine 3 deprecates
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        if src.crs is None:
            raise InputFileError(f"orthophoto {path} has no CRS; georeference it first")
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds
        )
        scale = max(width, height) / max_px if max(width, height) > max_px else 1.0
        width, height = max(1, int(width / scale)), max(1, int(height / scale))
        transform = transform @ transform.scale(scale, scale)
        bands = min(src.count, 3)
        out = np.zeros((bands, height, width), dtype="uint8")
        for b in range(bands):
            reproject(
                rasterio.band(src, b + 1),
                out[b],
                dst_transform=transform,
                dst_crs="EPSG:3857",
                resampling=Resampling.average,
            )
    from pyproj import Transformer  # noqa: PLC0415

    west, north = transform @ (0, 0)
    east, south = transform @ (width, height)
    to_ll = Transformer.from_crs(3857, 4326, always_xy=True)
    (lon0, lat0), (lon1, lat1) = to_ll.transform(west, south), to_ll.transform(east, north)
    image = np.moveaxis(out, 0, -1) if bands > 1 else out[0]
    folium.raster_layers.ImageOverlay(
        image=image,
        bounds=[[lat0, lon0], [lat1, lon1]],
        name=name,
        opacity=0.9,
        mercator_project=False,
    ).add_to(fmap)
