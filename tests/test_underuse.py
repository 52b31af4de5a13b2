"""Coverage, FAR, underuse flags and consolidation zones on hand-made layouts."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from conftest import X0, Y0
from mujun.config import UnderuseConfig
from mujun.underuse import footprint_metrics, storeys, underuse_flags
from mujun.zones import consolidation_zones, park_summary


def test_storeys_count_double_above_8_m():
    got = storeys(
        pd.Series([1, 1, 2, 4, None, None]), pd.Series([6.0, 12.0, 18.0, 16.0, 9.0, np.nan])
    )
    # 6 m shed 1; 12 m shed 2; 2 storeys of 9 m -> 4; 4 of 4 m -> 4; 9 m height only -> 2; 1
    np.testing.assert_allclose(got, [1, 2, 4, 4, 2, 1])


def test_coverage_and_far_from_hand_made_footprints():
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["A", "B"]},
        geometry=[box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 200, Y0 + 100)],
        crs=4549,
    )
    buildings = gpd.GeoDataFrame(
        {"floors": [1, 3, 1], "height": [12.0, 13.5, 6.0]},
        geometry=[
            box(X0 + 10, Y0 + 10, X0 + 50, Y0 + 60),  # 2000 m², 12 m shed: counts 2
            box(X0 + 60, Y0 + 10, X0 + 90, Y0 + 40),  # 900 m², 3 storeys
            box(X0 + 90, Y0 + 70, X0 + 130, Y0 + 80),
        ],  # 400 m² across A|B, 6 m
        crs=4549,
    )
    got = footprint_metrics(parcels, buildings)
    # A: built 2000 + 900 + 100 = 3000 -> 30 %; floor area 4000 + 2700 + 100 = 6800 -> 0.68
    # B: built 300 -> 3 %; floor area 300 -> 0.03
    np.testing.assert_allclose(got["coverage"], [0.30, 0.03])
    np.testing.assert_allclose(got["far"], [0.68, 0.03])
    assert got["n_buildings"].tolist() == [3, 1]
    assert got.index.equals(parcels.index)


def _layout(gap: float) -> gpd.GeoDataFrame:
    """Three 100 m parcels in a row, ``gap`` metres apart, all underused, one park."""
    geoms = [box(X0 + i * (100 + gap), Y0, X0 + i * (100 + gap) + 100, Y0 + 100) for i in range(3)]
    return gpd.GeoDataFrame(
        {
            "parcel_id": ["P1", "P2", "P3"],
            "park": ["东区"] * 3,
            "underused": [True, True, True],
            "underuse_reasons": ["low_tax", "low_tax; class_d", "vacant"],
            "area_m2": [10_000.0] * 3,
            "tax": [60_000.0, 30_000.0, np.nan],
            "tax_per_mu": [4.0, 2.0, np.nan],
            "vacant": [False, False, True],
            "enterprises": ["甲", "乙", None],
        },
        geometry=geoms,
        crs=4549,
    )


@pytest.mark.parametrize(("gap", "zones"), [(29.9, 1), (30.0, 1), (30.1, 3)])
def test_zone_merging_at_the_gap_threshold(gap, zones):
    found, zone_of = consolidation_zones(_layout(gap), cfg=UnderuseConfig(zone_gap_m=30.0))
    assert len(found) == zones
    assert zone_of.notna().all()


def test_zone_gain_arithmetic():
    parcels = _layout(20.0)
    # a fourth, healthy parcel in the park sets the park median with P1 and P2: 2, 4, 10 -> 4
    extra = gpd.GeoDataFrame(
        {
            "parcel_id": ["P4"],
            "park": ["东区"],
            "underused": [False],
            "underuse_reasons": [""],
            "area_m2": [10_000.0],
            "tax": [150_000.0],
            "tax_per_mu": [10.0],
            "vacant": [False],
            "enterprises": ["丙"],
        },
        geometry=[box(X0, Y0 + 500, X0 + 100, Y0 + 600)],
        crs=4549,
    )
    zones, zone_of = consolidation_zones(
        pd.concat([parcels, extra], ignore_index=True), cfg=UnderuseConfig()
    )
    zone = zones.iloc[0]
    assert zone["n_parcels"] == 3
    assert zone["area_mu"] == pytest.approx(45.0)
    assert zone["tax_wan"] == pytest.approx(9.0)
    assert zone["park_median_tax_per_mu"] == pytest.approx(4.0)
    assert zone["potential_tax_wan"] == pytest.approx(180.0)
    assert zone["gain_wan"] == pytest.approx(171.0)
    assert zone["share_of_park_land"] == pytest.approx(0.75)
    assert zone["vacant_mu"] == pytest.approx(15.0)
    assert zone["enterprises"] == "乙、甲"
    assert "low_tax 2" in zone["reasons"]
    assert pd.isna(zone_of.iloc[3])


def test_zones_stay_inside_parks_unless_configured():
    parcels = _layout(10.0)
    parcels.loc[2, "park"] = "西区"
    within, _ = consolidation_zones(parcels, cfg=UnderuseConfig())
    across, _ = consolidation_zones(parcels, cfg=UnderuseConfig(zones_within_parks=False))
    assert sorted(within["n_parcels"]) == [1, 2]
    assert across["n_parcels"].tolist() == [3]


def test_flags_carry_every_reason():
    parcels = pd.DataFrame(
        {
            "vacant": [True, True, False, False],
            "coverage": [0.0, 0.2, 0.25, 0.5],
            "far": [0.0, 0.2, 0.5, 1.2],
            "industry2": ["38", "38", "38", "39"],
            "tax_per_mu": [np.nan, np.nan, 3.0, 20.0],
            "class": [pd.NA, pd.NA, "D", "A"],
        }
    )
    cfg = UnderuseConfig(far_min={"38": 0.7, "39": 1.0})
    got = underuse_flags(
        parcels, cfg=cfg, county_tax_per_mu=10.0, last_class="D", streaks=pd.Series([0, 0, 3, 0])
    )
    assert got["underuse_reasons"].tolist() == [
        "vacant",
        "unused_buildings",
        "low_coverage; low_far; low_tax; class_d; d_streak",
        "",
    ]
    assert got["underused"].tolist() == [True, True, True, False]
    half = underuse_flags(
        parcels,
        cfg=UnderuseConfig(benchmark_share=0.5, tax_floor_per_mu=0),
        county_tax_per_mu=10.0,
        last_class="D",
    )
    assert half["flag_below_benchmark"].tolist() == [False, False, True, False]


def test_park_summary_shares():
    parcels = _layout(10.0)
    zones, _ = consolidation_zones(parcels, cfg=UnderuseConfig())
    summary = park_summary(parcels, zones).set_index("park")
    assert summary.loc["东区", "underused_share"] == pytest.approx(1.0)
    assert summary.loc["东区", "zones"] == 1
