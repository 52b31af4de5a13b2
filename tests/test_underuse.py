"""Coverage, FAR, underuse flags and consolidation zones on hand-made layouts."""

from __future__ import annotations

import importlib.util
import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from esda.moran import Moran_Local
from hypothesis import given
from hypothesis import strategies as st
from libpysal.weights import W
from shapely.geometry import box

from conftest import X0, Y0
from mujun.config import UnderuseConfig
from mujun.schema import MU_M2
from mujun.underuse import _joined_codes, footprint_metrics, storeys, underuse_flags
from mujun.validate import _box_pairs, overlap_pairs
from mujun.zones import _simulated, cold_spots, consolidation_zones, park_summary


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
    cfg = UnderuseConfig(zone_gap_m=30.0, zone_min_parcels=1)
    found, zone_of = consolidation_zones(_layout(gap), cfg=cfg)
    assert len(found) == zones
    assert zone_of.notna().all()
    # by default a zone has two parcels at least: lone parcels are in none
    found, zone_of = consolidation_zones(_layout(gap), cfg=UnderuseConfig(zone_gap_m=30.0))
    assert len(found) == (1 if zones == 1 else 0)
    assert zone_of.notna().sum() == (3 if zones == 1 else 0)


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
    within, _ = consolidation_zones(parcels, cfg=UnderuseConfig(zone_min_parcels=1))
    across, _ = consolidation_zones(parcels, cfg=UnderuseConfig(zones_within_parks=False))
    assert sorted(within["n_parcels"]) == [1, 2]
    within, _ = consolidation_zones(parcels, cfg=UnderuseConfig())
    assert within["n_parcels"].tolist() == [2]  # the lone 西区 parcel makes no zone
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


