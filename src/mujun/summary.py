"""What a run says about itself: the summary the console prints, run.json records and the
report reads, as typed records, and the figures in it (parcels, firms, county per-area
figures, the area basis, underused land).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from mujun.config import Config
from mujun.indicators import MONEY, DisplayUnit
from mujun.sums import exact_nansum
from mujun.tables import aggregate
from mujun.validate import Ledger

__all__ = [
    "RunSummary",
    "ValidationSummary",
    "area_basis",
    "county_figures",
    "enterprise_summary",
    "parcel_summary",
    "underuse_summary",
]


@dataclass(frozen=True)
class ValidationSummary:
    """What ``mujun validate`` found, before any indicator."""

    working_crs: str
    working_crs_name: str
    crs_notes: list[str]
    notes: list[str]
    year: int
    records: dict[str, int]
    """Records read per input file."""
    ledger: dict[str, dict[str, int]]
    """Per input file, records per fate."""
    findings: dict[str, dict[str, int]]
    """Per input file, records per kind of finding."""
    join: dict[str, Any]
    """The join's QA both ways (:class:`mujun.join.JoinQA`)."""
    area_check: dict[str, float]
    """Plane against ellipsoidal area: totals and the worst parcel."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class RunSummary(ValidationSummary):
    """What a run computed, in brief (run.json's ``summary``, the console's lines)."""

    years: list[int]
    area_method: str
    parcels: dict[str, Any]
    """Usable, vacant, area, shared, merged and declared-area mismatches."""
    enterprises: dict[str, dict[str, int]]
    """Per year, firms per land status."""
    not_scored: dict[str, Any]
    """Scored inputs missing from the filings, with the indicators that use them."""
    money: dict[str, Any]
    """Per money column, the reconciliation's totals in yuan."""
    underuse: dict[str, Any]
    county: dict[str, Any]
    """Per year, per group (all, 规上, 规下), the county per-area figures."""
    area_basis: dict[str, Any]
    cycle: dict[str, Any] = field(default_factory=dict)
    """Commitments checked and the redevelopment register, when given."""

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        order = [
            "year", "years", "working_crs", "working_crs_name", "crs_notes", "notes",
            "area_method", "area_check", "parcels", "enterprises", "ledger", "findings",
            "join", "not_scored", "money", "underuse", "county", "area_basis", "cycle",
        ]  # fmt: skip
        return {k: out[k] for k in order}


def parcel_summary(
    parcels: gpd.GeoDataFrame, config: Config, ledger: Ledger, source: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "count": len(parcels),
        "vacant": int(parcels["vacant"].sum()),
        "area_mu": exact_nansum(parcels["area_mu"]),
        "shared": int((parcels["n_enterprises"] > 1).sum()),
    }
    if (ledger.fates(source) == "merged").any():
        table = ledger.frame()
        reasons = table.loc[(table["source"] == source) & (table["fate"] == "merged"), "reason"]
        heads = int(reasons.str.extract(r"dissolved into record (\d+)")[0].nunique())
        out["merged"] = {"parcels": heads, "features": heads + len(reasons)}
    if "area_mismatch" in parcels:
        out["declared_mismatch"] = int(parcels["area_mismatch"].sum())
        out["declared_tolerance_pct"] = config.area.declared_tolerance_pct
    return out


def enterprise_summary(enterprises: pd.DataFrame) -> dict[str, Any]:
    counts = enterprises.groupby(["year", "land_status"]).size()
    return {
        str(y): {str(k): int(v) for k, v in counts.loc[y].items()}
        for y in counts.index.get_level_values("year").unique()
    }


def county_figures(
    enterprises: pd.DataFrame, county: pd.DataFrame, unit: DisplayUnit
) -> dict[str, Any]:
    """County per-area figures per year: for all firms on land ("all", with the figure per
    industrial area including vacant land) and by 规上/规下, from the same aggregate as
    county.csv (each unit's land split between its firms, so the groups add up)."""
    land = f"land_{unit.area}"
    frames = {"all": county}
    if "above_scale" in enterprises:
        scale = enterprises["above_scale"].astype("boolean").fillna(False).astype(bool)
        by_scale = aggregate(
            enterprises.assign(scale=np.where(scale, "above_scale", "below_scale")),
            "scale",
            labels=(),
            unit=unit,
        )
        for group in ("above_scale", "below_scale"):
            frames[group] = by_scale[by_scale["scale"] == group]
    out: dict[str, Any] = {}
    for year in sorted(int(y) for y in county["year"].unique()):
        entry: dict[str, Any] = {}
        for name, frame in frames.items():
            rows = frame[frame["year"] == year]
            if rows.empty:
                continue
            row = rows.iloc[0]
            figures: dict[str, Any] = {
                f"area_{unit.area}": float(row[land]),
                "enterprises": int(row["enterprises"]),
                "enterprises_on_land": int(row["enterprises_on_land"]),
            }
            for column in row.index:
                if column.startswith(tuple(f"{m}_" for m in MONEY)) and (
                    column.endswith((unit.suffix, f"{unit.suffix}_industrial"))
                ):
                    value = row[column]
                    figures[column] = None if pd.isna(value) else float(value)
            entry[name] = figures
        out[str(year)] = entry
    return out


