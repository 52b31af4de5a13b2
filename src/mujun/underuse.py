"""Underused land: building coverage and FAR, and underuse flags with their reasons.

Coverage (建筑系数) = footprint area inside the parcel / parcel area. FAR (容积率) = Σ footprint
area inside the parcel × counted storeys / parcel area, where a storey higher than 8 m counts
twice (national 工业项目建设用地控制指标, METHOD.md 2.2). Footprints are intersected with parcels in
the working (projected) CRS, so a building across a parcel line counts on each side for its own
part. With a built-up raster instead of footprints, coverage is the parcel's built-up fraction
(:func:`mujun.raster.builtup_fraction`) and FAR is unknown.

Flags (each configurable, all of a parcel's reasons kept):

``vacant``            no enterprise files on it and no building stands on it;
``unused_buildings``  no enterprise files on it but buildings stand on it (idle built land);
``low_coverage``      coverage under ``coverage_min`` (30 %);
``low_far``           FAR under the minimum of its main firm's industry;
``low_tax``           tax per mu under ``tax_floor_per_mu`` (Changxing: 4 万元/亩);
``below_benchmark``   tax per mu under ``benchmark_share`` of the county's;
``class_d``           its firms are in the last class;
``d_streak``          a firm on it has been in the last class ``streak_years`` running.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import CRS

from mujun import geodesy
from mujun.config import Config, UnderuseConfig
from mujun.io.readers import read_buildings
from mujun.join import positions
from mujun.sums import exact_nansum
from mujun.validate import Ledger, reject_unusable
from mujun.zones import cold_spots, consolidation_zones, park_summary

if TYPE_CHECKING:
    from mujun.engine import ParcelEngine

__all__ = [
    "REASONS",
    "building_cover",
    "footprint_metrics",
    "main_firms",
    "storeys",
    "underuse_flags",
    "underused_land",
]

logger = logging.getLogger(__name__)

REASONS: dict[str, tuple[str, str]] = {
    "vacant": ("空置（无企业、无建筑）", "vacant (no firm, no building)"),
    "unused_buildings": ("闲置（无企业、有建筑）", "idle buildings (no firm)"),
    "low_coverage": ("建筑系数偏低", "low building coverage"),
    "low_far": ("容积率低于行业标准", "FAR below the industry minimum"),
    "low_tax": ("亩均税收低于底线", "tax per mu under the floor"),
    "below_benchmark": ("亩均税收低于基准", "tax per mu under the benchmark share"),
    "class_d": ("评价为末档", "in the last class"),
    "d_streak": ("连续末档", "in the last class years running"),
}


def storeys(floors: pd.Series, height: pd.Series, *, double_above_m: float = 8.0) -> pd.Series:
    """Storeys counted for FAR: a storey higher than ``double_above_m`` counts twice.

    With floors and height, storeys are taken as equally high (height / floors). With height
    only, every started ``double_above_m`` of height counts as one storey (a 12 m single-storey
    shed counts 2; a lower bound for multi-storey buildings). With neither, 1.

    Examples
    --------
    >>> storeys(pd.Series([1, 1, 3, None]), pd.Series([6.0, 12.0, 13.5, 12.0])).tolist()
    [1.0, 2.0, 3.0, 2.0]
    """
    f = pd.to_numeric(floors, errors="coerce").astype("float64")
    h = pd.to_numeric(height, errors="coerce").astype("float64")
    per = h / f
    both = np.where(per > double_above_m, 2 * f, f)
    height_only = np.ceil(h / double_above_m)
    out = np.where(
        f.notna() & (f > 0),
        np.where(h.notna(), both, f),
        np.where(h.notna() & (h > 0), height_only, 1.0),
    )
    return pd.Series(out, index=floors.index, dtype="float64")


def footprint_metrics(
    parcels: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *, double_above_m: float = 8.0
) -> pd.DataFrame:
    """Coverage and FAR per parcel from building footprints (both in the same projected CRS).

    ``buildings`` needs ``floors`` and/or ``height`` columns (either may be missing). Returns
    ``built_m2``, ``floor_area_m2``, ``coverage``, ``far``, ``n_buildings`` aligned to
    ``parcels.index``; parcels without buildings get 0.
    """
    counted = storeys(
        buildings.get("floors", pd.Series(np.nan, index=buildings.index)),
        buildings.get("height", pd.Series(np.nan, index=buildings.index)),
        double_above_m=double_above_m,
    )
    p_geoms, b_geoms = parcels.geometry.array, buildings.geometry.array
    b_idx, p_idx = parcels.sindex.query(b_geoms, predicate="intersects")
    part = shapely.area(shapely.intersection(b_geoms[b_idx], p_geoms[p_idx]))
    keep = part > 0
    frame = pd.DataFrame(
        {
            "parcel": p_idx[keep],
            "built": part[keep],
            "floor": part[keep] * counted.to_numpy()[b_idx[keep]],
            "building": b_idx[keep],
        }
    )
    sums = frame.groupby("parcel").agg(
        built_m2=("built", "sum"),
        floor_area_m2=("floor", "sum"),
        n_buildings=("building", "nunique"),
    )
    sums = sums.reindex(range(len(parcels)), fill_value=0)
    sums.index = parcels.index
    area = shapely.area(p_geoms)
    sums["coverage"] = sums["built_m2"] / area
    sums["far"] = sums["floor_area_m2"] / area
    return sums


def underuse_flags(
    parcels: pd.DataFrame,
    *,
    cfg: UnderuseConfig,
    county_tax_per_mu: float,
    last_class: str,
    streaks: pd.Series | None = None,
) -> pd.DataFrame:
    """Underuse reasons per parcel: ``underused`` (bool) and ``underuse_reasons`` (codes).

    ``parcels`` needs ``vacant`` and, where known, ``coverage``, ``far``, ``industry2``,
    ``tax_per_mu``, ``class``; ``streaks`` is the longest last-class streak of the firms on
    each parcel. Each reason is also a boolean column ``flag_<reason>``.
    """
    idx = parcels.index
    vacant = parcels["vacant"].astype(bool)
    coverage = parcels.get("coverage", pd.Series(np.nan, index=idx)).astype("float64")
    built = coverage.fillna(0) > 0
    far = parcels.get("far", pd.Series(np.nan, index=idx)).astype("float64")
    tax = parcels.get("tax_per_mu", pd.Series(np.nan, index=idx)).astype("float64")
    industry = parcels.get("industry2", pd.Series(pd.NA, index=idx)).astype("string")
    far_min = industry.map({str(k): float(v) for k, v in cfg.far_min.items()}).astype("float64")
    flags = pd.DataFrame(index=idx)
    flags["vacant"] = vacant & ~built
    flags["unused_buildings"] = vacant & built
    flags["low_coverage"] = ~vacant & (coverage < cfg.coverage_min)
    flags["low_far"] = ~vacant & (far < far_min)
    flags["low_tax"] = ~vacant & (tax < cfg.tax_floor_per_mu) if cfg.tax_floor_per_mu > 0 else False
    share = cfg.benchmark_share * county_tax_per_mu
    flags["below_benchmark"] = ~vacant & (tax < share) if cfg.benchmark_share > 0 else False
    cls = parcels.get("class", pd.Series(pd.NA, index=idx)).astype("string")
    flags["class_d"] = (cls == last_class).fillna(False) if cfg.flag_last_class else False
    streak = streaks.reindex(idx).fillna(0) if streaks is not None else pd.Series(0, index=idx)
    flags["d_streak"] = streak >= cfg.streak_years
    flags = flags.astype(bool)
    out = pd.DataFrame(index=idx)
    out["underused"] = flags.any(axis=1)
    out["underuse_reasons"] = _joined_codes(flags)
    for col in flags:
        out[f"flag_{col}"] = flags[col]
    logger.info(
        "underused parcels: %s of %s (%s)",
        f"{int(out['underused'].sum()):,}",
        f"{len(out):,}",
        ", ".join(f"{k} {int(n):,}" for k, n in flags.sum().items() if n) or "no reason",
    )
    return out


def _joined_codes(flags: pd.DataFrame) -> pd.Series:
    """Per row, the names of the true columns joined by ``"; "`` (column by column, no loop
    over rows): each distinct combination of flags is joined once."""
    codes = list(flags.columns)
    bits = np.zeros(len(flags), dtype=np.int64)
    for i, code in enumerate(codes):
        bits |= flags[code].to_numpy(dtype=bool).astype(np.int64) << i
    combos, which = np.unique(bits, return_inverse=True)
    text = [
        "; ".join(str(code) for i, code in enumerate(codes) if int(combo) >> i & 1)
        for combo in combos
    ]
    return pd.Series(np.array(text, dtype=object)[which.ravel()], index=flags.index, dtype=object)


def building_cover(
    parcels: gpd.GeoDataFrame,
    paths: Mapping[str, Path | None],
    *,
    engine: ParcelEngine,
    ledger: Ledger,
    crs: CRS,
    config: Config,
) -> pd.DataFrame | None:
    """Coverage and FAR from building footprints (``paths["buildings"]``), else coverage from
    a built-up raster (``paths["builtup"]``), else None. With both, footprints measure
    coverage and the raster's value is kept beside it as ``builtup_fraction``, a check."""
    raster = paths.get("builtup")
    path = paths.get("buildings")
    if path is None:
        if raster is None:
            return None
        coverage = engine.builtup_fraction(parcels, raster)
        return pd.DataFrame({"coverage": coverage, "far": np.nan}, index=parcels.index)
    raw = read_buildings(
        path, columns=config.columns.get("buildings"), units=config.units.get("buildings")
    )
    src = path.name
    ledger.register(src, raw["record"], raw["record"].astype(str))
    raw = raw.assign(
        parcel_id=raw["record"].astype(str).astype("string"),
        parcel_id_raw=raw["record"].astype(str).astype("string"),
    )
    usable = reject_unusable(raw, ledger, source=src)
    geodesy.require_crs(usable, source=src, flag="--buildings-crs")
    usable = geodesy.to_working_crs(usable, crs, source=src)
    usable = usable.set_geometry(shapely.make_valid(usable.geometry.array))
    metrics, counted = engine.footprints(
        parcels, usable, double_above_m=config.underuse.storey_double_m, source=src
    )
    ledger.set_fate(
        src, usable.loc[counted, "record"], "used", "counted in its parcel's coverage and FAR"
    )
    ledger.set_fate(
        src,
        usable.loc[~counted, "record"],
        "orphan",
        "outside every parcel",
        check="building outside every parcel",
    )
    ledger.check({src: len(raw)})
    out = metrics[["coverage", "far", "n_buildings"]]
    if raster is not None:
        out = out.assign(builtup_fraction=engine.builtup_fraction(parcels, raster))
    return out


