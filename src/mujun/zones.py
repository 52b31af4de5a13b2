"""Consolidation zones, park summaries and cold spots of low yield.

A consolidation zone is a group of underused parcels each within ``zone_gap_m`` (30 m: a road)
of another one of the group, inside one park unless configured otherwise. For each zone:
its parcels, firms, surveyed land, current tax, and the tax if the zone yielded the park's
median tax per mu (the "gain" a redevelopment could aim for), and its share of the park's land.
Zones are ranked by gain, then by area.

Cold spots: local Moran's I (esda) of tax per mu over occupied parcels, neighbours being
parcels within ``zone_gap_m`` (parcels are separated by roads, so plain contiguity would miss
most neighbours); low-low clusters with a pseudo p-value under ``cold_spot_p`` are cold spots.
The pseudo p-values are esda's conditional randomisation, reproduced vectorised (same draws,
same values) because esda runs it as a Python loop over parcels when numba is absent.

No step loops over parcels or zones in Python: zones are built by grouped array operations
(per-zone sums and unions taken over all zones of one size at once, so that they round and
union exactly as a zone on its own would).

The randomisation is kept over calling esda's ``Moran_Local`` because it is measured faster:
``bench/lisa.py`` (esda 2.9x as long at 10,000 parcels, same p-values; docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from scipy.sparse import coo_matrix, csr_array
from scipy.sparse.csgraph import connected_components

from mujun.config import UnderuseConfig
from mujun.join import positions
from mujun.schema import MU_M2
from mujun.sums import Grouped, group_nansums, grouped_sums

PUBLIC_REASONS = ("vacant", "unused_buildings", "low_coverage", "low_far")
"""Underuse reasons that tell nothing about a firm's tax, value added, revenue or score: the
only ones a public map shows or derives anything from (a parcel underused only for low tax
or class D would tell the reader the firm pays below the floor)."""

__all__ = ["PUBLIC_REASONS", "cold_spots", "consolidation_zones", "park_summary", "public_underuse"]

logger = logging.getLogger(__name__)

_OUTSIDE = "（园区外）"  # the same label as mujun.tables.OUTSIDE_PARKS


def _components(geoms: np.ndarray, groups: np.ndarray, gap: float) -> np.ndarray:
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="dwithin", distance=gap)
    same = groups[left] == groups[right]
    n = len(geoms)
    graph = coo_matrix((np.ones(int(same.sum())), (left[same], right[same])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _park_of(parcels: pd.DataFrame) -> pd.Series:
    return (
        parcels["park"].astype("string").fillna(_OUTSIDE)
        if "park" in parcels
        else pd.Series(_OUTSIDE, index=parcels.index, dtype="string")
    )


def consolidation_zones(
    parcels: gpd.GeoDataFrame, *, cfg: UnderuseConfig, rank_by: str = "gain"
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Zones of underused parcels; returns ``(zones, zone_id per parcel)``.

    ``parcels`` (projected CRS) needs ``parcel_id``, ``underused``, ``underuse_reasons``,
    ``area_m2``, ``tax`` (yuan, apportioned), ``tax_per_mu``, ``vacant``, ``enterprises`` and
    optionally ``park``. A zone has at least ``cfg.zone_min_parcels`` parcels. Zones are
    numbered (Z0001 ...) and ranked by the tax they would gain at the park median, then area;
    ``rank_by="area"``: by area only (a public map, whose zone numbers must not tell anything
    about tax).
    """
    park = _park_of(parcels)
    vacant = parcels["vacant"].to_numpy(dtype=bool)
    median = parcels["tax_per_mu"][~vacant].groupby(park[~vacant]).median()
    park_land = grouped_sums(parcels["area_m2"].groupby(park), parcels["area_m2"])
    at = np.flatnonzero(parcels["underused"].astype(bool).to_numpy())  # underused parcels
    # in the order of their ids, so that zones, their numbers and outlines do not depend on
    # the order of the parcel layer
    at = at[_id_order(parcels["parcel_id"], at)]
    zone_of = pd.Series(pd.NA, index=parcels.index, dtype="string")
    if not len(at):
        return gpd.GeoDataFrame(geometry=[], crs=parcels.crs), zone_of
    columns = ["parcel_id", "area_m2", "tax", "vacant", "enterprises", "underuse_reasons"]
    under = parcels[[*columns, parcels.geometry.name]].iloc[at]
    park_at = park.iloc[at].to_numpy()
    groups = park_at if cfg.zones_within_parks else np.zeros(len(under), dtype=object)
    label = _components(under.geometry.array, groups, cfg.zone_gap_m)
    # a lone underused parcel is a redevelopment case, not a zone to consolidate
    big = np.bincount(label)[label] >= max(cfg.zone_min_parcels, 1)
    if not big.all():
        under, park_at = under.iloc[np.flatnonzero(big)], park_at[big]
        label = np.unique(label[big], return_inverse=True)[1].ravel()
    if not len(label):
        return gpd.GeoDataFrame(geometry=[], crs=parcels.crs), zone_of
    # parcels grouped by zone (labels 0..n-1), in their original order within a zone
    order = np.argsort(label, kind="stable")
    data = under.iloc[order].assign(_park=park_at[order])
    data = data.reset_index(drop=True)
    table = _zone_table(data, label[order], median, park_land)
    zones = gpd.GeoDataFrame(table, geometry="geometry", crs=parcels.crs)
    by = ["gain_wan", "area_mu"] if rank_by == "gain" else ["area_mu"]
    zones = zones.sort_values(by, ascending=False, kind="stable")
    rank = np.empty(len(zones), dtype="int64")
    rank[zones.index.to_numpy()] = np.arange(1, len(zones) + 1)
    zones = zones.reset_index(drop=True)
    zones.insert(0, "zone_id", "Z" + pd.Series(zones.index + 1).astype(str).str.zfill(4))
    zones.insert(1, "rank", np.arange(1, len(zones) + 1))
    # as if assigned zone by zone in rank order: a parcel id in two zones ends in the later one
    member = pd.Series(rank[label[order]], index=data["parcel_id"]).sort_values(kind="stable")
    member = member[~member.index.duplicated(keep="last")]
    found = positions(parcels["parcel_id"], member.index)
    zone_rank = np.append(member.to_numpy(), 0)[found]  # 0: in no zone
    names = pa.array(zones["zone_id"].array, type=pa.large_string())
    taken = names.take(pa.array(np.maximum(zone_rank - 1, 0), mask=zone_rank == 0))
    zone_of = pd.Series(pd.array(taken, dtype="string"), index=parcels.index)
    logger.info("%d consolidation zones from %d underused parcels", len(zones), len(at))
    return zones, zone_of


