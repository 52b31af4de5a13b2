"""Tables for planners: county, park and industry aggregates, changes between years, and the
parcel's class.

Aggregates add up firms' own money over their share of land: a firm alone on its land unit
has the whole unit; firms sharing a unit split its area equally *for aggregation only* (their
evaluation shares one result, see ``join``). Summed over all firms this is each parcel once,
so the county figure equals total money over total occupied land.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from mujun.join import Occupancy, join_per_key, positions

OUTSIDE_PARKS = "（园区外）"
"""Park label of land outside every park."""
NO_LAND = "（无用地）"
"""Park label of firms without land (lessees, orphans)."""

__all__ = ["aggregate", "changes", "enterprise_parks", "parcel_classes", "park_changes"]


def enterprise_parks(occ: Occupancy, parcels: pd.DataFrame, index: pd.Index) -> pd.Series:
    """Park of each enterprise-year: the park holding most of its land unit's area."""
    if "park" not in parcels:
        return pd.Series(pd.NA, index=index, dtype="string")
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
    by_park = data.groupby(["filing", "park"])["area_m2"].sum().reset_index()
    best = by_park.sort_values(["filing", "area_m2", "park"], ascending=[True, False, True])
    best = best.drop_duplicates("filing")
    found = pd.Series(
        pd.array(pa.array(names.array).take(best["park"].to_numpy()), dtype="string"),
        index=best["filing"].to_numpy(),
    )
    return found.reindex(index).astype("string")


def _land_share(enterprises: pd.DataFrame) -> pd.Series:
    n = enterprises["unit_enterprises"].astype("float64")
    return (enterprises["area_mu"] / n).fillna(0.0)


def aggregate(
    enterprises: pd.DataFrame, by: str | None, *, labels: tuple[str, ...]
) -> pd.DataFrame:
    """Per year (and per ``by``: ``park`` or ``industry2``): firms, graded firms, land (mu),
    money (万元), per-mu figures (万元/亩) and the count in each class."""
    lessee = (enterprises["land_status"] == "lessee").fillna(False).astype(bool)
    data = enterprises.assign(land_mu=_land_share(enterprises), is_lessee=lessee)
    keys = ["year"] if by is None else ["year", by]
    if by is not None:
        data[by] = data[by].astype("string").fillna(NO_LAND if by == "park" else "（无）")
    grouped = data.groupby(keys, dropna=False)
    out = pd.DataFrame(
        {
            "enterprises": grouped.size(),
            "graded": grouped["graded"].sum() if "graded" in data else 0,
            "lessees": grouped["is_lessee"].sum(),
            "land_mu": grouped["land_mu"].sum(),
        }
    )
    for money in ("tax", "value_added", "revenue"):
        if money in data:
            on_land = data[money].where(data["land_mu"] > 0)
            out[f"{money}_wan"] = grouped[money].sum() / 1e4
            land_money = on_land.groupby([data[k] for k in keys], dropna=False).sum() / 1e4
            out[f"{money}_per_mu"] = land_money / out["land_mu"].replace(0, np.nan)
    if "class" in data:
        counts = data.groupby([*keys, "class"], dropna=False).size().unstack("class")  # noqa: PD010
        for label in labels:
            column = counts[label] if label in counts else pd.Series(0, index=out.index)
            out[f"class_{label}"] = column.reindex(out.index).fillna(0).astype("int64")
    return out.reset_index()


def changes(enterprises: pd.DataFrame) -> pd.DataFrame:
    """Per enterprise, its first and last evaluated year: tax per mu, score and class."""
    cols = [c for c in ("tax_per_mu", "value_added_per_mu", "score", "class") if c in enterprises]
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