def underused_land(
    parcels: gpd.GeoDataFrame,
    enterprises: pd.DataFrame,
    *,
    links: pd.DataFrame,
    year: int,
    config: Config,
    engine: ParcelEngine,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Underuse flags, consolidation zones and cold spots; the parcels with them, the zones
    and the park land summary."""
    industry2, streaks = main_firms(links, year, parcels, enterprises)
    parcels["industry2"] = industry2
    occupied_mu = exact_nansum(parcels.loc[~parcels["vacant"], "area_mu"])
    county_tax = (
        exact_nansum(parcels["tax"]) / occupied_mu
        if "tax" in parcels and occupied_mu > 0
        else np.nan
    )
    flags = underuse_flags(
        parcels,
        cfg=config.underuse,
        county_tax_per_mu=county_tax,
        last_class=config.classes.labels[-1],
        streaks=streaks,
    )
    parcels = parcels.join(flags)
    if "tax_per_mu" not in parcels:  # e.g. value per acre: no tax to measure a gain by
        empty = gpd.GeoDataFrame(
            {"zone_id": [], "park": [], "area_mu": [], "gain_wan": []}, geometry=[], crs=parcels.crs
        )
        return parcels, empty, park_summary(parcels, empty)
    # zones need the outlines of the underused parcels
    parcels = engine.with_geometry(parcels, parcels["underused"].to_numpy(dtype=bool))
    zones, zone_of = consolidation_zones(parcels, cfg=config.underuse)
    parcels["zone_id"] = zone_of
    if config.underuse.cold_spots:
        neighbours = engine.neighbours(parcels)
        parcels = parcels.join(cold_spots(parcels, cfg=config.underuse, neighbours=neighbours))
    return parcels, zones, park_summary(parcels, zones)


def main_firms(
    links: pd.DataFrame, year: int, parcels: gpd.GeoDataFrame, enterprises: pd.DataFrame
) -> tuple[pd.Series, pd.Series]:
    """Per parcel, the two-digit industry of its firm paying most tax in ``year`` (<NA> if
    vacant) and the longest last-class streak of its firms (NaN if vacant)."""
    rows = np.flatnonzero((links["year"] == year).to_numpy())
    firm = positions(links["filing"].iloc[rows], enterprises.index)
    at = positions(links["parcel_id"].iloc[rows], pd.Index(parcels["parcel_id"]))
    code = pd.Series(enterprises.get("industry", pd.Series(pd.NA, index=enterprises.index)))
    code = code.astype("string").str.replace(r"^[A-Za-z]", "", regex=True).str[:2]
    tax = (
        np.append(enterprises["tax"].to_numpy(dtype="float64"), np.nan)[firm]
        if "tax" in enterprises
        else 0.0
    )
    # the first link of each parcel once sorted by tax, descending (the same sort as before)
    main = pd.DataFrame({"tax": tax, "at": at}).sort_values("tax", ascending=False)
    main = main.drop_duplicates("at")
    main = main.loc[main["at"].to_numpy() >= 0]
    slot = np.full(len(parcels) + 1, -1, dtype=np.int64)
    slot[main["at"].to_numpy()] = firm[main.index.to_numpy()]
    taken = pa.array(code.array).take(pa.array(slot[:-1], mask=slot[:-1] < 0))
    industry2 = pd.Series(pd.array(taken, dtype="string"), index=parcels.index)
    streak = np.append(enterprises["d_streak"].to_numpy(dtype="float64"), np.nan)[firm]
    longest = pd.Series(streak).groupby(at).max()
    longest = longest.loc[longest.index.to_numpy() >= 0]
    streaks = np.full(len(parcels), np.nan)
    streaks[longest.index.to_numpy()] = longest.to_numpy()
    return industry2, pd.Series(streaks, index=parcels.index)
