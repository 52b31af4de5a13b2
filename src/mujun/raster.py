"""Raster metrics for parcels: built-up fraction with exact pixel coverage, and value surfaces.

``builtup_fraction`` answers "how much of this parcel is built on?" from a classified raster
(a land-cover or built-up mask). Each pixel counts with the share of its area that lies inside
the parcel, so a parcel's edge pixels, and parcels smaller than one pixel, are weighted exactly
rather than by whether their centre falls inside (the rule of ``rasterio.features`` and
rasterstats, which gives small parcels no pixel at all). The weights and the weighted mean are
exactextract's (its coverage-weighted ``mean``): mujun reads the band through rasterio as a 0/1
"built" layer with the band's mask, and hands exactextract the parcels as WKB. Benchmark:
``bench/zonal.py`` (bench/README.md); a hand-written version of the same weights took 1.5-2x
exactextract's time and agreed with it to 7e-10.

``efficiency_surface`` goes the other way: it burns a per-parcel value (tax per mu, say) into a
GeoTIFF for overlay with other rasters.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import rasterio
import rasterio.crs
import rasterio.errors
import rasterio.features
import rasterio.windows
import shapely
from affine import Affine
from exactextract import Feature, FeatureSource, RasterSource, exact_extract
from pyproj import CRS

from mujun.errors import CRSError, InputError, InputFileError, OutputExistsError

__all__ = ["builtup_fraction", "efficiency_surface"]

logger = logging.getLogger(__name__)


def builtup_fraction(
    parcels: gpd.GeoDataFrame,
    raster: str | Path,
    *,
    band: int = 1,
    built_values: Sequence[int] = (1,),
    block_pixels: int = 4096,
) -> pd.Series:
    """Share of each parcel's area covered by built pixels, with exact edge coverage.

    For each parcel, every pixel is weighted by ``area(pixel ∩ parcel) / area(pixel)``; the
    fraction is ``Σ w·built / Σ w`` over the pixels with data. Nodata pixels (the band's nodata
    value or mask) and pixels outside the raster are left out of both sums, so a parcel half
    covered by nodata gets the fraction of its covered half. Pixel values are compared with
    ``built_values`` as stored (a band's scale and offset are not applied).

    Parameters
    ----------
    parcels : geopandas.GeoDataFrame
        Parcel polygons or multipolygons (holes allowed) in any CRS; they are reprojected to the
        raster's CRS, where the weights are computed.
    raster : str or pathlib.Path
        A north-up raster (any format GDAL reads) with a CRS. It is read in windows around the
        parcels, never whole, so it may be far larger than memory.
    band : int, default 1
        The band holding the classes (1-based).
    built_values : sequence of int, default (1,)
        The pixel values that count as built.
    block_pixels : int, default 4096
        Has no effect since the weights are exactextract's (which bounds its own memory); kept
        so that existing calls keep working. Must be positive.

    Returns
    -------
    pandas.Series
        ``builtup_fraction``, float64 in [0, 1], aligned to ``parcels.index``. NaN only where no
        pixel with data overlaps the parcel (all nodata, outside the raster, or a null or empty
        geometry, which has no area).

    Raises
    ------
    CRSError
        If the raster or the parcels have no CRS.
    InputError
        If a geometry is not polygonal, the band does not exist, the raster is rotated, or
        ``block_pixels`` is not positive.
    InputFileError
        If the raster cannot be opened.

    Notes
    -----
    exactextract runs over the parcels in order, reading the raster window each one covers.
    Cost grows with the number of parcels plus the pixels they cover.

    Examples
    --------
    >>> import tempfile
    >>> from shapely.geometry import box
    >>> tmp = Path(tempfile.mkdtemp())
    >>> profile = {"driver": "GTiff", "width": 2, "height": 1, "count": 1, "dtype": "uint8",
    ...            "crs": "EPSG:4549",
    ...            "transform": Affine(10, 0, 490_000, 0, -10, 3_430_010)}
    >>> with rasterio.open(tmp / "built.tif", "w", **profile) as dst:
    ...     dst.write(np.array([[[1, 0]]], dtype="uint8"))
    >>> parcels = gpd.GeoDataFrame(
    ...     geometry=[box(490_006, 3_430_000, 490_016, 3_430_010)], crs="EPSG:4549")
    >>> builtup_fraction(parcels, tmp / "built.tif").round(6).tolist()
    [0.4]
    """
    if block_pixels < 1:
        raise InputError(f"block_pixels must be at least 1, got {block_pixels}")
    if parcels.crs is None:
        raise CRSError("parcels have no CRS; set one (e.g. gdf.set_crs('EPSG:4549'))")
    _check_polygonal(parcels.geometry)
    built = np.unique(np.asarray(list(built_values)))
    try:
        src = rasterio.open(raster)
    except rasterio.errors.RasterioIOError as err:
        raise InputFileError(f"cannot open raster {raster}: {err}") from err
    with src:
        crs = _raster_crs(src, raster)
        if not 1 <= band <= src.count:
            raise InputError(f"{raster} has {src.count} band(s); band {band} does not exist")
        if src.transform.b != 0 or src.transform.d != 0:
            raise InputError(f"{raster} is rotated or sheared; warp it north-up first")
        geoms = parcels.geometry
        if not CRS.from_user_input(parcels.crs).equals(crs):
            code = crs.to_epsg()
            logger.info(
                "reprojecting parcels from %s to the raster's %s%s",
                parcels.crs.name,
                crs.name,
                f" (EPSG:{code})" if code else "",
            )
            geoms = geoms.to_crs(crs)
        values = _coverage_mean(_BuiltLayer(src, band, built), geoms.array)
    result = pd.Series(values, index=parcels.index, dtype="float64", name="builtup_fraction")
    logger.info(
        "built-up fraction of %d parcels from %s; %d without data",
        len(result),
        Path(raster).name,
        int(result.isna().sum()),
    )
    return result


def _check_polygonal(geoms: gpd.GeoSeries) -> None:
    kinds = shapely.get_type_id(geoms.array)
    ok = np.isin(kinds, [-1, 3, 6]) | shapely.is_empty(geoms.array)  # missing, (Multi)Polygon
    if not ok.all():
        bad = geoms.index[~ok]
        raise InputError(
            f"{len(bad)} geometries are not polygons (first: index {list(bad[:5])}); "
            "built-up fraction needs parcel polygons"
        )


def _raster_crs(src: rasterio.io.DatasetReader, raster: str | Path) -> CRS:
    if src.crs is None:
        raise CRSError(
            f"raster {raster} has no CRS; assign one (gdal_edit.py -a_srs EPSG:4549 ...) so "
            "parcels can be matched to its pixels"
        )
    return CRS.from_user_input(src.crs.to_wkt())


class _BuiltLayer(RasterSource):
    """A band read as exactextract's values: 1 where built, 0 where not, masked without data.

    Reading the band ourselves keeps the old rules: rasterio's mask (nodata value, mask band
    or alpha) says which pixels have data, and values are compared as stored.
    """

    def __init__(
        self, src: rasterio.io.DatasetReader, band: int, built: npt.NDArray[np.int_]
    ) -> None:
        super().__init__()
        self.src = src
        self.band = band
        self.built = built

    def res(self) -> tuple[float, float]:
        return abs(self.src.transform.a), abs(self.src.transform.e)

    def srs_wkt(self) -> str:
        return str(self.src.crs.to_wkt())

    def extent(self) -> tuple[float, float, float, float]:
        left, bottom, right, top = self.src.bounds
        return left, bottom, right, top

    def nodata_value(self) -> None:
        return None  # the mask of read_window says it

    def read_window(self, x0: int, y0: int, nx: int, ny: int) -> npt.NDArray[np.uint8]:
        window = rasterio.windows.Window(x0, y0, nx, ny)
        data = self.src.read(self.band, window=window, masked=True)
        is_built = np.isin(np.ma.getdata(data), self.built).astype("uint8")
        missing = np.ma.getmaskarray(data)
        return np.ma.MaskedArray(is_built, mask=missing) if missing.any() else is_built


class _Parcel(Feature):
    """One parcel for exactextract: its WKB and its position, the one field asked back."""

    def __init__(self, wkb: bytes, position: int) -> None:
        Feature.__init__(self)
        self.wkb = wkb
        self.position = position

    def geometry(self) -> bytes:
        return self.wkb

    def get(self, name: str) -> int:  # noqa: ARG002 - the one field is the position
        return self.position

    def fields(self) -> list[str]:
        return ["position"]


class _Parcels(FeatureSource):
    """Parcels as WKB, made in one vectorised call; GeoPandas' source goes through GeoJSON."""

    def __init__(self, wkb: npt.NDArray[np.bytes_], positions: npt.NDArray[np.intp], wkt: str):
        super().__init__()
        self.wkb = wkb
        self.positions = positions
        self.wkt = wkt

    def count(self) -> int:
        return len(self.wkb)

    def __iter__(self) -> Iterator[_Parcel]:
        for wkb, position in zip(self.wkb, self.positions.tolist(), strict=True):
            yield _Parcel(wkb, position)

    def srs_wkt(self) -> str:
        return self.wkt


