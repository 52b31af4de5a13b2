"""What it takes: the tax per mu a graded firm would need, all other firms unchanged, to
reach the next class up and to leave the last class (D).

For each firm the search raises its own tax (so its land unit's tax, and with it every
indicator with tax as numerator: tax per mu, tax per kWh where the firm reports electricity)
and re-scores its list with the scoring module's own pieces: the list average that serves as
benchmark (:func:`mujun.scoring.list_average`, which moves with the firm's tax, since the
firm's tax is in the list's total), the normalised ratio and the missing-value rule
(:func:`~mujun.scoring.column_ratio`, :func:`~mujun.scoring.fill_missing`), the ranking
(score, then tax per mu, then credit code) and the class rules
(:func:`~mujun.scoring.threshold_codes`, :func:`~mujun.scoring.share_codes`, the tax floor).

**Why a bisection is exact.** The firm's class is a monotone function of its tax: its own
ratio x/B rises with its tax even when B is the list's mean, since x/B = t·A / (a·(T + t))
grows with t (T, the others' tax, ≥ 0); every other firm's ratio falls (its x is fixed, B
rises), and so does the list mean of ratios that a firm without the indicator is given, by
less than the firm's own rise. With min-max, the firm's fraction rises and every other's
falls as the list's minimum and maximum move up. Caps and the floor at 0 only flatten these.
So the firm's score minus any other's never falls, its tax per mu (the tie-break) rises, and
its rank only improves; by thresholds its score alone decides, and the tax floor is passed
once and for all. The smallest tax per mu on a grid of ``step`` (0.01 万元/亩) at which the
class is better is then found by bisection on the grid, exactly. A tax indicator the config
counts as "less is better" (``[scoring] negative``) breaks this; those lists get no figure.

The figure is the firm's ``tax_per_mu`` column after the rise (its land unit's, for firms
sharing land): the level to reach, not the increase. The search stops at
:data:`CEILING` times the list's highest tax per mu; a class not reached below that (scores
capped by ``[scoring] cap``, or the firm's other indicators too far behind: with the list's
mean as benchmark the firm's ratio tends to total land over its own land, however high its
tax) is "out of reach" in the column ``what_it_takes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np
import pandas as pd

from mujun.config import ClassConfig, ScoringConfig
from mujun.scoring import (
    INDICATORS,
    Average,
    column_ratio,
    compute_indicators,
    fill_missing,
    indicator_parts,
    list_average,
    list_weights,
    missing_rule,
    rank_order,
    ratio_cap,
    share_codes,
    threshold_codes,
    unit_entries,
)

__all__ = ["CEILING", "COLUMNS", "FULL_MAX", "NOTES", "STEP", "what_it_takes"]

logger = logging.getLogger(__name__)

STEP = 0.01
"""Resolution of the figures, 万元/亩: each is the smallest multiple of it that is enough."""
CEILING = 1000.0
"""The search goes up to this many times the list's highest tax per mu (and at least the
tax floor and the firm's own figure)."""
COLUMNS = ("tax_per_mu_to_next_class", "tax_per_mu_to_leave_d", "what_it_takes")
NOTES = {
    "out_of_reach": (
        "任何税收均达不到（得分封顶或其他指标差距过大）",
        "out of reach: no tax up to the search ceiling is enough (capped scores, or the "
        "other indicators too far behind)",
    ),
    "no_tax": ("未填报税收", "no tax filed"),
    "no_land": ("无用地，无亩均税收", "no land: no tax per mu"),
    "tax_less_is_better": ("税收指标被设为逆向指标", "a tax indicator is set as less-is-better"),
    "not_reproduced": ("未能复现其分类", "its class could not be reproduced"),
    "list_too_large": (
        "名单过大，极差法下未计算",
        "not computed: the min-max what-if re-scores the whole list, too large",
    ),
}
"""The codes of ``what_it_takes`` (why a graded firm has no figure), in Chinese and English."""
_CELLS = 500_000
"""Floats per array in one batch of what-ifs (firms × candidates × list)."""
_QUERIES = 40_000
"""What-ifs (firms × candidates) in one batch of the windowed what-if."""
FULL_MAX = 10_000
"""Largest list whose what-if re-scores the whole list (the min-max method: every firm's
fraction moves with the list's range): the work grows with the square of the list."""
_WINDOW_CELLS = 4_000_000
"""Rows scored again in one batch of the windowed what-if, at most (unless one firm)."""
_CANDIDATES = 8


