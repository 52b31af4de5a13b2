"""Two runs of one evaluation year side by side: what the corrections (or any change of input
or method) moved.

``mujun compare OLD NEW`` reads both finished runs (each checked as the notice package checks
it: run.json last written, exports unchanged since) and writes into NEW's exports:

- ``compare_enterprises.csv``: one row per firm-year whose land, money, per-area figures,
  indicators, score, rank or class changed (or that is in one run only), with the old and
  the new value of each column that changed anywhere, and ``changed`` naming the columns of
  that row;
- ``compare_parcels.csv``: one row per parcel whose underuse flag or reasons, zone, cold-spot
  flag, class, commitment or register status changed. A zone counts as changed for a parcel
  when the parcels of its zone are not the same: zone ids are ranks (Z0001 is the zone of
  most gain) and renumber when gains move, which alone is no change of the land;
- ``compare.json``: what was compared (both runs, when they finished, the inputs and config
  keys that differ) and the counts the console prints.

Both runs must evaluate the same year in the same unit; otherwise the comparison is refused
(exit 2): change across years is exports/changes.csv's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mujun.errors import NotARunError
from mujun.finished import FinishedRun, read_run
from mujun.indicators import display_unit
from mujun.io.staging import Staging
from mujun.io.writers import write_csv, write_json

__all__ = ["Comparison", "compare_runs"]

logger = logging.getLogger(__name__)

_KEY = ["uscc", "year"]
_MONEY = ("tax", "value_added", "revenue")
_PARCEL_FLAGS = (
    "underused",
    "underuse_reasons",
    "cold_spot",
    "class",
    "commitment",
    "redevelopment_status",
)


@dataclass
class Comparison:
    """What :func:`compare_runs` found and wrote."""

    old: Path
    new: Path
    year: int
    enterprises: pd.DataFrame
    parcels: pd.DataFrame
    record: dict[str, Any]
    formulas: str = "neutralise"
    """``[output] csv_formulas`` of the new run: how text that a spreadsheet would run is
    written."""
    written: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The console summary."""
        r = self.record
        e, p = r["enterprises"], r["parcels"]
        by = ", ".join(f"{k} {n:,}" for k, n in e["by_column"].items() if n)
        moves = ", ".join(f"{k} {n:,}" for k, n in e["class_moves"].items())
        flags = ", ".join(f"{k} {n:,}" for k, n in p["by_column"].items() if n)
        out = [
            f"compare {self.old} -> {self.new} (year {self.year}): "
            f"{e['changed']:,} firm-years changed ({by or 'nothing'})"
            + (f"; class moves: {moves}" if moves else ""),
            f"parcels: {p['changed']:,} changed ({flags or 'nothing'})",
        ]
        if r["inputs_differ"]:
            out.append("inputs that differ: " + ", ".join(r["inputs_differ"]))
        if r["config_differs"]:
            out.append("configuration that differs: " + ", ".join(r["config_differs"]))
        if self.written:
            out.append("wrote: " + ", ".join(str(w) for w in self.written))
        return out


DIGITS = 2
"""Numbers are compared as the notice prints them, to 2 decimals (scores, per-area figures,
indicators; money in yuan and land in m² to 0 and 1): a score that moves by 0.001 because a
group mean moved is no change anyone can see. Rank and class changes are always listed."""

_DIGITS = {"area_m2": 1, **dict.fromkeys(_MONEY, 0)}


def _differs(a: pd.Series, b: pd.Series, digits: int = DIGITS) -> np.ndarray:
    """Where two aligned columns differ: numbers once rounded to ``digits``, text exactly, a
    value against a blank."""
    if pd.api.types.is_numeric_dtype(a.dtype) and pd.api.types.is_numeric_dtype(b.dtype):
        x = np.round(a.to_numpy(dtype="float64"), digits)
        y = np.round(b.to_numpy(dtype="float64"), digits)
        both = np.isnan(x) & np.isnan(y)
        return ~((x == y) | both)
    s, t = a.astype("string"), b.astype("string")
    blank = s.isna() & t.isna()
    return ~(blank | (s == t).fillna(False)).to_numpy(dtype=bool)


