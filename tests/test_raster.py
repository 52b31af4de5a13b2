from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features
import shapely
import shapely.affinity
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from mujun.errors import CRSError, InputError, OutputExistsError
from mujun.raster import builtup_fraction, efficiency_surface

X0, Y0 = 490_000.0, 3_430_000.0  # EPSG:4549, near Changxing
NODATA = 255


def write_raster(
    path: Path,
    array: np.ndarray,
    *,
    res: float,
    west: float = X0,
    south: float = Y0,
    crs: str | None = "EPSG:4549",
    nodata: float | None = NODATA,
) -> Path:
    """A north-up single-band raster whose lower-left corner is (west, south)."""
    height, width = array.shape
    transform = Affine(res, 0.0, west, 0.0, -res, south + height * res)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype=array.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(array, 1)
    return path


def parcels_of(geoms: list, index: list[str] | None = None, crs: str = "EPSG:4549"):
    return gpd.GeoDataFrame(geometry=geoms, index=index, crs=crs)


@pytest.fixture
def stripes(tmp_path: Path) -> Path:
    """10 x 10 pixels of 10 m; columns 0-4 built (1), 5-9 open (0)."""
    array = np.zeros((10, 10), dtype="uint8")
    array[:, :5] = 1
    return write_raster(tmp_path / "stripes.tif", array, res=10.0)


def brute_force(geom, path: Path, built=(1,)) -> float:
    """Exact area-weighted mean by intersecting every pixel of the raster with ``geom``."""
    with rasterio.open(path) as src:
        data = src.read(1)
        nodata = src.nodata
        t = src.transform
    rows, cols = np.indices(data.shape)
    boxes = shapely.box(
        t.c + cols * t.a, t.f + (rows + 1) * t.e, t.c + (cols + 1) * t.a, t.f + rows * t.e
    )
    weights = shapely.area(shapely.intersection(boxes, geom))
    valid = data != nodata if nodata is not None else np.ones(data.shape, dtype=bool)
    built_mask = np.isin(data, built) & valid
    return float((weights * built_mask).sum() / (weights * valid).sum())


def rounding_tol(geom) -> float:
    """How far an exact-coverage fraction may move by float rounding alone.

    exactextract keeps each pixel's coverage as a float32 (relative error up to 6e-8; the
    fraction, a ratio of two sums of them, up to about twice that), and coordinates near
    3.4e6 m are held to about 5e-10 m, which moves the covered area by about that times the
    perimeter. Measured against the shapely overlay: up to 2e-8 on parcels of 1 m2.
    """
    return 2 * float(np.finfo(np.float32).eps) + 1e-9 * geom.length / geom.area


def test_parcel_aligned_to_pixels(stripes: Path):
    parcels = parcels_of(
        [
            box(X0, Y0, X0 + 50, Y0 + 50),  # 5 x 5 built pixels
            box(X0 + 30, Y0, X0 + 70, Y0 + 20),  # 2 built and 2 open columns
            box(X0 + 60, Y0 + 10, X0 + 100, Y0 + 90),  # open only
        ],
        index=["a", "b", "c"],
    )
    result = builtup_fraction(parcels, stripes)
    expected = pd.Series([1.0, 0.5, 0.0], index=["a", "b", "c"], name="builtup_fraction")
    pd.testing.assert_series_equal(result, expected, check_exact=False, atol=1e-12, rtol=0)


def test_parcel_offset_by_half_a_pixel(stripes: Path):
    # x from 25 to 65 m: built 25-50 (25 m), open 50-65 (15 m); rows half covered too
    parcels = parcels_of([box(X0 + 25, Y0 + 5, X0 + 65, Y0 + 35)])
    np.testing.assert_allclose(builtup_fraction(parcels, stripes).to_numpy(), [25 / 40])


def test_triangle(stripes: Path):
    # right triangle with legs 100 m; left of x=50 lies the trapezoid of area 50*(100+50)/2
    triangle = Polygon([(X0, Y0), (X0 + 100, Y0), (X0, Y0 + 100)])
    result = builtup_fraction(parcels_of([triangle]), stripes)
    np.testing.assert_allclose(result.to_numpy(), [3750 / 5000], rtol=0, atol=1e-12)


