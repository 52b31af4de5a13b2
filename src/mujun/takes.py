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
from dataclasses import dataclass
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
    rank_order,
    share_codes,
    threshold_codes,
    unit_entries,
)

__all__ = ["CEILING", "COLUMNS", "NOTES", "STEP", "what_it_takes"]

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
}
"""The codes of ``what_it_takes`` (why a graded firm has no figure), in Chinese and English."""
_CELLS = 500_000
"""Floats per array in one batch of what-ifs (firms × candidates × list)."""
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
    per = max(1, _CELLS // max(1, grid.shape[1] * len(lst.tax)))
    out = np.empty(grid.shape, dtype=np.int64)
    for start in range(0, len(at), per):
        part = slice(start, start + per)
        delta = (grid[part] * STEP - tax0[part, None]) * to_yuan[part, None]
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
