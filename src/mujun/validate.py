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
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from mujun.errors import DataQualityWarning, ReconciliationError
from mujun.identifiers import STATUS_TEXT, uscc_status

__all__ = [
    "FATES",
    "Ledger",
    "LedgerLog",
    "check_filings",
    "check_geometry",
    "check_parcels",
    "dedupe_parcels",
    "find_overlaps",
    "fixed_text",
    "note_overlaps",
    "odd_figures",
    "overlap_pairs",
    "reject_unusable",
]

logger = logging.getLogger(__name__)

FATES = ("used", "fixed", "vacant", "orphan", "duplicate", "rejected")
_TERMINAL = {"rejected", "duplicate"}


def _key_text(keys: Sequence[object] | pd.Series) -> pd.api.extensions.ExtensionArray:
    """Record keys as text: ``str(key)``, missing (None, NA) as missing."""
    if isinstance(keys, pd.Series) and isinstance(keys.dtype, pd.StringDtype):
        return keys.astype("string").array
    keys_list = [None if k is None or k is pd.NA else str(k) for k in list(keys)]
    return pd.array(keys_list, dtype="string")


def _repeated(text: str | None, n: int) -> pd.api.extensions.ExtensionArray:
    """A ``"string"`` array of ``n`` times ``text`` (missing for ``None``)."""
    arr = pa.repeat(pa.scalar(text, pa.large_string()), n)
    return pd.arrays.ArrowStringArray(pa.chunked_array([arr], type=pa.large_string()))


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
        index = pd.Index(np.asarray(records, dtype="int64"), name="record")
        if index.has_duplicates:
            raise ValueError(f"{source}: record numbers repeat")
        self._tables[source] = pd.DataFrame(
            {
                "key": _key_text(keys),
                "fate": _repeated(None, len(index)),
                "reason": _repeated("", len(index)),
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


class LedgerLog(Ledger):
    """A ledger that records its calls instead of applying them, for work done on a part of
    the data elsewhere (a dask worker); :meth:`replay` applies them to the real ledger in the
    order they were made, which gives the real ledger what doing the work there would have.

    The checks that use it only write to the ledger, never read it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def set_fate(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("set_fate", args, kwargs))

    def note(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("note", args, kwargs))

    def unfix(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("unfix", args, kwargs))

    @staticmethod
    def replay(
        calls: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]], ledger: Ledger
    ) -> None:
        """Apply recorded ``calls`` to ``ledger``."""
        for name, args, kwargs in calls:
            getattr(ledger, name)(*args, **kwargs)


def fixed_text(values: np.ndarray, decimals: int = 1) -> pd.Series:
    """``f"{v:.{decimals}f}"`` of each float, in bulk, character for character.

    The scaled value is rounded half-even by NumPy, which agrees with Python's correctly
    rounded formatting except within an ulp of a half; those values, huge ones and NaN/inf are
    formatted by Python.
    """
    x = np.asarray(values, dtype="float64")
    scale = 10**decimals
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.abs(x) * scale
        frac = y - np.floor(y)
        unsure = ~(y < 2.0**52) | (np.abs(frac - 0.5) <= 2 * np.spacing(y))
    digits = np.where(unsure, 0, np.rint(np.where(unsure, 0, y))).astype(np.int64)
    whole = pc.cast(pa.array(digits // scale), pa.string())
    text = pc.binary_join_element_wise(np.where(np.signbit(x), "-", ""), whole, "")
    if decimals:
        part = pc.utf8_lpad(pc.cast(pa.array(digits % scale), pa.string()), decimals, "0")
        text = pc.binary_join_element_wise(text, part, ".")
    out = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    out[unsure] = [f"{v:.{decimals}f}" for v in x[unsure]]
    return pd.Series(out, dtype=object)


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
    out = check_geometry(parcels, ledger, source=source)
    out = dedupe_parcels(out, ledger, source)
    find_overlaps(out, ledger, source=source, tolerance_m2=overlap_tolerance_m2)
    return out


def check_geometry(parcels: gpd.GeoDataFrame, ledger: Ledger, *, source: str) -> gpd.GeoDataFrame:
    """The part of :func:`check_parcels` that looks at one feature at a time: reject what has
    no finite coordinates in the working CRS, repair the rest."""
    lost = ~finite_coordinates(parcels.geometry.array)
    _reject(
        ledger,
        source,
        parcels,
        lost,
        "coordinates fall outside the working CRS (not finite after reprojection)",
        check="rejected: bad coordinates",
    )
    return _repair(parcels.loc[~lost], ledger, source)


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


def _polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """:func:`_polygonal` of each geometry; only the mixed collections need a union each."""
    out = np.asarray(geoms, dtype=object).copy()
    mixed = ~np.isin(shapely.get_type_id(out), [3, 6])
    out[mixed] = [_polygonal(g) for g in out[mixed]]
    return out


def _repair(parcels: gpd.GeoDataFrame, ledger: Ledger, source: str) -> gpd.GeoDataFrame:
    """Make invalid polygons valid (fate ``fixed``); reject those with no area left."""
    geoms = parcels.geometry.array.copy()
    n_before = shapely.get_num_coordinates(geoms)
    # valid polygons keep >= 3 distinct vertices per ring; invalid ones go to make_valid
    ok = shapely.is_valid(geoms)
    maybe = ok & _consecutive_duplicates(geoms)  # the others have no repeated point to remove
    geoms[maybe] = shapely.remove_repeated_points(geoms[maybe])
    repeated = shapely.get_num_coordinates(geoms) < n_before
    # the same points in the same order: only the invalid and the changed can be invalid now
    recheck = ~ok | repeated
    if repeated.any():
        removed = (n_before - shapely.get_num_coordinates(geoms))[repeated]
        ledger.set_fate(
            source,
            parcels.loc[repeated, "record"],
            "fixed",
            pd.Series(removed).astype(str) + " repeated vertices removed (area unchanged)",
            check="fixed: repeated vertices",
        )
    invalid = np.zeros(len(geoms), dtype=bool)
    invalid[recheck] = ~shapely.is_valid(geoms[recheck])
    if invalid.any():
        why = shapely.is_valid_reason(geoms[invalid])
        before = shapely.area(geoms[invalid])
        fixed = _polygonal_parts(shapely.make_valid(geoms[invalid]))
        after = shapely.area(fixed)
        geoms[invalid] = fixed
        reasons = (
            "invalid polygon ("
            + pd.Series(why, dtype=object)
            + ") repaired with make_valid: area "
            + fixed_text(before)
            + " -> "
            + fixed_text(after)
            + " m²"
        )
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


_PLAIN_REPR = r"[ -&(-\[\]-~]*"  # printable ASCII but ' and \: repr() only adds quotes


def _reprs(values: pd.Series) -> pd.Series:
    """``repr(v)`` of each value (index 0..n-1); plain ASCII text in bulk, the rest in Python."""
    obj = pd.Series(values.to_numpy(dtype=object), dtype=object)
    text = obj.astype("string")
    plain = np.zeros(len(obj), dtype=bool)
    if isinstance(values.dtype, pd.StringDtype):  # str values (or missing)
        plain = text.str.fullmatch(_PLAIN_REPR).fillna(False).to_numpy(dtype=bool)
    out = ("'" + text.where(plain, "") + "'").astype(object)
    out[~plain] = [repr(v) for v in obj[~plain]]
    return out


def _consecutive_duplicates(geoms: np.ndarray) -> np.ndarray:
    """Per geometry: two consecutive coordinates are equal (a superset of those with repeated
    points, as a ring's last point can equal the next ring's first)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    same = (coords[1:] == coords[:-1]).all(axis=1) & (index[1:] == index[:-1])
    found = np.zeros(len(geoms), dtype=bool)
    found[index[1:][same]] = True
    return found


def dedupe_parcels(parcels: gpd.GeoDataFrame, ledger: Ledger, source: str) -> gpd.GeoDataFrame:
    dup = parcels["parcel_id"].duplicated(keep="first").to_numpy()
    if not dup.any():
        return parcels
    first = parcels.drop_duplicates("parcel_id").set_index("parcel_id")
    later = parcels.loc[dup]
    same = shapely.equals(later.geometry.array, first.loc[later["parcel_id"]].geometry.array)
    kept = first.loc[later["parcel_id"]]
    reasons = (
        "parcel id "
        + _reprs(later["parcel_id_raw"])
        + " repeats "
        + _reprs(kept["parcel_id_raw"])
        + " of record "
        + kept["record"].astype(str).to_numpy()
        + np.where(same, " (same geometry)", " (different geometry)")
        + "; the first feature is kept"
    )
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
    left, right, area = overlap_pairs(parcels.geometry.array)
    return note_overlaps(
        parcels, left, right, area, ledger, source=source, tolerance_m2=tolerance_m2
    )


def overlap_pairs(
    geoms: np.ndarray, others: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` of intersecting parcels and the area of their intersection.

    Within one set (``others`` None): each pair once, ``i < j``. Between two sets: ``i`` in
    ``geoms``, ``j`` in ``others``. Sorted by ``i`` then ``j``.
    """
    if others is None:
        left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        other = geoms
    else:
        right, left = shapely.STRtree(geoms).query(others, predicate="intersects")
        other = others
    order = np.lexsort((right, left))
    left, right = left[order], right[order]
    area = shapely.area(shapely.intersection(geoms[left], other[right]))
    return left, right, area


def note_overlaps(
    parcels: pd.DataFrame,
    left: np.ndarray,
    right: np.ndarray,
    area: np.ndarray,
    ledger: Ledger | None = None,
    *,
    source: str = "",
    tolerance_m2: float = 1.0,
) -> pd.DataFrame:
    """The overlaps of :func:`find_overlaps` from pairs of positions in ``parcels`` (sorted
    by the first, then the second) and their overlap areas."""
    big = area > tolerance_m2
    ids = parcels["parcel_id"].to_numpy()
    found = pd.DataFrame(
        {"parcel_id_a": ids[left[big]], "parcel_id_b": ids[right[big]], "overlap_m2": area[big]}
    )
    if ledger is not None and len(found):
        rec = parcels["record"].to_numpy()
        by = " by " + fixed_text(area[big]) + " m²"
        for a, b in ((left[big], right[big]), (right[big], left[big])):
            other = pd.Series(ids[b], dtype=object).astype(str)
            ledger.note(source, rec[a], "overlaps parcel " + other + by, check="overlap")
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
    _reject_marked(filings.loc[problem], ledger, source)
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


def _reject_marked(marked: pd.DataFrame, ledger: Ledger, source: str) -> None:
    """Reject the rows marked while reading, grouped by their text (sorted), like a groupby.

    One ledger call per run of texts of the same kind, not one per text: texts naming the
    cell are as many as the bad cells.
    """
    if marked.empty:
        return
    text = marked["problem"].astype("string")
    order = np.argsort(text.to_numpy(dtype=object), kind="stable")
    text = text.iloc[order]
    records = marked["record"].iloc[order]
    kind = np.where(
        text.str.contains("totals row", regex=False),
        "totals row",
        np.where(
            text == "blank row",
            "blank row",
            np.where(text.str.contains("year", regex=False), "blank year", "bad value"),
        ),
    )
    starts = np.flatnonzero(np.r_[True, kind[1:] != kind[:-1]])
    for a, b in zip(starts, [*starts[1:], len(kind)], strict=True):
        ledger.set_fate(
            source,
            records.iloc[a:b],
            "rejected",
            text.iloc[a:b].astype(str),
            check=f"rejected: {kind[a]}",
        )


def _duplicates(all_rows: pd.DataFrame, dup: pd.Series, ledger: Ledger, source: str) -> None:
    # only rows sharing a credit code and year can repeat one another (content includes both)
    rows = all_rows.loc[all_rows.duplicated(["uscc", "year"], keep=False).to_numpy()]
    dup = dup.loc[rows.index]
    content = [c for c in rows.columns if c not in {"record", "problem"}]
    # parcel id tuples compared as values (as their text would be), by a code per tuple
    coded = rows.assign(parcel_ids=pd.factorize(rows["parcel_ids"].to_numpy(dtype=object))[0])
    exact = coded.duplicated(content, keep=False) & dup
    first = rows.groupby(["uscc", "year"], sort=False, dropna=False)["record"].transform("first")
    later = rows.loc[dup]
    reasons: pd.Series = (
        "repeats credit code and year of row "
        + first.loc[dup].astype(str)
        + np.where(exact.loc[dup], " (identical)", " (different figures)")
        + "; the first row is kept"
    )
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
    flags = [(f"negative {c}", filings[c] < 0) for c in _MONEY if c in filings]
    flags += [(f"zero {c}", filings[c] == 0) for c in _COUNTS if c in filings]
    joined = np.full(len(filings), "", dtype=object)
    for label, found in flags:  # "; " between the labels of a row, in this order
        hit = np.asarray(found, dtype=bool)
        more = hit & (joined != "")
        joined[more] = joined[more] + f"; {label}"
        joined[hit & ~more] = label
    return pd.Series(joined, index=filings.index, dtype="string")
