"""Land-grant commitments (标准地): what a firm promised for a parcel when it got the land,
checked against what the run measured once the commitment falls due.

Zhejiang's 标准地 reform grants industrial land with its indicators fixed in advance —
investment intensity, FAR, tax per mu (and energy, emissions) — and checks them at the
agreed date ("达产复核"; docs/method.md). A commitment table gives, per parcel, the committed
investment intensity, FAR, tax per mu and output per mu (万元/亩 for the money, whatever the
run's display unit) and the year they fall due. From that year on the run compares the
parcel's actual FAR (from the building footprints), tax per mu and output per mu (revenue
per mu) of the evaluation year; investment intensity is not in the filings, so it is listed
as committed and not checked. A parcel the layer does not have goes to the ledger.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mujun.config import Config
from mujun.errors import SchemaError
from mujun.io.readers import read_side_table
from mujun.schema import COMMITMENT_COLUMNS
from mujun.validate import Ledger

__all__ = ["CHECKED", "check_commitments", "commitment_of_parcels"]

logger = logging.getLogger(__name__)

CHECKED = {"far": "far", "tax_per_mu": "tax_per_mu", "output_per_mu": "revenue_per_mu"}
"""Committed indicator -> the parcel column that measures it (in 万元/亩, FAR unitless)."""


def check_commitments(
    path: Path, parcels: pd.DataFrame, *, year: int, config: Config, ledger: Ledger
) -> pd.DataFrame:
    """One row per commitment: parcel, due year, ``status`` (due, not yet due), and for each
    checked indicator the committed and actual values, the shortfall (committed − actual,
    positive = short) and whether it was met; ``short`` if any due indicator was missed.
    ``parcels`` has ``parcel_id`` and the measured columns of :data:`CHECKED`, per mu."""
    rows, units = read_side_table(
        path,
        COMMITMENT_COLUMNS,
        table="commitments",
        columns=config.columns.get("commitments"),
        units=config.units.get("commitments"),
    )
    src = path.name
    _check_units(units, src)
    ledger.register(src, rows["record"], rows["parcel_id"].astype("string"))
    known = parcels.set_index(parcels["parcel_id"].astype(str), drop=False)
    known = known.loc[~known.index.duplicated()]
    found = rows["parcel_id"].astype(str).isin(known.index)
    ledger.set_fate(
        src,
        rows.loc[~found, "record"],
        "orphan",
        rows.loc[~found, "parcel_id"].map(lambda p: f"parcel {p} is not in the parcel layer"),
        check="commitment for an unknown parcel",
    )
    rows = rows.loc[found].reset_index(drop=True)
    due = rows["due"].astype("Int64")
    out = pd.DataFrame(
        {
            "parcel_id": rows["parcel_id"].astype(str),
            "record": rows["record"],
            "due": due,
            "status": np.where(due.fillna(year + 1).to_numpy() <= year, "due", "not yet due"),
        }
    )
    if "investment_per_mu" in rows:
        out["investment_per_mu_committed"] = rows["investment_per_mu"]
    short = pd.Series(False, index=out.index)
    for name, measured in CHECKED.items():
        if name not in rows:
            continue
        committed = rows[name].astype("float64")
        actual = out["parcel_id"].map(known[measured]) if measured in known else np.nan
        actual = pd.Series(actual, index=out.index, dtype="float64")
        checked = (out["status"] == "due") & committed.notna() & actual.notna()
        out[f"{name}_committed"] = committed
        out[f"{name}_actual"] = actual.where(out["status"] == "due")
        out[f"{name}_shortfall"] = (committed - actual).where(checked)
        met = pd.array(np.where(checked, actual >= committed, False), dtype="boolean")
        met[~checked.to_numpy()] = pd.NA
        out[f"{name}_met"] = met
        short |= checked & (actual < committed)
    out["short"] = short & (out["status"] == "due")
    floats = out.select_dtypes("float64").columns
    out[floats] = out[floats].round(4)
    ledger.set_fate(
        src,
        out["record"],
        "used",
        out["status"].map({"due": f"checked against {year}", "not yet due": "not yet due"}),
    )
    ledger.check({src: int(found.size)})
    logger.info(
        "commitments: %d due, %d short of them, %d not yet due",
        int((out["status"] == "due").sum()),
        int(out["short"].sum()),
        int((out["status"] != "due").sum()),
    )
    return out


_PER_MU = {"万元/亩", "万元每亩", "10kyuan/mu"}


def _check_units(units: dict[str, str | None], source: str) -> None:
    """Committed money per mu is in 万元/亩: a header naming another unit stops the run
    (converting 元/平方米 silently is how a commitment would come out 667 times off)."""
    for name in ("investment_per_mu", "tax_per_mu", "output_per_mu"):
        unit = units.get(name)
        if unit is not None and unit.replace(" ", "").casefold() not in _PER_MU:
            raise SchemaError(
                f"{source}: column {name} is in {unit!r}; commitments are read in 万元/亩: "
                "convert the column or rename its header to e.g. 亩均税收(万元/亩)"
            )


def commitment_of_parcels(parcel_ids: pd.Series, table: pd.DataFrame) -> pd.Series:
    """Each parcel's commitment state: ``short`` (a due commitment missed), ``met`` (every
    due one met), ``not yet due``, or missing (no commitment)."""
    rank = {"short": 3, "met": 2, "not yet due": 1}
    state = pd.Series(
        np.where(table["short"], "short", np.where(table["status"] == "due", "met", "not yet due")),
        index=table["parcel_id"].to_numpy(),
    )
    worst = state.groupby(level=0).agg(lambda v: max(v, key=rank.__getitem__))
    return parcel_ids.astype(str).map(worst).astype("string").set_axis(parcel_ids.index)
