"""Every record accounted for: the fates of the parcels and filings once joined, the ledger
reasons of firms whose land is not evaluated, and the money check (money in = money out +
money set aside; the money on land = the parcels' money).

A run that cannot account for every yuan stops (:class:`~mujun.errors.ReconciliationError`)
rather than write figures that do not add up.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.config import Config
from mujun.errors import ReconciliationError
from mujun.indicators import MONEY
from mujun.io.readers import NO_YEAR
from mujun.join import Occupancy, isin_values, positions
from mujun.sums import exact_nansum
from mujun.validate import Ledger

__all__ = ["note_not_evaluated", "reconcile_money", "settle_fates"]


def settle_fates(
    ledger: Ledger,
    sources: tuple[str, str],
    *,
    parcels: gpd.GeoDataFrame,
    filings: pd.DataFrame,
    occ: Occupancy,
    year: int,
) -> None:
    """Give every parcel feature and filing row not yet settled its fate and reason."""
    p_src, f_src = sources  # the parcel layer and the filings
    occupied = occ.links.loc[occ.links["year"] == year, "parcel_id"]
    vacant = ~isin_values(parcels["parcel_id"], occupied)
    of_year = "" if year == NO_YEAR else f" in {year}"  # a table without years
    ledger.set_fate(p_src, parcels.loc[~vacant, "record"], "used", "occupied" + of_year)
    used_other = (
        parcels.loc[vacant, "parcel_id"].map(_other_years(occ.links, year)).astype("string")
    )
    reasons = ("no filing names it" if year == NO_YEAR else f"no filing of {year} names it") + (
        " (used in " + used_other + ")"
    ).fillna("")
    ledger.set_fate(
        p_src,
        parcels.loc[vacant, "record"],
        "vacant",
        reasons.astype("string"),
        check="vacant parcel",
    )

    status = occ.land_status
    records = filings["record"]
    orphan = (status == "orphan").to_numpy()
    ledger.set_fate(
        f_src,
        records[orphan],
        "orphan",
        ("listed parcels not in the parcel layer: " + occ.missing[orphan]).astype("string"),
        check="orphan: no listed parcel exists",
    )
    lessee = (status == "lessee").to_numpy()
    ledger.set_fate(
        f_src,
        records[lessee],
        "used",
        "lessee: lists no parcel; evaluated on the list of firms without land",
        check="lessee (lists no parcel)",
    )
    landed = ~(orphan | lessee)
    ledger.set_fate(
        f_src,
        records[landed],
        "used",
        ("land unit " + occ.unit[landed].astype(str)).astype("string"),
    )
    partial = landed & (occ.missing != "").to_numpy()
    ledger.note(
        f_src,
        records[partial],
        ("parcels not found: " + occ.missing[partial]).astype("string"),
        check="some listed parcels do not exist",
    )


def _other_years(links: pd.DataFrame, year: int) -> pd.Series:
    """Per parcel used in other years than ``year``: those years, sorted, as "2016, 2019"."""
    pairs = (
        links.loc[links["year"] != year, ["parcel_id", "year"]]
        .drop_duplicates()
        .sort_values(["parcel_id", "year"], kind="stable")
    )
    ids = pairs["parcel_id"].to_numpy(dtype=object)
    if not len(ids):
        return pd.Series([], dtype="string")
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    offsets = pa.array(np.r_[starts, len(ids)].astype("int32"))
    years = pa.array(pairs["year"].astype("int64").astype(str).to_numpy(dtype=object), pa.string())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, years), ", ")
    return pd.Series(joined.to_pylist(), index=ids[starts], dtype="string")


def note_not_evaluated(
    ledger: Ledger,
    source: str,
    filings: pd.DataFrame,
    *,
    enterprises: pd.DataFrame,
    units: pd.DataFrame,
    config: Config,
) -> None:
    """A ledger reason for every firm on land whose unit is not evaluated (land incomplete,
    or no declared area on the declared basis): it is listed, not graded, and out of the
    per-area tables."""
    rows = positions(enterprises["unit"], units.index)
    why = np.append(units["not_evaluated"].to_numpy(dtype=object), "")[rows]
    out = np.flatnonzero(pd.notna(why) & (why != ""))
    if len(out) == 0:
        return
    hint = (
        'give each firm\'s declared area and set [area] incomplete = "declared", or '
        "add the missing parcels to the layer"
        if config.area.basis == "surveyed"
        else "give the declared area of every parcel"
    )
    reasons = pd.Series(why[out], dtype="string") + (
        "; not graded and left out of the per-area tables (" + hint + ")"
    )
    ledger.note(
        source,
        filings["record"].iloc[out],
        reasons.astype("string"),
        check="land unit not evaluated",
    )


def reconcile_money(
    raw: pd.DataFrame,
    kept: pd.DataFrame,
    *,
    enterprises: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    occ: Occupancy,
    year: int,
    fates: pd.Series,
) -> dict[str, Any]:
    """Money in = money out + money set aside (duplicates, rejects), and parcels = filings."""
    set_aside = raw.loc[raw["record"].map(fates).isin(["duplicate", "rejected"]).to_numpy()]
    result: dict[str, Any] = {}
    for figure in (m for m in MONEY if m in raw):
        total_in = exact_nansum(raw[figure])
        out = exact_nansum(enterprises[figure])
        aside = exact_nansum(set_aside[figure])
        landed = (occ.land_status.isin(["own", "shared"]) & (kept["year"] == year)).to_numpy()
        on_land = exact_nansum(kept.loc[landed, figure])
        on_parcels = exact_nansum(parcels[figure])
        result[figure] = {
            "input_yuan": total_in,
            "enterprises_yuan": out,
            "set_aside_yuan": aside,
            f"on_land_{year}_yuan": on_land,
            f"parcels_{year}_yuan": on_parcels,
        }
        scale = max(abs(total_in), 1.0)
        if abs(total_in - out - aside) > 1e-9 * scale + 0.01:
            raise ReconciliationError(
                f"{figure}: input {total_in:.2f} != output {out:.2f} + set aside {aside:.2f} yuan"
            )
        if abs(on_land - on_parcels) > 1e-9 * scale + 0.01:
            raise ReconciliationError(
                f"{figure} {year}: filings on land {on_land:.2f} != "
                f"parcel total {on_parcels:.2f} yuan"
            )
    return result