@dataclass(frozen=True)
class _List:
    """One list and year, ready for what-ifs: its entries' quantities and fixed parts."""

    basis: pd.DataFrame  # the entries' basis rows
    weights: dict[str, float]
    fixed: dict[str, np.ndarray]  # sub-score of each indicator tax does not move
    moving: dict[str, tuple[np.ndarray, np.ndarray, float, np.ndarray | float | Average]]
    """indicator -> (numerator, denominator, factor, benchmark: given, computed or none)"""
    tax: np.ndarray  # the entries' tax (yuan) and area (mu): the tie-break and the floor
    area: np.ndarray
    unit: np.ndarray  # the entries' unit codes
    key_rank: np.ndarray  # place of each entry in credit-code order (the last tie-break)
    scoring: ScoringConfig
    classes: ClassConfig
    fast: _Fast | None = None
    """The windowed what-if's view (benchmark method), else None: the full what-if."""


def _tax_indicators(weights: dict[str, float]) -> list[str]:
    return [n for n in weights if INDICATORS[n].numerator == "tax"]


def _prepare(
    basis: pd.DataFrame, weights: dict[str, float], industry: pd.Series, group: str, ctx: _Ctx
) -> _List:
    scoring = ctx.scoring
    values = compute_indicators(basis, list(weights))
    given = {k: float(v) for k, v in scoring.benchmarks.get(group, {}).items()}
    fixed: dict[str, np.ndarray] = {}
    moving: dict[str, tuple[np.ndarray, np.ndarray, float, np.ndarray | float | Average]] = {}
    for name, weight in weights.items():
        ind = INDICATORS[name]
        parts = indicator_parts(basis, ind)
        average = None if name in given else list_average(basis, name, scoring, industry)
        if ind.numerator == "tax" and parts is not None:
            bench: np.ndarray | float | Average = given.get(name, average or np.nan)
            moving[name] = (
                basis[parts[0]].to_numpy("float64"),
                basis[parts[1]].to_numpy("float64"),
                ind.factor,
                bench,
            )
            continue
        b = np.full(len(basis), given[name]) if name in given else None
        if b is None:
            b = average.mean if average is not None else np.full(len(basis), np.nan)
        r = column_ratio(values[name].to_numpy("float64"), b, name, scoring)
        fixed[name] = weight * fill_missing(r, name, weight, scoring)
    order = rank_order(np.zeros(len(basis)), np.zeros(len(basis)), ctx.frame_keys(basis.index))
    key_rank = np.empty(len(basis), dtype=np.int64)
    key_rank[order] = np.arange(len(basis))
    return _List(
        basis=basis,
        weights=weights,
        fixed=fixed,
        moving=moving,
        tax=basis["tax"].to_numpy("float64"),
        area=basis["area_mu"].to_numpy("float64"),
        unit=pd.factorize(basis["unit_key"])[0],
        key_rank=key_rank,
        scoring=scoring,
        classes=ctx.classes,
    )


@dataclass(frozen=True)
class _Ctx:
    frame: pd.DataFrame
    scoring: ScoringConfig
    classes: ClassConfig

    def frame_keys(self, index: pd.Index) -> pd.Series:
        return self.frame.loc[index, "uscc"]


