"""Projected CRS choice and surveyed area.

Area is measured in a projected, locally conformal CRS, never in a geographic CRS or Web
Mercator (which overstates area about 1.33x at 30°N). Inside China the default is the CGCS2000
3-degree Gauss-Krüger zone whose central meridian is nearest the data (EPSG:4534-4554,
CM = 3·round(lon/3); EPSG:4549 is CM 120°E); elsewhere the local UTM zone. geopandas'
``estimate_utm_crs()`` would pick UTM 50N for Changxing (CM 117°E, 3° away), overstating area by
about 0.1 %; the 3-degree zone at CM 120°E is within 0.002 % of the ellipsoidal area.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Proj, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from mujun.errors import CRSError
from mujun.schema import ACRE_M2, MU_M2
from mujun.sums import Partial, partial_sums

__all__ = [
    "GaussKrugerFix",
    "area_check",
    "area_columns",
    "bounds_lonlat",
    "check_extent",
    "choose_working_crs",
    "crs_hint",
    "ellipsoidal_area",
    "gk3_epsg",
    "lonlat_bounds",
    "outside_extent",
    "plan_gauss_kruger",
    "plane_area",
    "to_working_crs",
]

logger = logging.getLogger(__name__)

_CHINA = (73.0, 18.0, 135.5, 54.0)  # lon/lat box used to pick the CGCS2000 Gauss-Krüger zones
_MERCATOR = (3857, 900913, 3395, 3785, 102100)  # Web Mercator and world Mercator: never for area


def gk3_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger CM zone (no zone prefix) for ``lon``.

    Examples
    --------
    >>> gk3_epsg(119.9), gk3_epsg(120.6), gk3_epsg(121.6)
    (4549, 4549, 4550)
    """
    central = 3 * round(lon / 3)
    if not 75 <= central <= 135:
        raise CRSError(f"longitude {lon:.3f} is outside the CGCS2000 3-degree zones (75-135°E)")
    return 4534 + (central - 75) // 3