def test_parcel_smaller_than_a_pixel_takes_the_pixel_value(stripes: Path):
    parcels = parcels_of(
        [
            box(X0 + 12, Y0 + 12, X0 + 14, Y0 + 13),  # inside a built pixel, no pixel centre
            box(X0 + 72, Y0 + 42, X0 + 73, Y0 + 43),  # inside an open pixel
            box(X0 + 47, Y0 + 2, X0 + 51, Y0 + 3),  # across the 50 m edge: 3 m built of 4 m
        ]
    )
    np.testing.assert_allclose(builtup_fraction(parcels, stripes).to_numpy(), [1.0, 0.0, 0.75])


def test_parcel_with_a_hole(stripes: Path):
    # 0-100 x 0-40 m with a hole 10-50 x 10-30 m that takes 800 m2 of the built half
    outer = [(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 40), (X0, Y0 + 40)]
    hole = [(X0 + 10, Y0 + 10), (X0 + 50, Y0 + 10), (X0 + 50, Y0 + 30), (X0 + 10, Y0 + 30)]
    parcel = Polygon(outer, [hole])
    result = builtup_fraction(parcels_of([parcel]), stripes)
    np.testing.assert_allclose(result.to_numpy(), [(2000 - 800) / (4000 - 800)])


def test_multipolygon(stripes: Path):
    parts = MultiPolygon(
        [box(X0 + 5, Y0 + 5, X0 + 15, Y0 + 15), box(X0 + 55, Y0 + 5, X0 + 85, Y0 + 15)]
    )
    result = builtup_fraction(parcels_of([parts]), stripes)
    np.testing.assert_allclose(result.to_numpy(), [100 / 400])


def test_nodata_pixels_are_left_out_of_both_sums(tmp_path: Path):
    array = np.array([[1, 0, NODATA, NODATA]], dtype="uint8")
    path = write_raster(tmp_path / "nodata.tif", array, res=10.0)
    parcels = parcels_of(
        [
            box(X0, Y0, X0 + 40, Y0 + 10),  # built 10, open 10, nodata 20
            box(X0 + 5, Y0, X0 + 30, Y0 + 10),  # built 5, open 10, nodata 10
            box(X0 + 21, Y0 + 1, X0 + 39, Y0 + 9),  # all nodata
            box(X0 + 500, Y0, X0 + 510, Y0 + 10),  # outside the raster
            box(X0 - 10, Y0, X0 + 10, Y0 + 10),  # half outside: only the built pixel counts
        ]
    )
    result = builtup_fraction(parcels, path)
    np.testing.assert_allclose(result.to_numpy(), [0.5, 1 / 3, np.nan, np.nan, 1.0])


def test_built_values_and_band(tmp_path: Path):
    array = np.array([[2, 3, 4, 0]], dtype="uint8")
    path = write_raster(tmp_path / "classes.tif", array, res=1.0)
    parcels = parcels_of([box(X0, Y0, X0 + 4, Y0 + 1)])
    result = builtup_fraction(parcels, path, built_values=(2, 3))
    np.testing.assert_allclose(result.to_numpy(), [0.5])
    with pytest.raises(InputError, match="band 2 does not exist"):
        builtup_fraction(parcels, path, band=2)


def test_block_pixels_does_not_change_the_result(tmp_path: Path):
    rng = np.random.default_rng(7)
    path = write_raster(
        tmp_path / "noise.tif", rng.integers(0, 2, (60, 60), dtype="uint8"), res=1.0
    )
    parcel = Polygon([(X0 + 3.3, Y0 + 2.1), (X0 + 55.2, Y0 + 9.7), (X0 + 40.1, Y0 + 57.5)])
    small = builtup_fraction(parcels_of([parcel]), path, block_pixels=7)
    large = builtup_fraction(parcels_of([parcel]), path)
    np.testing.assert_allclose(small.to_numpy(), large.to_numpy(), rtol=0, atol=1e-12)
    expected = [brute_force(parcel, path)]
    np.testing.assert_allclose(large.to_numpy(), expected, rtol=0, atol=rounding_tol(parcel))


