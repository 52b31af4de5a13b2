"""Tables for planners: county, park and industry aggregates, changes between years, and the
parcel's class.

Aggregates add up firms' own money over their share of land: a firm alone on its land unit
has the whole unit; firms sharing a unit split its area by their declared areas, else
equally, *for aggregation only* (their evaluation shares one result, see ``join``). Summed
over all firms this is each parcel once, so the county figure equals the money of the firms
on land over the occupied land.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa

from mujun.indicators import DisplayUnit, display_unit, parcel_indicators
from mujun.join import Occupancy, join_per_key, positions
from mujun.schema import MU_M2
from mujun.sums import Grouped, exact_nansum, grouped_sums

OUTSIDE_PARKS = "（园区外）"
"""Park label of land outside every park."""
NO_LAND = "（无用地）"
"""Park label of firms without land (lessees, orphans)."""

__all__ = [
    "aggregate",
    "changes",
    "county_tables",
    "enterprise_parks",
    "parcel_classes",
    "parcel_results",
    "park_changes",
]


def enterprise_parks(occ: Occupancy, parcels: pd.DataFrame, index: pd.Index) -> pd.Series:
    """Park of each enterprise-year: the park holding most of its land unit's area; firms
    on land when no parcel names a park (no parks file) are outside parks, not without land."""
    if "park" not in parcels:
        on_land = occ.unit.reindex(index).notna()
        return pd.Series(OUTSIDE_PARKS, index=index, dtype="string").where(on_land)
    links = occ.links
    at = positions(links["parcel_id"], pd.Index(parcels["parcel_id"]))
    kept = np.flatnonzero(at >= 0)  # an inner join on the parcel id
    # parks as codes in the order of their names, so that sorting by code sorts by name
    park, names = pd.factorize(parcels["park"].astype("string").fillna(OUTSIDE_PARKS), sort=True)
    data = pd.DataFrame(
        {
            "filing": links["filing"].to_numpy()[kept],
            "park": park[at[kept]],
            "area_m2": parcels["area_m2"].to_numpy()[at[kept]],
        }
    )
    area = grouped_sums(data.groupby(["filing", "park"]), data["area_m2"])
    by_park = area.rename("area_m2").reset_index()
    best = by_park.sort_values(["filing", "area_m2", "park"], ascending=[True, False, True])
    best = best.drop_duplicates("filing")
    found = pd.Series(
        pd.array(pa.array(names.array).take(best["park"].to_numpy()), dtype="string"),
        index=best["filing"].to_numpy(),
    )
    return found.reindex(index).astype("string")


def aggregate(
    enterprises: pd.DataFrame,
    by: str | None,
    *,
    labels: tuple[str, ...],
    unit: DisplayUnit | None = None,
    industrial_m2: pd.Series | None = None,
) -> pd.DataFrame:
    """Per year (and per ``by``: ``park``, ``industry2``, ``scale``): firms, land, money,
    per-area figures and the count in each class, every money column and its per-area
    figure over the same firms.

    ``enterprises`` counts every firm-year; ``enterprises_on_land`` those in the per-area
    figures (on land whose unit is evaluated); ``land_<area>`` is their land, each firm its
    ``land_share_mu`` of its unit (:func:`mujun.indicators.land_shares`: a unit's land is
    split between its firms, so a unit with a 规上 and a 规下 firm is not counted twice);
    ``<money>_on_land_<unit>`` their money and ``<money>_<per area>`` its ratio to that
    land; ``<money>_without_land_<unit>`` the rest (lessees, orphans, units not evaluated).
    ``industrial_m2`` (per ``by`` value, or one number in a Series for the county): all
    parcel land including vacant, giving ``<money>_<per area>_industrial``.
    """
    unit = unit or display_unit("万元/亩")
    land = f"land_{unit.area}"
    share = enterprises["land_share_mu"].fillna(0.0) * MU_M2 / unit.area_m2
    on_land = share > 0
    status = enterprises["land_status"]
    data = enterprises.assign(
        _land=share,
        _on_land=on_land,
        _lessee=(status == "lessee").fillna(False).astype(bool),
        _orphan=(status == "orphan").fillna(False).astype(bool),
    )
    keys = ["year"] if by is None else ["year", by]
    if by is not None:
        data[by] = data[by].astype("string").fillna(NO_LAND if by == "park" else "（无）")
    grouped = data.groupby(keys, dropna=False)
    sums = Grouped(grouped)
    out = pd.DataFrame(
        {
            "enterprises": grouped.size(),
            "enterprises_on_land": grouped["_on_land"].sum(),
            "lessees": grouped["_lessee"].sum(),
            "orphans": grouped["_orphan"].sum(),
            "graded": grouped["graded"].sum() if "graded" in data else 0,
            land: sums.sum(data["_land"]),
        }
    )
    if "land_incomplete" in data:
        out.insert(4, "land_incomplete", grouped["land_incomplete"].sum())
    for money in ("tax", "value_added", "revenue", "assessed_value"):
        if money not in data:
            continue
        value = data[money].astype("float64") / unit.money_factor
        landed = sums.sum(value.where(on_land))
        other = sums.sum(value.where(~on_land))
        out[f"{money}_on_land_{unit.money}"] = landed
        per_area = landed / out[land].replace(0, np.nan)
        out[unit.column(money)] = per_area * unit.money_factor / unit.area_m2 * unit.factor
        out[f"{money}_without_land_{unit.money}"] = other
        if industrial_m2 is not None:
            area = _industrial(out.index, by, industrial_m2) / unit.area_m2
            out[f"{unit.column(money)}_industrial"] = (
                landed / area.replace(0, np.nan) * unit.money_factor / unit.area_m2 * unit.factor
            )
    if industrial_m2 is not None:
        out.insert(
            list(out.columns).index(land) + 1,
            f"industrial_{land}",
            _industrial(out.index, by, industrial_m2) / unit.area_m2,
        )
    if "class" in data:
        counts = data.groupby([*keys, "class"], dropna=False).size().unstack("class")  # noqa: PD010
        for label in labels:
            column = counts[label] if label in counts else pd.Series(0, index=out.index)
            out[f"class_{label}"] = column.reindex(out.index).fillna(0).astype("int64")
    return out.reset_index()


def _industrial(index: pd.Index, by: str | None, industrial_m2: pd.Series) -> pd.Series:
    """All parcel land (m²) of each row of an aggregate's index: the county's one figure, or
    the figure of the row's ``by`` value (0 where it has none)."""
    if by is None:
        return pd.Series(float(industrial_m2.sum()), index=index)
    values = index.get_level_values(by)
    return pd.Series(
        industrial_m2.reindex(values).fillna(0.0).to_numpy(dtype="float64"), index=index
    )


