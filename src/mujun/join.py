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

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    from pandas._typing import ArrayLike

__all__ = [
    "Occupancy",
    "isin_values",
    "join_per_key",
    "joined_groups",
    "occupancy",
    "positions",
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
    label = pc.binary_join_element_wise(
        pa.array(year[order]).cast(pa.large_string()),
        pc.utf8_lpad(pa.array(number).cast(pa.large_string()), 5, "0"),
        pa.scalar("-U", type=pa.large_string()),
    )
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
    index of usable parcel ids. Unit ids read ``<year>-U<n>``, numbered per year in order of
    their smallest parcel id, so they are stable across runs on the same data.
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