def lonlat_bounds(gdf: gpd.GeoSeries | gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    """West, south, east, north of ``gdf`` in degrees (CGCS2000).

    Projected data: the lon/lat bounds of their bounding box, its edges densified (pyproj
    ``transform_bounds``), not of every vertex: as good for choosing a zone or a projection
    centre, and without reprojecting the data.
    """
    if gdf.crs is None:
        raise CRSError("data without a CRS have no known location")
    return bounds_lonlat(gdf.crs, tuple(float(b) for b in gdf.total_bounds))  # type: ignore[arg-type]


def bounds_lonlat(
    crs: CRS | str, bounds: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """:func:`lonlat_bounds` of data whose bounds in ``crs`` are ``bounds``."""
    west, south, east, north = bounds
    crs = CRS.from_user_input(crs)
    if not crs.is_geographic and all(math.isfinite(b) for b in bounds):
        to_lonlat = Transformer.from_crs(crs, 4490, always_xy=True)
        west, south, east, north = to_lonlat.transform_bounds(
            west, south, east, north, densify_pts=21
        )
    return float(west), float(south), float(east), float(north)


def areal_scale_error(crs: CRS, lonlat: tuple[float, float, float, float]) -> float:
    """The largest ``|areal scale - 1|`` of projected ``crs`` over the box ``lonlat`` (west,
    south, east, north), from PROJ's scale factors at its corners, edges and centre: how far
    plane area in ``crs`` can be from ellipsoidal area there (1e-4 = 0.01 %)."""
    west, south, east, north = lonlat
    lons = np.linspace(west, east, 3)
    lats = np.linspace(south, north, 3)
    lon, lat = np.meshgrid(lons, lats)
    try:
        factors = Proj(crs).get_factors(lon.ravel(), lat.ravel())
    except Exception:
        return math.inf
    scale = np.asarray(factors.areal_scale, dtype="float64")
    return float(np.max(np.abs(scale - 1.0))) if np.isfinite(scale).all() else math.inf


def choose_working_crs(
    gdf: gpd.GeoSeries | gpd.GeoDataFrame | None,
    *,
    named: str | None = None,
    lonlat: tuple[float, float, float, float] | None = None,
    source_crs: CRS | None = None,
    tolerance_pct: float = 0.01,
) -> CRS:
    """The projected CRS in which area is measured.

    ``named`` (the config's ``area.working_crs``) wins; it must be projected and not Web
    Mercator. Otherwise the data's own projected CRS (``source_crs``, default ``gdf.crs``) if
    its areal scale stays within ``tolerance_pct`` of 1 over the data (a state plane or a
    Gauss-Krüger zone the data were surveyed in; a zone-prefixed Gauss-Krüger CRS gives its
    twin without the prefix, EPSG:4528 -> 4549), else the CGCS2000 3-degree Gauss-Krüger zone
    for data inside China, the local UTM zone elsewhere. ``lonlat`` (the data's
    :func:`lonlat_bounds`, when the data are in parts) stands in for ``gdf``.
    """
    if named:
        crs = CRS.from_user_input(named)
        _check_area_crs(crs, named)
        return crs
    if lonlat is None:
        if gdf is None:
            raise ValueError("choose_working_crs needs the data or their lon/lat bounds")
        lonlat = lonlat_bounds(gdf)
    if source_crs is None and gdf is not None and gdf.crs is not None:
        source_crs = CRS.from_user_input(gdf.crs)
    if (
        source_crs is not None
        and source_crs.is_projected
        and source_crs.to_epsg() not in _MERCATOR
        and areal_scale_error(source_crs, lonlat) <= tolerance_pct / 100
    ):
        kind = _gk3_kind(source_crs)
        if kind is not None and kind[0] == "zone":  # its twin without the zone number
            return CRS.from_epsg(4534 + (3 * kind[1] - 75) // 3)
        return source_crs
    west, south, east, north = lonlat
    lon, lat = (west + east) / 2, (south + north) / 2
    if _CHINA[0] <= lon <= _CHINA[2] and _CHINA[1] <= lat <= _CHINA[3]:
        crs = CRS.from_epsg(gk3_epsg(lon))
        if east - west > 3:
            logger.warning(
                "data span %.1f° of longitude, wider than one 3-degree zone; "
                "set area.working_crs or split the data by zone",
                east - west,
            )
        return crs
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(west, south, east, north),
    )
    if not infos:
        raise CRSError(f"no UTM zone covers lon {lon:.3f}, lat {lat:.3f}; set area.working_crs")
    return CRS.from_epsg(int(infos[0].code))


def _check_area_crs(crs: CRS, label: str) -> None:
    if crs.is_geographic:
        raise CRSError(
            f"{label} is geographic (degrees); area needs a projected CRS such as "
            "EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E)"
        )
    if crs.to_epsg() in _MERCATOR:
        raise CRSError(
            f"{label} is Web Mercator, which overstates area (about 1.33x at 30°N); "
            "use a Gauss-Krüger or UTM CRS"
        )


def crs_hint(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> str:
    """A likely CRS, guessed from coordinate ranges, for an error message (never a default)."""
    if gdf.empty or gdf.geometry.is_empty.all():
        return "the file has no coordinates to guess from"
    x0, y0, x1, y1 = gdf.total_bounds
    if -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90:
        return (
            "coordinates look like longitude/latitude in degrees: EPSG:4490 (CGCS2000) "
            "or EPSG:4326 (WGS 84)"
        )
    zone = int(x0 // 1_000_000)
    if 25 <= zone <= 45 and int(x1 // 1_000_000) == zone and 1e6 < y0 < 6e6:
        return (
            f"eastings start with the zone number {zone}: CGCS2000 3-degree Gauss-Kruger "
            f"zone {zone}, EPSG:{4513 + zone - 25} (central meridian {3 * zone}°E)"
        )
    if x0 > 0 and x1 < 1_000_000 and 1e6 < y0 < 6e6:
        return (
            "coordinates look like metres in a transverse Mercator zone without zone "
            "prefix: a CGCS2000 3-degree Gauss-Kruger CM zone (EPSG:4534-4554; EPSG:4549 "
            "for CM 120°E, e.g. Huzhou/Changxing) or a UTM zone"
        )
    if 1e6 < max(abs(x0), abs(x1)) <= 20_037_509 and max(abs(y0), abs(y1)) <= 20_048_967:
        return (
            "coordinates look like Web Mercator metres (EPSG:3857, a web map's CRS): declare "
            "EPSG:3857, and mujun reprojects them before measuring"
        )
    return "coordinate ranges match no CRS mujun knows"


def _inside(crs: CRS, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per point (in ``crs``): it can be in ``crs``, i.e. within ±180/±90 for a geographic CRS,
    or within the CRS's area of use (with a margin of half its size, at least 2°) for a
    projected one. A CRS without an area of use accepts any finite point."""
    finite = np.isfinite(x) & np.isfinite(y)
    if crs.is_geographic:
        return finite & (x >= -180.5) & (x <= 360.0) & (y >= -90.5) & (y <= 90.5)
    if crs.area_of_use is None:
        return finite
    w, s, e, n = crs.area_of_use.bounds
    mx, my = max(2.0, (e - w) / 2), max(2.0, (n - s) / 2)
    with np.errstate(all="ignore"):
        lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(
            np.where(finite, x, 0.0), np.where(finite, y, 0.0), errcheck=False
        )
    lon, lat = np.asarray(lon), np.asarray(lat)
    return (
        finite
        & np.isfinite(lon)
        & np.isfinite(lat)
        & (lon >= w - mx)
        & (lon <= e + mx)
        & (lat >= s - my)
        & (lat <= n + my)
    )


def outside_extent(crs: CRS | str, bounds: np.ndarray) -> np.ndarray:
    """Per feature (rows of ``bounds``: minx, miny, maxx, maxy in ``crs``): its coordinates
    cannot be in ``crs`` (see :func:`_inside`), judged by its box's centre. Data whose whole
    box is inside are not looked at feature by feature."""
    crs = CRS.from_user_input(crs)
    bounds = np.asarray(bounds, dtype="float64").reshape(-1, 4)
    if not len(bounds):
        return np.zeros(0, dtype=bool)
    with np.errstate(all="ignore"):
        total = np.nanmin(bounds[:, :2], axis=0), np.nanmax(bounds[:, 2:], axis=0)
    corners_x = np.array([total[0][0], total[1][0], total[0][0], total[1][0]])
    corners_y = np.array([total[0][1], total[0][1], total[1][1], total[1][1]])
    if _inside(crs, corners_x, corners_y).all():
        return np.zeros(len(bounds), dtype=bool)
    x = (bounds[:, 0] + bounds[:, 2]) / 2
    y = (bounds[:, 1] + bounds[:, 3]) / 2
    return ~_inside(crs, x, y) & np.isfinite(x)


def check_extent(crs: CRS | str, bounds: np.ndarray, outside: np.ndarray, *, source: str) -> None:
    """Refuse a layer most of whose features (``outside``, from :func:`outside_extent`)
    cannot be in the CRS it states: the CRS is mislabelled (lon/lat labelled Gauss-Krüger,
    Web Mercator labelled EPSG:4490), and every area would be wrong by orders of magnitude.
    The message names the likely CRS (:func:`crs_hint`). A few stray features are for the
    caller to reject one by one."""
    if not len(outside) or outside.sum() * 2 <= len(outside):
        return
    crs = CRS.from_user_input(crs)
    away = np.asarray(bounds, dtype="float64").reshape(-1, 4)[outside]
    x0, y0 = np.nanmin(away[:, 0]), np.nanmin(away[:, 1])
    x1, y1 = np.nanmax(away[:, 2]), np.nanmax(away[:, 3])
    frame = gpd.GeoSeries([shapely.box(x0, y0, max(x1, x0 + 1e-9), max(y1, y0 + 1e-9))])
    raise CRSError(
        f"{source} says its CRS is {crs.name} (EPSG:{crs.to_epsg()}), but the coordinates of "
        f"{int(outside.sum()):,} of its {len(outside):,} features (x {x0:,.4f} to {x1:,.4f}, "
        f"y {y0:,.4f} to {y1:,.4f}) cannot be in that CRS; {crs_hint(frame)}. Fix the file's "
        "CRS (e.g. reproject or reassign it in QGIS) or declare the right one"
    )


def require_crs(gdf: gpd.GeoDataFrame, *, source: str, flag: str = "--parcels-crs") -> None:
    """Raise a :class:`CRSError` naming the likely CRS and the option to set if none is set."""
    if gdf.crs is None:
        raise CRSError(
            f"{source} has no CRS; {crs_hint(gdf)}. Declare it with {flag} "
            f"(or [input] {flag.strip('-').replace('-', '_')} in the config), e.g. "
            f"{flag} EPSG:4490"
        )


def to_working_crs(gdf: gpd.GeoDataFrame, crs: CRS, *, source: str) -> gpd.GeoDataFrame:
    """Reproject ``gdf`` to the working CRS, logging what was done."""
    require_crs(gdf, source=source)
    if CRS.from_user_input(gdf.crs) == crs:
        return gdf
    logger.info("reprojecting %s from %s to %s", source, gdf.crs.name, crs.name)
    return gdf.to_crs(crs)


def ellipsoidal_area(
    geoms: gpd.GeoSeries, *, lonlat: tuple[float, float, float, float] | None = None
) -> pd.Series:
    """Area in m² on the GRS80 (CGCS2000) ellipsoid, aligned to ``geoms.index``.

    Computed in one vectorised pass: the parcels are projected to a Lambert azimuthal
    equal-area projection of the GRS80 ellipsoid centred on them, which keeps ellipsoidal area
    exactly, and measured there. Against pyproj's per-polygon geodesic area
    (``Geod.geometry_area_perimeter``, a Python loop, whose edges are geodesics where these are
    straight in the projection) it agrees to within 1e-6 for parcels up to 3 km across
    anywhere in China (tests/test_geodesy.py); the area check warns at 1e-4. The projection
    is centred on ``lonlat`` (west, south, east, north) if given, else on the bounds of
    ``geoms``: parts of one data set measured with its bounds get the areas of the whole.
    """
    if geoms.crs is None:
        raise CRSError("ellipsoidal area needs a CRS")
    if len(geoms) == 0:
        return pd.Series([], index=geoms.index, dtype="float64", name="area_m2_ellipsoidal")
    west, south, east, north = lonlat if lonlat is not None else lonlat_bounds(geoms)
    lat0, lon0 = (south + north) / 2, (west + east) / 2
    if not (math.isfinite(lat0) and math.isfinite(lon0)):  # nothing but empty shapes
        lat0 = lon0 = 0.0
    laea = CRS.from_proj4(f"+proj=laea +lat_0={lat0} +lon_0={lon0} +ellps=GRS80 +units=m +no_defs")
    projected = np.asarray(geoms.to_crs(laea).array, dtype=object)
    with np.errstate(invalid="ignore"):  # collapsed rings: no area, not NaN
        areas = shapely.area(projected)
    areas = np.where(np.isfinite(areas) | shapely.is_missing(projected), areas, 0.0)
    return pd.Series(areas, index=geoms.index, dtype="float64", name="area_m2_ellipsoidal")


def area_columns(area_m2: pd.Series) -> pd.DataFrame:
    """Area in m², mu (亩), hectares and acres, aligned to the input index."""
    return pd.DataFrame(
        {
            "area_m2": area_m2,
            "area_mu": area_m2 / MU_M2,
            "area_ha": area_m2 / 1e4,
            "area_acre": area_m2 / ACRE_M2,
        },
        index=area_m2.index,
    )


def plane_area(geoms: gpd.GeoSeries) -> pd.Series:
    """Plane area in m² in the (projected) CRS of ``geoms``."""
    if geoms.crs is None:
        raise CRSError("area needs a CRS")
    _check_area_crs(geoms.crs, f"CRS {geoms.crs.name}")
    return pd.Series(shapely.area(geoms.array), index=geoms.index, dtype="float64", name="area_m2")


def _gk3_kind(crs: CRS) -> tuple[str, int] | None:
    """("zone", zone) for EPSG:4513-4533, ("cm", central meridian) for 4534-4554, else None."""
    code = crs.to_epsg()
    if code is None:
        return None
    if 4513 <= code <= 4533:
        return "zone", code - 4513 + 25
    if 4534 <= code <= 4554:
        return "cm", 75 + 3 * (code - 4534)
    return None


def _looks_like(xmin: float, xmax: float, lo: float, hi: float) -> bool:
    return lo <= xmin and xmax <= hi


@dataclass(frozen=True)
class GaussKrugerFix:
    """What :func:`plan_gauss_kruger` found: swap the axes, read as another CRS, or both."""

    swap: bool = False
    crs: CRS | None = None
    notes: tuple[str, ...] = ()

    def apply(self, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Apply the fix to ``gdf`` (or to any part of the data it was planned on)."""
        if self.swap:
            gdf = gdf.set_geometry(shapely.transform(gdf.geometry.array, lambda c: c[:, ::-1]))
        if self.crs is not None:
            gdf = gdf.set_crs(self.crs, allow_override=True)
        return gdf


def plan_gauss_kruger(
    crs: CRS | str | None, bounds: tuple[float, float, float, float], *, source: str
) -> GaussKrugerFix:
    """Reconcile CGCS2000 3-degree Gauss-Krüger data with the CRS they declare, from that CRS
    and the data's bounds (``minx, miny, maxx, maxy``); apply the result to the data, whole or
    in parts, with :meth:`GaussKrugerFix.apply`.

    Chinese survey data often store northing as X and easting as Y (the surveying axis order
    of EPSG:4513-4554), and may carry the zone number in front of the easting (EPSG:4528) or
    not (EPSG:4549) whatever the file says. Eastings lie within about 500 km of 500 000 m (plus
    zone x 1 000 000 when prefixed); northings of China lie between 1 500 000 and 6 000 000 m.
    Coordinates that fit the other convention unambiguously are fixed and each fix is logged
    and returned as a note; anything else is left as it is.
    """
    kind = _gk3_kind(CRS.from_user_input(crs)) if crs is not None else None
    x0, y0, x1, y1 = (float(v) for v in bounds)
    if kind is None or not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return GaussKrugerFix()
    assert crs is not None
    name = CRS.from_user_input(crs).name
    notes: list[str] = []
    north = (1_000_000.0, 6_500_000.0)

    def is_easting(lo: float, hi: float) -> bool:
        plain = _looks_like(lo, hi, 0.0, 1_000_000.0)
        prefixed = 25 <= lo // 1_000_000 <= 45 and lo // 1_000_000 == hi // 1_000_000
        return plain or prefixed

    swap = (not is_easting(x0, x1) or not _looks_like(y0, y1, *north)) and (
        is_easting(y0, y1) and _looks_like(x0, x1, *north)
    )
    if swap:
        x0, y0, x1, y1 = y0, x0, y1, x1
        notes.append(f"{source}: coordinates were northing-first (X = northing); axes swapped")
    zone = int(x0 // 1_000_000)
    new: CRS | None = None
    if kind[0] == "cm" and 25 <= zone <= 45 and int(x1 // 1_000_000) == zone:
        if 3 * zone != kind[1]:
            raise CRSError(
                f"{source} says {name} (CM {kind[1]}°E) but its eastings "
                f"carry zone number {zone} (CM {3 * zone}°E); fix the CRS"
            )
        new = CRS.from_epsg(4513 + zone - 25)
        notes.append(
            f"{source}: eastings carry the zone number {zone}: read as "
            f"EPSG:{4513 + zone - 25} instead of the declared CM zone"
        )
    elif kind[0] == "zone" and _looks_like(x0, x1, 0.0, 1_000_000.0):
        new = CRS.from_epsg(4534 + (3 * kind[1] - 75) // 3)
        notes.append(
            f"{source}: eastings have no zone number: read as "
            f"EPSG:{4534 + (3 * kind[1] - 75) // 3} instead of the zone-prefixed CRS"
        )
    for note in notes:
        logger.warning(note)
    return GaussKrugerFix(swap=swap, crs=new, notes=tuple(notes))


def area_sums(plane: np.ndarray, ellipsoidal: np.ndarray) -> tuple[Partial, float]:
    """What :func:`area_check` needs of some parcels (a part of the layer, or all of it):
    the exact totals of both areas (groups 0 and 1) and the largest relative difference."""
    sized = ellipsoidal >= 1.0  # relative differences of sub-m² slivers mean nothing
    rel = (plane[sized] - ellipsoidal[sized]) / ellipsoidal[sized] * 100
    which = np.r_[np.zeros(len(plane), np.int64), np.ones(len(ellipsoidal), np.int64)]
    totals = partial_sums(which, np.r_[plane, ellipsoidal])
    return totals, float(np.abs(rel).max()) if len(rel) else 0.0


def area_check(parts: Iterable[tuple[Partial, float]], tolerance_pct: float) -> dict[str, float]:
    """Compare the area used with the other method (plane vs ellipsoidal), total and worst,
    from the :func:`area_sums` of the layer's parts."""
    found = list(parts)
    total_p, total_e = sum((p for p, _ in found), Partial()).total(2).tolist()
    result = {
        "plane_m2": total_p,
        "ellipsoidal_m2": total_e,
        "total_diff_pct": (total_p - total_e) / total_e * 100 if total_e > 0 else 0.0,
        "max_abs_diff_pct": max((worst for _, worst in found), default=0.0),
    }
    if abs(result["total_diff_pct"]) > tolerance_pct:
        logger.warning(
            "plane and ellipsoidal areas differ by %.4f %% (> %.4f %%); check the working CRS",
            result["total_diff_pct"],
            tolerance_pct,
        )
    return result