def _coverage_mean(layer: _BuiltLayer, geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
    """exactextract's coverage-weighted mean of ``layer`` per geometry (in the raster's CRS);
    NaN for missing and empty geometries and where no pixel with data is covered."""
    values = np.full(len(geoms), np.nan)
    usable = np.flatnonzero(~shapely.is_missing(geoms) & ~shapely.is_empty(geoms))
    if not len(usable):
        return values
    parcels = _Parcels(shapely.to_wkb(geoms[usable]), usable, layer.srs_wkt())
    frame = exact_extract(layer, parcels, "mean", include_cols=["position"], output="pandas")
    positions = frame["position"].to_numpy(dtype="intp")
    values[positions] = np.clip(frame["mean"].to_numpy(dtype="float64"), 0.0, 1.0)
    return values


def efficiency_surface(
    parcels: gpd.GeoDataFrame,
    values: pd.Series,
    path: str | Path,
    *,
    resolution: float,
    nodata: float = -9999.0,
    overwrite: bool = False,
) -> Path:
    """Write a per-parcel value (tax per mu, say) as a float32 GeoTIFF surface.

    The grid is in the parcels' projected CRS, its origin snapped to multiples of
    ``resolution`` so that surfaces written from the same CRS line up pixel for pixel. A pixel
    takes the value of the parcel containing its centre (``rasterio.features.rasterize``,
    ``all_touched=False``); where parcels overlap, the later one in ``parcels`` wins. Pixels in
    no parcel, and parcels whose value is missing or not finite, are ``nodata``; a parcel
    smaller than a pixel may contain no pixel centre and so not appear.

    Parameters
    ----------
    parcels : geopandas.GeoDataFrame
        Parcel polygons in a projected CRS (metres).
    values : pandas.Series
        The value per parcel, indexed like ``parcels`` (matched by index label).
    path : str or pathlib.Path
        The GeoTIFF to write (deflate-compressed, tiled 256 x 256).
    resolution : float
        Pixel size in the CRS's units (metres).
    nodata : float, default -9999.0
        The value written where there is no parcel value.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``overwrite`` is false.
    CRSError
        If the parcels have no CRS or a geographic one.
    InputError
        If ``resolution`` is not positive, ``values`` has duplicate labels, or no parcel has an
        area.
    """
    out = Path(path)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass overwrite=True to replace it")
    if parcels.crs is None:
        raise CRSError("parcels have no CRS; the surface needs a projected CRS in metres")
    if parcels.crs.is_geographic:
        raise CRSError(
            f"parcels are in {parcels.crs.name}, a geographic CRS (degrees); reproject them to "
            "a projected CRS in metres such as EPSG:4549 first"
        )
    if not resolution > 0:
        raise InputError(f"resolution must be positive, got {resolution}")
    if values.index.has_duplicates:
        raise InputError("values has duplicate index labels; it must hold one value per parcel")
    aligned = values.reindex(parcels.index).to_numpy(dtype="float64", na_value=np.nan)
    geoms = parcels.geometry.array
    usable = np.isfinite(aligned) & ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not (~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)).any():
        raise InputError("no parcel has a geometry; nothing to rasterise")
    transform, shape = _grid(parcels, resolution)
    shapes = list(zip(geoms[usable], aligned[usable], strict=True))
    surface = (
        rasterio.features.rasterize(
            shapes, out_shape=shape, transform=transform, fill=nodata, dtype="float32"
        )
        if shapes
        else np.full(shape, nodata, dtype="float32")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": shape[0],
        "width": shape[1],
        "count": 1,
        "dtype": "float32",
        "crs": rasterio.crs.CRS.from_wkt(parcels.crs.to_wkt()),
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(surface, 1)
    logger.info(
        "wrote %s: %d x %d pixels of %g m, %d of %d parcels with a value",
        out,
        shape[1],
        shape[0],
        resolution,
        int(usable.sum()),
        len(parcels),
    )
    return out


def _grid(parcels: gpd.GeoDataFrame, resolution: float) -> tuple[Affine, tuple[int, int]]:
    """North-up grid covering the parcels, origin snapped to multiples of ``resolution``."""
    xmin, ymin, xmax, ymax = (float(v) for v in parcels.total_bounds)
    west = math.floor(xmin / resolution) * resolution
    north = math.ceil(ymax / resolution) * resolution
    width = max(math.ceil((xmax - west) / resolution), 1)
    height = max(math.ceil((north - ymin) / resolution), 1)
    return Affine(resolution, 0.0, west, 0.0, -resolution, north), (height, width)
