"""The redevelopment register (低效用地再开发台账): parcels the county already handles.

A planner keeps a register of low-yield parcels and what is done about them: the status
(identified, planned, in progress, done) and the measure (收回 take back, 腾笼换鸟 replace the
occupant, 兼并重组 merge, 提升改造 upgrade ...), with the year. Among the run's underused land a
parcel already in the register is marked as such (``redevelopment_status``) rather than
counted as newly found (``underused_new``); for a parcel whose work is done, the change of its
tax per mu from the first year to the last shows what it brought. A parcel the layer does
not have goes to the ledger.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mujun.config import Config
from mujun.errors import InputError
from mujun.io.readers import read_side_table
from mujun.schema import REDEVELOPMENT_COLUMNS
from mujun.validate import Ledger

__all__ = ["STATUSES", "mark_register", "read_register"]

logger = logging.getLogger(__name__)

STATUSES = {
    "identified": ("identified", "已认定", "认定", "已识别", "识别"),
    "planned": ("planned", "已计划", "计划", "拟实施"),
    "in progress": ("in progress", "in_progress", "实施中", "进行中", "在建"),
    "done": ("done", "已完成", "完成", "已处置"),
}
"""The register's statuses and the words that name them."""

_WORDS = {w.casefold(): status for status, words in STATUSES.items() for w in words}


def read_register(
    path: Path, parcels: pd.DataFrame, *, config: Config, ledger: Ledger
) -> pd.DataFrame:
    """The register's rows for parcels of the layer: ``parcel_id``, ``status`` (one of
    :data:`STATUSES`), ``measure``, ``year``. An unknown status stops the run (it names the
    row and the words allowed); a parcel the layer lacks is an orphan in the ledger; a parcel
    listed twice keeps its last row (the others are duplicates)."""
    rows, _ = read_side_table(
        path,
        REDEVELOPMENT_COLUMNS,
        table="redevelopment",
        columns=config.columns.get("redevelopment"),
        units=config.units.get("redevelopment"),
    )
    src = path.name
    status = rows["status"].astype("string").str.strip().str.casefold().map(_WORDS)
    bad = rows.loc[status.isna(), ["record", "status"]]
    if len(bad):
        allowed = "; ".join(f"{k}: {', '.join(v)}" for k, v in STATUSES.items())
        listed = ", ".join(f"row {r} ({s!r})" for r, s in bad.head(5).itertuples(index=False))
        raise InputError(f"{src}, column status: unknown status in {listed}; use one of {allowed}")
    rows = rows.assign(status=status)
    ledger.register(src, rows["record"], rows["parcel_id"].astype("string"))
    known = set(parcels["parcel_id"].astype(str))
    found = rows["parcel_id"].astype(str).isin(known)
    ledger.set_fate(
        src,
        rows.loc[~found, "record"],
        "orphan",
        rows.loc[~found, "parcel_id"].map(lambda p: f"parcel {p} is not in the parcel layer"),
        check="register entry for an unknown parcel",
    )
    rows = rows.loc[found]
    repeated = rows["parcel_id"].astype(str).duplicated(keep="last")
    ledger.set_fate(
        src,
        rows.loc[repeated, "record"],
        "duplicate",
        "the parcel is listed again further down; the last row counts",
    )
    rows = rows.loc[~repeated]
    ledger.set_fate(src, rows["record"], "used", "in the register")
    ledger.check({src: int(found.size)})
    out = pd.DataFrame(
        {
            "parcel_id": rows["parcel_id"].astype(str).to_numpy(),
            "status": rows["status"].to_numpy(),
            "measure": rows["measure"].to_numpy() if "measure" in rows else None,
            "year": rows["year"].to_numpy() if "year" in rows else None,
        }
    )
    logger.info("redevelopment register: %d parcels", len(out))
    return out


def mark_register(
    parcels: pd.DataFrame, register: pd.DataFrame, *, change: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The parcels with ``redevelopment_status``, ``redevelopment_measure`` and
    ``redevelopment_year`` from the register, and ``underused_new`` (underused and not in the
    register); and the register's table for the exports: each parcel's entry with its
    underuse flag and reasons and, from ``change`` (tax per area, last year minus first), what
    a parcel's redevelopment brought (``tax_change``, shown for every status, meaningful once
    done)."""
    entry = register.set_index("parcel_id")
    ids = parcels["parcel_id"].astype(str)
    out = parcels.assign(
        redevelopment_status=ids.map(entry["status"]).astype("string"),
        redevelopment_measure=ids.map(entry["measure"]).astype("string"),
        redevelopment_year=ids.map(entry["year"]).astype("Int64"),
    )
    if "underused" in out:
        flagged = out["underused"].astype("boolean").fillna(False).astype(bool)
        out["underused_new"] = flagged & out["redevelopment_status"].isna()
    by_id = out.set_index(ids)
    table = register.copy()
    for col in ("park", "underused", "underuse_reasons", change):
        if col in by_id:
            table[col] = table["parcel_id"].map(by_id[col])
    if change in table:
        table[change] = table[change].astype("float64").round(4)
    return out, table
