"""Per-area indicators on surveyed land: land units, enterprises and parcels.

All money is in yuan and all area in m² inside; ``display`` converts yuan/m² to the display
unit (万元/亩 by default: 1 万元/亩 = 15 元/m²). Functions return new frames aligned to their
input and never mutate it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.join import Occupancy, joined_groups, positions
from mujun.schema import ACRE_M2, MU_M2
from mujun.sums import group_nansums, group_sums

__all__ = [
    "MONEY",
    "QUANTITIES",
    "DisplayUnit",
    "LandRules",
    "display_unit",
    "enterprise_indicators",
    "evaluation_basis",
    "land_shares",
    "pair_columns",
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
    """A per-area money unit: label, column suffix, and factor from yuan/m² (money in the
    filings' currency: yuan, or dollars with USD/acre); its area unit (``area``, m² each:
    ``area_m2``) and money unit (``money``, currency units each: ``money_factor``) name the
    columns of tables that add up land and money (``land_mu``, ``tax_on_land_wan``)."""

    label: str
    suffix: str
    factor: float
    area: str = "mu"
    area_m2: float = MU_M2
    money: str = "wan"
    money_factor: float = 1e4
    money_label: str = "万元"
    area_label: str = "mu"

    def column(self, figure: str) -> str:
        """Column name of ``figure`` per area, e.g. ``tax_per_mu``."""
        return f"{figure}_{self.suffix}"


_DISPLAY = {
    "万元/亩": DisplayUnit("万元/亩", "per_mu", MU_M2 / 1e4),
    "元/m2": DisplayUnit("元/m²", "per_m2", 1.0, "m2", 1.0, "yuan", 1.0, "元", "m²"),
    "万元/公顷": DisplayUnit("万元/公顷", "per_ha", 1.0, "ha", 1e4, "wan", 1e4, "万元", "ha"),
    "USD/acre": DisplayUnit(
        "USD/acre", "per_acre", ACRE_M2, "acre", ACRE_M2, "usd", 1.0, "USD", "acres"
    ),
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
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        values = money.to_numpy(dtype="float64") / area_m2.to_numpy(dtype="float64")
    values[~np.isfinite(values)] = np.nan
    return pd.Series(values * unit.factor, index=money.index)


def _take(
    column: pd.Series | pd.Index, rows: np.ndarray, fill: float | None = np.nan
) -> np.ndarray:
    """``column``'s values (float, or objects if ``fill`` is None) at positions ``rows``,
    ``fill`` where a row is -1."""
    values = np.empty(len(column) + 1, dtype=object if fill is None else "float64")
    values[:-1] = column.to_numpy(dtype=values.dtype)
    values[-1] = fill
    return values[rows]


def _text_at(column: pd.Series | pd.Index, rows: np.ndarray) -> pa.Array:
    """``column``'s strings at positions ``rows`` (null where a row is -1), as Arrow."""
    text = pa.array(column.array, from_pandas=True)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return text.take(pa.array(rows, mask=rows < 0))


def _first_of_pair(code: np.ndarray, other: pd.Series | np.ndarray) -> np.ndarray:
    """Whether each row is the first with its pair of ``code`` and ``other`` value."""
    other_code, distinct = pd.factorize(other)
    pair = code.astype(np.int64) * max(len(distinct), 1) + other_code
    return ~pd.Series(pair).duplicated().to_numpy()


@dataclass(frozen=True)
class LandRules:
    """Which land a unit's per-area figures divide by (``[area] basis`` and ``incomplete``).

    ``declared_m2``: the parcel layer's declared area per parcel id (None without one)."""

    basis: str = "surveyed"
    incomplete: str = "exclude"
    declared_m2: pd.Series | None = None