def area_basis(units: pd.DataFrame, config: Config) -> dict[str, Any]:
    """The land basis of the per-area figures and how far the other basis is from it: the
    units with both areas, those differing by more than the declared-area tolerance, and
    the median difference in percent (declared against surveyed)."""
    both = units["surveyed_m2"].gt(0) & units["declared_m2"].gt(0)
    diff = (units["declared_m2"] / units["surveyed_m2"] - 1) * 100
    tolerance = config.area.declared_tolerance_pct
    return {
        "basis": config.area.basis,
        "units": len(units),
        "units_with_both": int(both.sum()),
        "units_differing": int((diff[both].abs() > tolerance).sum()),
        "tolerance_pct": tolerance,
        "median_declared_vs_surveyed_pct": (float(diff[both].median()) if both.any() else None),
        "not_evaluated": int((units["not_evaluated"].fillna("") != "").sum()),
    }


def underuse_summary(
    parcels: gpd.GeoDataFrame, zones: pd.DataFrame, min_parcels: int
) -> dict[str, Any]:
    if "underused" not in parcels:
        return {}
    flags = [c for c in parcels.columns if c.startswith("flag_")]
    out: dict[str, Any] = {
        "underused_parcels": int(parcels["underused"].sum()),
        "underused_mu": exact_nansum(parcels.loc[parcels["underused"], "area_mu"]),
        "by_reason": {c.removeprefix("flag_"): int(parcels[c].sum()) for c in flags},
        "zones": len(zones),
        "zone_mu": exact_nansum(zones["area_mu"]) if len(zones) else 0.0,
        # what is summed, said in the keys: the zones below their park's median only, and
        # every zone (those above the median count negative)
        "zone_gain_wan": exact_nansum(zones["gain_wan"].clip(lower=0)) if len(zones) else 0.0,
        "zones_gaining": int((zones["gain_wan"] > 0).sum()) if len(zones) else 0,
        "zone_gain_all_wan": exact_nansum(zones["gain_wan"]) if len(zones) else 0.0,
        "zone_min_parcels": min_parcels,
    }
    if "cold_spot" in parcels:
        out["cold_spots"] = int(parcels["cold_spot"].sum())
    if "coverage" in parcels:
        occupied = parcels.loc[~parcels["vacant"]]
        out["median_coverage"] = float(occupied["coverage"].median())
        out["median_far"] = float(occupied["far"].median())
    return out


def cycle_summary(tables: dict[str, pd.DataFrame], parcels: pd.DataFrame) -> dict[str, Any]:
    """The commitments (how many due, met, short, per indicator), the register (parcels by
    status; underused parcels already in it and newly found) and the corrections applied."""
    out: dict[str, Any] = {}
    if "commitments" in tables:
        c = tables["commitments"]
        due = c["status"] == "due"
        out["commitments"] = {
            "listed": len(c),
            "due": int(due.sum()),
            "short": int(c["short"].sum()),
            "not_yet_due": int((~due).sum()),
            "short_by": {
                col.removesuffix("_met"): int((c[col] == False).sum())  # noqa: E712 (NA stays out)
                for col in c.columns
                if col.endswith("_met")
            },
        }
    if "redevelopment" in tables:
        r = tables["redevelopment"]
        flagged = parcels["underused"].astype(bool) if "underused" in parcels else None
        known = parcels["redevelopment_status"].notna()
        out["register"] = {
            "parcels": len(r),
            "by_status": {str(k): int(v) for k, v in r["status"].value_counts().items()},
            "underused_in_register": int((flagged & known).sum()) if flagged is not None else 0,
            "underused_new": int((flagged & ~known).sum()) if flagged is not None else 0,
        }
    if "corrections" in tables:
        k = tables["corrections"]
        out["corrections"] = {
            "applied": len(k),
            "firms": int(k["uscc"].nunique()),
            "by_field": {str(f): int(n) for f, n in k["field"].value_counts().items()},
        }
    return out