def _id_order(ids: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The order of ``rows`` (positions in ``ids``) by their parcel id, in text order."""
    text = pa.array(ids.astype(str).to_numpy(dtype=object)[rows], type=pa.string())
    return np.asarray(pc.sort_indices(text), dtype=np.int64)


def _zone_table(
    data: pd.DataFrame, zone: np.ndarray, median: pd.Series, park_land: pd.Series
) -> pd.DataFrame:
    """One row per zone label (0..n-1) from ``data`` sorted by its zone label ``zone``."""
    n = int(zone[-1]) + 1
    size = np.bincount(zone, minlength=n)
    park = data["_park"].to_numpy()[np.cumsum(size) - size].astype(str)
    area_m2 = _segment_sums(data["area_m2"], zone, n)
    area_mu = area_m2 / MU_M2
    tax_wan = _segment_sums(data["tax"].fillna(0), zone, n) / 1e4
    vacant = data["vacant"].to_numpy(dtype=bool)
    target = median.reindex(park).to_numpy(dtype="float64")
    firms, n_firms = _firms(data["enterprises"], zone, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        potential = np.where(np.isfinite(target), target * area_mu, np.nan)
        return pd.DataFrame(
            {
                "park": park,
                "n_parcels": size,
                "parcel_ids": _sorted_join(data["parcel_id"], zone, n),
                "n_enterprises": n_firms,
                "enterprises": firms,
                "area_mu": area_mu,
                "vacant_mu": _segment_sums(data["area_m2"][vacant], zone[vacant], n) / MU_M2,
                "tax_wan": tax_wan,
                "tax_per_mu": np.where(area_mu != 0, tax_wan / area_mu, np.nan),
                "park_median_tax_per_mu": target,
                "potential_tax_wan": potential,
                "gain_wan": np.where(np.isfinite(potential), potential - tax_wan, np.nan),
                "share_of_park_land": area_m2 / park_land.reindex(park).to_numpy(dtype="float64"),
                "reasons": _reasons(data["underuse_reasons"], zone, n),
                "geometry": _by_size(np.asarray(data.geometry.array), zone, n, shapely.union_all),
            }
        )


def _by_size(values: np.ndarray, zone: np.ndarray, n: int, func: Callable) -> np.ndarray:
    """``func(block, axis=1)`` over the ``values`` (sorted by ``zone``) of each zone, zones of
    one size at a time: row for row the same as ``func`` on each zone's values alone."""
    size = np.bincount(zone, minlength=n)
    start = np.cumsum(size) - size
    out = np.zeros(n, dtype=values.dtype)
    for k in np.unique(size[size > 0]):  # over distinct zone sizes, a handful
        rows = np.flatnonzero(size == k)
        out[rows] = func(values[start[rows, None] + np.arange(k)], axis=1)
    return out


def _segment_sums(values: pd.Series, zone: np.ndarray, n: int) -> np.ndarray:
    """Per-zone sums of ``values`` (NaN as 0), correctly rounded (:mod:`mujun.sums`)."""
    return group_nansums(zone, values.to_numpy(dtype="float64", na_value=np.nan), n)


def _join(texts: pd.Series | pa.Array, zone: np.ndarray, n: int, sep: str) -> np.ndarray:
    """``sep.join`` of ``texts`` (sorted by ``zone``) per zone; ``""`` for zones without."""
    offsets = np.concatenate([[0], np.cumsum(np.bincount(zone, minlength=n))])
    values = (
        texts.cast(pa.large_string())
        if isinstance(texts, pa.Array)
        else pa.array(texts.to_numpy(dtype=object), type=pa.large_string())
    )
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), values)
    return np.asarray(
        pc.binary_join(lists, pa.scalar(sep, type=pa.large_string())).to_numpy(
            zero_copy_only=False
        ),
        dtype=object,
    )


