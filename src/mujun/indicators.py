"""Per-area indicators on surveyed land: land units, enterprises and parcels.

All money is in yuan and all area in m² inside; ``display`` converts yuan/m² to the display
unit (万元/亩 by default: 1 万元/亩 = 15 元/m²). Functions return new frames aligned to their
input and never mutate it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mujun.join import Occupancy
from mujun.schema import ACRE_M2, MU_M2

__all__ = [
    "MONEY",
    "QUANTITIES",
    "DisplayUnit",
    "display_unit",
    "enterprise_indicators",
    "evaluation_basis",
    "parcel_indicators",
    "unit_table",
]

MONEY = ("tax", "value_added", "revenue", "assessed_value")
"""Money figures reported per unit of surveyed land."""

QUANTITIES = (
    "tax",
    "value_added",
    "revenue",
    "assessed_value",
    "rd_spend",
    "employees",
    "energy_tce",
    "electricity_kwh",
    "emissions",
)
"""Additive quantities of a filing: a land unit's value is the sum over its firms."""


@dataclass(frozen=True)
class DisplayUnit:
    """A per-area money unit: label, column suffix, and factor from yuan/m²."""

    label: str
    suffix: str
    factor: float

    def column(self, figure: str) -> str:
        """Column name of ``figure`` per area, e.g. ``tax_per_mu``."""
        return f"{figure}_{self.suffix}"


_DISPLAY = {
    "万元/亩": DisplayUnit("万元/亩", "per_mu", MU_M2 / 1e4),
    "元/m2": DisplayUnit("元/m²", "per_m2", 1.0),
    "万元/公顷": DisplayUnit("万元/公顷", "per_ha", 1.0),
    "USD/acre": DisplayUnit("USD/acre", "per_acre", ACRE_M2),
}


def display_unit(name: str) -> DisplayUnit:
    """The :class:`DisplayUnit` called ``name``.

    Known units: ``万元/亩`` (default), ``元/m2``, ``万元/公顷``, ``USD/acre``.

    Examples
    --------
    >>> u = display_unit("万元/亩")
    >>> u.column("tax"), u.factor * 15  # 15 元/m² is 1 万元/亩
    ('tax_per_mu', 1.0)
    """
    try:
        return _DISPLAY[name]
    except KeyError:
        raise ValueError(
            f"unknown display unit {name!r}; use one of {', '.join(_DISPLAY)}"
        ) from None


def _per_area(money: pd.Series, area_m2: pd.Series, unit: DisplayUnit) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        values = money.to_numpy(dtype="float64") / area_m2.to_numpy(dtype="float64")
    values[~np.isfinite(values)] = np.nan
    return pd.Series(values * unit.factor, index=money.index)


def unit_table(
    occ: Occupancy, filings: pd.DataFrame, area_m2: pd.Series, unit: DisplayUnit
) -> pd.DataFrame:
    """One row per land unit: parcels, enterprises, surveyed area, money and per-area figures.

    ``area_m2`` is the surveyed area indexed by ``parcel_id``.
    """
    links = occ.links
    parcels = links.drop_duplicates(["unit", "parcel_id"])
    area = parcels.assign(area_m2=parcels["parcel_id"].map(area_m2)).groupby("unit")["area_m2"]
    firms = links.drop_duplicates(["unit", "filing"])
    present = [c for c in QUANTITIES if c in filings]
    money = (
        filings.loc[firms["filing"], present]
        .set_axis(firms.index)
        .assign(unit=firms["unit"])
        .groupby("unit")[present]
        .sum(min_count=1)
    )
    table = pd.DataFrame(
        {
            "year": firms.groupby("unit")["year"].first(),
            "n_enterprises": firms.groupby("unit").size(),
            "n_parcels": parcels.groupby("unit").size(),
            "area_m2": area.sum(),
        }
    )
    table = table.join(money)
    for figure in (m for m in MONEY if m in present):
        table[unit.column(figure)] = _per_area(table[figure], table["area_m2"], unit)
    table.index.name = "unit"
    return table


