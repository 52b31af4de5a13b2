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
from mujun.identifiers import STATUS_TEXT, uscc_status

__all__ = [
    "FATES",
    "Ledger",
    "check_filings",
    "check_parcels",
    "find_overlaps",
    "odd_figures",
    "reject_unusable",
]

logger = logging.getLogger(__name__)

FATES = ("used", "fixed", "vacant", "orphan", "duplicate", "rejected")
_TERMINAL = {"rejected", "duplicate"}


class Ledger:
    """Fate and reasons of every input record, per source file."""

    def __init__(self) -> None:
        self._tables: dict[str, pd.DataFrame] = {}
        self._events: list[pd.DataFrame] = []

    def _event(self, source: str, records: pd.Index, check: str, reasons: pd.Series | str) -> None:
        if check and len(records):
            self._events.append(
                pd.DataFrame(
                    {
                        "source": source,
                        "record": records.to_numpy(dtype="int64"),
                        "check": check,
                        "detail": (
                            reasons.to_numpy()
                            if isinstance(reasons, pd.Series)
                            else [reasons] * len(records)
                        ),
                    }
                )
            )

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
        *,
        check: str = "",
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
        self.note(source, upd, reasons.loc[upd], check=check)

    def unfix(self, source: str, records: Sequence[int] | np.ndarray | pd.Series) -> None:
        """Clear a ``fixed`` fate so that a later check can reject the record."""
        table = self._tables[source]
        idx = pd.Index(np.asarray(records, dtype="int64"))
        table.loc[idx[(table.loc[idx, "fate"] == "fixed").to_numpy()], "fate"] = pd.NA

    def note(
        self,
        source: str,
        records: Sequence[int] | np.ndarray | pd.Index | pd.Series,
        reason: str | Sequence[str] | pd.Series,
        *,
        check: str = "",
    ) -> None:
        """Append a reason to ``records`` without changing their fate.

        ``check`` names the kind of finding (e.g. ``"overlap"``) for the validation report.
        """
        table = self._tables[source]
        idx = pd.Index(np.asarray(records, dtype="int64"))
        if len(idx) == 0:
            return
        new = (
            pd.Series(reason, index=idx, dtype="string")
            if isinstance(reason, str)
            else pd.Series(np.asarray(reason, dtype=object), index=idx, dtype="string")
        )
        self._event(source, idx, check, new)
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

    def events(self) -> pd.DataFrame:
        """Every finding: ``source, record, key, fate, check, detail`` (one row per finding)."""
        cols = ["source", "record", "key", "fate", "check", "detail"]
        if not self._events:
            return pd.DataFrame(columns=cols)
        events = pd.concat(self._events, ignore_index=True)
        ledger = self.frame().set_index(["source", "record"])
        keys = pd.MultiIndex.from_frame(events[["source", "record"]])
        events["key"] = ledger["key"].reindex(keys).to_numpy()
        events["fate"] = ledger["fate"].reindex(keys).to_numpy()
        return events[cols]

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


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    4: "MultiPoint",
    5: "MultiLineString",
    7: "GeometryCollection",
}


def reject_unusable(parcels: gpd.GeoDataFrame, ledger: Ledger, *, source: str) -> gpd.GeoDataFrame:
    """Reject features without a parcel id, without geometry, or with a non-polygon geometry.

    Z coordinates are dropped (area is 2-D). Returns the remaining features.
    """
    geoms = parcels.geometry.array
    missing_id = parcels["parcel_id"].isna().to_numpy()
    empty = (shapely.is_missing(geoms) | shapely.is_empty(geoms)) & ~missing_id
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    wrong = ~empty & ~polygonal & ~missing_id
    bad_xy = ~(missing_id | empty | wrong) & ~finite_coordinates(geoms)
    _reject(
        ledger,
        source,
        parcels,
        bad_xy,
        "coordinates are not finite numbers (NaN or inf)",
        check="rejected: bad coordinates",
    )
    _reject(
        ledger,
        source,
        parcels,
        missing_id,
        "no parcel id (宗地号); fill it in",
        check="rejected: no parcel id",
    )
    _reject(
        ledger, source, parcels, empty, "empty or missing geometry", check="rejected: no geometry"
    )
    if wrong.any():
        names = pd.Series(shapely.get_type_id(geoms[wrong])).map(_TYPE_NAMES)
        reasons = ("geometry is a " + names.astype(str) + ", not a polygon").tolist()
        ledger.set_fate(
            source,
            parcels.loc[wrong, "record"],
            "rejected",
            reasons,
            check="rejected: not a polygon",
        )
    keep = parcels.loc[~(missing_id | empty | wrong | bad_xy)]
    has_z = shapely.has_z(keep.geometry.array)
    if has_z.any():
        logger.info("%s: Z coordinates dropped from %d features", source, int(has_z.sum()))
        keep = keep.set_geometry(shapely.force_2d(keep.geometry.array))
    return keep


