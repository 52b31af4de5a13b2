from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod
from shapely.geometry import Polygon, box

from conftest import X0, Y0, tiny_parcels
from mujun import geodesy
from mujun.errors import CRSError


def test_gk3_zone_for_changxing_is_epsg_4549():
    assert CRS.from_epsg(4548).name.endswith("CM 117E")
    assert geodesy.gk3_epsg(119.6) == 4549
    assert geodesy.gk3_epsg(120.1) == 4549
    assert geodesy.gk3_epsg(116.4) == 4548  # Beijing: CM 117E


def test_choose_working_crs_for_lonlat_data_in_changxing():
    parcels = tiny_parcels().to_crs(4490)
    assert geodesy.choose_working_crs(parcels).to_epsg() == 4549


def test_choose_working_crs_outside_china_is_utm():
    gdf = gpd.GeoSeries([box(-82.56, 35.59, -82.55, 35.60)], crs=4326)  # Asheville, NC
    assert geodesy.choose_working_crs(gdf).to_epsg() == 32617


def test_web_mercator_and_geographic_refused_for_area():
    with pytest.raises(CRSError, match="Web Mercator"):
        geodesy.choose_working_crs(tiny_parcels(), named="EPSG:3857")
    with pytest.raises(CRSError, match="geographic"):
        geodesy.choose_working_crs(tiny_parcels(), named="EPSG:4490")


def test_missing_crs_error_names_the_likely_crs_and_the_flag():
    bare = tiny_parcels().set_crs(None, allow_override=True)
    with pytest.raises(CRSError) as info:
        geodesy.to_working_crs(bare, geodesy.choose_working_crs(tiny_parcels()), source="p.shp")
    assert "p.shp has no CRS" in str(info.value)
    assert "EPSG:4549" in str(info.value)
    assert "--parcels-crs" in str(info.value)


def test_zone_prefixed_eastings_hint_epsg_4528():
    shifted = tiny_parcels().translate(xoff=40_000_000)
    assert "EPSG:4528" in geodesy.crs_hint(shifted)


def test_plane_area_in_4549_matches_geod_within_a_hundredth_percent():
    parcels = tiny_parcels()
    plane = geodesy.plane_area(parcels.geometry)
    lonlat = parcels.to_crs(4490).geometry
    geod = Geod(ellps="GRS80")
    expected = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in lonlat])
    np.testing.assert_allclose(plane.to_numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(plane.to_numpy(), [1e4, 2e4, 1e4, 2e4, 1e4])
    assert plane.index.equals(parcels.index)


@settings(max_examples=30, deadline=None)
@given(
    lon=st.floats(74, 134),
    lat=st.floats(18, 53),
    size=st.floats(20, 3000),
    skew=st.floats(-0.4, 0.4),
)
def test_ellipsoidal_area_equals_geodesic_area(lon, lat, size, skew):
    # a parcel anywhere in China, beside another 3 degrees away (the projection is centred
    # between them), against pyproj's geodesic area polygon by polygon
    d = size / 111_000
    far = Polygon([(lon + 3, lat), (lon + 3 + d, lat), (lon + 3 + d, lat + d), (lon + 3, lat + d)])
    near = Polygon([(lon, lat), (lon + d, lat + skew * d), (lon + d, lat + d), (lon, lat + d)])
    series = gpd.GeoSeries([near, far], crs=4490)
    geod = Geod(ellps="GRS80")
    expected = [abs(geod.geometry_area_perimeter(g)[0]) for g in series]
    # pyproj's edges are geodesics, these are straight in the projection: 8.5e-7 at worst
    # over 300 random draws of this kind (1e-8 on 100 m parcels)
    np.testing.assert_allclose(geodesy.ellipsoidal_area(series), expected, rtol=1e-6)


def test_area_columns_units():
    cols = geodesy.area_columns(geodesy.plane_area(tiny_parcels().geometry))
    np.testing.assert_allclose(cols["area_mu"], [15, 30, 15, 30, 15])
    np.testing.assert_allclose(cols["area_ha"], [1, 2, 1, 2, 1])
    np.testing.assert_allclose(cols["area_acre"].iloc[0], 10000 / 4046.8564224)


@settings(max_examples=40, deadline=None)
@given(
    dx=st.floats(-20_000, 20_000),
    dy=st.floats(-20_000, 20_000),
    w=st.floats(30, 800),
    h=st.floats(30, 800),
    skew=st.floats(-0.4, 0.4),
)
def test_area_is_invariant_under_reprojection_round_trip(dx, dy, w, h, skew):
    x, y = X0 + dx, Y0 + dy
    poly = Polygon([(x, y), (x + w, y + skew * h), (x + w, y + h), (x, y + h)])
    series = gpd.GeoSeries([poly], crs=4549)
    back = series.to_crs(4490).to_crs(4549)
    np.testing.assert_allclose(geodesy.plane_area(back), geodesy.plane_area(series), rtol=1e-9)
    # and the ellipsoidal area agrees with the plane area within 0.01 % near the CM
    np.testing.assert_allclose(
        geodesy.ellipsoidal_area(series), geodesy.plane_area(series), rtol=1e-4
    )
