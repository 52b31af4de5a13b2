"""Checks on parcels and filings, and the Ledger that accounts for every input record.

The ledger has one row per input record (parcel feature, filing row) with its fate and the
reasons. Fates:

``used``       the record is in the outputs;
``fixed``      repaired (e.g. an invalid polygon made valid) and then used;
``vacant``     a parcel that no filing of the evaluation year names;
``orphan``     a filing whose parcel ids all name no parcel (kept in enterprises.csv, no per-mu);
``duplicate``  a repeated record, resolved by the documented rule (the first one is kept);
``rejected``   unusable (no geometry, no id); left out of the outputs.

Records in = sum over fates, per source; :meth:`Ledger.check` raises if not.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mujun.errors import DataQualityWarning, ReconciliationError

__all__ = ["FATES", "Ledger", "check_filings", "check_parcels"]

logger = logging.getLogger(__name__)

FATES = ("used", "fixed", "vacant", "orphan", "duplicate", "rejected")
_TERMINAL = {"rejected", "duplicate"}


class Ledger:
    """Fate and reasons of every input record, per source file."""

    def __init__(self) -> None:
        self._tables: dict[str, pd.DataFrame] = {}

    def register(
        self,
        source: str,
        records: Sequence[int] | np.ndarray | pd.Series,
        keys: Sequence[object] | pd.Series,
    ) -> None:
        """Declare the records read from ``source`` (each must end with exactly one fate)."""
        keys_list = [None if k is None or k is pd.NA else str(k) for k in list(keys)]
        index = pd.Index(np.asarray(records, dtype="int64"), name="record")
        if index.has_duplicates:
            raise ValueError(f"{source}: record numbers repeat")
        self._tables[source] = pd.DataFrame(
            {
                "key": pd.array(keys_list, dtype="string"),
                "fate": pd.array([pd.NA] * len(index), dtype="string"),
                "reason": pd.array([""] * len(index), dtype="string"),
            },
            index=index,
        )

    def set_fate(
        self,
        source: str,
        records: Sequence[int] | np.ndarray | pd.Series,
        fate: str,
        reason: str | Sequence[str] | pd.Series = "",
    ) -> None:
        """Set the fate of ``records`` unless they already have a terminal one.

        ``fixed`` is kept when a repaired record is later found used, vacant or orphaned; the
        later reason is appended.
        """
        if fate not in FATES:
            raise ValueError(f"unknown fate {fate!r}")
        table = self._tables[source]
        idx = pd.Index(np.asarray(records, dtype="int64"))
        if isinstance(reason, pd.Series):
            reasons = pd.Series(reason.to_numpy(), index=idx, dtype="string")
        else:
            reasons = pd.Series(reason, index=idx, dtype="string")
        current = table.loc[idx, "fate"]
        keep_fixed = (current == "fixed").fillna(False).astype(bool)
        settable = current.isna() | (keep_fixed & (fate not in _TERMINAL))
        new_fate = pd.Series(fate, index=idx, dtype="string").where(~keep_fixed, "fixed")
        upd = idx[settable.to_numpy()]
        table.loc[upd, "fate"] = new_fate.loc[upd]
        self.note(source, upd, reasons.loc[upd])

    def note(
        self, source: str, records: Sequence[int] | np.ndarray | pd.Index, reason: str | pd.Series
    ) -> None:
        """Append a reason to ``records`` without changing their fate."""
        table = self._tables[source]
        idx = pd.Index(np.asarray(records, dtype="int64"))
        if len(idx) == 0:
            return
        new = (
            pd.Series(reason, index=idx, dtype="string")
            if isinstance(reason, str)
            else pd.Series(reason.to_numpy(), index=idx, dtype="string")
        )
        old = table.loc[idx, "reason"]
        joined = old.where(old == "", old + "; ") + new
        table.loc[idx, "reason"] = joined.where(new != "", old)

    def fates(self, source: str) -> pd.Series:
        """Fate per record of ``source``."""
        return self._tables[source]["fate"]

    def frame(self) -> pd.DataFrame:
        """The ledger: ``source, record, key, fate, reason``."""
        parts = [t.reset_index().assign(source=s) for s, t in self._tables.items()]
        if not parts:
            return pd.DataFrame(columns=["source", "record", "key", "fate", "reason"])
        return pd.concat(parts, ignore_index=True)[["source", "record", "key", "fate", "reason"]]

    def counts(self) -> dict[str, dict[str, int]]:
        """Records per fate, per source."""
        return {
            s: {f: int((t["fate"] == f).sum()) for f in FATES if (t["fate"] == f).any()}
            for s, t in self._tables.items()
        }

    def check(self, records_in: dict[str, int]) -> None:
        """Raise :class:`ReconciliationError` unless records in = sum over fates, per source."""
        for source, n_in in records_in.items():
            table = self._tables.get(source)
            if table is None:
                raise ReconciliationError(f"ledger has no records for {source}")
            if table["fate"].isna().any():
                lost = table.index[table["fate"].isna().to_numpy()][:10].tolist()
                raise ReconciliationError(f"{source}: records {lost} have no fate")
            if len(table) != n_in:
                raise ReconciliationError(
                    f"{source}: {n_in} records read but {len(table)} in the ledger"
                )


def check_parcels(parcels: gpd.GeoDataFrame, ledger: Ledger, *, source: str) -> gpd.GeoDataFrame:
    """Reject unusable parcel features, repair invalid polygons, resolve duplicate ids.

    Returns the usable parcels (valid Polygon/MultiPolygon, 2D, unique ``parcel_id``).
    Duplicate ids: the first feature is kept and the others are ``duplicate``; if their
    geometries differ this is also a :class:`DataQualityWarning`.
    """
    geoms = parcels.geometry.array
    missing_id = parcels["parcel_id"].isna().to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kind = shapely.get_type_id(geoms)
    polygonal = np.isin(kind, [3, 6])  # Polygon, MultiPolygon
    _reject(ledger, source, parcels, missing_id, "no parcel id (宗地号); fill it in")
    _reject(ledger, source, parcels, empty & ~missing_id, "empty or missing geometry")
    wrong = ~empty & ~polygonal & ~missing_id
    if wrong.any():
        names = pd.Series(shapely.get_type_id(geoms[wrong])).map(
            {
                0: "Point",
                1: "LineString",
                2: "LinearRing",
                4: "MultiPoint",
                5: "MultiLineString",
                7: "GeometryCollection",
            }
        )
        reasons = ("geometry is a " + names.astype(str) + ", not a polygon").tolist()
        ledger.set_fate(source, parcels.loc[wrong, "record"], "rejected", reasons)
    keep = ~(missing_id | empty | wrong)
    out = parcels.loc[keep].copy()
    out = _repair(out, ledger, source)
    return _dedupe_parcels(out, ledger, source)


def _reject(
    ledger: Ledger, source: str, frame: pd.DataFrame, mask: np.ndarray, reason: str
) -> None:
    if mask.any():
        ledger.set_fate(source, frame.loc[mask, "record"], "rejected", reason)
        logger.warning("%s: %d feature(s) rejected: %s", source, int(mask.sum()), reason)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a make_valid result (which may be a GeometryCollection)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _repair(parcels: gpd.GeoDataFrame, ledger: Ledger, source: str) -> gpd.GeoDataFrame:
    """Make invalid polygons valid (fate ``fixed``); reject those with no area left."""
    geoms = shapely.force_2d(parcels.geometry.array)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        before = shapely.area(geoms[invalid])
        fixed = np.array([_polygonal(g) for g in shapely.make_valid(geoms[invalid])], dtype=object)
        after = shapely.area(fixed)
        geoms[invalid] = fixed
        reasons = [
            f"invalid polygon repaired with make_valid: area {a:.1f} -> {b:.1f} (CRS units²)"
            for a, b in zip(before, after, strict=True)
        ]
        ledger.set_fate(source, parcels.loc[invalid, "record"], "fixed", reasons)
        logger.warning("%s: %d invalid polygon(s) repaired", source, int(invalid.sum()))
    no_area = shapely.is_empty(geoms) | (shapely.area(geoms) <= 0)
    if no_area.any():
        # a rejection after a repair overrides "fixed": the record is not used
        table = ledger._tables[source]
        table.loc[parcels.loc[no_area, "record"].to_numpy(), "fate"] = pd.NA
        _reject(ledger, source, parcels, no_area, "polygon has no area (degenerate outline)")
    return parcels.set_geometry(geoms).loc[~no_area]


def _dedupe_parcels(parcels: gpd.GeoDataFrame, ledger: Ledger, source: str) -> gpd.GeoDataFrame:
    dup = parcels["parcel_id"].duplicated(keep="first").to_numpy()
    if not dup.any():
        return parcels
    first = parcels.drop_duplicates("parcel_id").set_index("parcel_id")
    later = parcels.loc[dup]
    same = shapely.equals(later.geometry.array, first.loc[later["parcel_id"]].geometry.array)
    kept_rec = first.loc[later["parcel_id"], "record"].to_numpy()
    reasons = [
        f"parcel id repeats record {r} ({'same' if s else 'different'} geometry); "
        "the first feature is kept"
        for r, s in zip(kept_rec, same, strict=True)
    ]
    ledger.set_fate(source, later["record"], "duplicate", reasons)
    if (~same).any():
        warnings.warn(
            f"{source}: {int((~same).sum())} parcel id(s) repeat with a different "
            "geometry; the first feature of each is kept (see the ledger)",
            DataQualityWarning,
            stacklevel=2,
        )
    return parcels.loc[~dup]


_MONEY = ("tax", "value_added", "revenue", "rd_spend")


def check_filings(filings: pd.DataFrame, ledger: Ledger, *, source: str) -> pd.DataFrame:
    """Reject filing rows without a credit code; resolve duplicate (code, year) rows.

    Rule for duplicates: the first row of each (uscc, year) is kept; later rows are
    ``duplicate``. A later row that differs from the first is also a DataQualityWarning, so a
    planner can check which figure is right.
    """
    no_code = filings["uscc"].isna().to_numpy()
    _reject(ledger, source, filings, no_code, "no credit code (统一社会信用代码); fill it in")
    rows = filings.loc[~no_code]
    dup = rows.duplicated(["uscc", "year"], keep="first")
    if dup.any():
        content = [c for c in rows.columns if c not in {"record"}]
        exact = rows.astype({"parcel_ids": str}).duplicated(content, keep=False) & dup
        first_rec = rows.drop_duplicates(["uscc", "year"]).set_index(["uscc", "year"])["record"]
        later = rows.loc[dup]
        kept = first_rec.loc[list(zip(later["uscc"], later["year"], strict=True))].to_numpy()
        reasons = [
            f"repeats credit code and year of row {k} "
            f"({'identical' if e else 'different figures'}); the first row is kept"
            for k, e in zip(kept, exact.loc[dup], strict=True)
        ]
        ledger.set_fate(source, later["record"], "duplicate", reasons)
        conflicting = int((~exact.loc[dup]).sum())
        if conflicting:
            warnings.warn(
                f"{source}: {conflicting} row(s) repeat a credit code and year with "
                "different figures; the first row is kept (see the ledger)",
                DataQualityWarning,
                stacklevel=2,
            )
    return rows.loc[~dup.to_numpy()]


def money_total(frame: pd.DataFrame) -> dict[str, float]:
    """Sum of each money column present (yuan), NaN treated as 0."""
    return {c: float(frame[c].sum(skipna=True)) for c in _MONEY if c in frame}