def test_parcels_are_reprojected_to_the_raster_crs(tmp_path: Path):
    # a raster in UTM 50N (EPSG:32650) covering the parcels, built west of a vertical line
    parcels_4549 = parcels_of(
        [
            box(X0 + 10, Y0 + 10, X0 + 90, Y0 + 60),
            Polygon([(X0 + 20, Y0 + 70), (X0 + 95, Y0 + 75), (X0 + 40, Y0 + 130)]),
        ],
        index=["p", "q"],
    )
    utm = parcels_4549.to_crs(32650)
    west, south, east, north = utm.total_bounds
    west, south = np.floor(west) - 20, np.floor(south) - 20
    array = np.zeros((int(north - south) + 40, int(east - west) + 40), dtype="uint8")
    array[:, : array.shape[1] // 2] = 1
    path = write_raster(
        tmp_path / "utm.tif", array, res=1.0, west=west, south=south, crs="EPSG:32650"
    )
    split = west + array.shape[1] // 2
    expected = [
        shapely.area(shapely.intersection(g, box(west - 1, south - 1, split, north + 100)))
        / shapely.area(g)
        for g in utm.geometry
    ]
    for crs in (4549, 4490):
        result = builtup_fraction(parcels_4549.to_crs(crs), path)
        assert result.index.tolist() == ["p", "q"]
        tol = 1e-9 if crs == 4549 else 1e-6  # lon/lat vertices: edges bend slightly
        np.testing.assert_allclose(result.to_numpy(), expected, rtol=0, atol=tol)
        assert 0.1 < expected[0] < 0.9


def test_missing_crs_is_an_error(tmp_path: Path, stripes: Path):
    path = write_raster(tmp_path / "nocrs.tif", np.ones((2, 2), dtype="uint8"), res=1, crs=None)
    with pytest.raises(CRSError, match="has no CRS"):
        builtup_fraction(parcels_of([box(X0, Y0, X0 + 1, Y0 + 1)]), path)
    no_crs = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 1, Y0 + 1)])
    with pytest.raises(CRSError, match="parcels have no CRS"):
        builtup_fraction(no_crs, stripes)


def test_lines_are_refused_and_empty_geometries_are_nan(stripes: Path):
    line = shapely.LineString([(X0, Y0), (X0 + 10, Y0 + 10)])
    with pytest.raises(InputError, match="not polygons"):
        builtup_fraction(parcels_of([line]), stripes)
    result = builtup_fraction(parcels_of([Polygon(), None, box(X0, Y0, X0 + 10, Y0 + 10)]), stripes)
    np.testing.assert_allclose(result.to_numpy(), [np.nan, np.nan, 1.0])


def test_matches_the_vector_overlay_of_footprints(tmp_path: Path):
    """Footprints rasterised at 0.5 m give the vector coverage to within discretisation."""
    rng = np.random.default_rng(42)
    footprints = []
    for _ in range(60):
        cx, cy = X0 + rng.uniform(5, 195), Y0 + rng.uniform(5, 195)
        w, h = rng.uniform(4, 25, 2)
        fp = shapely.affinity.rotate(box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 25)
        footprints.append(fp)
    built = shapely.union_all(footprints)
    res = 0.5
    shape = (400, 400)
    transform = Affine(res, 0.0, X0, 0.0, -res, Y0 + shape[0] * res)
    array = rasterio.features.rasterize(
        [(built, 1)], out_shape=shape, transform=transform, dtype="uint8"
    )
    path = write_raster(tmp_path / "footprints.tif", array, res=res)
    parcels = parcels_of(
        [
            box(X0 + 10.3, Y0 + 10.7, X0 + 90.1, Y0 + 60.2),
            Polygon([(X0 + 100.2, Y0 + 20.4), (X0 + 190.6, Y0 + 40.3), (X0 + 130.9, Y0 + 180.8)]),
            shapely.affinity.rotate(box(X0 + 20, Y0 + 110, X0 + 90, Y0 + 180), 17),
            box(X0 + 0.25, Y0 + 0.25, X0 + 199.75, Y0 + 199.75),
        ]
    )
    vector = shapely.area(shapely.intersection(parcels.geometry.array, built)) / shapely.area(
        parcels.geometry.array
    )
    assert vector.min() > 0.05
    result = builtup_fraction(parcels, path)
    np.testing.assert_allclose(result.to_numpy(), vector, rtol=0, atol=0.01)