def _side_by_side(
    old: pd.DataFrame,
    new: pd.DataFrame,
    key: list[str],
    columns: Iterable[str],
    *,
    always: Iterable[str] = (),
    context: Iterable[str] = (),
) -> pd.DataFrame:
    """The rows of ``old`` and ``new`` (matched on ``key``) where a column of ``columns``
    differs or that one side lacks: the key, ``context`` (from new, else old), ``presence``,
    ``changed`` and ``<col>_old`` / ``<col>_new`` for each column that differs anywhere
    (and those of ``always``)."""
    columns = [c for c in columns if c in old or c in new]
    o = old.set_index(key)
    n = new.set_index(key)
    both = o.index.union(n.index, sort=False)
    presence = np.where(
        both.isin(o.index), np.where(both.isin(n.index), "both", "old only"), "new only"
    )
    o, n = o.reindex(both), n.reindex(both)

    def side(frame: pd.DataFrame, col: str, blank: object = np.nan) -> pd.Series:
        """A side's column, or a blank one where that side lacks it."""
        return frame[col] if col in frame else pd.Series(blank, index=both)

    diffs = {}
    for col in columns:
        a, b = side(o, col), side(n, col)
        diffs[col] = _differs(a, b, _DIGITS.get(col, DIGITS)) & (presence == "both")
    changed_any = np.zeros(len(both), dtype=bool)
    for mask in diffs.values():
        changed_any |= mask
    keep = changed_any | (presence != "both")
    out = pd.DataFrame(index=both[keep])
    for col in context:
        if col in n or col in o:
            a, b = side(o, col, pd.NA), side(n, col, pd.NA)
            out[col] = b.where(b.notna(), a)[keep].to_numpy()
    out["presence"] = presence[keep]
    names = np.array(list(diffs))
    matrix = np.column_stack([diffs[c][keep] for c in names]) if len(names) else None
    out["changed"] = (
        ["; ".join(names[row]) for row in matrix] if matrix is not None else [""] * int(keep.sum())
    )
    shown = [c for c in columns if diffs[c].any() or c in set(always)]
    for col in shown:
        out[f"{col}_old"] = side(o, col)[keep].to_numpy()
        out[f"{col}_new"] = side(n, col)[keep].to_numpy()
    return out.reset_index()


def _enterprise_columns(run: FinishedRun) -> list[str]:
    unit = display_unit(run.config.output.display_unit)
    indicators = sorted({k for w in run.config.scoring.weights.values() for k in w})
    per_area = [unit.column(m) for m in _MONEY]
    return [
        "land_status",
        "area_m2",
        *_MONEY,
        *per_area,
        *[i for i in indicators if i not in per_area],
        "score",
        "rank",
        "class",
    ]


def _zone_members(parcels: pd.DataFrame) -> pd.Series:
    """Per parcel the parcels of its zone, as one sorted text (missing: in no zone)."""
    if "zone_id" not in parcels:
        return pd.Series(pd.NA, index=parcels.index, dtype="string")
    ids = parcels["parcel_id"].astype(str)
    zone = parcels["zone_id"].astype("string")
    members = ids.groupby(zone).agg(lambda v: " ".join(sorted(v)))
    return zone.map(members).astype("string")