def _unit_sums(code: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per unit code (0..n-1), the sum of ``values`` (correctly rounded); NaN where any of
    its values is NaN or it has none."""
    total = group_sums(code, values, n)
    total[np.bincount(code, minlength=n) == 0] = np.nan
    return total


def unit_table(
    occ: Occupancy,
    filings: pd.DataFrame,
    area_m2: pd.Series,
    unit: DisplayUnit,
    rules: LandRules | None = None,
) -> pd.DataFrame:
    """One row per land unit: parcels, enterprises, areas, money and per-area figures.

    ``area_m2`` is the surveyed area indexed by ``parcel_id``. ``surveyed_m2`` is the sum
    over the unit's parcels; ``declared_m2`` the sum of their declared areas (NaN if one
    lacks it); ``area_m2`` the land the unit is evaluated on (``rules.basis``), NaN for a
    unit that is not evaluated: ``land_incomplete`` (some firm lists a parcel missing from
    the layer) without a declared area to fall back on, or declared basis without one.
    ``not_evaluated`` says why. Per-area figures divide by ``area_m2``; the ones on the
    other basis carry its name (``tax_per_mu_declared``).
    """
    rules = rules or LandRules()
    links = occ.links
    code, ids = pd.factorize(links["unit"], sort=True)  # units in the order groupby sorts them
    at = positions(links["parcel_id"], area_m2.index)  # each link's parcel in area_m2
    # positions stand for the parcel ids when every link's parcel has an area
    parcels = _first_of_pair(code, at if at.min(initial=0) >= 0 else links["parcel_id"])
    firms = _first_of_pair(code, links["filing"])
    by_parcel, by_firm = code[parcels], code[firms]
    present = [c for c in QUANTITIES if c in filings]
    firm_rows = links["filing"][firms]
    n = len(ids)
    surveyed = group_sums(by_parcel, _take(area_m2, at[parcels]), n)
    first_firm = np.full(n, -1, dtype=np.int64)
    first_firm[by_firm[::-1]] = np.flatnonzero(firms)[::-1]  # each unit's first firm link
    table = pd.DataFrame(
        {
            "year": links["year"].to_numpy()[first_firm],
            "n_enterprises": np.bincount(by_firm, minlength=n),
            "n_parcels": np.bincount(by_parcel, minlength=n),
            "surveyed_m2": surveyed,
        },
        index=pd.Index(ids, name="unit"),
    )
    if rules.declared_m2 is not None:
        where = positions(links["parcel_id"][parcels], rules.declared_m2.index)
        table["declared_m2"] = _unit_sums(by_parcel, _take(rules.declared_m2, where), n)
    else:
        table["declared_m2"] = np.nan
    missing = occ.missing.loc[firm_rows].to_numpy(dtype=object)
    incomplete = np.bincount(by_firm, weights=(missing != "").astype("float64"), minlength=n)
    table["land_incomplete"] = incomplete > 0
    base = table["surveyed_m2"] if rules.basis == "surveyed" else table["declared_m2"]
    area = base.to_numpy(dtype="float64", copy=True)
    reason = np.where(np.isnan(area), "no declared area for all its parcels", "")
    if rules.incomplete == "declared" and "declared_area" in filings:
        filed = _unit_sums(by_firm, filings["declared_area"].loc[firm_rows].to_numpy("float64"), n)
        fallback = np.where(filed > 0, filed, np.nan)
    else:
        fallback = np.full(n, np.nan)
    inc = table["land_incomplete"].to_numpy()
    area[inc] = fallback[inc]
    reason = np.where(
        inc & np.isnan(area),
        "land incomplete: a listed parcel is not in the layer"
        + ("" if rules.incomplete == "exclude" else " and not every firm declares its area"),
        np.where(inc, "", reason),
    )
    table["area_m2"] = area
    table["not_evaluated"] = pd.array(np.where(np.isnan(area), reason, ""), dtype="string")
    for figure in present:  # NaN skipped; NaN where no firm of the unit filed it
        values = filings[figure].loc[firm_rows].to_numpy(dtype="float64")
        table[figure] = group_nansums(by_firm, values, n, min_count=1)
    other = "declared" if rules.basis == "surveyed" else "surveyed"
    for figure in (m for m in MONEY if m in present):
        table[unit.column(figure)] = _per_area(table[figure], table["area_m2"], unit)
        table[f"{unit.column(figure)}_{other}"] = _per_area(
            table[figure], table[f"{other}_m2"], unit
        )
    table.index.name = "unit"
    return table


def pair_columns(numerator: str, denominator: str) -> tuple[str, str, str]:
    """The basis columns of a ratio between two filed quantities: its numerator and its
    denominator, each summed over the firms that report both, and whether some of the unit's
    firms did not (see :func:`evaluation_basis`)."""
    pair = f"{numerator}/{denominator}"
    return f"{pair}:num", f"{pair}:den", f"{pair}:partial"


def evaluation_basis(
    filings: pd.DataFrame,
    occ: Occupancy,
    units: pd.DataFrame,
    pairs: tuple[tuple[str, str], ...] = (),
) -> pd.DataFrame:
    """The quantities each enterprise-year is evaluated on, aligned to ``filings``.

    A firm on land is evaluated on its land unit (sums over the unit's firms, the unit's
    surveyed area); a lessee or orphan on its own figures, without area. ``unit_key``
    identifies the evaluated entity (each land unit once in averages); ``own_electricity_kwh``
    is the firm's own use, for its electricity surcharge.

    For each ``(numerator, denominator)`` of ``pairs`` (ratios between two filed quantities,
    e.g. value added over emissions) both parts are summed over the unit's firms that report
    both, so that a co-tenant who left emissions blank does not add its value added over
    the others' emissions; ``<pair>:partial`` marks the units where some firms did not
    report (:func:`pair_columns` names the columns).
    """
    present = [c for c in QUANTITIES if c in filings]
    basis = filings[present].astype("float64").copy()
    rows = positions(occ.unit, units.index)  # -1 for lessees and orphans
    landed = rows >= 0
    for col in present:
        basis[col] = np.where(landed, _take(units[col], rows), basis[col].to_numpy())
    area = pd.Series(_take(units["area_m2"], rows), index=filings.index)
    basis["area_m2"] = area
    basis["area_mu"] = area / MU_M2
    basis["area_acre"] = area / ACRE_M2
    basis["unit_key"] = occ.unit.astype("string").fillna(
        pd.Series("F" + filings.index.astype(str), index=filings.index)
    )
    if "electricity_kwh" in filings:
        basis["own_electricity_kwh"] = filings["electricity_kwh"]
    unit_code = np.where(landed, rows, -1)
    for numerator, denominator in pairs:
        if numerator not in filings or denominator not in filings:
            continue
        num = filings[numerator].to_numpy(dtype="float64")
        den = filings[denominator].to_numpy(dtype="float64")
        both = ~np.isnan(num) & ~np.isnan(den)
        num, den = np.where(both, num, np.nan), np.where(both, den, np.nan)
        on_land = unit_code >= 0
        of, k = unit_code[on_land], len(units)
        at = np.where(on_land, unit_code, k)  # k: off land, past every unit
        col_num, col_den, col_partial = pair_columns(numerator, denominator)
        for col, part in ((col_num, num), (col_den, den)):
            total = group_nansums(of, part[on_land], k + 1, min_count=1)
            basis[col] = np.where(on_land, total[at], part)
        reporting = np.bincount(of, weights=both[on_land], minlength=k + 1)[at]
        firms = np.bincount(of, minlength=k + 1)[at]
        basis[col_partial] = on_land & (reporting > 0) & (reporting < firms)
    return basis


def land_shares(filings: pd.DataFrame, occ: Occupancy, units: pd.DataFrame) -> pd.Series:
    """Each enterprise-year's share of its land unit's evaluated area (m²), for tables that
    add up firms: by the firms' declared areas in the filings where every firm of the unit
    gives one, else equal shares. A unit's shares add up to its area, so summing any group
    of firms counts no land twice. 0 for firms without evaluated land."""
    rows = positions(occ.unit, units.index)
    area = _take(units["area_m2"], rows)
    on_land = (rows >= 0) & ~np.isnan(area)
    n = _take(units["n_enterprises"], rows)
    equal = area / n
    if "declared_area" not in filings:
        return pd.Series(np.where(on_land, equal, 0.0), index=filings.index)
    declared = filings["declared_area"].to_numpy(dtype="float64")
    declared = np.where(declared > 0, declared, np.nan)
    code = np.where(on_land, rows, len(units))
    total = _unit_sums(code, declared, len(units) + 1)[code]
    share = np.where(np.isnan(total), equal, area * declared / total)
    return pd.Series(np.where(on_land, share, 0.0), index=filings.index)


def enterprise_indicators(
    filings: pd.DataFrame, occ: Occupancy, units: pd.DataFrame, unit: DisplayUnit
) -> pd.DataFrame:
    """Enterprise-year table: identity, land status, evaluated area, per-area figures.

    ``area_mu`` is the evaluated area of the enterprise's land unit: its own parcels, or the
    combined parcels of a shared unit, whose per-area result all its enterprises share
    (``surveyed_area_mu`` and ``unit_declared_area_mu`` beside it). Lessees and orphans have
    no area and no per-area figures; ``land_incomplete`` units none either unless
    evaluated on their declared area. ``land_share_mu`` is the firm's part of its unit's
    area in tables that add up firms (:func:`land_shares`).
    """
    keep = [
        c
        for c in ("uscc", "uscc_check", "name", "year", "industry", "scale", "above_scale")
        if c in filings
    ]
    out = filings[keep].copy()
    listed = pa.array(filings["parcel_ids"].to_numpy(), type=pa.list_(pa.large_string()))
    out["parcel_ids"] = pd.array(
        pc.binary_join(listed, pa.scalar("、", pa.large_string())), dtype="str"
    )
    out["land_status"] = occ.land_status
    out["missing_parcels"] = occ.missing
    out["unit"] = occ.unit
    rows = positions(occ.unit, units.index)  # -1 for lessees and orphans
    out["unit_enterprises"] = pd.array(_take(units["n_enterprises"], rows)).astype("Int64")
    out["land_incomplete"] = _take(units["land_incomplete"], rows, 0.0).astype(bool)
    area = _take(units["area_m2"], rows)
    out["area_m2"] = area
    out["area_mu"] = area / MU_M2
    out["surveyed_area_mu"] = _take(units["surveyed_m2"], rows) / MU_M2
    out["unit_declared_area_mu"] = _take(units["declared_m2"], rows) / MU_M2
    out["land_share_mu"] = land_shares(filings, occ, units) / MU_M2
    if "declared_area" in filings:
        out["declared_area_mu"] = filings["declared_area"] / MU_M2
    present = [c for c in MONEY if c in filings]
    for figure in present:
        out[figure] = filings[figure]
        column = unit.column(figure)
        out[column] = _take(units[column], rows)
        for other in ("declared", "surveyed"):
            if f"{column}_{other}" in units:
                out[f"{column}_{other}"] = _take(units[f"{column}_{other}"], rows)
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


@dataclass(frozen=True)
class _Occupied:
    """The parcels named by the filings of one year.

    ``rows``: the positions of the year's links; ``link_parcel``: per link of the year, its
    parcel's number (in order of first appearance); ``where``: per parcel of the layer, its
    number, -1 if vacant; ``unit_row``: per parcel of the layer, the row of its land unit in
    the unit table, -1 if vacant. A parcel is in one land unit a year (its links of a year are
    one component), so its first link tells it."""

    rows: np.ndarray
    link_parcel: np.ndarray
    where: np.ndarray
    unit_row: np.ndarray


def _occupied(
    links: pd.DataFrame, link_unit_row: np.ndarray, link_at: np.ndarray, year: int, at: pd.Index
) -> _Occupied:
    """``link_at``: each link's parcel's position in ``at`` (-1 if not there)."""
    rows = np.flatnonzero((links["year"] == year).to_numpy())
    if link_at[rows].min(initial=0) >= 0:  # positions in ``at`` stand for the parcel ids
        link_parcel, found = pd.factorize(link_at[rows])
        where = np.full(len(at), -1, dtype=np.int64)
        where[found] = np.arange(len(found))
    else:
        link_parcel, ids = pd.factorize(links["parcel_id"].iloc[rows])
        where = pd.Index(ids).get_indexer(at)
    _, first = np.unique(link_parcel, return_index=True)
    unit_row = np.append(link_unit_row[rows][first], -1)[where]
    return _Occupied(rows, link_parcel, where, unit_row)


def _listing(occupied: _Occupied, values: pa.Array) -> pd.api.extensions.ExtensionArray:
    """Per parcel, its firms' distinct ``values`` (one per link of the year; sorted, joined
    by 、): "" on an occupied parcel without any, <NA> on a vacant one."""
    keys, joined = joined_groups(occupied.link_parcel, values, sort=True, distinct=True)
    # one slot per occupied parcel (its joined values, else a last "") and <NA> for the vacant
    slot = np.full(int(occupied.link_parcel.max(initial=-1)) + 1, len(joined), dtype=np.int64)
    slot[np.asarray(keys, dtype=np.int64)] = np.arange(len(joined))
    texts = pa.concat_arrays([joined, pa.array([""], type=pa.large_string())])
    vacant = occupied.where < 0
    taken = texts.take(pa.array(np.append(slot, 0)[occupied.where], mask=vacant))
    return pd.array(taken, dtype="string")


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
    link_unit_row = positions(links["unit"], units.index)
    link_at = positions(links["parcel_id"], parcels.index)
    now = _occupied(links, link_unit_row, link_at, year, parcels.index)
    rows = now.unit_row
    out["unit"] = pd.array(_text_at(units.index, rows), dtype="string")
    out["vacant"] = rows < 0
    out["n_enterprises"] = _take(units["n_enterprises"], rows, 0).astype("int64")
    names = filings["name"] if "name" in filings else filings["uscc"]
    firm = positions(links["filing"].iloc[now.rows], filings.index)
    out["enterprises"] = _listing(now, _text_at(names, firm))
    out["uscc"] = _listing(now, _text_at(links["uscc"], now.rows))
    share = parcels["area_m2"].to_numpy(dtype="float64") / _take(units["surveyed_m2"], rows)
    for figure in (c for c in MONEY if c in units):
        out[figure] = _take(units[figure], rows) * share
        out[unit.column(figure)] = _take(units[unit.column(figure)], rows)
    tax = unit.column("tax")
    if tax not in units:
        return out
    years = sorted(int(y) for y in links["year"].unique())
    for other in years:
        other_rows = (
            rows
            if other == year
            else _occupied(links, link_unit_row, link_at, other, parcels.index).unit_row
        )
        out[f"{tax}_{other}"] = _take(units[tax], other_rows)
    if len(years) > 1:
        out[f"{tax}_change"] = out[f"{tax}_{years[-1]}"] - out[f"{tax}_{years[0]}"]
    return out