@st.composite
def raster_and_box(draw):
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(1, 6))
    cells = draw(st.lists(st.sampled_from([0, 1]), min_size=rows * cols, max_size=rows * cols))
    res = draw(st.sampled_from([0.5, 1.0, 2.0, 10.0]))
    coord = st.floats(-0.5, 1.5, allow_nan=False)
    x = sorted([draw(coord), draw(coord)])
    y = sorted([draw(coord), draw(coord)])
    width, height = cols * res, rows * res
    parcel = box(
        X0 + x[0] * width,
        Y0 + y[0] * height,
        X0 + max(x[1], x[0] + 0.01) * width,
        Y0 + max(y[1], y[0] + 0.01) * height,
    )
    return np.array(cells, dtype="uint8").reshape(rows, cols), res, parcel


@settings(max_examples=80, deadline=None)
@given(raster_and_box())
def test_fraction_equals_brute_force_area_weighted_mean(case):
    array, res, parcel = case
    with tempfile.TemporaryDirectory() as tmp:
        path = write_raster(Path(tmp) / "r.tif", array, res=res)
        result = builtup_fraction(parcels_of([parcel]), path)
        with rasterio.open(path) as src:
            left, bottom, right, top = src.bounds
        overlap = shapely.area(shapely.intersection(parcel, box(left, bottom, right, top)))
        if overlap == 0:
            assert np.isnan(result.iloc[0])
        else:
            expected = brute_force(parcel, path)
            tol = rounding_tol(parcel)
            np.testing.assert_allclose(result.to_numpy(), [expected], rtol=0, atol=tol)


def surface_parcels() -> tuple[gpd.GeoDataFrame, pd.Series]:
    parcels = parcels_of(
        [
            box(X0, Y0, X0 + 100, Y0 + 100),
            box(X0 + 150, Y0, X0 + 350, Y0 + 100),
            box(X0, Y0 + 150, X0 + 100, Y0 + 350),
        ],
        index=["P1", "P2", "P3"],
    )
    values = pd.Series({"P3": 2.5, "P1": 30.25, "P2": 1e-3})  # any order: matched by label
    return parcels, values


def test_efficiency_surface_values_crs_and_nodata(tmp_path: Path):
    parcels, values = surface_parcels()
    path = efficiency_surface(parcels, values, tmp_path / "out" / "tax.tif", resolution=2.0)
    assert path == tmp_path / "out" / "tax.tif"
    centroids = parcels.geometry.centroid
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4549
        assert src.nodata == -9999.0
        assert src.dtypes == ("float32",)
        assert src.res == (2.0, 2.0)
        assert src.compression.name == "deflate"
        sampled = [v[0] for v in src.sample([(p.x, p.y) for p in centroids])]
        gap = next(src.sample([(X0 + 125, Y0 + 50)]))[0]  # between P1 and P2
        left, bottom, right, top = src.bounds
    np.testing.assert_allclose(sampled, values[parcels.index].to_numpy(), rtol=1e-6)
    assert gap == -9999.0
    np.testing.assert_allclose([left, bottom, right, top], [X0, Y0, X0 + 350, Y0 + 350])


def test_efficiency_surface_missing_values_are_nodata(tmp_path: Path):
    parcels, values = surface_parcels()
    path = efficiency_surface(
        parcels, values.drop("P2"), tmp_path / "tax.tif", resolution=5.0, nodata=-1.0
    )
    with rasterio.open(path) as src:
        assert src.nodata == -1.0
        assert next(src.sample([(X0 + 250, Y0 + 50)]))[0] == -1.0


def test_efficiency_surface_overwrite_rule(tmp_path: Path):
    parcels, values = surface_parcels()
    path = efficiency_surface(parcels, values, tmp_path / "tax.tif", resolution=5.0)
    with pytest.raises(OutputExistsError, match="overwrite"):
        efficiency_surface(parcels, values * 2, path, resolution=5.0)
    efficiency_surface(parcels, values * 2, path, resolution=5.0, overwrite=True)
    with rasterio.open(path) as src:
        assert next(src.sample([(X0 + 50, Y0 + 50)]))[0] == pytest.approx(60.5)


def test_efficiency_surface_refuses_geographic_crs(tmp_path: Path):
    parcels, values = surface_parcels()
    with pytest.raises(CRSError, match="geographic"):
        efficiency_surface(parcels.to_crs(4490), values, tmp_path / "t.tif", resolution=1.0)
    assert not (tmp_path / "t.tif").exists()
