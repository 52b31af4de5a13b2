"""WGS 84 / CGCS2000 longitude-latitude to GCJ-02, for drawing on AMap or Tencent tiles only.

AMap (Gaode) and Tencent tiles are drawn in GCJ-02, an obfuscated datum that moves features in
China by tens to hundreds of metres (about 510 m in Changxing). Overlays are shifted with the
widely published forward formula (ellipsoid a = 6378245 m, e² = 0.00669342162296594323) so
they sit on such tiles; nothing shifted is ever exported (METHOD.md 5.2). Outside China the
coordinates are returned unchanged.
"""

from __future__ import annotations

import numpy as np
import shapely

__all__ = ["shift_geometries", "wgs84_to_gcj02"]

_A = 6378245.0
_EE = 0.00669342162296594323
_CHINA = (72.004, 0.8293, 137.8347, 55.8271)


def _dlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift longitude/latitude arrays to GCJ-02 (points outside China are not moved).

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(np.array([119.9]), np.array([31.0]))
    >>> bool(0.004 < lon[0] - 119.9 < 0.005), bool(-0.003 < lat[0] - 31.0 < -0.002)
    (True, True)
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    x, y = lon - 105.0, lat - 35.0
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = _dlat(x, y) * 180.0 / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = _dlon(x, y) * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = (lon >= _CHINA[0]) & (lon <= _CHINA[2]) & (lat >= _CHINA[1]) & (lat <= _CHINA[3])
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def shift_geometries(geoms: np.ndarray) -> np.ndarray:
    """Shift lon/lat geometries (x = longitude) to GCJ-02, for display on AMap tiles."""

    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, move)