def changes(enterprises: pd.DataFrame) -> pd.DataFrame:
    """Per enterprise, its first and last evaluated year: tax per mu, score and class."""
    per_area = [
        c
        for c in enterprises.columns
        if re.fullmatch(r"(tax|value_added|assessed_value)_per_(mu|acre|m2|ha)", c)
    ]  # the display unit's per-area money columns (tax_per_mu, or assessed_value_per_acre)
    cols = [c for c in (*per_area, "score", "class") if c in enterprises]
    # only the firms evaluated in more than one year have a change
    firm = pd.factorize(enterprises["uscc"])[0]
    years = pd.Series(enterprises["year"].to_numpy()).groupby(firm).agg(["min", "max"])
    rows = np.flatnonzero(np.isin(firm, years.index[(years["min"] != years["max"]).to_numpy()]))
    data = enterprises[["uscc", "name", "year", *cols]].iloc[rows]
    data = data.sort_values("year", kind="stable")
    grouped = data.groupby("uscc")  # within a firm, rows in year order
    first = grouped.first()
    last = grouped.last()
    several = first["year"] != last["year"]
    out = pd.DataFrame({"name": last["name"], "year_from": first["year"], "year_to": last["year"]})
    for col in cols:
        out[f"{col}_from"] = first[col]
        out[f"{col}_to"] = last[col]
        if col != "class":
            out[f"{col}_change"] = last[col] - first[col]
    return out.loc[several].reset_index()


def parcel_classes(
    occ: Occupancy, enterprises: pd.DataFrame, year: int, labels: tuple[str, ...]
) -> pd.DataFrame:
    """Class of each occupied parcel in ``year``: its firms' class (the lowest if they differ,
    e.g. a 规上 and a 规下 firm sharing a unit), and all of them in ``classes``."""
    order = {label: i for i, label in enumerate(labels)}
    links = occ.links
    rows = np.flatnonzero((links["year"] == year).to_numpy())
    firm = positions(links["filing"].iloc[rows], enterprises.index)
    code, found = pd.factorize(enterprises["class"])  # -1 for no class
    rank = np.array([order.get(label, -1) for label in found] + [-1], dtype=np.int64)
    if (rank[:-1] < 0).any() or len(labels) > 62:  # a class not among the labels
        return _parcel_classes(occ, enterprises, year, labels)
    rank = rank[np.append(code, -1)[firm]]  # per link; -1 without a class
    classed = rank >= 0
    if not classed.any():
        return pd.DataFrame(columns=["class", "classes"])
    parcel, ids = pd.factorize(links["parcel_id"].iloc[rows[classed]])
    rank = rank[classed]
    # per parcel, the ranks of its firms' classes as bits: the worst is the highest bit
    once = ~pd.Series(parcel.astype(np.int64) * 64 + rank).duplicated().to_numpy()
    bits = pd.Series(np.left_shift(1, rank[once])).groupby(parcel[once]).sum()
    combos, which = np.unique(bits.to_numpy(), return_inverse=True)
    worst = [labels[int(c).bit_length() - 1] for c in combos]
    listed = ["、".join(labels[i] for i in range(len(labels)) if c >> i & 1) for c in combos]
    index = pd.Index(ids, name="parcel_id")
    return pd.DataFrame(
        {
            "class": pd.array(np.array(worst, dtype=object)[which], dtype="string"),
            "classes": pd.array(np.array(listed, dtype=object)[which], dtype="string"),
        },
        index=index,
    )


