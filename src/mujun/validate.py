"""Checks on parcels and filings, and the Ledger that accounts for every input record.

The ledger has one row per input record (parcel feature, filing row) with its fate and the
reasons. Fates:

``used``       the record is in the outputs;
``fixed``      repaired (e.g. an invalid polygon made valid) and then used;
``vacant``     a parcel that no filing of the evaluation year names;
``orphan``     a filing whose parcel ids all name no parcel (kept in enterprises.csv, no per-mu);
``duplicate``  a repeated record, resolved by the documented rule (the first one is kept);
``merged``     a parcel feature that is one part of a parcel stored as several features with
               one id: dissolved into the record kept, which carries its land;
``rejected``   unusable (no geometry, no id, a placeholder id); left out of the outputs.

``rejected``, ``duplicate`` and ``merged`` are final: they replace ``fixed`` (a record repaired
and then dropped says both in its reason).

Records in = sum over fates, per source; :meth:`Ledger.check` raises if not.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from mujun.errors import DataQualityWarning, InputError, ReconciliationError, SchemaError
from mujun.identifiers import STATUS_TEXT, uscc_status

__all__ = [
    "FATES",
    "Ledger",
    "LedgerLog",
    "check_filings",
    "check_geometry",
    "check_scored_money",
    "dedupe_parcels",
    "find_overlaps",
    "fixed_text",
    "implausible_firms",
    "implausible_parcels",
    "note_declared_area",
    "note_overlaps",
    "nothing_usable",
    "odd_figures",
    "overlap_pairs",
    "reject_outside",
    "reject_unusable",
    "usable_parcels",
]

logger = logging.getLogger(__name__)

_LISTED = 20  # examples listed in an error message

FATES = ("used", "fixed", "vacant", "orphan", "merged", "duplicate", "rejected")
_TERMINAL = {"rejected", "duplicate", "merged"}


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


def _texts(reason: object, n: int) -> pa.Array | None:
    """``n`` reasons as Arrow text: a string repeated, or the values in order; None if one
    is missing or not a string (those go through pandas)."""
    try:
        if isinstance(reason, str):
            return pa.repeat(pa.scalar(reason, pa.large_string()), n)
        if isinstance(reason, pa.Array):
            text = reason.cast(pa.large_string())
        elif isinstance(reason, pd.Series) and isinstance(reason.dtype, pd.StringDtype):
            text = pa.array(reason.array).cast(pa.large_string())
        else:
            values = reason.to_numpy() if isinstance(reason, pd.Series) else reason
            text = pa.array(np.asarray(values, dtype=object), pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    return text if len(text) == n and not text.null_count else None


def _column(table: pd.DataFrame, name: str) -> pa.Array:
    """A text column of a ledger table as one Arrow array."""
    text = pa.array(table[name].array)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _write(table: pd.DataFrame, name: str, at: np.ndarray, values: pa.Array) -> None:
    """Set the text column ``name`` at positions ``at`` (no repeats) to ``values``."""
    if not len(at):
        return
    order = np.argsort(at, kind="stable")
    mask = np.zeros(len(table), dtype=bool)
    mask[at] = True
    text = pc.replace_with_mask(_column(table, name), pa.array(mask), values.take(pa.array(order)))
    table[name] = pd.array(text, dtype="string")


class Ledger:
    """Fate and reasons of every input record, per source file."""

    def __init__(self) -> None:
        self._tables: dict[str, pd.DataFrame] = {}
        self._events: list[pd.DataFrame] = []
        self._first: dict[str, int | None] = {}  # first record of sources numbered 1, 2, ...

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
        values = index.to_numpy()
        contiguous = not len(values) or bool(
            values[-1] - values[0] == len(values) - 1 and index.is_monotonic_increasing
        )
        self._first[source] = int(values[0]) if contiguous and len(values) else None
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

        ``fixed`` is kept when a repaired record is later found used, vacant or orphaned, and
        replaced by a terminal fate (rejected, duplicate, merged); the later reason is appended.
        """
        if fate not in FATES:
            raise ValueError(f"unknown fate {fate!r}")
        idx = pd.Index(np.asarray(records, dtype="int64"))
        at, reasons = self._rows(source, idx), _texts(reason, len(idx))
        if at is None or reasons is None:
            self._set_fate_by_label(source, idx, fate, reason, check=check)
            return
        table = self._tables[source]
        current = _column(table, "fate").take(pa.array(at))
        was_fixed = np.asarray(pc.fill_null(pc.equal(current, "fixed"), False), dtype=bool)
        settable = np.asarray(current.is_null(), dtype=bool) | was_fixed
        keep_fixed = was_fixed & (fate not in _TERMINAL)
        new_fate = pa.array(np.where(keep_fixed, "fixed", fate)[settable], pa.large_string())
        _write(table, "fate", at[settable], new_fate)
        self.note(source, idx[settable], reasons.filter(pa.array(settable)), check=check)

    def _set_fate_by_label(
        self,
        source: str,
        idx: pd.Index,
        fate: str,
        reason: str | Sequence[str] | pd.Series,
        *,
        check: str,
    ) -> None:
        """:meth:`set_fate` label by label (records repeated, missing reasons)."""
        table = self._tables[source]
        if isinstance(reason, pd.Series):
            reasons = pd.Series(reason.to_numpy(), index=idx, dtype="string")
        else:
            reasons = pd.Series(reason, index=idx, dtype="string")
        current = table.loc[idx, "fate"]
        was_fixed = (current == "fixed").fillna(False).astype(bool)
        settable = current.isna() | was_fixed
        keep_fixed = was_fixed & (fate not in _TERMINAL)
        new_fate = pd.Series(fate, index=idx, dtype="string").where(~keep_fixed, "fixed")
        upd = idx[settable.to_numpy()]
        table.loc[upd, "fate"] = new_fate.loc[upd]
        self.note(source, upd, reasons.loc[upd], check=check)

    def _rows(self, source: str, idx: pd.Index) -> np.ndarray | None:
        """Positions of the records ``idx`` in the table of ``source``; None if one is not
        there or one repeats (those go label by label, as pandas treats them)."""
        table = self._tables[source]
        first = self._first.get(source)
        if first is not None:
            at = idx.to_numpy() - first
            if len(at) and (at.min() < 0 or at.max() >= len(table)):
                return None
        else:
            at = table.index.get_indexer(idx)
            if (at < 0).any():
                return None
        if len(at) > 1 and not (np.diff(at) > 0).all() and pd.Series(at).duplicated().any():
            return None
        return at

    def note(
        self,
        source: str,
        records: Sequence[int] | np.ndarray | pd.Index | pd.Series,
        reason: str | Sequence[str] | pd.Series | pa.Array,
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
        at, new = self._rows(source, idx), _texts(reason, len(idx))
        old = None if at is None else _column(table, "reason").take(pa.array(at))
        if at is None or new is None or old is None or old.null_count:
            if isinstance(reason, pa.Array):
                reason = pd.Series(pd.array(reason, dtype="string"))
            self._note_by_label(source, idx, reason, check=check)
            return
        self._event(source, idx, check, pd.Series(pd.array(new, dtype="string"), index=idx))
        joined = pc.binary_join_element_wise(old, new, pa.scalar("; ", pa.large_string()))
        glued = pc.if_else(pc.equal(old, ""), new, joined)
        _write(table, "reason", at, pc.if_else(pc.equal(new, ""), old, glued))

    def _note_by_label(
        self,
        source: str,
        idx: pd.Index,
        reason: str | Sequence[str] | pd.Series,
        *,
        check: str,
    ) -> None:
        """:meth:`note` label by label (records repeated, missing reasons)."""
        table = self._tables[source]
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

    def finding_counts(self) -> dict[str, dict[str, int]]:
        """Records per kind of finding (``check``), per source, largest first."""
        if not self._events:
            return {}
        both = pd.concat([e[["source", "check"]] for e in self._events], ignore_index=True)
        sizes = both.groupby(["source", "check"], sort=False).size().reset_index(name="n")
        sizes = sizes.sort_values("n", ascending=False, kind="stable")
        out: dict[str, dict[str, int]] = {}
        for where, kind, n in zip(sizes["source"], sizes["check"], sizes["n"], strict=True):
            out.setdefault(str(where), {})[str(kind)] = int(n)
        return out

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


PLACEHOLDER_IDS = (
    "0",
    "ROAD",
    "ROW",
    "RR",
    "RAIL",
    "WATER",
    "N/A",
    "NA",
    "NONE",
    "NULL",
    "无",
    "空",
    "道路",
    "铁路",
    "河道",
    "河流",
    "水域",
)
"""Ids that name no parcel (after normalising: width, case, spaces), besides blank ids, ids
of zeros only and ids without a letter or digit (``-``, ``---``, ``/``)."""

_NO_LETTER_OR_DIGIT = r"^[^\pL\pN]*$|^0+$"


def _wildcard(entry: str) -> str:
    """An RE2 pattern matching ``entry`` whole, ``*`` standing for any characters."""
    return "^" + ".*".join(re.escape(part) for part in entry.split("*")) + "$"


def placeholder_ids(ids: pd.Series, extra: Sequence[str] = ()) -> np.ndarray:
    """Per (normalised) id: it names no parcel (see :data:`PLACEHOLDER_IDS`); ``extra`` adds
    entries (normalised like ids; ``*`` stands for any characters). Missing ids are False.

    Examples
    --------
    >>> placeholder_ids(pd.Series(["---", "ROAD", "CX-0001", "0", "道路", "R-1"]), ["R-*"]).tolist()
    [True, True, False, True, True, True]
    """
    from mujun.io.readers import normalize_id  # noqa: PLC0415 - readers import this module

    text = pa.array(ids.astype("string").array, type=pa.large_string())
    found = pc.match_substring_regex(text, _NO_LETTER_OR_DIGIT)
    entries = [normalize_id(e) for e in (*PLACEHOLDER_IDS, *extra)]
    literal = [e for e in entries if e and "*" not in e]
    found = pc.or_(found, pc.is_in(text, value_set=pa.array(literal, pa.large_string())))
    for entry in (e for e in entries if e and "*" in e):
        found = pc.or_(found, pc.match_substring_regex(text, _wildcard(entry)))
    return np.asarray(pc.fill_null(found, False), dtype=bool)


def reject_unusable(
    parcels: gpd.GeoDataFrame,
    ledger: Ledger,
    *,
    source: str,
    placeholders: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Reject features without a parcel id, with a placeholder id (``placeholders`` adds to
    :data:`PLACEHOLDER_IDS`; None: no such check), without geometry, or with a non-polygon
    geometry.

    Z coordinates are dropped (area is 2-D). Returns the remaining features.
    """
    geoms = parcels.geometry.array
    missing_id = parcels["parcel_id"].isna().to_numpy()
    placeholder = np.zeros(len(parcels), dtype=bool)
    if placeholders is not None:
        placeholder = placeholder_ids(parcels["parcel_id"], placeholders) & ~missing_id
        if placeholder.any():
            ledger.set_fate(
                source,
                parcels.loc[placeholder, "record"],
                "rejected",
                "placeholder id "
                + _reprs(parcels.loc[placeholder, "parcel_id_raw"])
                + ": names no parcel (a road, rail or water polygon, or an id never filled "
                "in); left out",
                check="rejected: placeholder id",
            )
            logger.warning(
                "%s: %d feature(s) with a placeholder id rejected", source, int(placeholder.sum())
            )
    no_id = missing_id | placeholder
    empty = (shapely.is_missing(geoms) | shapely.is_empty(geoms)) & ~no_id
    polygonal = np.isin(shapely.get_type_id(geoms), [3, 6])  # Polygon, MultiPolygon
    wrong = ~empty & ~polygonal & ~no_id
    bad_xy = ~(no_id | empty | wrong) & ~finite_coordinates(geoms)
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
    drop = no_id | empty | wrong | bad_xy
    keep = parcels.loc[~drop] if drop.any() else parcels.copy(deep=False)
    has_z = shapely.has_z(keep.geometry.array)
    if has_z.any():
        logger.info("%s: Z coordinates dropped from %d features", source, int(has_z.sum()))
        keep = keep.set_geometry(shapely.force_2d(keep.geometry.array))
    return keep


def finite_coordinates(geoms: np.ndarray) -> np.ndarray:
    """Per geometry: all coordinates are finite (missing geometries count as finite)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    return _finite(coords, index, len(geoms))


def _finite(coords: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    ok = np.ones(n, dtype=bool)
    ok[index[~np.isfinite(coords).all(axis=1)]] = False
    return ok


def usable_parcels(
    parcels: gpd.GeoDataFrame, ledger: Ledger, source: str, placeholders: tuple[str, ...] = ()
) -> gpd.GeoDataFrame:
    """Note the features repaired on reading; reject those that are no parcel polygon or whose
    id is a placeholder (``placeholders``: the config's own, beside the built-in ones)."""
    fixed = parcels["read_fix"] != ""
    ledger.set_fate(
        source,
        parcels.loc[fixed, "record"],
        "fixed",
        parcels.loc[fixed, "read_fix"],
        check="fixed: unclosed ring",
    )
    return reject_unusable(parcels, ledger, source=source, placeholders=placeholders)


def nothing_usable(source: str, n: int, ledger: Ledger) -> InputError:
    reasons = ledger.frame()["reason"].value_counts().head(5).to_dict()
    return InputError(
        f"{source}: none of its {n} features is a usable parcel polygon ({reasons}); "
        "check the file and its layer"
    )


def reject_outside(
    parcels: gpd.GeoDataFrame, outside: np.ndarray, ledger: Ledger, *, source: str
) -> gpd.GeoDataFrame:
    """Reject the features whose coordinates cannot be in the layer's CRS (``outside``, from
    :func:`mujun.geodesy.outside_extent`): a stray feature at 0,0 or in another CRS."""
    _reject(
        ledger,
        source,
        parcels,
        outside,
        f"coordinates outside the area {parcels.crs.name if parcels.crs else 'its CRS'} "
        "covers (a stray feature, e.g. at 0,0, or in another CRS); left out",
        check="rejected: outside the CRS",
    )
    return parcels.loc[~outside] if outside.any() else parcels


def check_geometry(parcels: gpd.GeoDataFrame, ledger: Ledger, *, source: str) -> gpd.GeoDataFrame:
    """Reject what has no finite coordinates in the working CRS; repair the rest (invalid
    polygons with ``make_valid``, the area before and after recorded; repeated vertices
    removed; what has no area left rejected)."""
    coords, index = shapely.get_coordinates(parcels.geometry.array, return_index=True)
    lost = ~_finite(coords, index, len(parcels))
    _reject(
        ledger,
        source,
        parcels,
        lost,
        "coordinates fall outside the working CRS (not finite after reprojection)",
        check="rejected: bad coordinates",
    )
    if lost.any():
        return _repair(parcels.loc[~lost], ledger, source)
    # the coordinates already taken tell which polygons may repeat a point
    return _repair(parcels, ledger, source, repeats=_repeats(coords, index, len(parcels)))


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


def _repair(
    parcels: gpd.GeoDataFrame,
    ledger: Ledger,
    source: str,
    *,
    repeats: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """Make invalid polygons valid (fate ``fixed``); reject those with no area left.
    ``repeats``: :func:`_consecutive_duplicates` of the geometries, if known."""
    geoms = parcels.geometry.array.copy()
    n_before = shapely.get_num_coordinates(geoms)
    # valid polygons keep >= 3 distinct vertices per ring; invalid ones go to make_valid
    ok = shapely.is_valid(geoms)
    if repeats is None:
        repeats = _consecutive_duplicates(geoms)
    maybe = ok & repeats  # the others have no repeated point to remove
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
        _reject(
            ledger,
            source,
            parcels,
            no_area,
            "polygon has no area (degenerate outline)",
            check="rejected: no area",
        )
    repaired = parcels.set_geometry(geoms)
    return repaired.loc[~no_area] if no_area.any() else repaired


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
    return _repeats(coords, index, len(geoms))


def _repeats(coords: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    same = (coords[1:] == coords[:-1]).all(axis=1) & (index[1:] == index[:-1])
    found = np.zeros(n, dtype=bool)
    found[index[1:][same]] = True
    return found


def _pairs_within_groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(a, b)``, ``a`` before ``b``, of every pair of elements with the same code
    (each pair once, in order of position within each group)."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    later = np.repeat(starts + sizes, sizes) - 1 - np.arange(len(order))
    first = np.repeat(np.arange(len(order)), later)
    second = first + 1 + np.arange(len(first)) - np.repeat(np.cumsum(later) - later, later)
    return order[first], order[second]


def dedupe_parcels(
    parcels: gpd.GeoDataFrame,
    ledger: Ledger,
    source: str,
    *,
    same_id: str = "merge",
    tolerance_m2: float = 1.0,
) -> gpd.GeoDataFrame:
    """Resolve features sharing a parcel id (in the working CRS, after repair).

    ``same_id="merge"``: a later feature that equals an earlier one of its id, or overlaps
    it by more than ``tolerance_m2``, is a ``duplicate``; the others are parts of one parcel
    (a lot cut by a road, an outlying piece) and are dissolved into the first feature of the
    id (fate ``merged``, naming the record kept), which then holds the whole parcel's land.
    ``"first"``: every later feature is a ``duplicate``. ``"error"``: raise, listing them.
    Returns the parcels kept, in their order; ``attrs["merged"]`` counts the parcels merged
    and the features they were made of.
    """
    ids = parcels["parcel_id"]
    repeated = ids.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return parcels
    group = parcels.loc[repeated]
    if same_id == "error":
        raise InputError(_same_id_message(group, source))
    codes = pd.factorize(group["parcel_id"])[0]
    a, b = _pairs_within_groups(codes)
    geoms = group.geometry.array
    if same_id == "merge":
        same = shapely.equals(geoms[a], geoms[b])
        overlap = shapely.area(shapely.intersection(geoms[a], geoms[b]))
        clash = same | (overlap > tolerance_m2)
    else:  # "first": every later feature repeats the first one of its id
        clash = ~pd.Series(codes).duplicated().to_numpy()[a]
        same = shapely.equals(geoms[a], geoms[b])
        overlap = np.zeros(len(a))
    dup = np.zeros(len(group), dtype=bool)
    dup[b[clash]] = True
    # the earliest feature each duplicate repeats, and how
    hit = pd.DataFrame({"b": b[clash], "a": a[clash], "same": same[clash], "m2": overlap[clash]})
    hit = hit.drop_duplicates("b")
    _note_duplicates(group, hit, ledger, source, merging=same_id == "merge")
    kept_group = ~dup
    merged_info = {"parcels": 0, "features": 0}
    if same_id == "merge":
        several = pd.Series(codes[~dup]).duplicated(keep=False).to_numpy()
        parts = np.zeros(len(group), dtype=bool)
        parts[np.flatnonzero(~dup)[several]] = True
        if parts.any():
            group = _dissolve_parts(group, codes, parts, ledger, source)
            head = parts & ~pd.Series(np.where(parts, codes, -1)).duplicated().to_numpy()
            kept_group = ~dup & (~parts | head)
            merged_info = {"parcels": int(head.sum()), "features": int(parts.sum())}
    keep = np.ones(len(parcels), dtype=bool)
    keep[np.flatnonzero(repeated)] = kept_group
    out = parcels.copy(deep=False)
    out.loc[repeated, out.geometry.name] = group.geometry.array
    out = out.loc[keep]
    out.attrs["merged"] = merged_info
    return out


def _same_id_message(group: gpd.GeoDataFrame, source: str) -> str:
    listed = (
        group.groupby("parcel_id", sort=False)["record"]
        .agg(lambda r: ", ".join(map(str, r)))
        .head(_LISTED)
    )
    lines = [f"  parcel id {pid!r}: features {recs}" for pid, recs in listed.items()]
    more = group["parcel_id"].nunique() - len(listed)
    return (
        f"{source}: {group['parcel_id'].nunique()} parcel id(s) are used by several features "
        '([parcels] same_id = "error"):\n'
        + "\n".join(lines)
        + (f"\n  ... and {more} more" if more > 0 else "")
        + '\nfix the ids, or set [parcels] same_id = "merge" to dissolve the parts of one '
        'parcel into one, or "first" to keep the first feature of each id'
    )


def _note_duplicates(
    group: gpd.GeoDataFrame, hit: pd.DataFrame, ledger: Ledger, source: str, *, merging: bool
) -> None:
    """Ledger fate ``duplicate`` for the repeats found, naming the record each repeats."""
    if hit.empty:
        return
    later = group.iloc[hit["b"].to_numpy()]
    kept = group.iloc[hit["a"].to_numpy()]
    same = hit["same"].to_numpy()
    if merging:
        by = " (overlapping it by " + fixed_text(hit["m2"].to_numpy()) + " m²)"
        how = np.where(same, " (same geometry)", by)
    else:
        how = np.where(same, " (same geometry)", " (different geometry)")
    reasons = (
        "parcel id "
        + _reprs(later["parcel_id_raw"])
        + " repeats "
        + _reprs(kept["parcel_id_raw"])
        + " of record "
        + kept["record"].astype(str).to_numpy()
        + how
        + "; left out, record "
        + kept["record"].astype(str).to_numpy()
        + " is kept"
    )
    ledger.set_fate(source, later["record"], "duplicate", reasons, check="duplicate parcel id")
    differ = int((~same).sum())
    if differ and not merging:
        warnings.warn(
            f"{source}: {differ} parcel id(s) repeat with a different geometry; "
            "the first feature of each is kept (see the ledger)",
            DataQualityWarning,
            stacklevel=4,
        )
    elif differ:
        warnings.warn(
            f"{source}: {differ} feature(s) repeat a parcel id and overlap its earlier "
            "feature; left out as duplicates (see the ledger)",
            DataQualityWarning,
            stacklevel=4,
        )


def _dissolve_parts(
    group: gpd.GeoDataFrame, codes: np.ndarray, parts: np.ndarray, ledger: Ledger, source: str
) -> gpd.GeoDataFrame:
    """Dissolve the ``parts`` of each id into the first of them; ledger fate ``merged`` for
    the others, a note on the first. Returns ``group`` with the dissolved geometries."""
    at = np.flatnonzero(parts)
    part_codes = codes[at]
    order = np.argsort(part_codes, kind="stable")
    at, part_codes = at[order], part_codes[order]
    starts = np.flatnonzero(np.r_[True, part_codes[1:] != part_codes[:-1]])
    ends = np.r_[starts[1:], len(at)]
    geoms = group.geometry.array.copy()
    records = group["record"].to_numpy()
    heads = at[starts]
    dissolved = [
        shapely.union_all(np.asarray(geoms[at[s:e]])) for s, e in zip(starts, ends, strict=True)
    ]
    geoms[heads] = dissolved
    head_of = np.repeat(heads, ends - starts)
    rest = at != head_of
    count = np.repeat(ends - starts, ends - starts)
    records_text = pd.Series(records[at].astype(str))
    joined = records_text.groupby(np.repeat(np.arange(len(starts)), ends - starts)).agg(", ".join)
    kind = pd.Series(shapely.get_type_id(np.asarray(dissolved)))
    shape = np.where(kind.to_numpy() == 6, "MultiPolygon", "Polygon")
    ledger.set_fate(
        source,
        records[at[rest]],
        "merged",
        (
            "part of parcel "
            + _reprs(group["parcel_id_raw"].iloc[at[rest]])
            + ": dissolved into record "
            + pd.Series(records[head_of[rest]]).astype(str).to_numpy()
            + " "
            + _reprs(group["parcel_id_raw"].iloc[head_of[rest]])
            + " ("
            + pd.Series(count[rest]).astype(str).to_numpy()
            + " features with this id)"
        ),
        check="merged: parcel of several features",
    )
    ledger.note(
        source,
        records[heads],
        (
            "parcel of "
            + pd.Series(ends - starts).astype(str).to_numpy()
            + " features (records "
            + joined.to_numpy().astype(object)
            + ") dissolved into one "
            + shape
        ),
        check="merged: parcel of several features",
    )
    logger.info(
        "%s: %d parcels stored as several features (%d features) dissolved into one each",
        source,
        len(heads),
        len(at),
    )
    return group.set_geometry(geoms)


_CELLS_PER_BOX = 4
"""Grid cells per bounding box, on average, above which :func:`_box_pairs` takes larger cells."""


def _box_pairs(bounds: np.ndarray, grow: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions (i, j) of the pairs of boxes (rows of ``bounds``: xmin, ymin, xmax, ymax,
    finite) that meet once each is grown by ``grow`` on every side, each pair once.

    Each grown box is put in the cells of a grid it covers; two boxes are paired in the cell
    of the lower left corner of their overlap only, so a pair is found once however many
    cells both cover. Sorting the cells is the only step that is not linear."""
    n = len(bounds)
    x0, y0 = bounds[:, 0] - grow, bounds[:, 1] - grow
    x1, y1 = bounds[:, 2] + grow, bounds[:, 3] + grow
    # cells half as large again as the median grown box: about three cells a box
    size = 1.5 * float(np.median(np.maximum(x1 - x0, y1 - y0))) if n else 1.0
    size = size if size > 0 else 1.0
    while True:
        gx0, gy0 = np.floor(x0 / size).astype(np.int64), np.floor(y0 / size).astype(np.int64)
        gx1, gy1 = np.floor(x1 / size).astype(np.int64), np.floor(y1 / size).astype(np.int64)
        tall = gy1 - gy0 + 1
        count = (gx1 - gx0 + 1) * tall
        if count.sum() <= _CELLS_PER_BOX * n + 1024:
            break
        size *= 2  # a few huge boxes: larger cells rather than millions of them
    box = np.repeat(np.arange(n, dtype=np.int64), count)
    local = np.arange(len(box), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    cx = gx0[box] + local // tall[box]
    cy = gy0[box] + local % tall[box]
    span = int(gy1.max() - gy0.min() + 1) if n else 1
    cell = (cx - gx0.min(initial=0)) * span + (cy - gy0.min(initial=0))
    order = np.argsort(cell)
    cell, box, cx, cy = cell[order], box[order], cx[order], cy[order]
    # every pair of entries of one cell: entry e with each later entry of its cell
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    ends = np.repeat(np.r_[starts[1:], len(cell)], np.diff(np.r_[starts, len(cell)]))
    later = ends - 1 - np.arange(len(cell))
    first = np.repeat(np.arange(len(cell)), later)
    second = first + 1 + np.arange(len(first)) - np.repeat(np.cumsum(later) - later, later)
    i, j = box[first], box[second]
    keep = (x0[i] <= x1[j]) & (x0[j] <= x1[i])
    keep &= (y0[i] <= y1[j]) & (y0[j] <= y1[i])
    keep &= (cx[first] == np.maximum(gx0[i], gx0[j])) & (cy[first] == np.maximum(gy0[i], gy0[j]))
    return i[keep], j[keep]


def _prepared_test(
    test: Callable[..., np.ndarray],
    geoms: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    *args: float,
) -> np.ndarray:
    """``test(geoms[left], geoms[right], *args)`` with the ``left`` geometries prepared, as an
    STRtree query prepares each geometry it is asked about (GEOS's unprepared tests can
    answer otherwise on edge cases); those not prepared before are left as they were."""
    fresh = np.unique(left)
    fresh = fresh[~shapely.is_prepared(geoms[fresh])]
    shapely.prepare(geoms[fresh])
    try:
        return test(geoms[left], geoms[right], *args)
    finally:
        shapely.destroy_prepared(geoms[fresh])


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
        # candidates whose envelopes meet (a grid, not a tree query per parcel), then the
        # tree's test: GEOS intersects, the first one prepared
        geoms = np.asarray(geoms, dtype=object)
        bounds = shapely.bounds(geoms)
        usable = np.flatnonzero(np.isfinite(bounds).all(axis=1))  # no empty geometries
        reach = float(np.abs(bounds[usable]).max(initial=0.0))
        a, b = _box_pairs(bounds[usable], 1e-7 * reach + 1e-9)
        left, right = usable[np.minimum(a, b)], usable[np.maximum(a, b)]
        hit = _prepared_test(shapely.intersects, geoms, left, right)
        left, right = left[hit], right[hit]
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
NEVER_NEGATIVE = ("employees", "energy_tce", "electricity_kwh", "emissions", "declared_area")
"""Quantities that cannot be below zero: a negative one is flagged and read as missing."""
TAX_PER_MU_MAX = 10_000.0
"""万元/亩: tax per mu above this is implausible (the best Zhejiang parks publish tens to a few
hundred; a unit read as 元 for 万元 or a parcel list that misses most of the land gives it)."""
AREA_RATIO_MAX = 100.0
"""A declared area over this many times, or under one over this, the surveyed area is
implausible (m² declared as 亩, a digit lost)."""


def check_filings(
    filings: pd.DataFrame,
    ledger: Ledger,
    *,
    source: str,
    check_codes: bool = True,
    placeholders: Sequence[str] = (),
) -> pd.DataFrame:
    """Reject unusable filing rows, resolve duplicates, flag odd figures and credit codes.

    Rejected: rows marked while reading (blank rows, totals rows, cells that are not numbers
    with ``on_invalid = "reject"``, blank year) and rows without a credit code. Duplicates:
    the first row of each (uscc, year) is kept; later rows are ``duplicate`` (a warning if
    their figures differ). Flagged, kept: credit codes failing the GB 32100-2015 checks,
    negative money (refunds), zero employees or energy; see :func:`odd_figures`.
    """
    problem = (
        (filings["problem"].fillna("") != "").to_numpy(dtype=bool)
        if "problem" in filings
        else np.zeros(len(filings), dtype=bool)
    )
    if problem.any():
        _reject_marked(filings.loc[problem], ledger, source)
    filings = _rows(filings, ~problem)
    filings = _without_placeholders(
        filings, ledger, source, placeholders, must_list=not check_codes
    )
    no_code = filings["uscc"].isna().to_numpy()
    _reject(
        ledger,
        source,
        filings,
        no_code,
        "no credit code (统一社会信用代码); fill it in",
        check="rejected: no credit code",
    )
    rows = _rows(filings, ~no_code)
    # a number per (credit code, year): duplicated() on it is duplicated(["uscc", "year"])
    pair = pd.Series(
        pd.factorize(rows["uscc"])[0].astype(np.int64) * (len(rows) + 1)
        + pd.factorize(rows["year"])[0]
    )
    dup = pd.Series(pair.duplicated(keep="first").to_numpy(), index=rows.index)
    if dup.any():
        _duplicates(rows, dup, ledger, source, repeated=pair.duplicated(keep=False).to_numpy())
    kept = _rows(rows, ~dup.to_numpy())
    status = (
        _flag_codes(kept, ledger, source)
        if check_codes
        else pd.Series("not checked", index=kept.index, dtype="string")
    )
    flags = odd_figures(kept)
    odd = flags != ""
    ledger.note(source, kept.loc[odd, "record"], flags[odd], check="odd figures")
    kept = _negative_as_missing(kept, ledger, source)
    return kept.assign(data_flags=flags, uscc_check=status)


def _negative_as_missing(filings: pd.DataFrame, ledger: Ledger, source: str) -> pd.DataFrame:
    """Quantities that cannot be negative (:data:`NEVER_NEGATIVE`) read as missing, noted."""
    out = filings
    for column in (c for c in NEVER_NEGATIVE if c in filings):
        negative = (filings[column] < 0).to_numpy(dtype=bool)
        if not negative.any():
            continue
        ledger.note(
            source,
            filings.loc[negative, "record"],
            (
                column
                + " "
                + fixed_text(filings.loc[negative, column].to_numpy(dtype="float64"), 2)
                + " cannot be negative: read as missing"
            ).astype(str),
            check="negative quantity read as missing",
        )
        if out is filings:
            out = filings.copy()
        out[column] = out[column].mask(negative)
    return out


def check_scored_money(
    filings: pd.DataFrame,
    needed: dict[str, tuple[str, str, float]],
    *,
    source: str,
    preset: str,
    unread: Sequence[str],
    unit: str = "万元",
) -> None:
    """Stop when a money column the method scores most on (``needed``: column -> list,
    indicator, weight) is missing from the filings or holds no number at all: every firm
    would otherwise be scored on nothing and the run would look complete. ``unit``: the
    money unit the message suggests declaring."""
    from mujun.schema import FILING_COLUMNS  # noqa: PLC0415 - light

    for column, (group, indicator, weight) in needed.items():
        spec = next(s for s in FILING_COLUMNS if s.name == column)
        why = (
            f"the {preset} preset scores on it ({indicator}, weight {weight:g} on the {group} list)"
        )
        if column not in filings:
            others = ", ".join(repr(h) for h in list(unread)[:_LISTED])
            raise SchemaError(
                f"{source}: no column for {column} ({spec.help}), and {why}; expected one of "
                f"{', '.join(spec.aliases)}, or name it with [columns.filings] {column} = "
                f'"<header>" and its unit with [units.filings] {column} = "{unit}"'
                + (f"; the columns not read: {others}" if others else ""),
                missing=(column,),
            )
        if filings[column].notna().sum() == 0:
            raise InputError(
                f"{source}: column {column} holds no number in any of its {len(filings)} "
                f"usable rows, and {why}; check that the right column is named and filled in"
            )


def implausible_firms(
    enterprises: pd.DataFrame,
    filings: pd.DataFrame,
    ledger: Ledger,
    *,
    source: str,
    tax_per_mu: pd.Series | None,
) -> int:
    """Note (and warn about) firms whose figures cannot be right: tax per mu of their land
    (``tax_per_mu``, 万元/亩, aligned to ``enterprises``) over :data:`TAX_PER_MU_MAX`, or a
    declared area over :data:`AREA_RATIO_MAX` times (or under its inverse) the surveyed area
    of their land. Returns how many firm-years were noted."""
    found = np.zeros(len(enterprises), dtype=bool)
    if tax_per_mu is not None:
        high = (tax_per_mu > TAX_PER_MU_MAX).to_numpy(dtype=bool)
        if high.any():
            ledger.note(
                source,
                filings.loc[high, "record"],
                (
                    "tax per mu "
                    + fixed_text(tax_per_mu[high].to_numpy(dtype="float64"), 1)
                    + f" 万元/亩 is implausible (over {TAX_PER_MU_MAX:,.0f}): check the tax's "
                    "unit and that the parcel list names all the firm's land"
                ).astype(str),
                check="implausible figure",
            )
            found |= high
    if "declared_area_mu" in enterprises:
        found |= _declared_far_off(
            ledger,
            source,
            filings["record"],
            enterprises["declared_area_mu"].to_numpy("float64"),
            enterprises["area_mu"].to_numpy("float64"),
        )
    if found.any():
        warnings.warn(
            f"{source}: {int(found.sum())} firm-year(s) with implausible figures (tax per mu "
            f"over {TAX_PER_MU_MAX:,.0f} 万元/亩, or a declared area {AREA_RATIO_MAX:g}x off "
            "the surveyed one); see the ledger",
            DataQualityWarning,
            stacklevel=2,
        )
    return int(found.sum())


def _declared_far_off(
    ledger: Ledger, source: str, records: pd.Series, declared: np.ndarray, surveyed: np.ndarray
) -> np.ndarray:
    """Note the records whose declared area is over :data:`AREA_RATIO_MAX` times, or under
    its inverse, their surveyed area (mu); returns which."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = declared / surveyed
        off = (ratio > 0) & ((ratio > AREA_RATIO_MAX) | (ratio < 1 / AREA_RATIO_MAX))
    off &= np.isfinite(ratio)
    if off.any():
        ledger.note(
            source,
            records[off],
            (
                "declared area "
                + fixed_text(declared[off], 2)
                + " mu against "
                + fixed_text(surveyed[off], 2)
                + " mu surveyed is implausible: check the declared area's unit"
            ).astype(str),
            check="implausible figure",
        )
    return off


def implausible_parcels(
    parcels: gpd.GeoDataFrame, ledger: Ledger, *, source: str
) -> gpd.GeoDataFrame:
    """Read a negative declared area as missing, and note parcels whose declared area is over
    :data:`AREA_RATIO_MAX` times (or under its inverse) their surveyed area."""
    if "declared_area_mu" not in parcels:
        return parcels
    negative = (parcels["declared_area_mu"] < 0).to_numpy(dtype=bool)
    if negative.any():
        ledger.note(
            source,
            parcels.loc[negative, "record"],
            "declared area "
            + fixed_text(parcels.loc[negative, "declared_area_mu"].to_numpy("float64"), 2)
            + " mu cannot be negative: read as missing",
            check="negative quantity read as missing",
        )
        parcels = parcels.assign(declared_area_mu=parcels["declared_area_mu"].mask(negative))
    declared = parcels["declared_area_mu"].to_numpy("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = declared / parcels["area_mu"].to_numpy("float64")
        off = (
            np.isfinite(ratio)
            & (ratio > 0)
            & ((ratio > AREA_RATIO_MAX) | (ratio < 1 / AREA_RATIO_MAX))
        )
    if off.any():
        ledger.note(
            source,
            parcels.loc[off, "record"],
            (
                "declared area "
                + fixed_text(declared[off], 2)
                + " mu against "
                + fixed_text(parcels.loc[off, "area_mu"].to_numpy("float64"), 2)
                + " mu surveyed is implausible: check the declared area's unit"
            ).astype(str),
            check="implausible figure",
        )
        warnings.warn(
            f"{source}: {int(off.sum())} parcel(s) declare an area {AREA_RATIO_MAX:g}x off "
            "their surveyed area; see the ledger",
            DataQualityWarning,
            stacklevel=2,
        )
    return parcels


def note_declared_area(
    out: gpd.GeoDataFrame, ledger: Ledger, *, source: str, tolerance_pct: float
) -> gpd.GeoDataFrame:
    """Where the layer declares an area: the difference from the surveyed one in percent
    (``area_diff_pct``), and ``area_mismatch`` with a ledger note beyond ``tolerance_pct``."""
    if "declared_area_mu" in out:
        diff = (out["area_mu"] - out["declared_area_mu"]) / out["declared_area_mu"] * 100
        out["area_diff_pct"] = diff.where(np.isfinite(diff))
        out["area_mismatch"] = out["area_diff_pct"].abs() > tolerance_pct
        off = out.loc[out["area_mismatch"].fillna(False).astype(bool)]
        pct = off["area_diff_pct"].to_numpy(dtype="float64")
        sign = np.where(np.signbit(pct), "", "+")
        reasons = (
            "declared "
            + fixed_text(off["declared_area_mu"].to_numpy(dtype="float64"), 2)
            + " mu, surveyed "
            + fixed_text(off["area_mu"].to_numpy(dtype="float64"), 2)
            + " mu ("
            + (sign + fixed_text(pct, 1))
            + " %)"
        )
        ledger.note(
            source,
            off["record"],
            reasons,
            check=f"declared area differs by > {tolerance_pct:g} %",
        )
    return out


def _without_placeholders(
    filings: pd.DataFrame,
    ledger: Ledger,
    source: str,
    placeholders: Sequence[str],
    *,
    must_list: bool,
) -> pd.DataFrame:
    """Drop placeholder ids (``无``, ``0``, ``-`` ...: see :func:`placeholder_ids`) from the
    filings' parcel lists, with a note; a filing left listing nothing is a lessee, or with
    ``must_list`` (value-per-acre rows, which must name their parcel) rejected."""
    if "parcel_ids" not in filings or filings.empty:
        return filings
    lists = pa.array(filings["parcel_ids"].to_numpy(dtype=object), type=pa.list_(pa.large_string()))
    flat = pc.list_flatten(lists)
    mask = placeholder_ids(pd.Series(pd.array(flat, dtype="string")), placeholders)
    if not mask.any():
        return filings
    parent = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    rows = np.unique(parent[mask])
    touched = np.isin(parent, rows)
    values = pd.Series(flat.to_numpy(zero_copy_only=False)[touched], dtype=object)
    owner, dropped = parent[touched], mask[touched]
    kept = values[~dropped].groupby(owner[~dropped]).agg(tuple)
    cleaned = pd.Series([()] * len(rows), index=rows, dtype=object)
    cleaned.loc[kept.index] = kept
    named = values[dropped].map(repr).groupby(owner[dropped]).agg(", ".join).loc[rows]
    cleaned.index = named.index = filings.index[rows]
    out = filings.copy()
    out.loc[cleaned.index, "parcel_ids"] = cleaned
    empty = cleaned.map(len).to_numpy() == 0
    records = out.loc[cleaned.index, "record"]
    if must_list and empty.any():
        ledger.set_fate(
            source,
            records[empty],
            "rejected",
            ("parcel id " + named[empty] + " is a placeholder: the row names no parcel").astype(
                str
            ),
            check="rejected: placeholder parcel id",
        )
    keep = ~empty if must_list else np.ones(len(rows), dtype=bool)
    ledger.note(
        source,
        records[keep],
        ("parcel id " + named[keep] + " is a placeholder, read as no parcel").astype(str),
        check="placeholder parcel id",
    )
    if must_list and empty.any():
        out = out.drop(index=cleaned.index[empty])
    return out


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


def _rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """``frame.loc[keep]``, without copying every column when every row is kept."""
    return frame.copy(deep=False) if keep.all() else frame.loc[keep]


def _duplicates(
    all_rows: pd.DataFrame,
    dup: pd.Series,
    ledger: Ledger,
    source: str,
    *,
    repeated: np.ndarray | None = None,
) -> None:
    """``repeated``: ``all_rows.duplicated(["uscc", "year"], keep=False)``, if known."""
    if repeated is None:
        repeated = all_rows.duplicated(["uscc", "year"], keep=False).to_numpy()
    # only rows sharing a credit code and year can repeat one another (content includes both)
    rows = all_rows.loc[repeated]
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
    # "; " between the labels of a row, in this order: each combination joined once
    bits = np.zeros(len(filings), dtype=np.int64)
    for i, (_, found) in enumerate(flags):
        bits |= np.asarray(found, dtype=bool).astype(np.int64) << i
    combos, which = np.unique(bits, return_inverse=True)
    text = ["; ".join(label for i, (label, _) in enumerate(flags) if c >> i & 1) for c in combos]
    joined = pa.array(text, type=pa.large_string()).take(which.ravel())
    return pd.Series(pd.array(joined, dtype="string"), index=filings.index)