def _sorted_join(texts: pd.Series, zone: np.ndarray, n: int) -> np.ndarray:
    frame = pd.DataFrame({"zone": zone, "text": texts.to_numpy()}).sort_values(["zone", "text"])
    return _join(frame["text"], frame["zone"].to_numpy(), n, "、")


def _firms(enterprises: pd.Series, zone: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct firms per zone, sorted and joined, and their count."""
    listed = enterprises.notna().to_numpy()
    firms = pd.DataFrame({"zone": zone[listed], "firm": enterprises[listed].astype(str).to_numpy()})
    firms["firm"] = firms["firm"].str.split("、")
    firms = firms.explode("firm").drop_duplicates().sort_values(["zone", "firm"])
    codes = firms["zone"].to_numpy(dtype="int64")
    return _join(firms["firm"], codes, n, "、"), np.bincount(codes, minlength=n)


def _reasons(reasons: pd.Series, zone: np.ndarray, n: int) -> np.ndarray:
    """``"reason count"`` per zone, most frequent first, ties in order of first mention."""
    lists = pc.split_pattern(pa.array(reasons, type=pa.large_string(), from_pandas=True), "; ")
    flat = pc.list_flatten(lists).dictionary_encode()
    code = flat.indices.to_numpy().astype(np.int64)
    named = pc.not_equal(flat.dictionary, "").to_numpy(zero_copy_only=False)[code]
    mention = np.flatnonzero(named)  # the reasons mentioned, in order, but empty ones
    # each (zone, reason) pair: its first mention and its number of mentions
    zone_of = zone[pc.list_parent_indices(lists).to_numpy()[mention]]
    pair = zone_of * len(flat.dictionary) + code[mention]
    _, first, count = np.unique(pair, return_index=True, return_counts=True)
    order = np.lexsort((first, -count, zone_of[first]))
    text = pc.binary_join_element_wise(
        flat.dictionary.take(pa.array(code[mention][first][order])),
        pa.array(count[order]).cast(pa.large_string()),
        pa.scalar(" ", type=pa.large_string()),
    )
    return _join(text, zone_of[first][order], n, "; ")


def park_summary(parcels: pd.DataFrame, zones: pd.DataFrame) -> pd.DataFrame:
    """Per park in the evaluation year: land, occupancy, underused share and zone potential."""
    park = _park_of(parcels)
    data = parcels.assign(
        _park=park,
        _mu=parcels["area_m2"] / MU_M2,
        _under_mu=parcels["area_m2"].where(parcels["underused"], 0) / MU_M2,
    )
    grouped = data.groupby("_park")
    sums = Grouped(grouped)
    out = pd.DataFrame(
        {
            "parcels": grouped.size(),
            "parcel_land_mu": sums.sum(data["_mu"]),
            "vacant_parcels": grouped["vacant"].sum(),
            "underused_parcels": grouped["underused"].sum(),
            "underused_mu": sums.sum(data["_under_mu"]),
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


def within_pairs(geoms: np.ndarray, distance: float, *, parts: int = 2) -> np.ndarray:
    """``STRtree(geoms).query(geoms, predicate="dwithin", distance=distance)``: the same
    pairs in the same order, the queries split into ``parts`` threads (GEOS lets go of the
    GIL while it searches; at 900,000 parcels the search took 5 s in one)."""
    tree = shapely.STRtree(geoms)
    if len(geoms) < 10_000 or parts < 2:
        return tree.query(geoms, predicate="dwithin", distance=distance)
    cuts = np.linspace(0, len(geoms), parts + 1).astype(int)

    def part(k: int) -> np.ndarray:
        found = tree.query(geoms[cuts[k] : cuts[k + 1]], predicate="dwithin", distance=distance)
        found[0] += cuts[k]
        return found

    with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="mujun-near") as pool:
        return np.concatenate(list(pool.map(part, range(parts))), axis=1)


def cold_spots(
    parcels: gpd.GeoDataFrame,
    *,
    cfg: UnderuseConfig,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Local Moran's I of tax per mu over occupied parcels; ``cold_spot`` marks low-low
    clusters with p < ``cold_spot_p``. Returns ``moran_i``, ``moran_p``, ``moran_quadrant``,
    ``cold_spot`` aligned to ``parcels.index`` (NaN / False for vacant parcels).

    Neighbours are parcels within ``zone_gap_m`` of each other. ``neighbours`` gives them as
    positions ``(i, j)`` in ``parcels``, both ways round, when they were found elsewhere (the
    dask engine); otherwise they are found here from the geometry."""
    from esda.moran import Moran_Local  # noqa: PLC0415 - heavy import, only when used
    from libpysal.graph import Graph  # noqa: PLC0415

    n = len(parcels)
    moran_i, moran_p = np.full(n, np.nan), np.full(n, np.nan)
    quadrants = np.full(n, pd.NA, dtype=object)
    cold = np.zeros(n, dtype=bool)
    tax = parcels["tax_per_mu"].to_numpy(dtype="float64", na_value=np.nan)
    # positions of the occupied parcels with a tax per mu
    occupied = np.flatnonzero(~parcels["vacant"].to_numpy(dtype=bool) & ~np.isnan(tax))
    # in the order of their ids: the draws go to the sites in that order, so that the
    # p-values do not depend on the order of the parcel layer
    occupied = occupied[_id_order(parcels["parcel_id"], occupied)]
    linked = np.array([], dtype=np.int64)
    if len(occupied) >= 10:
        if neighbours is None:
            geoms = np.asarray(parcels.geometry.array, dtype=object)[occupied]
            left, right = within_pairs(geoms, cfg.zone_gap_m)
            pairs = left != right
            left, right = left[pairs], right[pairs]
        else:
            # positions in parcels -> positions in occupied (-1: not occupied)
            where = np.full(n, -1, dtype="int64")
            where[occupied] = np.arange(len(occupied))
            left, right = where[neighbours[0]], where[neighbours[1]]
            both = (left >= 0) & (right >= 0) & (left != right)
            left, right = left[both], right[both]
        # parcels with no neighbour within the gap (isolated plots) have no local statistic
        linked = np.unique(left)
    if len(linked) >= 10:
        focal, neighbour = np.searchsorted(linked, left), np.searchsorted(linked, right)
        order = np.lexsort((neighbour, focal))
        # sites 0..m-1 both as focal and as neighbour levels: already in libpysal's canonical
        # order, which it would otherwise restore by two reindexing passes
        canonical = bool(np.bincount(neighbour, minlength=len(linked)).all())
        graph = Graph.from_arrays(
            focal[order], neighbour[order], np.ones(len(order)), is_sorted=canonical
        )
        at = occupied[linked]
        # esda gives the local I and quadrants; its conditional randomisation loops over the
        # parcels in Python unless numba is installed, so the pseudo p-values are computed below
        lisa = Moran_Local(tax[at], graph, permutations=0)
        p_sim = _conditional_p(
            lisa.z, csr_array(lisa.w.sparse), lisa.Is, permutations=cfg.permutations, seed=cfg.seed
        )
        q = np.asarray(lisa.q)
        moran_i[at], moran_p[at] = lisa.Is, p_sim
        quadrants[at] = np.array([pd.NA, "HH", "LH", "LL", "HL"], dtype=object)[q]
        cold[at] = (q == 3) & (p_sim < cfg.cold_spot_p)
        logger.info("cold spots: %d low-low parcels", int(cold.sum()))
    index = parcels.index
    return pd.DataFrame(
        {
            "moran_i": moran_i,
            "moran_p": moran_p,
            "moran_quadrant": pd.Series(quadrants, index=index, dtype=object),  # not str
            "cold_spot": cold,
        },
        index=index,
    )


_BLOCK = 1 << 18  # simulated values held at a time by _conditional_p


def _simulated(
    drawn: np.ndarray, below: np.ndarray, above: np.ndarray, sites: np.ndarray
) -> np.ndarray:
    """The values each of ``sites`` (ascending) gets for its neighbours in each draw: id ``j``
    of "the other sites" is site ``j`` (``below``) for a site after it, site ``j + 1``
    (``above``) for a site at or before it.

    The sites of a block are close together, so most ids are before them all or at or after
    them all: the block is filled with the values of its last site and only the ids between
    its first and last site are set site by site (the sites at or before each such id)."""
    k = drawn.shape[1]
    out = np.empty((len(sites), len(drawn), k))
    out[...] = np.where(drawn >= sites[-1], above, below)
    ids, lifted = drawn.ravel(), above.ravel()
    between = np.flatnonzero((ids >= sites[0]) & (ids < sites[-1]))
    count = np.searchsorted(sites, ids[between], side="right")
    entry = np.repeat(between, count)
    site = np.arange(len(entry)) - np.repeat(np.cumsum(count) - count, count)
    out.reshape(len(sites), -1)[site, entry] = lifted[entry]
    return out


def _conditional_p(
    z: np.ndarray, weights: csr_array, observed: np.ndarray, *, permutations: int, seed: int
) -> np.ndarray:
    """esda's pseudo p-values of local Moran's I by conditional randomisation (its current
    default: directed, folded), vectorised over sites with the same draws and arithmetic, so
    the same values: each site's neighbours are replaced by the first ``k`` of the same
    ``permutations`` draws of other sites, its simulated I counted against the observed."""
    n = len(z)
    card = np.diff(weights.indptr)
    scaling = (n - 1) / (z * z).sum()
    # esda's vec_permutations (as run without numba): max-cardinality ids from the n - 1
    # other sites, without replacement, once per permutation from the seeded legacy generator.
    # Each draw shuffles all n - 1 ids (O(n)): the larger part of this function's time.
    rng = np.random.RandomState(seed)  # the legacy stream esda draws from
    # .copy(): choice returns a view of a whole permutation of n - 1 ids, which np.stack
    # would otherwise keep alive for every draw at once (2 GB at 1,000,000 parcels)
    ids = np.stack(
        [rng.choice(n - 1, size=card.max(), replace=False).copy() for _ in range(permutations)]
    )
    larger = np.zeros(n, dtype="int64")
    for k in np.unique(card):  # sites by neighbour count: a handful of counts
        rows = np.flatnonzero(card == k)
        drawn = ids[:, :k]
        below, above = z[drawn], z[drawn + 1]
        step = max(1, _BLOCK // (permutations * int(k)))
        for start in range(0, len(rows), step):
            block = rows[start : start + step]
            others = _simulated(drawn, below, above, block)
            w = weights.data[weights.indptr[block, None] + np.arange(k)][:, :, None]
            # a matrix-vector product per site, as esda's (zrand @ weights): the same rounding
            lag = np.matmul(others, w)[..., 0]
            larger[block] = (z[block, None] * lag * scaling >= observed[block, None]).sum(axis=1)
    larger = np.minimum(larger, permutations - larger)
    return (larger + 1.0) / (permutations + 1.0)


def public_underuse(
    parcels: gpd.GeoDataFrame, *, cfg: UnderuseConfig
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The parcels and zones a public map may show: ``underused``, ``underuse_reasons`` and
    ``zone_id`` derived from :data:`PUBLIC_REASONS` alone, the zones of those parcels ranked
    and numbered by area, with no tax or gain columns."""
    flags = [f"flag_{r}" for r in PUBLIC_REASONS if f"flag_{r}" in parcels]
    out = parcels.drop(columns=[c for c in parcels.columns if c.startswith("flag_")])
    for col in flags:
        out[col] = parcels[col]
    marked = np.zeros(len(parcels), dtype=bool)
    for col in flags:
        marked |= parcels[col].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out["underused"] = marked
    if "underuse_reasons" in parcels:
        reasons = (
            parcels["underuse_reasons"]
            .astype(object)
            .where(parcels["underuse_reasons"].notna(), "")
        )
        kept = reasons.map(
            lambda r: "; ".join(c for c in str(r).split("; ") if c in PUBLIC_REASONS)
        )
        out["underuse_reasons"] = kept.where(kept != "", None).astype("string")
    if "tax" not in out or "tax_per_mu" not in out:
        return out, gpd.GeoDataFrame(geometry=[], crs=parcels.crs)
    zones, zone_of = consolidation_zones(out, cfg=cfg, rank_by="area")
    out["zone_id"] = zone_of
    keep = [
        c for c in ("zone_id", "rank", "park", "n_parcels", "area_mu", "geometry") if c in zones
    ]
    return out, zones[keep]
