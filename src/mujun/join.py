"""Occupancy: which enterprise uses which parcel, and the land units they form.

A filing lists the parcels an enterprise uses (``parcel_ids``). The links form a bipartite graph
of enterprises and parcels per year; each connected component is a **land unit**: the parcels and
enterprises that must be evaluated together. This generalises the documented Zhejiang rule for a
parcel used by several firms, "combined with the parcel and sharing one evaluation result"
(Suichang, METHOD.md 1.5): an enterprise alone on its parcels is its own unit; firms sharing any
parcel share one result over all the parcels they use. Each yuan of a filing is counted once:
in its unit, and apportioned to parcels by surveyed area, so parcel totals add up to filing
totals.

Filings listing no parcel are lessees without land of their own (evaluated on their own list,
never dropped); filings whose listed parcels all do not exist are orphans.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mujun.errors import JoinError
from mujun.io.readers import NO_YEAR, Table, normalize_ids

if TYPE_CHECKING:
    from pandas._typing import ArrayLike

__all__ = [
    "JoinQA",
    "Occupancy",
    "check_join",
    "choose_id_columns",
    "evaluation_year",
    "id_column_rates",
    "isin_values",
    "join_per_key",
    "join_qa",
    "joined_groups",
    "listing_rate",
    "near_misses",
    "occupancy",
    "positions",
    "qa_lines",
    "resolve_id_columns",
    "suggestion",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Occupancy:
    """The join of filings to parcels.

    Attributes
    ----------
    links
        One row per (filing, existing parcel): ``filing`` (row label in the filings frame),
        ``uscc``, ``year``, ``parcel_id``, ``unit``.
    land_status
        Per filing row: ``own`` (sole user of its parcels), ``shared`` (its unit has several
        enterprises), ``lessee`` (lists no parcel) or ``orphan`` (its parcels do not exist).
    missing
        Per filing row: the listed parcel ids that are not in the parcel layer, joined by
        ``、`` (empty string if none).
    unit
        Per filing row: its land unit id, or <NA> for lessees and orphans.
    """

    links: pd.DataFrame
    land_status: pd.Series
    missing: pd.Series
    unit: pd.Series


def _value_order(distinct: pa.Array, sort: bool | Mapping[str, int]) -> np.ndarray:
    """Sort key of each of the ``distinct`` strings: its rank in Python ``str`` order (Arrow
    compares UTF-8 bytes, whose order is the code points'), or by ``sort``'s ranks then ``str``
    order (values it does not rank last); zeros if not sorting."""
    if sort is False:
        return np.zeros(len(distinct), dtype=np.int64)
    by_str = pc.array_sort_indices(distinct).to_numpy()
    if isinstance(sort, Mapping):
        given = pd.Series(distinct.to_numpy(zero_copy_only=False), dtype=object).map(sort)
        by_str = np.lexsort((np.argsort(by_str), given.to_numpy("float64", na_value=np.inf)))
    ranks = np.empty(len(distinct), dtype=np.int64)
    ranks[by_str] = np.arange(len(distinct))
    return ranks


def join_per_key(
    keys: pd.Series,
    values: pd.Series,
    *,
    sort: bool | Mapping[str, int] = False,
    distinct: bool = False,
    sep: str = "、",
) -> pd.Series:
    """``sep.join`` of the string ``values`` of each key, vectorised (no Python call per key).

    Missing keys and values are left out. Each key's values keep their order of appearance, or with
    ``sort=True`` are sorted in Python ``str`` order (as ``sorted``), or with a mapping by its
    ranks; with ``distinct`` each value is kept once. The result (object dtype, named like
    ``values``) is indexed by the keys having a value, in order of first appearance.

    Examples
    --------
    >>> keys = pd.Series(["p2", "p1", "p2", "p2"])
    >>> join_per_key(keys, pd.Series(["b", "x", "a", "b"]), sort=True, distinct=True).to_dict()
    {'p2': 'a、b', 'p1': 'x'}
    """
    label, joined = joined_groups(keys, values, sort=sort, distinct=distinct, sep=sep)
    return pd.Series(
        joined.to_numpy(zero_copy_only=False),
        index=pd.Index(label, name=getattr(keys, "name", None)),
        dtype=object,
        name=values.name,
    )


def joined_groups(
    keys: pd.Series | np.ndarray,
    values: pd.Series | pa.Array,
    *,
    sort: bool | Mapping[str, int] = False,
    distinct: bool = False,
    sep: str = "、",
) -> tuple[ArrayLike, pa.Array]:
    """:func:`join_per_key` as the keys having a value (in order of first appearance, as
    ``pd.factorize`` gives them) and their joined values as an Arrow ``large_string`` array,
    not Python strings."""
    text = pa.array(values, type=pa.large_string(), from_pandas=True)
    present = text.is_valid().to_numpy(zero_copy_only=False)
    text = text.filter(pa.array(present))
    key_code, key_label = pd.factorize(keys[present])
    encoded = text.dictionary_encode()
    value_id = encoded.indices.to_numpy().astype(np.int64)
    rows = np.flatnonzero(key_code >= 0)  # missing keys are left out, as by groupby
    if distinct:
        pair = key_code.astype(np.int64) * max(len(encoded.dictionary), 1) + value_id
        rows = rows[~pd.Series(pair).duplicated().to_numpy()]
    # only the values of keys with several are ranked: their order among themselves is
    # their order among all
    value_code = np.zeros(len(encoded.dictionary), dtype=np.int64)
    if sort is not False:
        several = np.bincount(key_code[rows], minlength=len(key_label))[key_code[rows]] > 1
        ranked = np.unique(value_id[rows[several]])
        value_code[ranked] = _value_order(encoded.dictionary.take(pa.array(ranked)), sort)
    value_code = value_code[value_id]
    order = rows[np.lexsort((value_code[rows], key_code[rows]))]  # stable: ties keep appearance
    key_code = key_code[order]
    starts = np.flatnonzero(np.r_[True, key_code[1:] != key_code[:-1]]) if len(order) else order
    lists = pa.LargeListArray.from_arrays(
        pa.array(np.r_[starts, len(order)], type=pa.int64()), text.take(pa.array(order))
    )
    joined = pc.binary_join(lists, pa.scalar(sep, type=pa.large_string()))
    return key_label, joined


def _as_text(values: pd.Series | pd.Index) -> pa.Array | pa.ChunkedArray | None:
    """The strings of ``values`` as Arrow ``large_string`` (no copy for Arrow-backed text),
    or None if they are not text."""
    if not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        return None
    return pa.array(values.array).cast(pa.large_string())


def positions(values: pd.Series | pd.Index, universe: pd.Index) -> np.ndarray:
    """``universe.get_indexer(values)`` (-1 where absent) for a ``universe`` without
    repeats; text is looked up through Arrow's hash table, not pandas' table of Python
    objects that each Arrow-string lookup first converts both sides to.

    Examples
    --------
    >>> positions(pd.Series(["b", "x", "a"], dtype="string"), pd.Index(["a", "b"])).tolist()
    [1, -1, 0]
    """
    text, among = _as_text(values), _as_text(universe)
    if text is None or among is None:
        return pd.Index(universe).get_indexer(values)
    found = pc.fill_null(pc.index_in(text, value_set=among), -1)
    return np.asarray(found.to_numpy(), dtype=np.int64)


def isin_values(values: pd.Series, universe: pd.Index | pd.Series) -> np.ndarray:
    """``values.isin(universe)``, through Arrow's hash table for text and a hash table of
    objects otherwise (the Arrow-string ``isin`` of pandas converts the universe element by
    element in Python)."""
    text, among = _as_text(values), _as_text(universe)
    if text is not None and among is not None:
        return np.asarray(pc.is_in(text, value_set=among), dtype=bool)
    return pd.Index(values.to_numpy(dtype=object), dtype=object).isin(
        universe.to_numpy(dtype=object)
    )


def _explode(filings: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per listed parcel id (``uscc, year, parcel_id, filing``), in order: the
    ``parcel_ids`` tuples flattened in Arrow, as ``explode`` and ``dropna`` would give them;
    and the length of each tuple."""
    try:
        lists = pa.array(
            filings["parcel_ids"].to_numpy(dtype=object), type=pa.list_(pa.large_string())
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not tuples of strings: let pandas do it
        listed = filings[["uscc", "year", "parcel_ids"]].copy()
        listed["filing"] = filings.index
        exploded = listed.explode("parcel_ids").dropna(subset=["parcel_ids"])
        exploded = exploded.rename(columns={"parcel_ids": "parcel_id"}).reset_index(drop=True)
        return exploded, filings["parcel_ids"].map(len).to_numpy()
    ids = pc.list_flatten(lists)
    parent = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    valid = np.asarray(ids.is_valid(), dtype=bool)
    if not valid.all():
        ids, parent = ids.filter(pa.array(valid)), parent[valid]
    exploded = pd.DataFrame(
        {
            "uscc": filings["uscc"].array.take(parent),
            "year": filings["year"].to_numpy()[parent],
            "parcel_id": pd.array(ids, dtype="str"),
            "filing": filings.index.to_numpy()[parent],
        }
    )
    return exploded, np.asarray(pc.list_value_length(lists), dtype=np.int64)


def _components(links: pd.DataFrame) -> np.ndarray:
    """Connected component label per link of the filing-parcel graph (parcels per year)."""
    filing_codes, _ = pd.factorize(links["filing"])
    year_codes, _ = pd.factorize(links["year"])
    id_codes, ids = pd.factorize(links["parcel_id"])
    # a parcel is a node per year: number the (year, parcel) pairs in order of appearance
    parcel_codes, _ = pd.factorize(year_codes.astype(np.int64) * len(ids) + id_codes)
    n_f = int(filing_codes.max()) + 1
    n = n_f + int(parcel_codes.max()) + 1
    graph = coo_matrix((np.ones(len(links)), (filing_codes, parcel_codes + n_f)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[filing_codes]


def _units(
    links: pd.DataFrame, filings: pd.Index
) -> tuple[pd.DataFrame, pd.Series, np.ndarray, int]:
    """The land unit of each link and filing, whether each filing's unit has other firms, and
    the number of units. Units are the components of the filing-parcel graph, numbered per
    year in order of their smallest parcel id (in text order)."""
    component = _components(links)  # 0..k-1: every component has links
    k = int(component.max()) + 1
    year = np.empty(k, dtype=np.int64)
    year[component[::-1]] = links["year"].to_numpy()[::-1]  # its first link's year
    rank, _ = pd.factorize(links["parcel_id"], sort=True)  # parcel ids in text order
    smallest = pd.Series(rank).groupby(component).min().to_numpy()
    order = np.lexsort((smallest, year))  # by year, then smallest parcel id (no ties)
    starts = np.flatnonzero(np.r_[True, year[order][1:] != year[order][:-1]])
    number = np.arange(k) - np.repeat(starts, np.diff(np.r_[starts, k])) + 1
    serial = pc.utf8_lpad(pa.array(number).cast(pa.large_string()), 5, "0")
    label = pc.binary_join_element_wise(
        pa.array(year[order]).cast(pa.large_string()), serial, pa.scalar("-U", pa.large_string())
    )
    if (year == NO_YEAR).any():  # a table without years: no year in the id
        undated = pc.binary_join_element_wise(
            pa.scalar("U", pa.large_string()), serial, pa.scalar("", pa.large_string())
        )
        label = pc.if_else(pa.array(year[order] == NO_YEAR), undated, label)
    names = label.take(pa.array(np.argsort(order)))  # per component
    links = links.assign(unit=pd.array(names.take(pa.array(component)), dtype="str"))
    # per filing: its component (every link of a filing is in one), -1 without links
    at = positions(links["filing"], filings)
    of = np.full(len(filings), -1, dtype=np.int64)
    of[at] = component
    firms = np.bincount(of[of >= 0], minlength=k)  # filings per unit
    unit = names.take(pa.array(np.maximum(of, 0), mask=of < 0))
    shared = np.append(firms, 0)[of] > 1
    return links, pd.Series(pd.array(unit, dtype="string"), index=filings), shared, k


def occupancy(filings: pd.DataFrame, parcel_ids: pd.Index) -> Occupancy:
    """Join filings to the parcels they list and group them into land units.

    ``filings`` needs ``uscc``, ``year`` and ``parcel_ids`` (tuples); ``parcel_ids`` is the
    index of usable parcel ids. Unit ids read ``<year>-U<n>`` (``U<n>`` in a table without
    years), numbered per year in order of their smallest parcel id, so they are stable across
    runs on the same data.
    """
    exploded, n_listed = _explode(filings)
    known = isin_values(exploded["parcel_id"], parcel_ids)
    links = exploded.loc[known].reset_index(drop=True)
    absent = exploded.loc[~known]
    missing = (
        join_per_key(absent["filing"], absent["parcel_id"].astype(str))
        .reindex(filings.index)
        .fillna("")
        .astype("string")
    )
    n_found = np.bincount(positions(links["filing"], filings.index), minlength=len(filings))
    if len(links):
        links, unit, shared, n_units = _units(links, filings.index)
    else:
        unit = pd.Series(pd.NA, index=filings.index, dtype="string")
        links["unit"] = pd.Series(dtype="string")
        shared, n_units = np.zeros(len(filings), dtype=bool), 0
    code = np.where(shared, 1, 0)
    code[n_listed == 0] = 2
    code[(n_listed > 0) & (n_found == 0)] = 3
    names = pa.array(["own", "shared", "lessee", "orphan"], type=pa.large_string())
    status = pd.Series(pd.array(names.take(code), dtype="string"), index=filings.index)
    logger.info(
        "joined %d filing rows to %d parcels in %d land units; %d lessees, %d orphans",
        int((n_found > 0).sum()),
        links["parcel_id"].nunique(),
        n_units,
        int((status == "lessee").sum()),
        int((status == "orphan").sum()),
    )
    return Occupancy(links=links, land_status=status, missing=missing, unit=unit)


def evaluation_year(filings: pd.DataFrame, asked: int | None, *, source: str) -> int:
    """The year shown (``asked``, else the latest of the usable filings); a year asked for
    that no filing has stops the run with the years there are (every parcel would be vacant)."""
    counts = filings["year"].value_counts().sort_index()
    if asked is None:
        return int(counts.index.max())
    if asked not in counts.index:
        present = ", ".join(f"{y} ({n:,} rows)" for y, n in zip(counts.index, counts, strict=True))
        raise JoinError(
            f"{source} has no usable filing of {asked}; the years in it: {present}. Give one "
            "of them with --year (or [output] year), or check the year column (年份)"
        )
    return int(asked)


# --- join quality: rates both ways, unmatched keys, near misses, the gate ---


@dataclass(frozen=True)
class JoinQA:
    """How well filings and parcels find each other (``mujun validate``, run.json).

    Filing rows: those that list at least one parcel, and those of them that find one.
    Parcels: usable parcels, and those named by a filing of the evaluation year.
    """

    columns: dict[str, str]
    """The header of the id on each side: {"parcels": ..., "filings": ...}."""
    filing_rows: int
    listing: int
    matched: int
    listed_ids: int
    found_ids: int
    parcels: int
    named: int
    year: int | None
    """The evaluation year (None or :data:`~mujun.io.readers.NO_YEAR`: a table without years)."""
    unmatched_filing_ids: tuple[str, ...]
    unmatched_parcel_ids: tuple[str, ...]
    near_misses: tuple[dict[str, Any], ...]

    @property
    def filing_rate(self) -> float | None:
        """Share of the filing rows listing a parcel that find one (None: none lists one)."""
        return self.matched / self.listing if self.listing else None

    @property
    def parcel_rate(self) -> float | None:
        """Share of the usable parcels named by a filing of the evaluation year."""
        return self.named / self.parcels if self.parcels else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JoinQA:
        """The QA from :meth:`to_dict`'s output."""
        f, p = data["filings_to_parcels"], data["parcels_to_filings"]
        return cls(
            columns=dict(data["columns"]),
            filing_rows=f["rows"],
            listing=f["listing_a_parcel"],
            matched=f["finding_one"],
            listed_ids=f["distinct_ids"],
            found_ids=f["distinct_ids_found"],
            parcels=p["parcels"],
            named=p["named"],
            year=data["year"],
            unmatched_filing_ids=tuple(f["unmatched_examples"]),
            unmatched_parcel_ids=tuple(p["unmatched_examples"]),
            near_misses=tuple(data["near_misses"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """For run.json and the summary."""
        return {
            "columns": self.columns,
            "year": self.year,
            "filings_to_parcels": {
                "rows": self.filing_rows,
                "listing_a_parcel": self.listing,
                "finding_one": self.matched,
                "rate": self.filing_rate,
                "distinct_ids": self.listed_ids,
                "distinct_ids_found": self.found_ids,
                "unmatched_examples": list(self.unmatched_filing_ids),
            },
            "parcels_to_filings": {
                "parcels": self.parcels,
                "named": self.named,
                "rate": self.parcel_rate,
                "unmatched_examples": list(self.unmatched_parcel_ids),
            },
            "near_misses": list(self.near_misses),
        }


_EXAMPLES = 5


def _lists(parcel_ids: pd.Series) -> pa.ListArray:
    return pa.array(parcel_ids.to_numpy(dtype=object), type=pa.list_(pa.large_string()))


def listing_rate(parcel_ids: pd.Series, universe: pa.Array | pd.Series) -> tuple[int, int]:
    """Of the rows of ``parcel_ids`` (tuples) listing a parcel, how many list at least one
    id in ``universe``: ``(listing, matched)``."""
    lists = _lists(parcel_ids)
    flat = pc.list_flatten(lists)
    parent = np.asarray(pc.list_parent_indices(lists), dtype=np.int64)
    among = pa.array(universe, type=pa.large_string(), from_pandas=True)
    found = np.asarray(pc.fill_null(pc.is_in(flat, value_set=among), False), dtype=bool)
    listing = int((np.asarray(pc.list_value_length(lists).fill_null(0)) > 0).sum())
    return listing, len(np.unique(parent[found]))


def join_qa(
    filings: pd.DataFrame,
    parcel_ids: pd.Series,
    year: int,
    *,
    columns: dict[str, str],
) -> JoinQA:
    """Join rates both ways, examples of unmatched ids on each side (the first in text
    order) and near misses."""
    lists = _lists(filings["parcel_ids"])
    flat = pc.list_flatten(lists)
    among = pa.array(parcel_ids.dropna(), type=pa.large_string(), from_pandas=True)
    listing, matched = listing_rate(filings["parcel_ids"], among)
    distinct = pc.unique(flat)
    found = np.asarray(pc.fill_null(pc.is_in(distinct, value_set=among), False), dtype=bool)
    # examples and near misses from the ids in text order, not in the order of the tables
    missing = distinct.filter(pa.array(~found))
    missing = missing.take(pc.array_sort_indices(missing))
    of_year = filings.loc[(filings["year"] == year).to_numpy(), "parcel_ids"]
    named_ids = pc.unique(pc.list_flatten(_lists(of_year)))
    named = np.asarray(pc.fill_null(pc.is_in(among, value_set=named_ids), False), dtype=bool)
    unnamed = among.filter(pa.array(~named))
    unnamed = unnamed.take(pc.array_sort_indices(unnamed))
    return JoinQA(
        columns=columns,
        filing_rows=len(filings),
        listing=listing,
        matched=matched,
        listed_ids=len(distinct),
        found_ids=int(found.sum()),
        parcels=len(among),
        named=int(named.sum()),
        year=year,
        unmatched_filing_ids=tuple(missing.slice(0, _EXAMPLES).to_pylist()),
        unmatched_parcel_ids=tuple(unnamed.slice(0, _EXAMPLES).to_pylist()),
        near_misses=near_misses(missing.to_pylist(), unnamed.to_pylist()),
    )


def _no_separators(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def _no_leading_zeros(text: str) -> str:
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", text)


_LOOSE = {
    "separators (- _ . / and the like)": _no_separators,
    "leading zeros": _no_leading_zeros,
}
_NEAR_LIMIT = 20_000  # unmatched ids looked at on each side


def near_misses(unmatched: list[str], parcels: list[str]) -> tuple[dict[str, Any], ...]:
    """Filing ids that find no parcel, but would under a looser comparison: without
    separators, without leading zeros, or as a prefix or suffix of a parcel id (or it of
    them). Case, width and spaces are folded before any comparison, so they never miss.
    Each kind with its count and a first example ``[filing id, parcel id]``."""
    unmatched, parcels = unmatched[:_NEAR_LIMIT], parcels[:_NEAR_LIMIT]
    out: list[dict[str, Any]] = []
    if not unmatched or not parcels:
        return ()
    for kind, loosen in _LOOSE.items():
        keyed: dict[str, str] = {}
        for pid in parcels:
            keyed.setdefault(loosen(pid), pid)
        hits = [(fid, keyed[loosen(fid)]) for fid in unmatched if loosen(fid) in keyed]
        if hits:
            out.append({"kind": kind, "count": len(hits), "example": list(hits[0])})
    hits = _affixes(unmatched, parcels)
    if hits:
        out.append({"kind": "prefix or suffix", "count": len(hits), "example": list(hits[0])})
    return tuple(out)


def _affixes(unmatched: list[str], parcels: list[str]) -> list[tuple[str, str]]:
    """Pairs where one id begins or ends the other (both at least 3 characters)."""
    forward = sorted(p for p in parcels if len(p) >= 3)
    backward = sorted(p[::-1] for p in forward)
    hits = []
    for fid in (f for f in unmatched if len(f) >= 3):
        for pool, key in ((forward, fid), (backward, fid[::-1])):
            at = bisect.bisect_left(pool, key)
            if at < len(pool) and pool[at].startswith(key) and pool[at] != key:
                hits.append((fid, pool[at] if pool is forward else pool[at][::-1]))
                break
            if at and key.startswith(pool[at - 1]):
                hits.append((fid, pool[at - 1] if pool is forward else pool[at - 1][::-1]))
                break
    return hits


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def qa_lines(qa: JoinQA) -> list[str]:
    """The join QA as lines of text (the run's summary and ``mujun validate``)."""
    lines = [
        f"join: {_percent(qa.filing_rate)} of the filing rows that list a parcel find it "
        f"({qa.matched:,} of {qa.listing:,}; {qa.found_ids:,} of {qa.listed_ids:,} distinct "
        f"ids); {_percent(qa.parcel_rate)} of the parcels are named by a filing"
        f"{f' of {qa.year}' if qa.year else ''} ({qa.named:,} of {qa.parcels:,})",
    ]
    if qa.unmatched_filing_ids:
        lines.append(
            "  filing ids with no parcel, e.g. " + ", ".join(map(repr, qa.unmatched_filing_ids))
        )
    for miss in qa.near_misses:
        a, b = miss["example"]
        lines.append(
            f"  near misses by {miss['kind']}: {miss['count']:,} (e.g. filing {a!r} ~ parcel "
            f"{b!r}); fix the ids on one side"
        )
    return lines


def check_join(
    qa: JoinQA,
    *,
    min_rate: float,
    sources: tuple[str, str],
    candidates: Callable[[], list[tuple[str, str, float]]],
) -> None:
    """Stop (:class:`JoinError`) when fewer than ``min_rate`` of the filing rows that list a
    parcel find one, or none lists any: the id columns are then almost surely the wrong ones.
    ``min_rate`` 0 turns the check off.

    ``candidates`` (called only then) gives other pairs of columns and the share of filing
    rows they would join, ``(parcels header, filings header, rate)``, best first.
    """
    rate = qa.filing_rate
    if min_rate <= 0 or qa.parcels == 0 or (rate is not None and rate >= min_rate):
        return
    p_src, f_src = sources
    if rate is None:
        head = (
            f"no row of {f_src} lists a parcel (its parcel-id column: "
            f"{qa.columns.get('filings') or 'none found'}), so every parcel would be vacant"
        )
    else:
        head = (
            f"only {rate:.1%} of the {qa.listing:,} rows of {f_src} that list a parcel find "
            f"it in {p_src} (at least {min_rate:.0%} expected, [join] min_rate): the filings' "
            f"parcel ids are read from column {qa.columns.get('filings')!r}, the layer's from "
            f"column {qa.columns.get('parcels')!r}"
        )
    lines = [head]
    if qa.unmatched_filing_ids or qa.unmatched_parcel_ids:
        lines.append(
            "  ids in the filings: "
            + ", ".join(map(repr, qa.unmatched_filing_ids[:3]))
            + "; in the layer: "
            + ", ".join(map(repr, qa.unmatched_parcel_ids[:3]))
        )
    lines += qa_lines(qa)[1 + bool(qa.unmatched_filing_ids) :]
    lines += suggestion(candidates(), sources, better_than=rate or 0.0)
    raise JoinError("\n".join(lines))


_UNIQUE_PARCELS = 0.5
"""A column can be a parcel id only if at least this share of its values are distinct (a
map sheet or a town code joins everything and identifies nothing)."""
_DISTINCT_LISTED = 0.05


def id_column_rates(
    parcel_columns: Mapping[str, pd.Series], filing_columns: Mapping[str, pd.Series]
) -> list[tuple[str, str, float]]:
    """For every pair of a parcel column (normalised ids) and a filing column (tuples of
    ids) that could be ids (mostly distinct values on the parcel side, not a handful of
    codes on the filing side): the share of filing rows listing an id that find one in the
    parcel column, best first (ties keep the order given)."""
    parcels = {
        h: ids.dropna()
        for h, ids in parcel_columns.items()
        if len(ids.dropna()) and ids.dropna().nunique() >= _UNIQUE_PARCELS * len(ids.dropna())
    }
    found = []
    for f_header, lists in filing_columns.items():
        flat = pc.list_flatten(_lists(lists))
        distinct = len(pc.unique(flat))
        if not len(flat) or distinct < min(20, _DISTINCT_LISTED * len(flat)):
            continue
        for p_header, ids in parcels.items():
            listing, matched = listing_rate(lists, ids)
            if listing:
                found.append((p_header, f_header, matched / listing))
    return sorted(found, key=lambda c: -c[2])


def choose_id_columns(
    parcels: Mapping[str, pd.Series], filings: Mapping[str, pd.Series]
) -> tuple[str, str, str | None]:
    """When several headers name the parcel id on either side (宗地号 and 地块编号, or a
    header twice), the pair of columns that joins the most filing rows: ``(parcel header,
    filing header, note)``. The first header of each mapping is the one the aliases chose;
    it is kept when it joins as well as any other (the note then says so), else the better
    pair is taken and the note says which and why."""
    first = (next(iter(parcels)), next(iter(filings)))
    rates = id_column_rates(parcels, filings)
    if len(parcels) + len(filings) <= 2 or not rates:
        return first[0], first[1], None
    by_pair = {(p, f): r for p, f, r in rates}
    default = by_pair.get(first, 0.0)
    best_p, best_f, best = rates[0]
    named = (
        "layer: " + ", ".join(map(repr, parcels)) + "; filings: " + ", ".join(map(repr, filings))
    )
    if best <= default:
        return (
            first[0],
            first[1],
            (
                f"several columns name parcel ids ({named}); {first[0]!r} and {first[1]!r} join "
                f"{default:.1%} of the filing rows, as well as any other pair, and are used"
            ),
        )
    return (
        best_p,
        best_f,
        (
            f"several columns name parcel ids ({named}); column {best_p!r} of the layer and "
            f"{best_f!r} of the filings join {best:.1%} of the filing rows (the first choice, "
            f"{first[0]!r} and {first[1]!r}, {default:.1%}) and are used; name others with "
            "[columns.parcels] parcel_id and [columns.filings] parcel_ids"
        ),
    )


def suggestion(
    rates: list[tuple[str, str, float]], sources: tuple[str, str], *, better_than: float = 0.0
) -> list[str]:
    """Lines naming the pair of columns that joins best (from :func:`id_column_rates`) and
    the config that uses it, if it joins more than ``better_than`` of the filing rows."""
    best = [c for c in rates if c[2] > better_than]
    if not best:
        return ["  no other pair of columns of the two files joins more of them"]
    p_src, f_src = sources
    p_col, f_col, rate = best[0]
    lines = [
        f"  by their values, column {p_col!r} of {p_src} and column {f_col!r} of {f_src} "
        f"join {rate:.1%} of the filing rows: set [columns.parcels] parcel_id = "
        f'"{p_col}" and [columns.filings] parcel_ids = "{f_col}" in the config'
    ]
    lines += [f"  also: {p!r} with {f!r}: {r:.1%}" for p, f, r in best[1:4] if r > 0]
    return lines


def resolve_id_columns(
    parcels: pd.DataFrame, parcel_table: Table, filing_table: Table
) -> tuple[pd.DataFrame, Table, Table]:
    """Settle which column holds the parcel ids on each side when several headers name it
    (:func:`choose_id_columns`); returns the parcels and both tables as they should be read,
    the choice noted on the filings."""
    p_alts, f_alts = parcel_table.id_alternatives, filing_table.id_alternatives
    p_first = _header(parcel_table, "parcel_id")
    f_first = _header(filing_table, "parcel_ids")
    if not (p_alts or f_alts) or p_first is None or f_first is None:
        return parcels, parcel_table, filing_table
    p_cols = {p_first: parcels["parcel_id"]}
    p_cols |= {h: normalize_ids(t) for h, t in p_alts.items()}
    f_cols = {f_first: filing_table.data["parcel_ids"], **f_alts}
    p_col, f_col, note = choose_id_columns(p_cols, f_cols)
    if p_col != p_first:
        parcels = parcels.assign(parcel_id=p_cols[p_col], parcel_id_raw=p_alts[p_col])
        parcel_table = _with_header(parcel_table, "parcel_id", p_col)
    if f_col != f_first:
        data = filing_table.data.assign(parcel_ids=f_cols[f_col])
        filing_table = _with_header(
            dataclasses.replace(filing_table, data=data), "parcel_ids", f_col
        )
    if note:
        logger.warning("%s", note)
        filing_table = dataclasses.replace(filing_table, notes=(*filing_table.notes, note))
    return parcels, parcel_table, filing_table


def _header(table: Table, canonical: str) -> str | None:
    return next((m.header for m in table.mapping if m.canonical == canonical), None)


def _with_header(table: Table, canonical: str, header: str) -> Table:
    mapping = tuple(
        dataclasses.replace(m, header=header) if m.canonical == canonical else m
        for m in table.mapping
    )
    return dataclasses.replace(table, mapping=mapping, id_alternatives={})