def _inputs_differ(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The inputs (by role) that one run has and the other not, or with another SHA-256."""
    out = []
    for role in sorted(set(old) | set(new)):
        a, b = old.get(role), new.get(role)
        if not isinstance(a, Mapping) or not isinstance(b, Mapping):
            out.append(f"{role} ({'new run only' if a is None else 'old run only'})")
        elif a.get("sha256") != b.get("sha256"):
            out.append(role)
    return out


def _config_differs(old: Mapping[str, Any], new: Mapping[str, Any], where: str = "") -> list[str]:
    """The config keys (``scoring.weights.above_scale.tax_per_mu``) whose values differ, the
    input and output paths aside (they differ between any two runs)."""
    out = []
    for key in sorted(set(old) | set(new)):
        name = f"{where}{key}"
        if name.startswith(("input.", "output.out_dir", "output.overwrite")):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _config_differs(a, b, f"{name}.")
        elif a != b:
            out.append(name)
    return out


def _check_comparable(old: FinishedRun, new: FinishedRun) -> None:
    if old.out.resolve() == new.out.resolve():
        raise NotARunError(f"{old.out} and {new.out} are the same run; give two run folders")
    if old.year != new.year:
        raise NotARunError(
            f"{old.out} evaluates {old.year} and {new.out} {new.year}: compare compares two "
            "runs of one year (the notice and the final list, say); the change from year to "
            "year is in exports/changes.csv"
        )
    a, b = old.config.output.display_unit, new.config.output.display_unit
    if a != b:
        raise NotARunError(
            f"{old.out} reports in {a} and {new.out} in {b}; run both with one display_unit"
        )


def compare_runs(old_out: Path, new_out: Path, *, write: bool = True) -> Comparison:
    """Compare the finished runs in ``old_out`` and ``new_out`` and (``write``) put the
    comparison in ``new_out/exports``. Raises :class:`NotARunError` if either folder holds
    no finished run or the two do not evaluate the same year in the same unit."""
    old, new = read_run(Path(old_out)), read_run(Path(new_out))
    _check_comparable(old, new)
    firms = _side_by_side(
        old.enterprises,
        new.enterprises,
        _KEY,
        _enterprise_columns(new),
        always=("score", "rank", "class"),
        context=("name", "group"),
    )
    parcel_cols = list(_PARCEL_FLAGS)
    po, pn = (pd.DataFrame(r.parcels.drop(columns="geometry")) for r in (old, new))
    po["zone"], pn["zone"] = _zone_members(po), _zone_members(pn)
    tax = display_unit(new.config.output.display_unit).column("tax")
    parcels = _side_by_side(
        po,
        pn,
        ["parcel_id"],
        [*parcel_cols, "zone"],
        context=("park", "zone_id", tax),
    )
    if "zone_old" in parcels:  # the members were for deciding; the ids say which zone
        parcels = parcels.drop(columns=["zone_old", "zone_new"])
        parcels["zone_id_old"] = parcels["parcel_id"].map(
            po.set_index("parcel_id")["zone_id"] if "zone_id" in po else {}
        )
        parcels["zone_id_new"] = parcels["parcel_id"].map(
            pn.set_index("parcel_id")["zone_id"] if "zone_id" in pn else {}
        )
        parcels = parcels.drop(columns="zone_id", errors="ignore")
    if tax in parcels:  # context: the parcel's tax per area in both runs
        parcels[f"{tax}_old"] = parcels["parcel_id"].map(po.set_index("parcel_id")[tax])
        parcels[f"{tax}_new"] = parcels["parcel_id"].map(pn.set_index("parcel_id")[tax])
        parcels = parcels.drop(columns=tax)
    record = _record(old, new, firms, parcels)
    result = Comparison(
        old.out, new.out, new.year, firms, parcels, record, new.config.output.csv_formulas
    )
    if write:
        result.written = _write(result)
    return result


def _count_changes(table: pd.DataFrame) -> dict[str, int]:
    counts: dict[str, int] = {}
    for text in table.loc[table["presence"] == "both", "changed"]:
        for col in str(text).split("; "):
            if col:
                counts[col] = counts.get(col, 0) + 1
    return counts


def _record(
    old: FinishedRun, new: FinishedRun, firms: pd.DataFrame, parcels: pd.DataFrame
) -> dict[str, Any]:
    moves: dict[str, int] = {}
    if "class_old" in firms:
        both = firms["presence"] == "both"
        a = firms.loc[both, "class_old"].astype("string").fillna("-")
        b = firms.loc[both, "class_new"].astype("string").fillna("-")
        for x, y in zip(a, b, strict=True):
            if x != y:
                moves[f"{x}->{y}"] = moves.get(f"{x}->{y}", 0) + 1
    return {
        "mujun_compare": 1,
        "year": new.year,
        "old": {"out": str(old.out), "finished_utc": old.record.get("finished_utc")},
        "new": {"out": str(new.out), "finished_utc": new.record.get("finished_utc")},
        "inputs_differ": _inputs_differ(old.record.get("inputs", {}), new.record.get("inputs", {})),
        "config_differs": _config_differs(
            old.record.get("config", {}), new.record.get("config", {})
        ),
        "enterprises": {
            "changed": len(firms),
            "only_old": int((firms["presence"] == "old only").sum()),
            "only_new": int((firms["presence"] == "new only").sum()),
            "by_column": _count_changes(firms),
            "class_moves": dict(sorted(moves.items())),
        },
        "parcels": {"changed": len(parcels), "by_column": _count_changes(parcels)},
    }


def _write(result: Comparison) -> list[Path]:
    exports = result.new / "exports"
    finals = [
        exports / "compare_enterprises.csv",
        exports / "compare_parcels.csv",
        exports / "compare.json",
    ]
    staging = Staging.begin(result.new)
    try:
        write_csv(
            result.enterprises, staging.path(finals[0]), overwrite=True, formulas=result.formulas
        )
        write_csv(result.parcels, staging.path(finals[1]), overwrite=True, formulas=result.formulas)
        write_json(json.loads(json.dumps(result.record)), staging.path(finals[2]), overwrite=True)
        staging.commit(finals)
    except BaseException:
        staging.abort()
        raise
    return finals
