"""RFC 7946 GeoJSON: lon/lat WGS 84, no crs member, counter-clockwise exteriors, precision."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from conftest import X0, Y0
from mujun.errors import OutputExistsError
from mujun.io.writers import write_csv, write_geojson


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
