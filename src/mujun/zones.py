"""Consolidation zones, park summaries and cold spots of low yield.

A consolidation zone is a group of underused parcels each within ``zone_gap_m`` (30 m: a road)
of another one of the group, inside one park unless configured otherwise. For each zone:
its parcels, firms, surveyed land, current tax, and the tax if the zone yielded the park's
median tax per mu (the "gain" a redevelopment could aim for), and its share of the park's land.
Zones are ranked by gain, then by area.

Cold spots: local Moran's I (esda) of tax per mu over occupied parcels, neighbours being
parcels within ``zone_gap_m`` (parcels are separated by roads, so plain contiguity would miss
most neighbours); low-low clusters with a pseudo p-value under ``cold_spot_p`` are cold spots.
"""

from __future__ import annotations

import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mujun.config import UnderuseConfig
from mujun.schema import MU_M2

__all__ = ["cold_spots", "consolidation_zones", "park_summary"]

logger = logging.getLogger(__name__)

_OUTSIDE = "（园区外）"  # the same label as mujun.tables.OUTSIDE_PARKS


def _components(geoms: np.ndarray, groups: np.ndarray, gap: float) -> np.ndarray:
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=gap)
    same = groups[left] == groups[right]
    n = len(geoms)
    graph = coo_matrix((np.ones(int(same.sum())), (left[same], right[same])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def consolidation_zones(
    parcels: gpd.GeoDataFrame, *, cfg: UnderuseConfig
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Zones of underused parcels; returns ``(zones, zone_id per parcel)``.

    ``parcels`` (projected CRS) needs ``parcel_id``, ``underused``, ``underuse_reasons``,
    ``area_m2``, ``tax`` (yuan, apportioned), ``tax_per_mu``, ``vacant``, ``enterprises`` and
    optionally ``park``.
    """
    park = (
        parcels["park"].astype("string").fillna(_OUTSIDE)
        if "park" in parcels
        else pd.Series(_OUTSIDE, index=parcels.index, dtype="string")
    )
    median = (
        parcels.loc[~parcels["vacant"]].groupby(park[~parcels["vacant"]])["tax_per_mu"].median()
    )
    park_land = parcels.groupby(park)["area_m2"].sum()
    under = parcels.loc[parcels["underused"].astype(bool)]
    zone_of = pd.Series(pd.NA, index=parcels.index, dtype="string")
    if under.empty:
        return gpd.GeoDataFrame(geometry=[], crs=parcels.crs), zone_of
    groups = (
        park.loc[under.index].to_numpy()
        if cfg.zones_within_parks
        else np.zeros(len(under), dtype=object)
    )
    label = _components(under.geometry.array, groups, cfg.zone_gap_m)
    data = under.assign(_zone=label, _park=park.loc[under.index].to_numpy())
    rows = []
    for _, part in data.groupby("_zone"):
        rows.append(_zone_row(part, median, park_land))
    zones = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=parcels.crs)
    zones = zones.sort_values(["gain_wan", "area_mu"], ascending=False).reset_index(drop=True)
    zones.insert(0, "zone_id", [f"Z{i + 1:04d}" for i in range(len(zones))])
    zones.insert(1, "rank", np.arange(1, len(zones) + 1))
    for zid, ids in zip(zones["zone_id"], zones["parcel_ids"], strict=True):
        zone_of.loc[parcels.index[parcels["parcel_id"].isin(ids.split("、"))]] = zid
    logger.info("%d consolidation zones from %d underused parcels", len(zones), len(under))
    return zones, zone_of


def _zone_row(part: pd.DataFrame, median: pd.Series, park_land: pd.Series) -> dict:
    park = str(part["_park"].iloc[0])
    area_m2 = float(part["area_m2"].sum())
    area_mu = area_m2 / MU_M2
    tax_wan = float(part["tax"].fillna(0).sum()) / 1e4
    target = float(median.get(park, np.nan))
    potential = target * area_mu if np.isfinite(target) else np.nan
    firms = sorted({f for text in part["enterprises"].dropna() for f in str(text).split("、")})
    reasons = pd.Series([r for text in part["underuse_reasons"] for r in text.split("; ") if r])
    return {
        "park": park,
        "n_parcels": len(part),
        "parcel_ids": "、".join(sorted(part["parcel_id"])),
        "n_enterprises": len(firms),
        "enterprises": "、".join(firms),
        "area_mu": area_mu,
        "vacant_mu": float(part.loc[part["vacant"], "area_m2"].sum()) / MU_M2,
        "tax_wan": tax_wan,
        "tax_per_mu": tax_wan / area_mu if area_mu else np.nan,
        "park_median_tax_per_mu": target,
        "potential_tax_wan": potential,
        "gain_wan": potential - tax_wan if np.isfinite(potential) else np.nan,
        "share_of_park_land": area_m2 / float(park_land.get(park, np.nan)),
        "reasons": "; ".join(f"{k} {v}" for k, v in reasons.value_counts().items()),
        "geometry": shapely.union_all(part.geometry.array),
    }


def park_summary(parcels: pd.DataFrame, zones: pd.DataFrame) -> pd.DataFrame:
    """Per park in the evaluation year: land, occupancy, underused share and zone potential."""
    park = (
        parcels["park"].astype("string").fillna(_OUTSIDE)
        if "park" in parcels
        else pd.Series(_OUTSIDE, index=parcels.index, dtype="string")
    )
    data = parcels.assign(
        _park=park,
        _mu=parcels["area_m2"] / MU_M2,
        _under_mu=parcels["area_m2"].where(parcels["underused"], 0) / MU_M2,
    )
    grouped = data.groupby("_park")
    out = pd.DataFrame(
        {
            "parcels": grouped.size(),
            "parcel_land_mu": grouped["_mu"].sum(),
            "vacant_parcels": grouped["vacant"].sum(),
            "underused_parcels": grouped["underused"].sum(),
            "underused_mu": grouped["_under_mu"].sum(),
        }
    )
    out["underused_share"] = out["underused_mu"] / out["parcel_land_mu"]
    if len(zones):
        # zones already above the park median (flagged for coverage or FAR) add no gain
        z = (
            zones.assign(_gain=zones["gain_wan"].clip(lower=0))
            .groupby("park")
            .agg(
                zones=("zone_id", "size"),
                zone_mu=("area_mu", "sum"),
                potential_gain_wan=("_gain", "sum"),
            )
        )
        out = out.join(z)
    out.index.name = "park"
    return out.reset_index()


def cold_spots(parcels: gpd.GeoDataFrame, *, cfg: UnderuseConfig) -> pd.DataFrame:
    """Local Moran's I of tax per mu over occupied parcels; ``cold_spot`` marks low-low
    clusters with p < ``cold_spot_p``. Returns ``moran_i``, ``moran_p``, ``moran_quadrant``,
    ``cold_spot`` aligned to ``parcels.index`` (NaN / False for vacant parcels)."""
    from esda.moran import Moran_Local  # noqa: PLC0415 - heavy import, only when used
    from libpysal.weights import W  # noqa: PLC0415

    out = pd.DataFrame(
        index=parcels.index,
        data={"moran_i": np.nan, "moran_p": np.nan, "moran_quadrant": pd.NA, "cold_spot": False},
    )
    occupied = parcels.loc[~parcels["vacant"] & parcels["tax_per_mu"].notna()]
    if len(occupied) < 10:
        return out
    geoms = occupied.geometry.array
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=cfg.zone_gap_m)
    pairs = left != right
    # parcels with no neighbour within the gap (isolated plots) have no local statistic
    linked = np.unique(left[pairs])
    if len(linked) < 10:
        return out
    position = {int(old): new for new, old in enumerate(linked)}
    neighbours: dict[int, list[int]] = {i: [] for i in range(len(linked))}
    for a, b in zip(left[pairs], right[pairs], strict=True):
        neighbours[position[int(a)]].append(position[int(b)])
    w = W(neighbours, silence_warnings=True)
    w.transform = "r"
    subset = occupied.iloc[linked]
    y = subset["tax_per_mu"].to_numpy(dtype="float64")
    with warnings.catch_warnings():
        # esda announces a future change of its default p-value; ours is its current one
        # (directed, folded conditional randomisation), stated in docs/method.md
        warnings.filterwarnings(
            "ignore", message="The alternative hypothesis", category=DeprecationWarning
        )
        lisa = Moran_Local(y, w, permutations=cfg.permutations, seed=cfg.seed)
    out.loc[subset.index, "moran_i"] = lisa.Is
    out.loc[subset.index, "moran_p"] = lisa.p_sim
    quadrant = pd.Series(np.asarray(lisa.q), index=subset.index).map(
        {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
    )
    out.loc[subset.index, "moran_quadrant"] = quadrant.astype("string")
    out.loc[subset.index, "cold_spot"] = (lisa.q == 3) & (lisa.p_sim < cfg.cold_spot_p)
    logger.info("cold spots: %d low-low parcels", int(out["cold_spot"].sum()))
    return out