def _class_codes(lst: _List, at: np.ndarray, pair: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The class (position in the labels) of entry ``at[p]`` when its unit's tax rises by
    ``delta[p, m]`` yuan; ``pair[p, k]``: whether the rise counts in moving indicator k's
    numerator (a ratio between filed quantities counts only firms that report both)."""
    p, m = delta.shape
    n = len(lst.tax)
    member = lst.unit[None, :] == lst.unit[at][:, None]  # (p, n): rows of the firm's unit
    rise = delta[:, :, None] * member[:, None, :]  # (p, m, n)
    fixed = sum((lst.fixed[name] for name in lst.weights if name in lst.fixed), np.zeros(n))
    score = np.broadcast_to(fixed, (p, m, n)).copy()
    for k, (name, weight) in enumerate(lst.weights.items()):
        if name in lst.fixed:
            continue
        num, den, factor, bench = lst.moving[name]
        new = num + rise * pair[:, k, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(den > 0, new / den * factor, np.nan)
        if isinstance(bench, Average):
            # the row counted for the firm's unit in the average, if any, gives its group
            of_unit = np.full(int(lst.unit.max()) + 1, -1)
            of_unit[lst.unit[bench.counted]] = np.flatnonzero(bench.counted)
            mine = of_unit[lst.unit[at]]
            hit = (mine >= 0) & (bench.group[mine] >= 0)
            same = (bench.group[None, :] == bench.group[mine][:, None]) & hit[:, None]
            with np.errstate(divide="ignore", invalid="ignore"):
                shift = (delta * pair[:, k, None])[:, :, None] * factor / bench.den
            b = bench.mean + np.where(same[:, None, :], shift, 0.0)
        else:
            b = np.broadcast_to(np.asarray(bench, dtype="float64"), x.shape)
        r = column_ratio(x, b, name, lst.scoring)
        score += weight * fill_missing(r, name, weight, lst.scoring)
    pick = (np.arange(p)[:, None], np.arange(m)[None, :], at[:, None])
    s_i = score[pick]
    with np.errstate(divide="ignore", invalid="ignore"):
        tb_i = (lst.tax[at][:, None] + delta) / lst.area[at][:, None] * 1e-4
    if lst.classes.method == "thresholds":
        code = threshold_codes(s_i, lst.classes)
    else:
        s_if = s_i[:, :, None]
        ahead = (score > s_if).sum(axis=-1)
        tied = score == s_if
        if tied.sum() > p * m:  # ties besides the firm itself: tax per mu, then credit code
            with np.errstate(divide="ignore", invalid="ignore"):
                tb = np.where(lst.area > 0, (lst.tax + rise) / lst.area * 1e-4, np.nan)
            tbf = np.where(np.isnan(tb), -np.inf, tb)
            tb_if = np.where(np.isnan(tb_i), -np.inf, tb_i)[:, :, None]
            key_i = lst.key_rank[at][:, None, None]
            later = (tbf > tb_if) | ((tbf == tb_if) & (lst.key_rank < key_i))
            ahead += (tied & later).sum(axis=-1)
        code = share_codes(1 + ahead, n, lst.classes)
    floor = lst.classes.tax_floor_per_mu
    if floor > 0:
        code = np.where(tb_i < floor, len(lst.classes.labels) - 1, code)
    return code


def _codes_at(
    lst: _List,
    at: np.ndarray,
    pair: np.ndarray,
    grid: np.ndarray,
    *,
    tax0: np.ndarray,
    to_yuan: np.ndarray,
) -> np.ndarray:
    """Class codes of entries ``at`` at tax per mu ``grid[p, m] · STEP``, in batches that
    keep every array under :data:`_CELLS` floats."""
    cells = grid.shape[1] * (1 if lst.fast is not None else len(lst.tax))
    per = max(1, (_QUERIES if lst.fast is not None else _CELLS) // max(1, cells))
    out = np.empty(grid.shape, dtype=np.int64)
    for start in range(0, len(at), per):
        part = slice(start, start + per)
        delta = (grid[part] * STEP - tax0[part, None]) * to_yuan[part, None]
        if lst.fast is not None:
            out[part] = _fast_codes(lst, lst.fast, at[part], pair[part], delta)
        else:
            out[part] = _class_codes(lst, at[part], pair[part], delta)
    return out


def _search(lst: _List, at: np.ndarray, pair: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Per entry ``at[p]`` now in class ``base[p]``, the smallest tax per mu on the grid at
    which its class is better; NaN where not reached below the ceiling."""
    tax0 = lst.tax[at] / lst.area[at] * 1e-4
    top = CEILING * max(float(np.nanmax(lst.tax / lst.area * 1e-4)), 1.0)
    top = np.maximum(np.maximum(top, tax0 * CEILING), lst.classes.tax_floor_per_mu)
    lo = np.floor(tax0 / STEP).astype(np.int64)  # never enough: at most the firm's own
    hi = np.ceil(top / STEP).astype(np.int64)
    to_yuan = lst.area[at] * 1e4
    out = np.full(len(at), np.nan)
    reached = _codes_at(lst, at, pair, hi[:, None], tax0=tax0, to_yuan=to_yuan)[:, 0] < base
    live = np.flatnonzero(reached)
    lo, hi = lo[live], hi[live]
    if lst.fast is not None and len(live):  # a first guess, checked: most searches end here
        lo, hi = _guess(
            lst, lst.fast, at[live], pair[live], base[live], lo=lo, hi=hi, tax0=tax0[live]
        )
    steps = np.arange(1, _CANDIDATES + 1)
    # first a geometric sweep (answers lie mostly near the firm's own figure), then even ones
    geometric = True
    while len(live):
        done = hi - lo <= 1
        out[live[done]] = np.round(hi[done] * STEP, 2)
        live, lo, hi = live[~done], lo[~done], hi[~done]
        if not len(live):
            break
        width = (hi - lo)[:, None].astype("float64")
        if geometric:
            frac = width ** (steps / _CANDIDATES) / width  # 1/width ... 1, spaced evenly in log
            geometric = False
        else:
            frac = steps / _CANDIDATES
        cand = lo[:, None] + np.ceil(width * frac).astype(np.int64)
        cand = np.minimum(cand, hi[:, None])
        ok = _codes_at(lst, at[live], pair[live], cand, tax0=tax0[live], to_yuan=to_yuan[live])
        ok = ok < base[live, None]
        first = np.argmax(ok, axis=1)  # the last candidate (hi) always holds
        rows = np.arange(len(live))
        lo = np.where(first > 0, cand[rows, first - 1], lo)
        hi = cand[rows, first]
    return out


def _guess(
    lst: _List,
    fast: _Fast,
    at: np.ndarray,
    pair: np.ndarray,
    base: np.ndarray,
    *,
    lo: np.ndarray,
    hi: np.ndarray,
    tax0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Narrow each search's bracket (``lo`` not enough, ``hi`` enough, grid steps) by a guess:
    the tax per mu at which the firm's own score, drawn as a line through its score now and
    at a higher tax, reaches the score of the next class (its threshold, or the score of the
    last firm now in it). The guess and the step below it are checked with the exact
    what-if; a wrong guess still narrows the bracket, and the search goes on from there."""
    n = len(lst.tax)
    if lst.classes.method == "thresholds":
        need = np.asarray(lst.classes.thresholds, dtype="float64")[base - 1]
    else:
        bounds = np.rint(np.cumsum(lst.classes.shares) / sum(lst.classes.shares) * n).astype(int)
        last = np.clip(bounds[base - 1], 1, n)  # the worst rank of the next class
        need = fast.sorted_score[n - last]
    probe = lo + np.maximum(100, lo)  # twice the firm's figure, at least 1 万元/亩 more
    s0 = fast.score[at]
    delta = ((probe * STEP - tax0) * lst.area[at] * 1e4)[:, None]
    s1 = _own_scores(lst, fast, at, pair, delta)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (s1 - s0) / (probe * STEP - tax0)
        guess = tax0 + (need - s0) / slope
    usable = np.isfinite(guess) & (slope > 0)
    g = np.where(usable, np.ceil(np.where(usable, guess, 0.0) / STEP), lo + 1).astype(np.int64)
    g = np.clip(g, lo + 1, hi)
    cand = np.stack([np.maximum(g - 1, lo), g], axis=1)
    to_yuan = lst.area[at] * 1e4
    ok = _codes_at(lst, at, pair, cand, tax0=tax0, to_yuan=to_yuan) < base[:, None]
    # enough at the guess: hi comes down to it; not enough a step below: lo goes up to that
    hi = np.where(ok[:, 1], np.minimum(hi, cand[:, 1]), hi)
    hi = np.where(ok[:, 0], np.minimum(hi, cand[:, 0]), hi)
    lo = np.where(~ok[:, 0], np.maximum(lo, cand[:, 0]), lo)
    lo = np.where(~ok[:, 1], np.maximum(lo, cand[:, 1]), lo)
    return lo, hi


def _own_scores(
    lst: _List, fast: _Fast, at: np.ndarray, pair: np.ndarray, delta: np.ndarray
) -> np.ndarray:
    """The firms' own scores at their what-ifs (no ranking), for :func:`_guess`."""
    qs = _queries(lst, fast, at, pair, delta)
    return _unit_scores(lst, fast, qs)[1].reshape(delta.shape)


def _unit_scores(lst: _List, fast: _Fast, qs: _Queries) -> tuple[np.ndarray, np.ndarray]:
    """The scores of each query's unit rows (flat, as ``qs.ur``) and of the firm itself."""
    s_unit = _scores(lst, fast, qs.ur, qs.uq, qs, rise=True)
    s_i = np.zeros(len(qs.d))
    is_firm = qs.ur == qs.who[qs.uq]
    s_i[qs.uq[is_firm]] = s_unit[is_firm]
    return s_unit, s_i


def what_it_takes(
    frame: pd.DataFrame,
    basis: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    scoring: ScoringConfig,
    classes: ClassConfig,
) -> pd.DataFrame:
    """Per enterprise-year, the tax per mu (万元/亩) it would need, all other firms unchanged,
    to reach the next class up (``tax_per_mu_to_next_class``; empty in the top class) and to
    leave the last class (``tax_per_mu_to_leave_d``; empty outside it), and ``what_it_takes``:
    why a graded firm has no figure where it would need one.

    ``frame`` and ``basis`` are :func:`mujun.scoring.evaluate`'s inputs, ``scores`` its
    output (same index). Each figure is the smallest multiple of :data:`STEP` that is enough.
    """
    out = pd.DataFrame({COLUMNS[0]: np.nan, COLUMNS[1]: np.nan, COLUMNS[2]: ""}, index=frame.index)
    if classes.method == "none" or "class" not in scores or "tax" not in basis:
        return out
    labels = list(classes.labels)
    code = pd.Index(labels).get_indexer(pd.Index(scores["class"].astype(object).fillna("")))
    entry = unit_entries(frame, basis, scores[["graded", "group"]].copy(), classes)
    ctx = _Ctx(frame, scoring, classes)
    industry = (
        frame.get("industry", pd.Series("", index=frame.index))
        .astype("string")
        .str.replace(r"^[A-Za-z]", "", regex=True)
        .str[: scoring.industry_level]
    )
    graded = np.flatnonzero((code >= 0) & scores["graded"].to_numpy(dtype=bool))
    lists = pd.DataFrame(
        {"group": scores["group"].iloc[graded], "year": frame["year"].iloc[graded]}
    ).groupby(["group", "year"], sort=False, dropna=False)
    need = np.full(len(frame), np.nan)
    note = np.full(len(frame), "", dtype=object)
    for key, at in lists.indices.items():
        group = cast("tuple[str, int]", key)[0]
        rows = graded[at]
        _one_list(
            rows,
            str(group),
            entry=entry,
            code=code,
            industry=industry,
            basis=basis,
            ctx=ctx,
            need=need,
            note=note,
        )
    last = len(labels) - 1
    top = code == 0
    out[COLUMNS[0]] = np.where(top, np.nan, need)
    out[COLUMNS[1]] = np.where(code == last, need, np.nan)
    out[COLUMNS[2]] = np.where(top & (note == ""), "", note)
    return out


def _one_list(
    rows: np.ndarray,
    group: str,
    *,
    entry: np.ndarray,
    code: np.ndarray,
    industry: pd.Series,
    basis: pd.DataFrame,
    ctx: _Ctx,
    need: np.ndarray,
    note: np.ndarray,
) -> None:
    """Fill ``need`` and ``note`` for the graded rows ``rows`` of one list and year."""
    weights = list_weights(group, ctx.scoring)
    if not weights:
        return
    entries = np.unique(entry[rows])
    if set(_tax_indicators(weights)) & set(ctx.scoring.negative):
        note[rows] = "tax_less_is_better"
        return
    lst = _prepare(basis.iloc[entries], weights, industry.iloc[entries], group, ctx)
    lst = replace(lst, fast=_fast(lst))
    if lst.fast is None and len(entries) > FULL_MAX:
        logger.warning(
            "what it takes is not computed for the %s list (%d entries): scored by min-max, "
            "its what-if re-scores the whole list for each firm (up to %d entries)",
            group,
            len(entries),
            FULL_MAX,
        )
        note[rows[code[rows] > 0]] = "list_too_large"
        return
    at = pd.Index(entries).get_indexer(entry[rows])  # each row's entry in the list
    base = code[rows]
    own_tax = lst.tax[at]
    usable = np.isfinite(own_tax) & (lst.area[at] > 0) & (base > 0)
    note[rows[~np.isfinite(own_tax)]] = "no_tax"
    note[rows[np.isfinite(own_tax) & ~(lst.area[at] > 0)]] = "no_land"
    # whether a rise of the firm's tax counts in each moving indicator's numerator
    names = list(weights)
    pair = np.ones((len(rows), len(names)), dtype=bool)
    for k, name in enumerate(names):
        den = INDICATORS[name].denominator
        if name in lst.moving and not den.startswith("area"):  # the firm's own filing
            filed = ctx.frame.iloc[rows]
            if "tax" in filed and den in filed:
                pair[:, k] = (filed["tax"].notna() & filed[den].notna()).to_numpy()
    pick = np.flatnonzero(usable)
    if not len(pick):
        return
    # firms of one entry with the same pair pattern have the same answer: search once
    keys = pd.DataFrame(pair[pick]).assign(at=at[pick])
    which = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    uniq = pick[~keys.duplicated().to_numpy()]  # in order of first appearance = ngroup order
    zero = np.zeros(len(uniq))
    own = _codes_at(
        lst, at[uniq], pair[uniq], np.zeros((len(uniq), 1), np.int64), tax0=zero, to_yuan=zero
    )
    found = _search(lst, at[uniq], pair[uniq], base[uniq])
    wrong = own[:, 0] != base[uniq]
    if wrong.any():  # the what-if must give every firm its class at its own tax
        logger.warning(
            "what it takes: %d entries of list %s not reproduced at their own tax; left empty",
            int(wrong.sum()),
            group,
        )
    found[wrong] = np.nan
    need[rows[pick]] = found[which]
    why = np.where(wrong, "not_reproduced", "out_of_reach")
    unreached = np.isnan(found[which])
    note[rows[pick[unreached]]] = why[which[unreached]]


# -- the what-if without re-scoring the whole list ---------------------------------------------
#
# With the benchmark method, a rise of one firm's tax moves few things: its own unit's rows,
# the benchmark of its (industry) group when the benchmark is the list mean (every other row
# of that group then has x / B scaled by c = B / B' < 1), and the list mean of ratios that
# rows without the indicator are given. So every other row's score moves by at most
#   down: sum_k w_k (R_k (1 - c_k) + max(0, -d mean_k)),  up: sum_k w_k max(0, d mean_k)
# (R_k the group's highest ratio: max(0, min(cap, .)) is 1-Lipschitz). Rows whose score now is
# further than that from the firm's new score keep their side of it; only the rows in that
# window (and the firm's own unit) are scored again, exactly as the full what-if scores them.
# The imputed mean itself is exact up to rounding: sums of ratios scaled by c come from sorted
# ratios and prefix sums per group.


@dataclass(frozen=True)
class _Moving:
    """One moving (tax) indicator of a list, for the windowed what-if."""

    name: str
    weight: float
    num: np.ndarray
    den: np.ndarray
    factor: float
    given: float | None  # a published benchmark, else the list mean (``mean`` ...)
    mean: np.ndarray  # per row: its benchmark now (the given one, or its group's mean)
    gden: np.ndarray  # per row: its group's denominator total (list mean only)
    group: np.ndarray  # per row: its group (-1: none; list mean only)
    counted: np.ndarray  # per row: counted for its unit in the mean
    of_unit: np.ndarray  # per unit: its row counted in the mean (-1: none)
    ratio: np.ndarray  # per row: r now, NaN where missing
    raw: np.ndarray  # per row: max(0, x / B) before the cap, NaN where missing
    impute: bool  # missing rows take the list's mean of r
    have: int  # rows with r
    total: float  # sum of r
    sorted_raw: list[np.ndarray]  # per group: max(0, x / B) of its rows with r, ascending
    prefix: list[np.ndarray]  # their prefix sums
    rmax: np.ndarray  # per group: the highest r


@dataclass(frozen=True)
class _Fast:
    """A list ready for windowed what-ifs: base scores in order, units, moving indicators."""

    score: np.ndarray  # every row's score now
    order: np.ndarray  # rows by score, ascending
    sorted_score: np.ndarray
    fixed: np.ndarray  # the part of each row's score tax does not move
    moving: list[_Moving]
    members: np.ndarray  # rows grouped by unit (CSR: ``starts``)
    starts: np.ndarray
    cap: dict[str, float]


def _fast(lst: _List) -> _Fast | None:
    """The windowed what-if's view of ``lst``; None for the min-max method (every row's
    fraction moves with the list's range), which keeps the full what-if."""
    cfg = lst.scoring
    if cfg.method != "benchmark":
        return None
    n = len(lst.tax)
    fixed = sum((lst.fixed[name] for name in lst.weights if name in lst.fixed), np.zeros(n))
    score = fixed.copy()
    moving = []
    cap = {}
    for name, weight in lst.weights.items():
        if name in lst.fixed:
            continue
        num, den, factor, bench = lst.moving[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(den > 0, num / den * factor, np.nan)
        if isinstance(bench, Average):
            mean, gden, group, counted = bench.mean, bench.den, bench.group, bench.counted
            given = None
        else:
            given = float(np.asarray(bench, dtype="float64").reshape(-1)[0])
            mean = np.full(n, given)
            gden, group, counted = np.full(n, np.nan), np.full(n, -1), np.zeros(n, dtype=bool)
        of_unit = np.full(int(lst.unit.max()) + 1, -1)
        of_unit[lst.unit[counted]] = np.flatnonzero(counted)
        r = column_ratio(x, mean, name, cfg)
        rule, _ = missing_rule(cfg, name)
        filled = fill_missing(r, name, weight, cfg)
        score += weight * filled
        have = ~np.isnan(r)
        with np.errstate(divide="ignore", invalid="ignore"):  # a list mean of 0: r is NaN
            raw = np.where(have, np.maximum(0.0, x / mean), np.nan)
        groups = int(group.max()) + 1 if len(group) and group.max() >= 0 else 0
        sorted_raw, prefix, rmax = [], [], np.zeros(max(groups, 1))
        for g in range(groups):
            vals = np.sort(raw[(group == g) & have])
            sorted_raw.append(vals)
            prefix.append(np.concatenate([[0.0], np.cumsum(vals)]))
            rmax[g] = float(np.nanmax(r[(group == g) & have])) if len(vals) else 0.0
        moving.append(
            _Moving(
                name=name,
                weight=weight,
                num=num,
                den=den,
                factor=factor,
                given=given,
                mean=mean,
                gden=gden,
                group=group,
                counted=counted,
                of_unit=of_unit,
                ratio=r,
                raw=raw,
                impute=rule == "impute",
                have=int(have.sum()),
                total=float(np.where(have, r, 0.0).sum()),
                sorted_raw=sorted_raw,
                prefix=prefix,
                rmax=rmax,
            )
        )
        cap[name] = ratio_cap(cfg, name)
    order = np.argsort(score, kind="stable")
    members = np.argsort(lst.unit, kind="stable")
    starts = np.searchsorted(lst.unit[members], np.arange(int(lst.unit.max()) + 2))
    return _Fast(score, order, score[order], fixed, moving, members, starts, cap)


def _g(raw: np.ndarray, cap: float) -> np.ndarray:
    """max(0, min(cap, raw)), as :func:`mujun.scoring.column_ratio` clips x / B."""
    out = np.maximum(raw, 0.0)
    return np.minimum(out, cap) if cap > 0 else out


def _scaled_sum(m: _Moving, g: int, c: np.ndarray, cap: float) -> np.ndarray:
    """Sum over group ``g``'s rows of max(0, min(cap, r · c)) for each scale ``c``."""
    vals, pre = m.sorted_raw[g], m.prefix[g]
    if cap <= 0:
        return c * pre[-1]
    with np.errstate(divide="ignore"):
        k = np.searchsorted(vals, cap / c, side="left")
    return c * pre[k] + cap * (len(vals) - k)


@dataclass
class _Queries:
    """A batch of what-ifs (one per firm and candidate) for the windowed what-if, with what
    every moving indicator ``k`` gives each: ``pk`` (whether the rise counts in its
    numerator), ``shift`` of the benchmark of ``group`` (the firm's group, -1: none),
    ``fill`` (the value of a row without it), and the bounds ``up`` / ``down`` of how far
    any other row's score moves."""

    who: np.ndarray
    d: np.ndarray
    unit: np.ndarray
    pk: np.ndarray
    shift: np.ndarray
    group: np.ndarray
    fill: np.ndarray
    up: np.ndarray
    down: np.ndarray
    ur: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    uq: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """The rows of each query's unit (the firm among them), as flat (query, row) pairs."""


def _queries(
    lst: _List, fast: _Fast, at: np.ndarray, pair: np.ndarray, delta: np.ndarray
) -> _Queries:
    p, m = delta.shape
    q, k_n = p * m, len(fast.moving)
    who = np.repeat(at, m)
    unit = lst.unit[who]
    names = list(lst.weights)
    qs = _Queries(
        who=who,
        d=delta.reshape(-1),
        unit=unit,
        pk=np.stack([pair[:, names.index(mv.name)].repeat(m) for mv in fast.moving]).astype(
            "float64"
        )
        if k_n
        else np.zeros((0, q)),
        shift=np.zeros((k_n, q)),
        group=np.full((k_n, q), -1),
        fill=np.zeros((k_n, q)),
        up=np.zeros(q),
        down=np.zeros(q),
    )
    lo, hi = fast.starts[unit], fast.starts[unit + 1]
    qs.uq = np.repeat(np.arange(q), hi - lo)
    qs.ur = fast.members[_ranges(lo, hi)]
    for k, mv in enumerate(fast.moving):
        c = _benchmark_move(mv, k, qs) if mv.given is None else np.ones(q)
        if mv.impute and mv.have < len(lst.tax):
            _imputed_move(lst, mv, k, qs, c=c, cap=fast.cap[mv.name])
        elif not mv.impute:
            rule, points = missing_rule(lst.scoring, mv.name)
            qs.fill[k] = -points / mv.weight if rule == "penalty" and mv.weight else 0.0
    return qs


def _benchmark_move(mv: _Moving, k: int, qs: _Queries) -> np.ndarray:
    """The list mean's shift for each query (into ``qs``) and the scale c = B / B' of the
    ratios of the firm's group; widens the bounds by the group's highest ratio."""
    row = mv.of_unit[qs.unit]
    at = np.maximum(row, 0)
    g = np.where(row >= 0, mv.group[at], -1)
    ok = g >= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        qs.shift[k] = np.where(ok, qs.d * qs.pk[k] * mv.factor / mv.gden[at], 0.0)
        c = np.where(ok, mv.mean[at] / (mv.mean[at] + qs.shift[k]), 1.0)
    qs.group[k] = g
    rmax = np.where(ok, mv.rmax[np.maximum(g, 0)], 0.0)
    qs.down += mv.weight * rmax * np.maximum(0.0, 1.0 - c)  # the group's rows fall
    qs.up += mv.weight * rmax * np.maximum(0.0, c - 1.0)  # or rise, for a small cut
    return c


def _imputed_move(
    lst: _List, mv: _Moving, k: int, qs: _Queries, *, c: np.ndarray, cap: float
) -> None:
    """The list's mean of r at each query (the value of rows without it): the firm's group
    scaled by c, the unit's rows exact; widens the bounds by its change."""
    total = np.full(len(qs.d), mv.total)
    for g in np.unique(qs.group[k][qs.group[k] >= 0]):
        sel = qs.group[k] == g
        now = _scaled_sum(mv, int(g), np.ones(1), cap)
        total[sel] += _scaled_sum(mv, int(g), c[sel], cap) - now
    ur, uq = qs.ur, qs.uq
    exact = _ratio(lst, mv, k, ur, at=uq, qs=qs, rise=True)
    in_group = (mv.group[ur] == qs.group[k][uq]) & (qs.group[k][uq] >= 0)
    scaled = np.where(in_group, _g(mv.raw[ur] * c[uq], cap), mv.ratio[ur])
    keep = ~np.isnan(mv.ratio[ur])
    np.add.at(total, uq[keep], exact[keep] - scaled[keep])
    qs.fill[k] = total / mv.have if mv.have else 0.0
    before = mv.total / mv.have if mv.have else 0.0
    qs.up += mv.weight * np.maximum(0.0, qs.fill[k] - before)
    qs.down += mv.weight * np.maximum(0.0, before - qs.fill[k])


def _fast_codes(
    lst: _List, fast: _Fast, at: np.ndarray, pair: np.ndarray, delta: np.ndarray
) -> np.ndarray:
    """:func:`_class_codes` by the windowed what-if (see above): the same classes, scoring
    only the rows near the firm's new score."""
    p, m = delta.shape
    n = len(lst.tax)
    qs = _queries(lst, fast, at, pair, delta)
    s_unit, s_i = _unit_scores(lst, fast, qs)  # the firm and its unit's rows, exactly
    with np.errstate(divide="ignore", invalid="ignore"):
        tb_i = (lst.tax[qs.who] + qs.d) / lst.area[qs.who] * 1e-4
    if lst.classes.method == "thresholds":
        code = threshold_codes(s_i, lst.classes)
    else:
        margin = 1e-9 * np.maximum(1.0, np.abs(s_i))
        top = s_i + qs.down + margin
        a = np.searchsorted(fast.sorted_score, s_i - qs.up - margin, side="left")
        b = np.searchsorted(fast.sorted_score, top, side="right")
        if int((b - a).sum()) > _WINDOW_CELLS and p > 1:  # far what-ifs: fewer at a time
            half = p // 2
            return np.concatenate(
                [
                    _fast_codes(lst, fast, at[:half], pair[:half], delta[:half]),
                    _fast_codes(lst, fast, at[half:], pair[half:], delta[half:]),
                ]
            )
        ahead = (n - b).astype(np.int64)  # rows certainly ahead: now above the window
        # the unit's rows among them: taken out, counted exactly
        np.subtract.at(ahead, qs.uq[fast.score[qs.ur] > top[qs.uq]], 1)
        ahead += _count_ahead(lst, s_unit, qs.ur, at=qs.uq, qs=qs, s_i=s_i, tb_i=tb_i, rise=True)
        # the window: rows of other units near the new score, scored again
        wq = np.repeat(np.arange(p * m), b - a)
        wr = fast.order[_ranges(a, b)]
        other = lst.unit[wr] != qs.unit[wq]
        wq, wr = wq[other], wr[other]
        s_win = _scores(lst, fast, wr, wq, qs, rise=False)
        ahead += _count_ahead(lst, s_win, wr, at=wq, qs=qs, s_i=s_i, tb_i=tb_i, rise=False)
        code = share_codes(1 + ahead, n, lst.classes)
    floor = lst.classes.tax_floor_per_mu
    if floor > 0:
        code = np.where(tb_i < floor, len(lst.classes.labels) - 1, code)
    return code.reshape(p, m)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The concatenated ranges lo[i]..hi[i] (exclusive)."""
    sizes = hi - lo
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    return np.arange(total) + offsets


def _ratio(
    lst: _List, mv: _Moving, k: int, rows: np.ndarray, *, at: np.ndarray, qs: _Queries, rise: bool
) -> np.ndarray:
    """r of indicator ``mv`` for ``rows`` at their queries' what-ifs (``rise``: the rows are
    of the query's unit and get the rise), as the full what-if computes it."""
    new = mv.num[rows] + (qs.d[at] * qs.pk[k][at] if rise else 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(mv.den[rows] > 0, new / mv.den[rows] * mv.factor, np.nan)
    same = (mv.group[rows] == qs.group[k][at]) & (qs.group[k][at] >= 0)
    b = mv.mean[rows] + np.where(same, qs.shift[k][at], 0.0)
    return column_ratio(x, b, mv.name, lst.scoring)


def _scores(
    lst: _List, fast: _Fast, rows: np.ndarray, at_q: np.ndarray, qs: _Queries, *, rise: bool
) -> np.ndarray:
    """Scores of ``rows`` at their queries' what-ifs."""
    score = fast.fixed[rows].copy()
    for k, mv in enumerate(fast.moving):
        r = _ratio(lst, mv, k, rows, at=at_q, qs=qs, rise=rise)
        score += mv.weight * np.where(np.isnan(r), qs.fill[k][at_q], r)
    return score


def _count_ahead(
    lst: _List,
    s: np.ndarray,
    rows: np.ndarray,
    *,
    at: np.ndarray,
    qs: _Queries,
    s_i: np.ndarray,
    tb_i: np.ndarray,
    rise: bool,
) -> np.ndarray:
    """Per query, how many of ``rows`` (scored ``s``) rank ahead of the firm: a higher
    score, or the same score and a higher tax per mu, or both the same and an earlier credit
    code (the firm itself excluded)."""
    q = len(s_i)
    if not len(rows):
        return np.zeros(q, dtype=np.int64)
    who = qs.who[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        tax = lst.tax[rows] + (qs.d[at] if rise else 0.0)
        tb = np.where(lst.area[rows] > 0, tax / lst.area[rows] * 1e-4, np.nan)
    tbf = np.where(np.isnan(tb), -np.inf, tb)
    tbi = np.where(np.isnan(tb_i), -np.inf, tb_i)[at]
    later = (tbf > tbi) | ((tbf == tbi) & (lst.key_rank[rows] < lst.key_rank[who]))
    hit = (rows != who) & ((s > s_i[at]) | ((s == s_i[at]) & later))
    return np.bincount(at[hit], minlength=q).astype(np.int64)