def _random_layout(seed: int, side: int = 32) -> gpd.GeoDataFrame:
    """A ``side`` x ``side`` grid of 100 m parcels, mostly 10 m apart (long chains: zones of
    one to a few hundred parcels), in bands of two parks and none; shared firms, ties of
    reasons, missing areas."""
    rng = np.random.default_rng(seed)
    n = side * side
    gaps = rng.choice([10.0] * 7 + [45.0], (2, side))
    x = np.concatenate([[0.0], np.cumsum(100 + gaps[0])])[np.arange(n) % side]
    y = np.concatenate([[0.0], np.cumsum(100 + gaps[1])])[np.arange(n) // side]
    vacant = rng.random(n) < 0.3
    area = rng.uniform(1_000, 60_000, n) * 10 ** rng.uniform(-2, 2, n)
    area[rng.random(n) < 0.02] = np.nan
    tax = np.where(vacant, np.nan, rng.uniform(0, 1e7, n))
    firms = ["甲", "乙", "丙", "A公司", "b", ""]
    reasons = ["vacant", "low_tax", "class_d", "low_far", ""]
    return gpd.GeoDataFrame(
        {
            "parcel_id": pd.array(rng.permutation([f"P{i:04d}" for i in range(n)]), "string"),
            "park": pd.array(
                np.array(["东区", "东区", "西区", None])[np.arange(n) * 4 // n], dtype="string"
            ),
            "underused": rng.random(n) < 0.95,
            "underuse_reasons": [
                "; ".join(rng.choice(reasons, rng.integers(0, 4), replace=False)) for _ in range(n)
            ],
            "area_m2": area,
            "tax": tax,
            "tax_per_mu": tax / (area / MU_M2),
            "vacant": vacant,
            "enterprises": pd.array(
                [None if v else "、".join(rng.choice(firms, rng.integers(1, 4))) for v in vacant],
                dtype="string",
            ),
        },
        geometry=[
            box(X0 + a, Y0 + b, X0 + a + 100, Y0 + b + 100) for a, b in zip(x, y, strict=True)
        ],
        crs=4549,
        index=rng.permutation(n) * 3 + 7,
    )


def _one_zone(part: pd.DataFrame, park: str, median: pd.Series, land: pd.Series) -> dict:
    """A zone's row computed from its parcels alone, one zone at a time (the former code):
    sums exact then rounded once (``math.fsum``), the outline the union of the parcels in the
    order of their ids."""
    part = part.sort_values("parcel_id")
    area_m2 = _fsum(part["area_m2"])
    tax_wan = _fsum(part["tax"]) / 1e4
    target = float(median.get(park, np.nan))
    potential = target * (area_m2 / MU_M2) if np.isfinite(target) else np.nan
    firms = sorted({f for text in part["enterprises"].dropna() for f in str(text).split("、")})
    reasons = pd.Series([r for t in part["underuse_reasons"] for r in t.split("; ") if r])
    return {
        "parcel_ids": "、".join(sorted(part["parcel_id"])),
        "n_enterprises": len(firms),
        "enterprises": "、".join(firms),
        "area_mu": area_m2 / MU_M2,
        "vacant_mu": _fsum(part.loc[part["vacant"], "area_m2"]) / MU_M2,
        "tax_wan": tax_wan,
        "park_median_tax_per_mu": target,
        "gain_wan": potential - tax_wan if np.isfinite(potential) else np.nan,
        "share_of_park_land": area_m2 / float(land.get(park, np.nan)),
        "reasons": "; ".join(f"{k} {v}" for k, v in reasons.value_counts().items()),
        "geometry": shapely.to_wkb(shapely.union_all(part.geometry.array)),
    }


def _fsum(values: pd.Series) -> float:
    return math.fsum(values.dropna())


def _nan_as_none(row: dict) -> dict:
    return {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()}


@pytest.mark.parametrize("within", [True, False])
@pytest.mark.parametrize("seed", [0, 4])
def test_zones_equal_the_zone_by_zone_computation(seed, within):
    """Grouped sums, lists, counts of reasons and unions: exactly the values of computing each
    zone from its own parcels (exact sums, the same polygons), in rank order."""
    parcels = _random_layout(seed)
    zones, zone_of = consolidation_zones(parcels, cfg=UnderuseConfig(zones_within_parks=within))
    # zones of more than 8 and 128 parcels: where numpy's pairwise sums change their blocks
    assert zones["n_parcels"].max() > (128 if seed == 0 else 8)
    park = parcels["park"].fillna("（园区外）")
    median = parcels[~parcels["vacant"]].groupby(park[~parcels["vacant"]])["tax_per_mu"].median()
    land = parcels.groupby(park)["area_m2"].agg(_fsum)
    for zone in zones.itertuples():
        part = parcels.loc[(zone_of == zone.zone_id).fillna(False).to_numpy(dtype=bool)]
        want = _one_zone(part, zone.park, median, land)
        got = {k: getattr(zone, k) for k in want if k != "geometry"}
        got["geometry"] = shapely.to_wkb(zone.geometry)
        assert _nan_as_none(got) == _nan_as_none(want), zone.zone_id
    ranked = zones[["gain_wan", "area_mu"]].fillna(-np.inf).to_numpy()
    assert all(tuple(a) >= tuple(b) for a, b in itertools.pairwise(ranked))
    assert zones["rank"].tolist() == list(range(1, len(zones) + 1))
    assert zones["zone_id"].str.fullmatch(r"Z\d{4,}").all()


@pytest.mark.skipif(
    importlib.util.find_spec("numba") is not None, reason="esda with numba draws differently"
)
@pytest.mark.filterwarnings("ignore:The alternative hypothesis:DeprecationWarning")
def test_cold_spot_p_values_equal_esda():
    """The vectorised conditional randomisation gives esda's Moran_Local p-values exactly."""
    parcels = _random_layout(2, side=16)
    got = cold_spots(parcels, cfg=UnderuseConfig(zone_gap_m=160.0, permutations=199, seed=3))
    occupied = parcels[~parcels["vacant"] & parcels["tax_per_mu"].notna()]
    occupied = occupied.sort_values("parcel_id")  # the draws go to the parcels in id order
    assert (np.diff(parcels.index.get_indexer(occupied.index)) < 0).any()  # not the row order
    geoms = occupied.geometry.array
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=160.0)
    keep = left != right
    linked = np.unique(left[keep])
    pos = np.searchsorted(linked, left[keep]), np.searchsorted(linked, right[keep])
    w = W({i: pos[1][pos[0] == i].tolist() for i in range(len(linked))}, silence_warnings=True)
    y = occupied["tax_per_mu"].to_numpy()[linked]
    lisa = Moran_Local(y, w, transformation="r", permutations=199, seed=3)
    assert len(set(w.cardinalities.values())) > 5
    sub = got.loc[occupied.index[linked]]
    np.testing.assert_array_equal(sub["moran_p"].to_numpy(dtype=float), lisa.p_sim)
    np.testing.assert_array_equal(sub["moran_i"].to_numpy(dtype=float), lisa.Is)
    assert sub["cold_spot"].tolist() == ((lisa.q == 3) & (lisa.p_sim < 0.05)).tolist()


@given(
    st.lists(
        st.lists(st.booleans(), min_size=4, max_size=4),
        min_size=0,
        max_size=40,
    )
)
def test_reason_codes_join_the_true_columns_in_order(rows: list[list[bool]]) -> None:
    flags = pd.DataFrame(rows, columns=["vacant", "low_tax", "class_d", "d_streak"], dtype=bool)
    joined = _joined_codes(flags)
    codes = np.array(flags.columns)
    assert joined.tolist() == ["; ".join(codes[np.array(r, dtype=bool)]) for r in rows]


def _pair_layout(seed: int) -> np.ndarray:
    """Boxes, quadrilaterals and thin slivers of very different sizes, some overlapping,
    touching or repeated, one empty and one missing."""
    rng = np.random.default_rng(seed)
    n = 400
    x = X0 + rng.integers(0, 40, n) * 130.0
    y = Y0 + rng.integers(0, 40, n) * 130.0
    w = np.where(rng.random(n) < 0.1, rng.uniform(200, 900, n), 100.0)
    h = np.where(rng.random(n) < 0.1, rng.uniform(0.01, 1, n), 100.0)
    geoms = shapely.box(x, y, x + w, y + h)
    lift, cut = rng.uniform(0, 0.2, n) * h, rng.uniform(0, 0.2, n) * w  # convex: valid
    quads = shapely.polygons(
        np.stack(
            [
                np.c_[x, y + lift],
                np.c_[x + w, y],
                np.c_[x + w - cut, y + h],
                np.c_[x, y + h],
                np.c_[x, y + lift],
            ],
            axis=1,
        )
    )
    geoms = np.where(rng.random(n) < 0.5, quads, geoms)
    geoms[7] = geoms[3]  # a repeated outline
    geoms[11] = shapely.Polygon()
    geoms[13] = None
    return np.asarray(geoms, dtype=object)


def _tree_pairs(geoms: np.ndarray, **query) -> set[tuple[int, int]]:
    left, right = shapely.STRtree(geoms).query(geoms, **query)
    return {(int(a), int(b)) for a, b in zip(left, right, strict=True) if a != b}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlap_pairs_are_the_tree_query(seed):
    geoms = _pair_layout(seed)
    left, right, area = overlap_pairs(geoms)
    want = sorted((a, b) for a, b in _tree_pairs(geoms, predicate="intersects") if a < b)
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == want
    np.testing.assert_array_equal(
        area, shapely.area(shapely.intersection(geoms[left], geoms[right]))
    )


def test_box_pairs_with_a_few_huge_boxes():
    """One box spanning the whole layout makes the grid's cells larger, not millions."""
    rng = np.random.default_rng(5)
    lo = rng.uniform(0, 10_000, (2_000, 2))
    bounds = np.c_[lo, lo + rng.uniform(1, 20, (2_000, 2))]
    bounds[0] = [0, 0, 10_000, 10_000]
    a, b = _box_pairs(bounds, 0.0)
    got = {(min(i, j), max(i, j)) for i, j in zip(a.tolist(), b.tolist(), strict=True)}
    meet = (
        (bounds[:, None, 0] <= bounds[None, :, 2])
        & (bounds[None, :, 0] <= bounds[:, None, 2])
        & (bounds[:, None, 1] <= bounds[None, :, 3])
        & (bounds[None, :, 1] <= bounds[:, None, 3])
    )
    i, j = np.nonzero(np.triu(meet, 1))
    assert len(got) == len(a)
    assert got == set(zip(i.tolist(), j.tolist(), strict=True))


@pytest.mark.parametrize("k", [1, 3, 7])
def test_simulated_neighbours_are_the_site_by_site_choice(k):
    """Each site's values per draw: id j of the other sites is site j before the site and
    site j + 1 from it on, as the np.where over every site did."""
    rng = np.random.default_rng(k)
    z = rng.standard_normal(500)
    drawn = np.stack([rng.choice(499, size=k, replace=False) for _ in range(40)])
    for sites in (np.array([0]), np.arange(0, 500, 7), np.sort(rng.choice(500, 60, False))):
        got = _simulated(drawn, z[drawn], z[drawn + 1], sites)
        want = np.where(drawn >= sites[:, None, None], z[drawn + 1], z[drawn])
        np.testing.assert_array_equal(got, want)


def test_neighbour_pairs_in_threads_are_the_single_query_s():
    """zones.within_pairs splits the dwithin search into threads above 10,000 geometries: the
    pairs and their order must be those of one STRtree query."""
    from mujun.zones import within_pairs  # noqa: PLC0415

    rng = np.random.default_rng(18)
    x, y = rng.uniform(0, 20_000, 30_000), rng.uniform(0, 20_000, 30_000)
    geoms = shapely.box(x, y, x + rng.uniform(5, 80, x.size), y + rng.uniform(5, 80, x.size))
    want = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=30.0)
    got = within_pairs(geoms, 30.0, parts=3)
    assert want.shape[1] > 30_000  # every box is near itself, many near others
    np.testing.assert_array_equal(got, want)