def finite_coordinates(geoms: np.ndarray) -> np.ndarray:
    """Per geometry: all coordinates are finite (missing geometries count as finite)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    bad = np.unique(index[~np.isfinite(coords).all(axis=1)])
    ok = np.ones(len(geoms), dtype=bool)
    ok[bad] = False
    return ok


def check_parcels(
    parcels: gpd.GeoDataFrame, ledger: Ledger, *, source: str, overlap_tolerance_m2: float = 1.0
) -> gpd.GeoDataFrame:
    """Repair, deduplicate and check parcels already in the (projected) working CRS.

    Invalid polygons (self-intersections, bow-ties) are repaired with ``make_valid`` and the
    area before and after is recorded; repeated vertices are removed; what has no area left is
    rejected. Duplicate ids: the first feature is kept, the others are ``duplicate`` (a
    :class:`DataQualityWarning` if their geometries differ). Overlaps between different
    parcels larger than ``overlap_tolerance_m2`` are noted on both records and warned about.
    """
    lost = ~finite_coordinates(parcels.geometry.array)
    _reject(
        ledger,
        source,
        parcels,
        lost,
        "coordinates fall outside the working CRS (not finite after reprojection)",
        check="rejected: bad coordinates",
    )
    out = _repair(parcels.loc[~lost], ledger, source)
    out = _dedupe_parcels(out, ledger, source)
    find_overlaps(out, ledger, source=source, tolerance_m2=overlap_tolerance_m2)
    return out


def _reject(
    ledger: Ledger,
    source: str,
    frame: pd.DataFrame,
    mask: np.ndarray | pd.Series,
    reason: str,
    *,
    check: str,
) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        ledger.set_fate(source, frame.loc[mask, "record"], "rejected", reason, check=check)
        logger.warning("%s: %d record(s) rejected: %s", source, int(mask.sum()), reason)


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a make_valid result (which may be a GeometryCollection)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _repair(parcels: gpd.GeoDataFrame, ledger: Ledger, source: str) -> gpd.GeoDataFrame:
    """Make invalid polygons valid (fate ``fixed``); reject those with no area left."""
    geoms = parcels.geometry.array.copy()
    n_before = shapely.get_num_coordinates(geoms)
    # valid polygons keep >= 3 distinct vertices per ring; invalid ones go to make_valid
    ok = shapely.is_valid(geoms)
    geoms[ok] = shapely.remove_repeated_points(geoms[ok])
    repeated = shapely.get_num_coordinates(geoms) < n_before
    if repeated.any():
        ledger.set_fate(
            source,
            parcels.loc[repeated, "record"],
            "fixed",
            [
                f"{n} repeated vertices removed (area unchanged)"
                for n in (n_before - shapely.get_num_coordinates(geoms))[repeated]
            ],
            check="fixed: repeated vertices",
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        why = shapely.is_valid_reason(geoms[invalid])
        before = shapely.area(geoms[invalid])
        fixed = np.array([_polygonal(g) for g in shapely.make_valid(geoms[invalid])], dtype=object)
        after = shapely.area(fixed)
        geoms[invalid] = fixed
        reasons = [
            f"invalid polygon ({w}) repaired with make_valid: area {a:.1f} -> {b:.1f} m²"
            for w, a, b in zip(why, before, after, strict=True)
        ]
        ledger.set_fate(
            source, parcels.loc[invalid, "record"], "fixed", reasons, check="fixed: invalid polygon"
        )
        logger.warning("%s: %d invalid polygon(s) repaired", source, int(invalid.sum()))
    no_area = shapely.is_empty(geoms) | (shapely.area(geoms) <= 0)
    if no_area.any():
        ledger.unfix(source, parcels.loc[no_area, "record"])
        _reject(
            ledger,
            source,
            parcels,
            no_area,
            "polygon has no area (degenerate outline)",
            check="rejected: no area",
        )
    return parcels.set_geometry(geoms).loc[~no_area]


def _dedupe_parcels(parcels: gpd.GeoDataFrame, ledger: Ledger, source: str) -> gpd.GeoDataFrame:
    dup = parcels["parcel_id"].duplicated(keep="first").to_numpy()
    if not dup.any():
        return parcels
    first = parcels.drop_duplicates("parcel_id").set_index("parcel_id")
    later = parcels.loc[dup]
    same = shapely.equals(later.geometry.array, first.loc[later["parcel_id"]].geometry.array)
    kept = first.loc[later["parcel_id"]]
    reasons = [
        f"parcel id {raw!r} repeats {kept_raw!r} of record {rec} "
        f"({'same' if eq else 'different'} geometry); the first feature is kept"
        for raw, kept_raw, rec, eq in zip(
            later["parcel_id_raw"], kept["parcel_id_raw"], kept["record"], same, strict=True
        )
    ]
    ledger.set_fate(source, later["record"], "duplicate", reasons, check="duplicate parcel id")
    if (~same).any():
        warnings.warn(
            f"{source}: {int((~same).sum())} parcel id(s) repeat with a different geometry; "
            "the first feature of each is kept (see the ledger)",
            DataQualityWarning,
            stacklevel=3,
        )
    return parcels.loc[~dup]


def find_overlaps(
    parcels: gpd.GeoDataFrame,
    ledger: Ledger | None = None,
    *,
    source: str = "",
    tolerance_m2: float = 1.0,
) -> pd.DataFrame:
    """Pairs of parcels whose land overlaps by more than ``tolerance_m2`` (projected CRS).

    Returns ``parcel_id_a, parcel_id_b, overlap_m2``; with a ledger, notes both records.
    """
    geoms = parcels.geometry.array
    left, right = parcels.sindex.query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    area = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    big = area > tolerance_m2
    ids = parcels["parcel_id"].to_numpy()
    found = pd.DataFrame(
        {"parcel_id_a": ids[left[big]], "parcel_id_b": ids[right[big]], "overlap_m2": area[big]}
    )
    if ledger is not None and len(found):
        rec = parcels["record"].to_numpy()
        for a, b in ((left[big], right[big]), (right[big], left[big])):
            ledger.note(
                source,
                rec[a],
                [
                    f"overlaps parcel {o} by {m:.1f} m²"
                    for o, m in zip(ids[b], area[big], strict=True)
                ],
                check="overlap",
            )
        warnings.warn(
            f"{source}: {len(found)} pair(s) of parcels overlap by more than "
            f"{tolerance_m2:g} m² (see the ledger)",
            DataQualityWarning,
            stacklevel=3,
        )
    return found


_MONEY = ("tax", "value_added", "revenue", "rd_spend")
_COUNTS = ("employees", "energy_tce", "electricity_kwh")


def check_filings(
    filings: pd.DataFrame, ledger: Ledger, *, source: str, check_codes: bool = True
) -> pd.DataFrame:
    """Reject unusable filing rows, resolve duplicates, flag odd figures and credit codes.

    Rejected: rows marked while reading (blank rows, totals rows, cells that are not numbers
    with ``on_invalid = "reject"``, blank year) and rows without a credit code. Duplicates:
    the first row of each (uscc, year) is kept; later rows are ``duplicate`` (a warning if
    their figures differ). Flagged, kept: credit codes failing the GB 32100-2015 checks,
    negative money (refunds), zero employees or energy; see :func:`odd_figures`.
    """
    problem = (
        filings["problem"].fillna("") != ""
        if "problem" in filings
        else pd.Series(False, index=filings.index)
    )
    for reason, rows in filings.loc[problem].groupby("problem"):
        text = str(reason)
        kind = (
            "totals row"
            if "totals row" in text
            else "blank row"
            if text == "blank row"
            else ("blank year" if "year" in text else "bad value")
        )
        ledger.set_fate(source, rows["record"], "rejected", text, check=f"rejected: {kind}")
    filings = filings.loc[~problem]
    no_code = filings["uscc"].isna().to_numpy()
    _reject(
        ledger,
        source,
        filings,
        no_code,
        "no credit code (统一社会信用代码); fill it in",
        check="rejected: no credit code",
    )
    rows = filings.loc[~no_code]
    dup = rows.duplicated(["uscc", "year"], keep="first")
    if dup.any():
        _duplicates(rows, dup, ledger, source)
    kept = rows.loc[~dup.to_numpy()]
    status = (
        _flag_codes(kept, ledger, source)
        if check_codes
        else pd.Series("not checked", index=kept.index, dtype="string")
    )
    flags = odd_figures(kept)
    odd = flags != ""
    ledger.note(source, kept.loc[odd, "record"], flags[odd], check="odd figures")
    return kept.assign(data_flags=flags, uscc_check=status)


def _duplicates(rows: pd.DataFrame, dup: pd.Series, ledger: Ledger, source: str) -> None:
    content = [c for c in rows.columns if c not in {"record", "problem"}]
    exact = rows.astype({"parcel_ids": str}).duplicated(content, keep=False) & dup
    first_rec = rows.drop_duplicates(["uscc", "year"]).set_index(["uscc", "year"])["record"]
    later = rows.loc[dup]
    kept = first_rec.loc[list(zip(later["uscc"], later["year"], strict=True))].to_numpy()
    reasons = [
        f"repeats credit code and year of row {k} "
        f"({'identical' if e else 'different figures'}); the first row is kept"
        for k, e in zip(kept, exact.loc[dup], strict=True)
    ]
    ledger.set_fate(source, later["record"], "duplicate", reasons, check="duplicate filing row")
    conflicting = int((~exact.loc[dup]).sum())
    if conflicting:
        warnings.warn(
            f"{source}: {conflicting} row(s) repeat a credit code and year with different "
            "figures; the first row is kept (see the ledger)",
            DataQualityWarning,
            stacklevel=3,
        )


def _flag_codes(filings: pd.DataFrame, ledger: Ledger, source: str) -> pd.Series:
    status = uscc_status(filings["uscc"])
    bad = (status != "ok").to_numpy()
    if bad.any():
        ledger.note(
            source,
            filings.loc[bad, "record"],
            (
                "credit code "
                + filings.loc[bad, "uscc"].astype(str)
                + ": "
                + status[bad].map(STATUS_TEXT).astype(str)
            ),
            check="credit code check failed",
        )
        warnings.warn(
            f"{source}: {int(bad.sum())} credit code(s) fail the GB 32100-2015 "
            "checks; kept and flagged (see the ledger)",
            DataQualityWarning,
            stacklevel=3,
        )
    return status


def odd_figures(filings: pd.DataFrame) -> pd.Series:
    """Per row, the odd figures it holds, e.g. ``"negative tax (refund); zero employees"``.

    They are kept in the data; an indicator they would corrupt (a ratio with a zero or
    negative denominator) is left out for that row, never the row itself.
    """
    parts: list[pd.Series] = []
    for col in _MONEY:
        if col in filings:
            parts.append(
                pd.Series(np.where(filings[col] < 0, f"negative {col}", ""), index=filings.index)
            )
    for col in _COUNTS:
        if col in filings:
            parts.append(
                pd.Series(np.where(filings[col] == 0, f"zero {col}", ""), index=filings.index)
            )
    if not parts or filings.empty:
        return pd.Series("", index=filings.index, dtype="string")
    joined = pd.concat(parts, axis=1).apply(lambda r: "; ".join(v for v in r if v), axis=1)
    return joined.astype("string")
