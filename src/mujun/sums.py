"""Sums that do not depend on the order of their terms.

Floating-point addition is not associative: the same firms' tax added in another order can
differ in the last bit, so a run on a re-sorted filing table, or on parts of it (the dask
engine), gave other list averages, unit totals and county totals, and by them, rarely, a
class at a bound. Every sum that reaches a result is therefore **correctly rounded**: the
exact sum of its terms, rounded once to the nearest float (ties to even), which depends on
the terms alone; the value :func:`math.fsum` gives (except that a sum of zeros is +0.0).

How: a group of one or two terms is added by ``np.bincount`` (0 + a + b rounds once). In
larger groups every finite float is an integer times a power of two (frexp's mantissa and
exponent); the integers are added exactly per group and exponent with numpy, put together
as Python integers (no size limit), and rounded once by Python's integer division, which is
correctly rounded. The same integers let parts of the terms be summed apart and added up
later (:class:`Partial`), as a dask engine's partitions would.

Non-finite terms follow IEEE addition, which is order-free for them too: any NaN, or both
infinities, give NaN; else an infinity gives itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from pandas.core.groupby import GroupBy

__all__ = [
    "Grouped",
    "Partial",
    "exact_nansum",
    "exact_sum",
    "group_nansums",
    "group_sums",
    "grouped_sums",
    "partial_sums",
]


def exact_sum(values: npt.ArrayLike) -> float:
    """The correctly rounded sum of ``values`` (0.0 for none); see the module's notes."""
    x = np.asarray(values, dtype="float64").reshape(-1)
    return float(group_sums(np.zeros(len(x), dtype=np.int64), x, 1)[0])


def exact_nansum(values: pd.Series) -> float:
    """The correctly rounded sum of a column's values, missing ones (NaN, NA) skipped: what
    ``values.sum()`` means, without its order."""
    x = values.to_numpy(dtype="float64", na_value=np.nan)
    return float(group_nansums(np.zeros(len(x), dtype=np.int64), x, 1)[0])


def group_sums(code: npt.ArrayLike, values: npt.ArrayLike, n: int) -> np.ndarray:
    """Per group ``0..n-1`` (``code`` per value), the correctly rounded sum of its values;
    0.0 for a group without values. Non-finite values as in the module's notes."""
    code = np.asarray(code, dtype=np.int64).reshape(-1)
    x = np.asarray(values, dtype="float64").reshape(-1)
    if len(code) != len(x):
        raise ValueError(f"{len(code)} codes for {len(x)} values")
    finite = np.isfinite(x)
    # adding one or two terms to 0.0 is exact then rounded once: bincount is exact there
    out = np.bincount(code, weights=np.where(finite, x, 0.0), minlength=n).astype("float64")
    many = np.bincount(code[finite], minlength=n) > 2
    if many.any():  # the others exactly: as integers, then rounded once
        rows = np.flatnonzero(many[code] & finite)
        dense = np.cumsum(many) - 1  # the groups of more than two terms, numbered from 0
        out[many] = partial_sums(dense[code[rows]], x[rows]).total(int(many.sum()))
    if not finite.all():
        nan = np.bincount(code, weights=np.isnan(x), minlength=n) > 0
        pos = np.bincount(code, weights=np.isposinf(x), minlength=n) > 0
        neg = np.bincount(code, weights=np.isneginf(x), minlength=n) > 0
        out[pos] = np.inf
        out[neg] = -np.inf
        out[nan | (pos & neg)] = np.nan
    return out


def group_nansums(
    code: npt.ArrayLike, values: npt.ArrayLike, n: int, *, min_count: int = 0
) -> np.ndarray:
    """:func:`group_sums` with NaN values skipped, NaN where a group has fewer than
    ``min_count`` values that are not NaN (``min_count=1``: pandas' ``sum(min_count=1)``)."""
    code = np.asarray(code, dtype=np.int64).reshape(-1)
    x = np.asarray(values, dtype="float64").reshape(-1)
    have = ~np.isnan(x)
    out = group_sums(code[have], x[have], n)
    if min_count > 0:
        out[np.bincount(code[have], minlength=n) < min_count] = np.nan
    return out


class Grouped:
    """The groups of a pandas ``groupby``, numbered once, for correctly rounded sums of
    several columns of the frame it was made from."""

    def __init__(self, grouped: GroupBy) -> None:
        code = grouped.ngroup().to_numpy(dtype="float64", na_value=np.nan)
        self.keep = ~np.isnan(code)  # not the rows of a key dropped for being NaN
        self.code = code[self.keep].astype(np.int64)
        self.index = grouped.size().index
        self.n = grouped.ngroups

    def sum(self, values: pd.Series) -> pd.Series:
        """``grouped[...].sum()`` of ``values`` (aligned by position with the frame; NaN
        skipped, 0.0 for a group without values), correctly rounded."""
        x = values.to_numpy(dtype="float64", na_value=np.nan)[self.keep]
        return pd.Series(group_nansums(self.code, x, self.n), index=self.index)


