"""RFC 7946 GeoJSON: lon/lat WGS 84, no crs member, counter-clockwise exteriors, precision."""

from __future__ import annotations

import json
import math
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from conftest import X0, Y0
from mujun.errors import OutputExistsError
from mujun.io import _geojson, writers, xlsx
from mujun.io.writers import rfc7946_geometries, write_csv, write_geojson
from mujun.io.xlsx import write_sheets


def check_rfc7946(doc: dict, *, precision: int = 7) -> None:
    """Assert the RFC 7946 rules mujun promises for an exported FeatureCollection."""
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc
    for feature in doc["features"]:
        assert feature["type"] == "Feature"
        geom = shapely.geometry.shape(feature["geometry"])
        assert geom.is_valid
        polys = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]
        for poly in polys:
            assert poly.exterior.is_ccw, "exterior rings are counter-clockwise (RFC 7946 3.1.6)"
            assert all(not ring.is_ccw for ring in poly.interiors), "holes are clockwise"
            coords = np.asarray(poly.exterior.coords)
            assert (np.abs(coords[:, 0]) <= 180).all()
            assert (np.abs(coords[:, 1]) <= 90).all()
            np.testing.assert_array_equal(coords, np.round(coords, precision))


def _frame() -> gpd.GeoDataFrame:
    clockwise = Polygon([(X0, Y0), (X0, Y0 + 100), (X0 + 100, Y0 + 100), (X0 + 100, Y0)])
    holed = Polygon(
        box(X0 + 200, Y0, X0 + 400, Y0 + 200).exterior.coords,
        [box(X0 + 250, Y0 + 50, X0 + 300, Y0 + 100).exterior.coords],
    )
    multi = MultiPolygon(
        [box(X0 + 500, Y0, X0 + 550, Y0 + 50), box(X0 + 600, Y0, X0 + 650, Y0 + 50)]
    )
    return gpd.GeoDataFrame(
        {
            "parcel_id": ["a", "b", "c"],
            "tax_per_mu": [1.5, np.nan, 3.0],
            "name": ["<b>x</b>", None, "丙"],
        },
        geometry=[clockwise, holed, multi],
        crs=4549,
    )