def evaluation_basis(filings: pd.DataFrame, occ: Occupancy, units: pd.DataFrame) -> pd.DataFrame:
    """The quantities each enterprise-year is evaluated on, aligned to ``filings``.

    A firm on land is evaluated on its land unit (sums over the unit's firms, the unit's
    surveyed area); a lessee or orphan on its own figures, without area. ``unit_key``
    identifies the evaluated entity (each land unit once in averages); ``own_electricity_kwh``
    is the firm's own use, for its electricity surcharge.
    """
    present = [c for c in QUANTITIES if c in filings]
    basis = filings[present].astype("float64").copy()
    landed = occ.unit.notna().to_numpy()
    for col in present:
        basis.loc[landed, col] = occ.unit[landed].map(units[col]).astype("float64").to_numpy()
    area = occ.unit.map(units["area_m2"]).astype("float64")
    basis["area_m2"] = area
    basis["area_mu"] = area / MU_M2
    basis["area_acre"] = area / ACRE_M2
    basis["unit_key"] = occ.unit.astype("string").fillna(
        pd.Series("F" + filings.index.astype(str), index=filings.index)
    )
    if "electricity_kwh" in filings:
        basis["own_electricity_kwh"] = filings["electricity_kwh"]
    return basis


def enterprise_indicators(
    filings: pd.DataFrame, occ: Occupancy, units: pd.DataFrame, unit: DisplayUnit
) -> pd.DataFrame:
    """Enterprise-year table: identity, land status, evaluated area, per-area figures.

    ``area_mu`` is the surveyed area of the enterprise's land unit: its own parcels, or the
    combined parcels of a shared unit, whose per-area result all its enterprises share.
    Lessees and orphans have no area and no per-area figures.
    """
    keep = [
        c
        for c in ("uscc", "uscc_check", "name", "year", "industry", "scale", "above_scale")
        if c in filings
    ]
    out = filings[keep].copy()
    out["parcel_ids"] = filings["parcel_ids"].map("、".join)
    out["land_status"] = occ.land_status
    out["missing_parcels"] = occ.missing
    out["unit"] = occ.unit
    out["unit_enterprises"] = occ.unit.map(units["n_enterprises"]).astype("Int64")
    area = occ.unit.map(units["area_m2"]).astype("float64")
    out["area_m2"] = area
    out["area_mu"] = area / MU_M2
    if "declared_area" in filings:
        out["declared_area_mu"] = filings["declared_area"] / MU_M2
    present = [c for c in MONEY if c in filings]
    for figure in present:
        out[figure] = filings[figure]
        out[unit.column(figure)] = occ.unit.map(units[unit.column(figure)]).astype("float64")
    for extra in (
        "rd_spend",
        "employees",
        "energy_tce",
        "electricity_kwh",
        "emissions",
        "data_flags",
    ):
        if extra in filings:
            out[extra] = filings[extra]
    return out


def parcel_indicators(
    parcels: pd.DataFrame,
    occ: Occupancy,
    units: pd.DataFrame,
    filings: pd.DataFrame,
    *,
    year: int,
    unit: DisplayUnit,
) -> pd.DataFrame:
    """Per-parcel results for ``year``, aligned to ``parcels`` (indexed by ``parcel_id``).

    A parcel takes its land unit's per-area figures; its money is the unit's money apportioned
    by surveyed area (so parcel totals add up to the filings' totals). Parcels no filing of
    ``year`` names are vacant. Per-area tax of every year is added as ``tax_<suffix>_<year>``.
    """
    out = pd.DataFrame(index=parcels.index)
    links = occ.links
    this_year = links.loc[links["year"] == year]
    unit_of = this_year.drop_duplicates("parcel_id").set_index("parcel_id")["unit"]
    out["unit"] = unit_of.reindex(out.index).astype("string")
    out["vacant"] = out["unit"].isna()
    out["n_enterprises"] = out["unit"].map(units["n_enterprises"]).fillna(0).astype("int64")
    names = filings["name"] if "name" in filings else filings["uscc"]
    who = this_year.assign(name=this_year["filing"].map(names).astype("string"))
    listing = who.groupby("parcel_id").agg(
        enterprises=("name", lambda s: "、".join(sorted(set(s.dropna())))),
        uscc=("uscc", lambda s: "、".join(sorted(set(s)))),
    )
    out = out.join(listing)
    share = parcels["area_m2"] / out["unit"].map(units["area_m2"]).astype("float64")
    present = [c for c in MONEY if c in units]
    for figure in present:
        out[figure] = out["unit"].map(units[figure]).astype("float64") * share
        out[unit.column(figure)] = out["unit"].map(units[unit.column(figure)]).astype("float64")
    if unit.column("tax") not in units:
        return out
    years = sorted(links["year"].unique())
    for other in years:
        links_y = links.loc[links["year"] == other].drop_duplicates("parcel_id")
        per = links_y.set_index("parcel_id")["unit"].map(units[unit.column("tax")])
        out[f"{unit.column('tax')}_{other}"] = per.reindex(out.index).astype("float64")
    if len(years) > 1:
        first, last = (f"{unit.column('tax')}_{y}" for y in (years[0], years[-1]))
        out[f"{unit.column('tax')}_change"] = out[last] - out[first]
    return out