def grouped_sums(grouped: GroupBy, values: pd.Series) -> pd.Series:
    """:meth:`Grouped.sum` for one column."""
    return Grouped(grouped).sum(values)


# -- sums in parts ------------------------------------------------------------------------------
#
# A part of the terms (a partition on a dask worker) cannot send its rounded sum: the sum of
# rounded sums is not the rounded sum. It sends each group's exact sum as an integer instead
# (Python integers have no size limit): every finite float is M · 2^(E - 53) with |M| < 2^53,
# so it is an integer multiple of 2^-1126, and the parts' integers add exactly in any order.
# The whole is rounded once at the end, by Python's integer division, which is correctly
# rounded: the same float as :func:`group_sums` of all the terms at once.

_SCALE = 1126  # finite floats are integer multiples of 2^-1126 (frexp's exponents >= -1073)
_HALF = 26  # mantissas split in halves of < 2^27: bincount's float sums of them stay exact
_BLOCK = 1 << 25  # terms per bincount: 2^25 halves < 2^27 each sum below 2^52, exactly
_DENSE = 1 << 22  # at most this many (group, exponent) bins: counted without sorting


@dataclass
class Partial:
    """Per group, the exact sum of some terms (``exact``: an integer, in units of 2^-1126)
    and which non-finite terms it had; add two with ``+`` (any order gives the same),
    :meth:`total` rounds once."""

    exact: dict[int, int] = field(default_factory=dict)
    nan: set[int] = field(default_factory=set)
    pos: set[int] = field(default_factory=set)
    neg: set[int] = field(default_factory=set)

    def __add__(self, other: Partial) -> Partial:
        exact = dict(self.exact)
        for g, v in other.exact.items():
            exact[g] = exact.get(g, 0) + v
        return Partial(exact, self.nan | other.nan, self.pos | other.pos, self.neg | other.neg)

    def total(self, n: int) -> np.ndarray:
        """The correctly rounded sum of each group ``0..n-1``, as :func:`group_sums` gives."""
        out = np.zeros(n)
        for g, v in self.exact.items():
            try:
                out[g] = v / (1 << _SCALE)  # int / int: correctly rounded
            except OverflowError:
                out[g] = math.inf if v > 0 else -math.inf
        out[list(self.pos)] = np.inf
        out[list(self.neg)] = -np.inf
        out[list(self.nan | (self.pos & self.neg))] = np.nan
        return out


def partial_sums(code: npt.ArrayLike, values: npt.ArrayLike) -> Partial:
    """The exact per-group sums of ``values`` (``code`` per value), to add to other parts'."""
    codes = np.asarray(code, dtype=np.int64).reshape(-1)
    x = np.asarray(values, dtype="float64").reshape(-1)
    finite = np.isfinite(x)
    part = Partial(
        nan=set(np.unique(codes[np.isnan(x)]).tolist()),
        pos=set(np.unique(codes[np.isposinf(x)]).tolist()),
        neg=set(np.unique(codes[np.isneginf(x)]).tolist()),
    )
    codes, x = codes[finite], x[finite]
    m, e = np.frexp(x)  # x = m · 2^e, 1/2 <= |m| < 1
    mant = np.ldexp(m, 53).astype(np.int64)  # exact: |mant| < 2^53
    hi, lo = mant >> _HALF, mant & ((1 << _HALF) - 1)  # mant = hi · 2^26 + lo
    exp = np.asarray(e, dtype=np.int64)
    low = int(exp.min(initial=0))
    span = int(exp.max(initial=0)) - low + 1
    ids = codes * span + (exp - low)  # group and exponent
    if (int(codes.max(initial=0)) + 1) * span <= _DENSE:  # bins for every pair: no sort
        key = ids
        bucket = np.arange((int(codes.max(initial=0)) + 1) * span, dtype=np.int64)
    else:
        bucket, key = np.unique(ids, return_inverse=True)
        key = key.reshape(-1)
    # per block, bincount's float sums of the halves are exact integers below 2^52; the
    # blocks add up in int64
    sums_hi = np.zeros(len(bucket), dtype=np.int64)
    sums_lo = np.zeros(len(bucket), dtype=np.int64)
    for start in range(0, len(x), _BLOCK):
        cut = slice(start, start + _BLOCK)
        sums_hi += np.bincount(key[cut], weights=hi[cut], minlength=len(bucket)).astype(np.int64)
        sums_lo += np.bincount(key[cut], weights=lo[cut], minlength=len(bucket)).astype(np.int64)
    used = np.flatnonzero((sums_hi != 0) | (sums_lo != 0))
    groups, exps = bucket[used] // span, bucket[used] % span + low
    for g, ex, h, lo_sum in zip(
        groups.tolist(), exps.tolist(), sums_hi[used].tolist(), sums_lo[used].tolist(), strict=True
    ):
        v = ((h << _HALF) + lo_sum) << (ex - 53 + _SCALE)
        part.exact[g] = part.exact.get(g, 0) + v
    return part