def test_geojson_follows_rfc7946(tmp_path: Path):
    path = write_geojson(_frame(), tmp_path / "out.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    check_rfc7946(doc)
    props = [f["properties"] for f in doc["features"]]
    assert props[1]["tax_per_mu"] is None
    assert props[0]["name"] == "<b>x</b>"  # data, not markup: JSON keeps the text as is
    assert props[2]["name"] == "丙"
    # 119.9E / 31.0N area: lon first
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 119.8 < lon < 120.0
    assert 30.9 < lat < 31.1


def test_geojson_round_trips_area(tmp_path: Path):
    frame = _frame()
    path = write_geojson(frame, tmp_path / "out.geojson")
    back = gpd.read_file(path).to_crs(4549)
    # 7 decimals of a degree is about 1 cm: a 50 m square moves by at most a few 1e-5
    np.testing.assert_allclose(back.area, frame.area, rtol=5e-5)


def test_existing_output_needs_overwrite(tmp_path: Path):
    path = tmp_path / "out.geojson"
    write_geojson(_frame(), path)
    with pytest.raises(OutputExistsError, match="pass --overwrite"):
        write_geojson(_frame(), path)
    write_geojson(_frame(), path, overwrite=True)


def test_csv_has_bom_for_excel(tmp_path: Path):
    path = write_csv(_frame().drop(columns="geometry"), tmp_path / "t.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(-5000, 5000), st.floats(-5000, 5000)), min_size=3, max_size=12))
def test_any_valid_polygon_exports_ccw(points):
    hull = shapely.MultiPoint([(X0 + x, Y0 + y) for x, y in points]).convex_hull
    if hull.geom_type != "Polygon" or hull.area < 1:
        return
    cw = shapely.orient_polygons(hull, exterior_cw=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_geojson(
            gpd.GeoDataFrame({"k": [1]}, geometry=[cw], crs=4549), Path(tmp) / "p.geojson"
        )
        check_rfc7946(json.loads(path.read_text(encoding="utf-8")))


# -- byte-identity with the per-feature writer it replaced ------------------------------------


def _reference_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple | list):
        return [_reference_value(v) for v in value]
    return value


def _reference_geometries(geoms: gpd.GeoSeries, *, precision: int = 7) -> np.ndarray:
    """rfc7946_geometries as it was before it worked on the flat coordinate array."""
    lonlat = np.asarray(geoms.to_crs(4326).array, dtype=object)
    rounded = shapely.remove_repeated_points(
        shapely.transform(lonlat, lambda xy: np.round(xy, precision)), 0.0
    )
    broken = ~shapely.is_valid(rounded)
    if broken.any():
        rounded[broken] = shapely.set_precision(lonlat[broken], 10.0**-precision)
    return np.asarray(shapely.orient_polygons(rounded, exterior_cw=False))


def _reference_geojson(gdf: gpd.GeoDataFrame, path: Path, *, precision: int = 7) -> Path:
    """write_geojson as it was before it was vectorized: one json.dumps per feature, each
    geometry as shapely.to_geojson writes it."""
    geoms = shapely.to_geojson(_reference_geometries(gdf.geometry, precision=precision))
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    columns = list(props.columns)
    rows = props.astype(object).to_numpy()
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for i, (geom, row) in enumerate(zip(geoms, rows, strict=True)):
            properties = {c: _reference_value(v) for c, v in zip(columns, row, strict=True)}
            fh.write(",\n" if i else "")
            fh.write('{"type":"Feature","properties":')
            fh.write(json.dumps(properties, ensure_ascii=False, allow_nan=False))
            fh.write(',"geometry":' + (geom if geom is not None else "null") + "}")
        fh.write("\n]}\n")
    return path


def _assert_same_as_reference(gdf: gpd.GeoDataFrame, tmp: Path, *, precision: int = 7) -> bytes:
    got = write_geojson(gdf, tmp / "new.geojson", overwrite=True, precision=precision)
    got = got.read_bytes()
    want = _reference_geojson(gdf, tmp / "reference.geojson", precision=precision).read_bytes()
    assert json.loads(got) == json.loads(want)
    assert got == want
    return got


TEXTS = [
    "a",
    'say "hi"',
    "back\\slash \\u0041",
    "line\nbreak\r\ttab",
    "ctl \x00\x01\x08\x0c\x1f\x7f end",
    "亩均税收（万元/亩）",
    "",
    "sep \u2028 \u2029 ok",
    "emoji 🏭",
    None,
]


def _mixed_frame() -> gpd.GeoDataFrame:
    """Every column kind the writer turns into JSON, with every kind of missing value."""
    n = len(TEXTS)
    floats = [0.1, np.nan, np.inf, -np.inf, -0.0, 1e-7, 1e16, 5e-324, 12.0, 1.7976931348623157e308]
    objects = ["x", np.nan, pd.NA, "丙", None, "", "y", 'q"', "z", "w"]
    return gpd.GeoDataFrame(
        {
            "id": [f"P{i:07d}" for i in range(n)],  # default str dtype
            "float64": floats,
            "float32": np.array([0.1, np.nan, 3.5, -1e-3, 0, 1e30, 2, 3, 4, 5], dtype=np.float32),
            "int64": np.arange(n, dtype=np.int64) * -(10**17),
            "uint64": np.full(n, 2**64 - 1, dtype=np.uint64),
            "int8": np.arange(n, dtype=np.int8),
            "bool": [True, False] * 5,
            "Int64": pd.array([1, None, -3, 4, 5, 6, 7, 8, 9, 2**62], dtype="Int64"),
            "Float64": pd.array([1.5, None, 0.1, 1e-7, 0, 1, 2, 3, 4, 5], dtype="Float64"),
            "boolean": pd.array([True, None, False, True, None, False, True, True, False, None]),
            "string[pyarrow]": pd.array(TEXTS, dtype="string[pyarrow]"),
            "string[python]": pd.array(TEXTS, dtype="string[python]"),
            "str": pd.Series(TEXTS, dtype="str"),
            "object": pd.Series(TEXTS, dtype=object),
            "object_nulls": pd.Series(objects, dtype=object),
            "object_bool": pd.Series([True, None, False, np.True_, True, False, None, 1 > 0, 0, 1])
            .where(lambda s: s.index < 8, None)
            .astype(object),
            "category": pd.Series(TEXTS, dtype="category"),
            "category_int": pd.Series([3, 1, None, 3, 1, 2, 2, 1, 3, None], dtype="category"),
            "list": [[1, 2.5, np.nan], (3, "四"), [], None, [None], [np.int64(1)], "x", 1, 2.0, {}],
            "all_null": [None] * n,
            "float16": np.array([*floats[:6], 1e-7, 6e4, 0.5, -2], dtype=np.float16),
            "int64[pyarrow]": pd.array([1, None, *range(8)], dtype="int64[pyarrow]"),
            "double[pyarrow]": pd.array([0.1, None, *floats[2:]], dtype="double[pyarrow]"),
            "bool[pyarrow]": pd.array([True, None] * 5, dtype="bool[pyarrow]"),
            "pa.string()": pd.array(TEXTS, dtype=pd.ArrowDtype(pa.string())),
            7: np.linspace(0, 1, n),  # a non-string column name
            "名称": [f"浙江{i}有限公司" for i in range(n)],
        },
        geometry=[
            box(X0 + 10 * i, Y0, X0 + 10 * i + 5, Y0 + 5) if i % 4 else None for i in range(n)
        ],
        crs=4549,
    )


def test_geojson_bytes_match_per_feature_writer(tmp_path: Path):
    got = _assert_same_as_reference(_mixed_frame(), tmp_path)
    doc = json.loads(got)
    props = doc["features"][1]["properties"]
    assert props["float64"] is None
    assert props["Int64"] is None
    assert props["object_nulls"] is None
    assert doc["features"][0]["geometry"] is None
    assert [f["properties"]["float64"] for f in doc["features"][2:4]] == [None, None]
    assert b'"float64": 1e-07' in got
    assert b'"float64": 1e+16' in got
    assert b'"float64": 12.0' in got
    assert got.startswith(b'{"type":"FeatureCollection","features":[\n{"type":"Feature",')
    assert got.endswith(b"}\n]}\n")


def test_geojson_chunks_join_like_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(writers, "CHUNK", 3)  # 10 features: chunks of 3, 3, 3 and 1
    _assert_same_as_reference(_mixed_frame(), tmp_path)


def test_geojson_numbers_ignore_numpy_print_options(tmp_path: Path):
    """Legacy print options change numpy's float text; the writer's text does not use it."""
    frame = _mixed_frame()[["float64", "float32", "Float64", "geometry"]]
    with np.printoptions(legacy="1.13"):
        _assert_same_as_reference(frame, tmp_path)


def test_geojson_numbers_without_arrow_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Should a pyarrow print floats differently, the writer falls back to float repr."""
    monkeypatch.setattr(_geojson, "_arrow_floats_match_repr", lambda: False)
    _assert_same_as_reference(_mixed_frame(), tmp_path)


def test_float_probe_is_python_repr():
    reprs = _geojson._FLOAT_REPRS.split()
    assert [repr(float(r)) for r in reprs] == reprs
    assert _geojson._arrow_floats_match_repr()


def test_geojson_empty_and_column_free_frames(tmp_path: Path):
    empty = _mixed_frame().iloc[:0]
    assert _assert_same_as_reference(empty, tmp_path) == (
        b'{"type":"FeatureCollection","features":[\n\n]}\n'
    )
    _assert_same_as_reference(_mixed_frame()[["geometry"]], tmp_path)


def test_geojson_columns_in_several_arrow_chunks(tmp_path: Path):
    """pd.concat leaves Arrow-backed columns in several chunks."""
    frame = pd.concat([_mixed_frame().iloc[:4], _mixed_frame().iloc[4:]], ignore_index=True)
    assert frame["string[pyarrow]"].array._pa_array.num_chunks == 2
    _assert_same_as_reference(frame, tmp_path)


def test_geojson_duplicate_columns_as_a_dict_holds_them(tmp_path: Path):
    frame = _frame()
    frame.insert(1, "name", [1, 2, 3], allow_duplicates=True)  # dict: first place, last value
    _assert_same_as_reference(frame, tmp_path)


def test_geojson_unserializable_column_raises(tmp_path: Path):
    frame = _frame().assign(when=pd.Timestamp("2021-01-01"))
    with pytest.raises(TypeError, match="not JSON serializable"):
        _reference_geojson(frame, tmp_path / "reference.geojson")
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_geojson(frame, tmp_path / "new.geojson")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
            st.floats(width=32, allow_nan=True, allow_infinity=True),
            st.none() | st.text(),
        ),
        max_size=12,
    )
)
def test_random_values_match_per_feature_writer(rows):
    floats = [f for f, _, _ in rows]
    texts = [t for _, _, t in rows]
    frame = gpd.GeoDataFrame(
        {
            "f": np.array(floats, dtype=np.float64),
            "tiny": np.array(floats, dtype=np.float64) * 1e-300,
            "f32": np.array([g for _, g, _ in rows], dtype=np.float32),
            "text": pd.Series(texts, dtype=object),
            "str": pd.Series(texts, dtype="str"),
            "category": pd.Series(texts, dtype="category"),
        },
        geometry=[box(X0 + i, Y0, X0 + i + 1, Y0 + 1) for i in range(len(rows))],
        crs=4549,
    )
    with tempfile.TemporaryDirectory() as tmp:
        got = _assert_same_as_reference(frame, Path(tmp))
    parsed = [f["properties"] for f in json.loads(got)["features"]]
    for props, f in zip(parsed, floats, strict=True):
        assert props["f"] == (f if math.isfinite(f) else None)


# -- geometries: reprojection, rounding, orientation and their text ---------------------------


def _geometry_frame() -> gpd.GeoDataFrame:
    """Every kind of geometry the writer treats apart, in EPSG:4549."""
    square = box(X0, Y0, X0 + 100, Y0 + 100)
    holed = Polygon(
        box(X0 + 200, Y0, X0 + 400, Y0 + 200).exterior.coords,
        [box(X0 + 250, Y0 + 50, X0 + 300, Y0 + 100).exterior.coords],
    )
    geoms = [
        square,
        shapely.orient_polygons(square, exterior_cw=True),
        holed,
        MultiPolygon([box(X0 + 500, Y0, X0 + 550, Y0 + 50), box(X0 + 600, Y0, X0 + 650, Y0 + 50)]),
        None,
        Polygon(),
        # two corners 1 mm apart become one point at 7 decimals (about 1 cm)
        Polygon([(X0, Y0), (X0 + 0.001, Y0), (X0 + 50, Y0), (X0 + 50, Y0 + 50), (X0, Y0 + 50)]),
        # a 0.1 mm sliver: rounding collapses it and snap rounding takes over
        box(X0, Y0, X0 + 1e-4, Y0 + 5),
        # a spike whose tip, 1 mm off the base, rounding moves onto it
        Polygon([(X0, Y0), (X0 + 10, Y0), (X0 + 10, Y0 + 10), (X0 + 5, Y0 + 1e-3), (X0, Y0 + 10)]),
        shapely.LineString([(X0, Y0), (X0 + 1, Y0 + 1)]),
        shapely.Point(X0, Y0),
        shapely.GeometryCollection([shapely.Point(X0, Y0), square]),
    ]
    return gpd.GeoDataFrame({"k": range(len(geoms))}, geometry=geoms, crs=4549)


def test_geometries_match_the_reference(tmp_path: Path):
    frame = _geometry_frame()
    got = shapely.to_wkb(rfc7946_geometries(frame.geometry))
    want = shapely.to_wkb(_reference_geometries(frame.geometry))
    assert got.tolist() == want.tolist()
    _assert_same_as_reference(frame, tmp_path)


def test_geometries_already_in_wgs84_or_3d(tmp_path: Path):
    _assert_same_as_reference(_geometry_frame().to_crs(4326), tmp_path)
    solid = _frame().assign(geometry=lambda f: shapely.force_3d(f.geometry.array, 12.5))
    _assert_same_as_reference(solid, tmp_path)


def _lonlat_quads(rng: np.random.Generator, n: int, size: float) -> gpd.GeoDataFrame:
    """``n`` irregular quadrilaterals about ``size`` degrees across, anywhere on the globe,
    some touching 0 and the antimeridian, a quarter clockwise."""
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) + rng.uniform(-0.2, 0.2, (n, 4, 2))
    origin = np.column_stack([rng.uniform(-180, 180 - size, n), rng.uniform(-90, 90 - size, n)])
    origin[:3] = [[0.0, 0.0], [-size, -size / 2], [180 - 1.2 * size, 0.0005]]
    quads = shapely.polygons(corners * size + origin[:, None, :])
    quads[::4] = shapely.orient_polygons(quads[::4], exterior_cw=True)
    return gpd.GeoDataFrame({"k": np.arange(n)}, geometry=quads, crs=4326)


@pytest.mark.parametrize("precision", [1, 2, 3, 4, 5, 6, 7, 8, 12])
def test_any_precision_matches_the_reference(tmp_path: Path, precision: int):
    frame = _lonlat_quads(np.random.default_rng(precision), 300, 10.0 ** (2 - precision / 2))
    _assert_same_as_reference(frame, tmp_path, precision=precision)


# rounded values that GEOS (nlohmann/json's Grisu2) prints with 17 digits, and awkward ones
LONG_IN_GEOS = [121.1798693, 32.1259093, 31.8814902, 32.2764913, 120.2977086, 120.5614998]
AWKWARD = [512.0, 0.5, -0.25, 999.9999999, 0.001, 0.0009999, 0.0, -0.0, 1000.5, -179.9999999]


def test_coordinates_geos_prints_long_are_kept():
    assert "121.17986929999999" in shapely.to_geojson(shapely.Point(121.1798693, 0))
    values = LONG_IN_GEOS + AWKWARD
    polys = np.array(
        [shapely.Polygon([(v, w), (v + 1, w), (v, w + 1)]) for v in values for w in values]
    )
    assert _geojson._polygon_text_is_geos()  # the fast path is on
    text = _geojson._geometry_text(polys, 7)
    assert text.to_pylist() == shapely.to_geojson(polys).tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8),
    st.lists(
        st.tuples(st.floats(-180, 180), st.floats(-90, 90), st.booleans()), min_size=3, max_size=8
    ),
)
def test_polygon_text_is_to_geojson(precision, points):
    """Rounded coordinates (and a few not rounded): the writer's text is GEOS's."""
    xy = np.array([(x, y) for x, y, _ in points])
    rounded = np.array([r for _, _, r in points])
    xy[rounded] = np.round(xy[rounded], precision)
    polys = np.array([shapely.Polygon(xy), shapely.Polygon(xy[::-1]), None, shapely.Point(xy[0])])
    text = _geojson._geometry_text(polys, precision)
    assert text.to_pylist() == [
        *shapely.to_geojson(polys[:2]).tolist(),
        "null",
        *shapely.to_geojson(polys[3:]).tolist(),
    ]


def _sheet_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_workbook_rows_in_chunks_are_the_rows_of_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The sheet's XML is made a few rows at a time (so that a list of 500,000 firms does not
    hold every cell's text at once); how a column is written is decided over all its rows,
    so the chunks join into the same bytes as one chunk: here an object column whose first
    rows are whole numbers and later rows text, a column of few distinct values, floats with
    gaps, flags and text to escape."""
    n = 100
    rows = pd.DataFrame(
        {
            "name": [f"企业{i} <&>" if i % 9 else None for i in range(n)],
            "mixed": [i if i < 60 else f"x{i}" for i in range(n)],
            "class": pd.array(["A", "B", None, "D"] * (n // 4), dtype="string"),
            "score": [np.nan if i % 7 == 0 else i / 3 for i in range(n)],
            "rank": pd.array([i if i % 5 else None for i in range(n)], dtype="Int64"),
            "flag": [bool(i % 2) for i in range(n)],
        }
    )
    headers = list(rows.columns)
    whole = write_sheets([("list", "title", headers, rows)], tmp_path / "whole.xlsx")
    monkeypatch.setattr(xlsx, "_CHUNK_ROWS", 7)  # 100 rows: 14 chunks of 7 and one of 2
    chunked = write_sheets([("list", "title", headers, rows)], tmp_path / "chunked.xlsx")
    assert _sheet_members(whole) == _sheet_members(chunked)
    sheet = _sheet_members(chunked)["xl/worksheets/sheet1.xml"].decode("utf-8")
    assert '<c r="B3"><v>0</v></c>' not in sheet  # "mixed" is text in every row: 0 too
    assert '<c r="B3" t="inlineStr"><is><t>0</t></is></c>' in sheet
    assert "企业1 &lt;&amp;&gt;" in sheet