def _parcel_classes(
    occ: Occupancy, enterprises: pd.DataFrame, year: int, labels: tuple[str, ...]
) -> pd.DataFrame:
    """:func:`parcel_classes` through the firms' labels (any labels)."""
    links = occ.links.loc[occ.links["year"] == year, ["filing", "parcel_id"]]
    cls = links.assign(cls=links["filing"].map(enterprises["class"])).dropna(subset=["cls"])
    if cls.empty:
        return pd.DataFrame(columns=["class", "classes"])
    order = {label: i for i, label in enumerate(labels)}
    cls["order"] = cls["cls"].map(order)
    worst = cls.sort_values("order").groupby("parcel_id")["cls"].last()
    listed = join_per_key(cls["parcel_id"], cls["cls"], sort=order, distinct=True)
    listed = listed.reindex(worst.index)
    return pd.DataFrame({"class": worst.astype("string"), "classes": listed.astype("string")})


def park_changes(parks: pd.DataFrame) -> pd.DataFrame:
    """Per park, per-mu tax and value added in its first and last year, and the change."""
    cols = [c for c in ("tax_per_mu", "value_added_per_mu", "land_mu", "enterprises") if c in parks]
    data = parks.sort_values(["park", "year"])
    first = data.groupby("park").first()
    last = data.groupby("park").last()
    out = pd.DataFrame({"year_from": first["year"], "year_to": last["year"]})
    for col in cols:
        out[f"{col}_from"] = first[col]
        out[f"{col}_to"] = last[col]
        out[f"{col}_change"] = last[col] - first[col]
    return out.loc[out["year_from"] != out["year_to"]].reset_index()


def parcel_results(
    parcels: gpd.GeoDataFrame,
    occ: Occupancy,
    units: pd.DataFrame,
    filings: pd.DataFrame,
    enterprises: pd.DataFrame,
    *,
    year: int,
    unit: DisplayUnit,
    labels: tuple[str, ...],
    classify: bool,
) -> gpd.GeoDataFrame:
    """Each parcel with its evaluation-year figures, its class and, over several years, how
    its class changed since the first (``class_change``, e.g. "C→B")."""
    indexed = parcels.set_index("parcel_id", drop=False)
    per_parcel = parcel_indicators(indexed, occ, units, filings, year=year, unit=unit)
    per_parcel = _by_parcel(per_parcel, parcel_classes(occ, enterprises, year, labels))
    first_year = int(filings["year"].min())
    if first_year != year and classify:
        before = parcel_classes(occ, enterprises, first_year, labels)[["class"]]
        was = _by_parcel(pd.DataFrame(index=per_parcel.index), before)["class"]
        per_parcel["class_change"] = (
            was.fillna("—") + "→" + per_parcel["class"].fillna("—")
        ).where(was.notna() | per_parcel["class"].notna())
    return gpd.GeoDataFrame(indexed.join(per_parcel), crs=parcels.crs).reset_index(drop=True)


def county_tables(
    enterprises: pd.DataFrame, parcels: pd.DataFrame, *, labels: tuple[str, ...], unit: DisplayUnit
) -> dict[str, pd.DataFrame]:
    """The aggregates: county, parks and industries per year, changes per firm between years
    and per park. Per industrial area, the county and each park count their vacant land."""
    land_m2 = parcels["area_m2"].astype("float64")
    park_of = (
        parcels["park"].astype("string").fillna(OUTSIDE_PARKS)
        if "park" in parcels
        else pd.Series(OUTSIDE_PARKS, index=parcels.index, dtype="string")
    )
    tables = {
        "county": aggregate(
            enterprises,
            None,
            labels=labels,
            unit=unit,
            industrial_m2=pd.Series([exact_nansum(land_m2)]),
        ),
        "parks": aggregate(
            enterprises,
            "park",
            labels=labels,
            unit=unit,
            industrial_m2=grouped_sums(land_m2.groupby(park_of.to_numpy()), land_m2),
        ),
        "industries": aggregate(
            enterprises.assign(
                industry2=enterprises.get("industry", pd.Series(dtype="string"))
                .astype("string")
                .str.replace(r"^[A-Za-z]", "", regex=True)
                .str[:2]
            ),
            "industry2",
            labels=labels,
            unit=unit,
        ),
        "changes": changes(enterprises),
    }
    tables["park_changes"] = park_changes(tables["parks"])
    return tables


def _by_parcel(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """``frame.join(other)``, both indexed by parcel id (without repeats): text columns are
    taken by position through Arrow rather than reindexed by label."""
    if not all(isinstance(d, pd.StringDtype) for d in other.dtypes):
        return frame.join(other)
    rows = positions(frame.index, other.index)
    missing = rows < 0
    out = frame.copy(deep=False)
    for column in other.columns:
        taken = pa.array(other[column].array).take(pa.array(rows, mask=missing))
        out[column] = pd.array(taken, dtype=other[column].dtype)
    return out
