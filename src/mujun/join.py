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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["Occupancy", "isin_values", "join_per_key", "occupancy"]

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
    text = pa.array(values, type=pa.large_string(), from_pandas=True)
    present = text.is_valid().to_numpy(zero_copy_only=False)
    text = text.filter(pa.array(present))
    key_code, key_label = pd.factorize(keys[present])
    encoded = text.dictionary_encode()
    value_id = encoded.indices.to_numpy().astype(np.int64)
    value_code = _value_order(encoded.dictionary, sort)[value_id]
    rows = np.flatnonzero(key_code >= 0)  # missing keys are left out, as by groupby
    if distinct:
        pair = key_code.astype(np.int64) * max(len(encoded.dictionary), 1) + value_id
        rows = rows[~pd.Series(pair).duplicated().to_numpy()]
    order = rows[np.lexsort((value_code[rows], key_code[rows]))]  # stable: ties keep appearance
    key_code = key_code[order]
    starts = np.flatnonzero(np.r_[True, key_code[1:] != key_code[:-1]]) if len(order) else order
    lists = pa.LargeListArray.from_arrays(
        pa.array(np.r_[starts, len(order)], type=pa.int64()), text.take(pa.array(order))
    )
    joined = pc.binary_join(lists, pa.scalar(sep, type=pa.large_string()))
    return pd.Series(
        joined.to_numpy(zero_copy_only=False),
        index=pd.Index(key_label, name=keys.name),
        dtype=object,
        name=values.name,
    )


def isin_values(values: pd.Series, universe: pd.Index | pd.Series) -> np.ndarray:
    """``values.isin(universe)`` through a hash table of objects (the Arrow-string ``isin`` of
    pandas converts the universe element by element in Python)."""
    return pd.Index(values.to_numpy(dtype=object), dtype=object).isin(
        universe.to_numpy(dtype=object)
    )


def _explode(filings: pd.DataFrame) -> pd.DataFrame:
    listed = filings[["uscc", "year", "parcel_ids"]].copy()
    listed["filing"] = filings.index
    exploded = listed.explode("parcel_ids").dropna(subset=["parcel_ids"])
    return exploded.rename(columns={"parcel_ids": "parcel_id"}).reset_index(drop=True)


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


def occupancy(filings: pd.DataFrame, parcel_ids: pd.Index) -> Occupancy:
    """Join filings to the parcels they list and group them into land units.

    ``filings`` needs ``uscc``, ``year`` and ``parcel_ids`` (tuples); ``parcel_ids`` is the
    index of usable parcel ids. Unit ids read ``<year>-U<n>``, numbered per year in order of
    their smallest parcel id, so they are stable across runs on the same data.
    """
    exploded = _explode(filings)
    known = isin_values(exploded["parcel_id"], parcel_ids)
    links = exploded.loc[known].reset_index(drop=True)
    absent = exploded.loc[~known]
    missing = (
        join_per_key(absent["filing"], absent["parcel_id"].astype(str))
        .reindex(filings.index)
        .fillna("")
        .astype("string")
    )
    n_listed = filings["parcel_ids"].map(len)
    n_found = links.groupby("filing").size().reindex(filings.index, fill_value=0)

    unit = pd.Series(pd.NA, index=filings.index, dtype="string")
    if len(links):
        links["component"] = _components(links)
        first = links.groupby("component").agg(year=("year", "first"), first=("parcel_id", "min"))
        first = first.sort_values(["year", "first"])
        first["unit"] = (
            first["year"].astype(str)
            + "-U"
            + (first.groupby("year").cumcount() + 1).astype(str).str.zfill(5)
        )
        links["unit"] = links["component"].map(first["unit"])
        links = links.drop(columns="component")
        unit.loc[links["filing"].to_numpy()] = links["unit"].to_numpy()
    else:
        links["unit"] = pd.Series(dtype="string")

    per_unit = links.groupby("unit")["filing"].nunique()
    shared = unit.map(per_unit).fillna(0) > 1
    status = pd.Series("own", index=filings.index, dtype="string")
    status[shared.to_numpy()] = "shared"
    status[(n_listed == 0).to_numpy()] = "lessee"
    status[((n_listed > 0) & (n_found == 0)).to_numpy()] = "orphan"
    logger.info(
        "joined %d filing rows to %d parcels in %d land units; %d lessees, %d orphans",
        int((n_found > 0).sum()),
        links["parcel_id"].nunique(),
        per_unit.size,
        int((status == "lessee").sum()),
        int((status == "orphan").sum()),
    )
    return Occupancy(links=links, land_status=status, missing=missing, unit=unit)
