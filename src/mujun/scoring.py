"""Indicators, scores and classes of the 亩均 comprehensive evaluation.

Every enterprise-year belongs to one list: ``above_scale`` (规上), ``below_scale`` (规下 with at
least ``below_scale_min_mu`` of land), ``below_scale_small`` (规下 with less) or ``lessee`` (no
land of its own, Cixi's fourth list); ``parcels`` in the value-per-acre mode. Firms out of scope
(industry, exemptions) are listed but not graded. Scores and classes are computed per list and
year.

Land-based and other indicators of a firm on land are those of its **land unit** (the firms
sharing parcels are "combined with the parcel and share one evaluation result", Suichang; a
firm alone on its parcels is its own unit), so every firm of a shared unit gets the same score.

Benchmark method (Huangyan): sub-score = w · min(cap, max(0, x / B)); score = Σ sub-scores, so
a firm at every benchmark scores exactly 100. For an indicator where less is better, x / B is
replaced by max(0, 2 − x / B) (at the benchmark the firm still earns the weight). A missing
indicator (no data, or a zero or negative denominator) takes the list's average x / B and is
flagged. Min-max method (Jingde): sub-score = w · [f + (100 − f) · (x − min) / (max − min)] / 100.

Classes by rank shares within a list (ties broken by tax per mu, then credit code: documented
and deterministic), or by score thresholds; a hard tax floor sends a firm to the last class.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.config import ClassConfig, PolicyConfig, ScoringConfig, StabilityConfig
from mujun.errors import ConfigError
from mujun.indicators import pair_columns
from mujun.join import positions
from mujun.sums import exact_sum, group_sums

__all__ = [
    "INDICATORS",
    "Indicator",
    "assign_classes",
    "class_stability",
    "compute_indicators",
    "evaluate",
    "headline_money",
    "list_of",
    "score_list",
    "scored_inputs",
    "year_gaps",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Indicator:
    """An indicator: numerator / denominator × factor, in ``unit``."""

    numerator: str
    denominator: str
    factor: float
    unit: str
    label_zh: str
    label_en: str


INDICATORS: dict[str, Indicator] = {
    "tax_per_mu": Indicator("tax", "area_mu", 1e-4, "万元/亩", "亩均税收", "tax per mu"),
    "value_added_per_mu": Indicator(
        "value_added", "area_mu", 1e-4, "万元/亩", "亩均增加值", "value added per mu"
    ),
    "revenue_per_mu": Indicator(
        "revenue", "area_mu", 1e-4, "万元/亩", "亩均营业收入", "revenue per mu"
    ),
    "value_added_per_tce": Indicator(
        "value_added", "energy_tce", 1e-4, "万元/吨标煤", "单位能耗增加值", "value added per tce"
    ),
    "value_added_per_emission": Indicator(
        "value_added",
        "emissions",
        1e-4,
        "万元/吨",
        "单位排放增加值",
        "value added per t of emissions",
    ),
    "labour_productivity": Indicator(
        "value_added", "employees", 1e-4, "万元/人", "全员劳动生产率", "labour productivity"
    ),
    "rd_share": Indicator(
        "rd_spend", "revenue", 1.0, "比值", "研发经费占营业收入比", "R&D share of revenue"
    ),
    "tax_per_kwh": Indicator(
        "tax", "electricity_kwh", 1.0, "元/千瓦时", "单位电耗税收", "tax per kWh"
    ),
    "energy_intensity": Indicator(
        "energy_tce", "value_added", 1e4, "吨标煤/万元", "单位增加值能耗", "energy per value added"
    ),
    "emission_intensity": Indicator(
        "emissions", "value_added", 1e4, "吨/万元", "单位增加值排放", "emissions per value added"
    ),
    "tax_per_acre": Indicator("tax", "area_acre", 1.0, "USD/acre", "每英亩税收", "tax per acre"),
    "assessed_value_per_acre": Indicator(
        "assessed_value", "area_acre", 1.0, "USD/acre", "每英亩评估价值", "assessed value per acre"
    ),
}

LISTS = ("above_scale", "below_scale", "below_scale_small", "lessee", "parcels")
LIST_NAMES_ZH = {
    "above_scale": "规上企业",
    "below_scale": "规下企业（用地≥阈值）",
    "below_scale_small": "规下企业（用地<阈值）",
    "lessee": "租赁企业",
    "parcels": "地块",
}


def ratio_pairs() -> tuple[tuple[str, str], ...]:
    """The (numerator, denominator) of every indicator between two filed quantities (not
    over land): a land unit's ratio is summed over the firms that report both."""
    return tuple(
        sorted(
            {
                (ind.numerator, ind.denominator)
                for ind in INDICATORS.values()
                if ind.denominator not in _AREAS
            }
        )
    )


def indicator_parts(basis: pd.DataFrame, ind: Indicator) -> tuple[str, str] | None:
    """The columns of ``basis`` holding ``ind``'s numerator and denominator: the pair's sums
    over the firms reporting both where the basis has them, else the plain quantities; None
    when a part is not there."""
    col_num, col_den, _ = pair_columns(ind.numerator, ind.denominator)
    if col_num in basis and col_den in basis:
        return col_num, col_den
    if ind.numerator in basis and ind.denominator in basis:
        return ind.numerator, ind.denominator
    return None


def partial_units(basis: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per row and indicator, whether the row's land unit has the indicator from only some
    of its firms (the others left a part blank)."""
    out = pd.DataFrame(False, index=basis.index, columns=names)
    for name in names:
        ind = INDICATORS[name]
        column = pair_columns(ind.numerator, ind.denominator)[2]
        if column in basis:
            out[name] = basis[column].to_numpy(dtype=bool)
    return out


def compute_indicators(basis: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Indicator values per row of ``basis`` (money in yuan, area, energy, ...).

    A zero or negative denominator, or a missing numerator, gives NaN (the indicator is left
    out for that row, never the row); a negative numerator (a refund) gives a negative value.
    """
    out = pd.DataFrame(index=basis.index)
    for name in names:
        ind = INDICATORS[name]
        parts = indicator_parts(basis, ind)
        if parts is None:
            out[name] = np.nan
            continue
        num = basis[parts[0]].to_numpy(dtype="float64")
        den = basis[parts[1]].to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, num / den * ind.factor, np.nan)
        out[name] = value
    return out


def list_of(frame: pd.DataFrame, cfg: ScoringConfig) -> pd.Series:
    """The list (group) of each enterprise-year: above_scale, below_scale, ..., lessee."""
    above = frame.get("above_scale", pd.Series(False, index=frame.index)).fillna(False)
    landed = frame["land_status"].isin(["own", "shared"])
    small = frame["area_mu"].fillna(0) < cfg.below_scale_min_mu
    names = pa.array(["lessee", "above_scale", "below_scale_small", "below_scale"])
    code = np.select([~landed, above.astype(bool), small], [0, 1, 2], default=3)
    return pd.Series(pd.array(names.take(code), dtype="string"), index=frame.index)


def in_scope(frame: pd.DataFrame, cfg: ScoringConfig) -> pd.Series:
    """Whether each row is graded: industry in scope, not exempt, land status not orphan."""
    industry = frame.get("industry", pd.Series(pd.NA, index=frame.index)).astype("string")
    code = industry.str.replace(r"^[A-Za-z]", "", regex=True).fillna("")
    ok = pd.Series(True, index=frame.index)
    if cfg.include_industries:
        ok &= code.str.startswith(tuple(cfg.include_industries)).astype(bool)
    if cfg.exclude_industries:
        ok &= ~code.str.startswith(tuple(cfg.exclude_industries)).astype(bool)
    if cfg.exempt:
        ok &= ~frame["uscc"].isin(cfg.exempt)
    ok &= frame["land_status"] != "orphan"
    if "land_incomplete" in frame:  # a unit on land without an evaluated area
        on_land = frame["land_status"].isin(["own", "shared"])
        ok &= ~(on_land & frame["area_mu"].isna())
    return ok.astype(bool)


@dataclass(frozen=True)
class Average:
    """A computed benchmark (total numerator over total denominator of a list, each land unit
    once), per row of the list: ``mean`` (in the indicator's unit), the ``den`` total of the
    row's group, the row's ``group`` (-1: none) and whether the row is the one ``counted`` for
    its unit. Raising a counted row's numerator by d raises its group's mean by
    d · factor / den: the what-if of :mod:`mujun.takes`."""

    mean: np.ndarray
    den: np.ndarray
    group: np.ndarray
    counted: np.ndarray


def _benchmarks(
    basis: pd.DataFrame,
    names: list[str],
    given: dict[str, float],
    cfg: ScoringConfig,
    industry: pd.Series,
) -> pd.DataFrame:
    """Benchmark per row and indicator: the published one, else the list's (industry) average.

    The average is total numerator over total denominator over the list, each land unit
    counted once (the per-mu convention of published averages; the first of its rows with the
    indicator tells its industry), not a mean of ratios.
    """
    out = pd.DataFrame(index=basis.index)
    for name in names:
        if name in given:
            out[name] = float(given[name])
            continue
        average = list_average(basis, name, cfg, industry)
        out[name] = np.nan if average is None else average.mean
    return out


def list_average(
    basis: pd.DataFrame, name: str, cfg: ScoringConfig, industry: pd.Series
) -> Average | None:
    """The computed benchmark of indicator ``name`` over the list ``basis`` (see
    :func:`_benchmarks`); None when the basis lacks a part of it."""
    ind = INDICATORS[name]
    columns = indicator_parts(basis, ind)
    if columns is None:
        return None
    key, _ = pd.factorize(basis["unit_key"])
    group = (
        pd.factorize(industry)[0]  # -1 for no industry: no average
        if cfg.benchmark_source == "industry_mean"
        else np.zeros(len(basis), dtype=np.intp)
    )
    num, den = columns
    parts = basis[[num, den]].set_axis(np.arange(len(basis)))
    valid = (parts[den] > 0) & parts[num].notna()
    first = ~pd.Series(np.where(valid, key, -2)).duplicated().to_numpy()
    once = valid.to_numpy() & first
    once &= group >= 0
    k = int(group.max(initial=-1)) + 1
    total_num = group_sums(group[once], parts[num].to_numpy("float64")[once], k + 1)
    total_den = group_sums(group[once], parts[den].to_numpy("float64")[once], k + 1)
    present = np.bincount(group[once], minlength=k + 1) > 0  # k: no group, never present
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(present, total_num / total_den * ind.factor, np.nan)
    rows = np.where(group >= 0, group, k)
    return Average(
        mean=mean[rows],
        den=np.where(present, total_den, np.nan)[rows],
        group=np.where(present[rows], group, -1),
        counted=once,
    )


def score_list(
    values: pd.DataFrame, weights: dict[str, float], benchmarks: pd.DataFrame, cfg: ScoringConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sub-scores of one list; returns ``(ratios, imputed)``.

    ``ratios`` holds each firm's normalised indicator r (sub-score = weight · r), with missing
    values replaced by the list average of r; ``imputed`` marks those replacements.
    """
    names = list(weights)
    ratio = pd.DataFrame(index=values.index)
    imputed = pd.DataFrame(index=values.index)
    for name in names:
        r = column_ratio(
            values[name].to_numpy(dtype="float64"),
            benchmarks[name].to_numpy(dtype="float64") if cfg.method == "benchmark" else None,
            name,
            cfg,
        )
        imputed[name] = np.isnan(r)
        ratio[name] = fill_missing(r, name, float(weights[name]), cfg)
    return ratio, imputed


def column_ratio(x: np.ndarray, b: np.ndarray | None, name: str, cfg: ScoringConfig) -> np.ndarray:
    """The normalised indicator r of every firm of a list (the last axis; leading axes are
    independent lists, e.g. one per what-if), NaN where the firm has no value: x/B (benchmark
    method; 2 − x/B where less is better; floored at 0, capped) or the min-max fraction."""
    if cfg.method == "benchmark":
        assert b is not None
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = x / b
        if name in cfg.negative:
            ratio = 2.0 - ratio
        ratio = np.where(ratio < 0.0, 0.0, ratio)  # NaN stays NaN
        cap = ratio_cap(cfg, name)
        if cap > 0:
            ratio = np.where(ratio > cap, cap, ratio)
        return ratio
    lo = np.fmin.reduce(x, axis=-1, keepdims=True)  # NaN skipped, no warning
    hi = np.fmax.reduce(x, axis=-1, keepdims=True)
    span = hi - lo
    span = np.where(span == 0.0, np.nan, span)
    with np.errstate(invalid="ignore"):
        frac = (x - lo) / span
    if name in cfg.negative:
        frac = 1.0 - frac
    frac = np.where(np.isnan(frac) & ~np.isnan(x), 1.0, frac)
    return (cfg.minmax_floor + (100.0 - cfg.minmax_floor) * frac) / 100.0


def fill_missing(ratio: np.ndarray, name: str, weight: float, cfg: ScoringConfig) -> np.ndarray:
    """``ratio`` with its missing values filled by ``[scoring.missing]``'s rule for ``name``:
    the list's mean of r (impute; 0 if no firm has it), 0 (zero) or the ratio giving −points
    at the weight (penalty). The last axis is the list."""
    rule, points = missing_rule(cfg, name)
    if rule == "impute":
        have = ~np.isnan(ratio)
        count = have.sum(axis=-1, keepdims=True)
        if ratio.ndim == 1:  # one list: its exact sum (what-ifs over many take numpy's)
            total = np.array([exact_sum(ratio[have])])
        else:
            total = np.where(have, ratio, 0.0).sum(axis=-1, keepdims=True)
        fill = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    else:  # zero, or a penalty of ``points``: a ratio giving -points at the weight
        fill = np.asarray(-points / weight if rule == "penalty" and weight else 0.0)
    return np.where(np.isnan(ratio), fill, ratio)


def ratio_cap(cfg: ScoringConfig, name: str) -> float:
    """The cap of x/B for indicator ``name`` (0: none)."""
    if isinstance(cfg.cap, Mapping):
        return float(cfg.cap.get(name, 0.0))
    return float(cfg.cap)


def missing_rule(cfg: ScoringConfig, name: str) -> tuple[str, float]:
    """How a firm without indicator ``name`` is scored: ("impute", 0), ("zero", 0) or
    ("penalty", points) from ``[scoring.missing]``."""
    text = str(cfg.missing.get(name, "impute")).strip()
    if text in ("impute", "zero"):
        return text, 0.0
    head, _, points = text.partition(":")
    try:
        value = float(points) if head == "penalty" else None
    except ValueError:
        value = None
    if value is None or not np.isfinite(value) or value < 0:
        raise ConfigError(
            f'[scoring.missing] {name} = {text!r}: use "impute", "zero" or '
            '"penalty:N" (N points off, e.g. "penalty:3")'
        )
    return "penalty", value


def assign_classes(
    score: pd.Series, tiebreak: pd.Series, key: pd.Series, cfg: ClassConfig
) -> tuple[pd.Series, pd.Series]:
    """Rank (1 = best) and class label of each firm of one list.

    Ranks: score descending, then ``tiebreak`` descending (tax per mu), then ``key`` ascending
    (credit code). Shares: the first round(n · cumulative share) ranks get each class, so each
    class count is within one firm of its share.
    """
    order = rank_order(
        -score.fillna(-np.inf).to_numpy(dtype="float64"),
        -tiebreak.fillna(-np.inf).to_numpy(dtype="float64"),
        key,
    )
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    rank = pd.Series(ranks, index=score.index)
    labels = list(cfg.labels)
    if cfg.method == "none" or len(score) == 0:
        return rank, pd.Series(pd.NA, index=score.index, dtype="string")
    if cfg.method == "thresholds":
        cls = np.asarray(labels)[threshold_codes(score.to_numpy(), cfg)]
        return rank, pd.Series(cls, index=score.index, dtype="string")
    return rank, pd.Series(_by_shares(rank.to_numpy(), cfg), index=score.index, dtype="string")


def threshold_codes(score: np.ndarray, cfg: ClassConfig) -> np.ndarray:
    """The class of each score by ``[classes] thresholds``, as a position in the labels."""
    idx = np.searchsorted(-np.asarray(cfg.thresholds), -score, side="left")
    return np.clip(idx, 0, len(cfg.labels) - 1)


def share_codes(rank: np.ndarray, n: int, cfg: ClassConfig) -> np.ndarray:
    """The class of each rank (1 = best) in a list of ``n`` by ``[classes] shares``, as a
    position in the labels."""
    idx = np.searchsorted(_share_bounds(n, cfg), rank, side="left")
    return np.clip(idx, 0, len(cfg.labels) - 1)


def rank_order(first: np.ndarray, second: np.ndarray, key: pd.Series) -> np.ndarray:
    """Positions sorted by ``first``, then ``second`` (floats, no NaN), then ``key`` as text
    (missing last), then position: a stable sort, as ``DataFrame.sort_values`` on the three
    columns. The text is ranked only where the two numbers tie."""
    order = np.lexsort((second, first))
    a, b = first[order], second[order]
    same = (a[1:] == a[:-1]) & (b[1:] == b[:-1])
    if not same.any():
        return order
    run = np.cumsum(np.r_[True, ~same])
    tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
    code, distinct = pd.factorize(key.astype(str).iloc[order[tied]], sort=True)
    code = np.where(code < 0, len(distinct), code)
    order[tied] = order[tied][np.lexsort((code, run[tied]))]
    return order


def _share_bounds(n: int, cfg: ClassConfig) -> np.ndarray:
    """Last rank of each class but the last: the first ``bounds[0]`` ranks are A, ..."""
    return np.rint(np.cumsum(cfg.shares) / sum(cfg.shares) * n).astype(int)


def _by_shares(rank: np.ndarray, cfg: ClassConfig) -> np.ndarray:
    return np.asarray(cfg.labels)[share_codes(rank, len(rank), cfg)]


_STABILITY_BLOCK = 1 << 22
"""Scores (firms × draws) handled at a time by :func:`class_stability`."""


@dataclass(frozen=True)
class _Scores:
    """The score of each firm (row of ``ratios``) in each draw (row of ``draws``), made a block
    of firms at a time: ``ratios @ draws.T`` whole is firms × draws doubles (2 GB for 850,000
    firms and 300 draws). Each block is the same matrix product on fewer rows, and the matrix
    product sums each score over the indicators the same way whatever the number of rows, so
    every score is bit for bit the whole product's (checked on the 1M-parcel benchmark's lists
    and in the tests). Blocks have at least two firms: a one-row product would be a
    vector-matrix one, summed differently."""

    ratios: np.ndarray
    draws: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ratios), len(self.draws)

    def blocks(self) -> Iterator[tuple[slice, np.ndarray]]:
        """(rows, their scores) for consecutive blocks of about equal size."""
        n, draws = self.shape
        count = max(1, min(-(-n * draws // _STABILITY_BLOCK), n // 2))
        edges = np.linspace(0, n, count + 1).round().astype(int)
        for start, stop in itertools.pairwise(edges.tolist()):
            yield slice(start, stop), self.ratios[start:stop] @ self.draws.T

    def columns(self, sets: list[np.ndarray]) -> list[np.ndarray]:
        """For each set of sorted positions, its firms' scores as draws × firms (a column per
        firm), all made in one pass over the blocks."""
        out = [np.empty((self.shape[1], len(rows)), dtype=np.float64) for rows in sets]
        for block, scores in self.blocks():
            for rows, values in zip(sets, out, strict=True):
                lo, hi = np.searchsorted(rows, [block.start, block.stop])
                values[:, lo:hi] = scores[rows[lo:hi] - block.start].T
        return out

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """The scores of the firms at sorted positions ``rows`` (len(rows) × draws)."""
        out = np.empty((len(rows), self.shape[1]), dtype=np.float64)
        for block, scores in self.blocks():
            lo, hi = np.searchsorted(rows, [block.start, block.stop])
            out[lo:hi] = scores[rows[lo:hi] - block.start]
        return out


def _kth_largest(values: np.ndarray, rank: int) -> np.ndarray:
    """The ``rank``-th largest value of each row of ``values`` (1 <= rank <= columns)."""
    at = values.shape[-1] - rank
    return np.partition(values, at, axis=-1)[..., at]


def _past(block: np.ndarray, sec: np.ndarray, bound: int, value: np.ndarray) -> np.ndarray:
    """Whether each firm (column) ranks after the first ``bound`` in each draw (row), ranked by
    score descending then ``sec``; ``value`` is each row's ``bound``-th largest score."""
    past = block < value[:, None]
    # draws where firms tied at the bound's score straddle it: the ties go in by ``sec``
    for d in np.flatnonzero(block.shape[1] - np.count_nonzero(past, axis=1) > bound):
        tied = np.flatnonzero(block[d] == value[d])
        room = bound - int((block[d] > value[d]).sum())
        cut = np.partition(sec[tied], room - 1)[room - 1]
        past[d, tied] = sec[tied] > cut
    return past


def _same_class(idx: np.ndarray, base: np.ndarray, canon: np.ndarray) -> np.ndarray:
    """Whether class index ``idx`` (clipped to the labels) names the label coded ``base``;
    ``canon`` codes each label by its first index."""
    idx = np.minimum(idx, len(canon) - 1)
    if not np.array_equal(canon, np.arange(len(canon))):
        idx = canon[idx]
    return idx == base


@dataclass(frozen=True)
class _Near:
    """The firms that may fall on either side of a class bound in some draw."""

    rows: np.ndarray
    rank: int
    """The bound's rank among ``rows``: the firms that are always above are left out."""
    times: int
    """Number of class bounds at this rank (a class with share 0 repeats its bound)."""


def _kept_near(
    scores: _Scores,
    sec: np.ndarray,
    near: list[_Near],
    *,
    fixed: np.ndarray,
    base: np.ndarray,
    canon: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The firms near any bound (sorted), and the draws in which each keeps its class.

    A firm near one bound only (the usual case) keeps its class in a draw if that bound alone
    puts it in its class: each bound's firms are looked at apart, their scores held as
    draws × firms so that a block of draws is a block of rows."""
    rows = np.concatenate([b.rows for b in near])
    if len(np.unique(rows)) < len(rows):  # a firm near two bounds
        return _kept_near_shared(scores, sec, near, fixed=fixed, base=base, canon=canon)
    kept = np.concatenate(
        [
            _kept_at(bound, values, sec, fixed=fixed, base=base, canon=canon)
            for bound, values in zip(near, scores.columns([b.rows for b in near]), strict=True)
        ]
    )
    order = np.argsort(rows)
    return rows[order], kept[order]


def _kept_at(
    bound: _Near,
    values: np.ndarray,
    sec: np.ndarray,
    *,
    fixed: np.ndarray,
    base: np.ndarray,
    canon: np.ndarray,
) -> np.ndarray:
    """Draws in which each firm near ``bound`` (its scores: draws × firms) keeps its class."""
    draws, n = values.shape
    start_class, own, order = fixed[bound.rows], base[bound.rows], sec[bound.rows]
    kept = np.zeros(n, dtype=np.int64)
    step = max(1, _STABILITY_BLOCK // max(n, 1))
    for start in range(0, draws, step):  # blocks of draws
        block = values[start : start + step]
        value = _kth_largest(block, bound.rank)
        past = _past(block, order, bound.rank, value)
        idx = start_class[None, :] + past * np.int16(bound.times)
        kept += np.count_nonzero(_same_class(idx, own, canon), axis=0)
    return kept


def _kept_near_shared(
    scores: _Scores,
    sec: np.ndarray,
    near: list[_Near],
    *,
    fixed: np.ndarray,
    base: np.ndarray,
    canon: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The firms near any bound, and the draws in which each keeps its class, block by block
    of draws: a partition per bound and draw over the firms near that bound, no sort."""
    undecided = np.unique(np.concatenate([b.rows for b in near]))
    cols = [np.searchsorted(undecided, b.rows) for b in near]
    values = scores.rows(undecided)  # only these firms' scores are held for every draw
    draws = values.shape[1]
    kept = np.zeros(len(undecided), dtype=np.int64)
    step = max(1, _STABILITY_BLOCK // len(undecided))
    for start in range(0, draws, step):  # blocks of draws
        stop = min(start + step, draws)
        idx = np.repeat(fixed[undecided][None, :], stop - start, axis=0)
        for bound, at in zip(near, cols, strict=True):  # class bounds
            block = np.ascontiguousarray(values[at, start:stop].T)
            value = _kth_largest(block, bound.rank)
            past = _past(block, sec[bound.rows], bound.rank, value)
            idx[:, at] += past * np.int16(bound.times)
        kept += np.count_nonzero(_same_class(idx, base[undecided], canon), axis=0)
    return undecided, kept


def _kept_by_shares(
    scores: _Scores, sec: np.ndarray, classes: ClassConfig, base: np.ndarray, canon: np.ndarray
) -> np.ndarray:
    """Draws (columns of ``scores``) in which each firm keeps its class by rank shares, ranked
    by score descending then ``sec``: its class index counts the bounds below its rank.

    A firm whose lowest score over the draws beats every draw's score at a bound is above it
    in every draw, one whose highest is below every draw's is below it in every draw (the
    bound's score lies between those of the bound's rank among lowest and highest scores);
    only the firms between need a draw-by-draw look, the others keep their class in all
    draws or none."""
    n, draws = scores.shape
    bounds = _share_bounds(n, classes)
    fixed = np.full(n, int((bounds <= 0).sum()), dtype=np.int16)
    low, high = np.empty(n), np.empty(n)
    for rows, block in scores.blocks():
        low[rows], high[rows] = block.min(axis=1), block.max(axis=1)
    near = []
    for bound in np.unique(bounds[(bounds > 0) & (bounds < n)]):
        times = int((bounds == bound).sum())
        above = low > _kth_largest(high, int(bound))
        below = high < _kth_largest(low, int(bound))
        fixed[below] += np.int16(times)
        near.append(_Near(np.flatnonzero(~(above | below)), int(bound) - int(above.sum()), times))
    kept = np.where(_same_class(fixed, base, canon), draws, 0)
    if near:
        undecided, kept_near = _kept_near(scores, sec, near, fixed=fixed, base=base, canon=canon)
        kept[undecided] = kept_near
    return kept


def _kept_by_thresholds(
    scores: _Scores, classes: ClassConfig, base: np.ndarray, canon: np.ndarray
) -> np.ndarray:
    """Draws in which each firm keeps its class by score thresholds."""
    kept = np.zeros(scores.shape[0], dtype=np.int64)
    cut = -np.asarray(classes.thresholds)
    for rows, block in scores.blocks():
        idx = np.searchsorted(cut, -block, side="left")
        kept[rows] = np.count_nonzero(_same_class(idx, base[rows, None], canon), axis=1)
    return kept


def class_stability(
    ratios: pd.DataFrame,
    weights: dict[str, float],
    base_class: pd.Series,
    tiebreak: pd.Series,
    *,
    cfg: StabilityConfig,
    classes: ClassConfig,
    seed_offset: int = 0,
    key: pd.Series | None = None,
    forced: np.ndarray | None = None,
) -> pd.Series:
    """Share of weight draws (each weight × U[1 − spread, 1 + spread], renormalised) in which
    each firm keeps its class. Vectorised: the scores of all draws are a matrix product, made
    and used a block of firms at a time; in each draw firms rank by score, then tie-break
    descending, then ``key`` (the credit code, as :func:`assign_classes` ranks), and only the
    firms that may cross a class bound are looked at draw by draw (no sort), their scores the
    only ones held for every draw. The hard rules hold in every draw: a firm ``forced`` into
    the last class (the tax floor) is there whatever the weights, so it keeps its class in
    all of them."""
    if classes.method == "none" or ratios.empty or cfg.draws <= 0:
        return pd.Series(np.nan, index=ratios.index)
    rng = np.random.default_rng(cfg.seed + seed_offset)
    w = np.array([weights[c] for c in ratios.columns], dtype="float64")
    factors = rng.uniform(1 - cfg.spread, 1 + cfg.spread, size=(cfg.draws, len(w)))
    draws = w * factors
    draws *= w.sum() / draws.sum(axis=1, keepdims=True)
    scores = _Scores(ratios.to_numpy(), draws)  # firms x draws, made in blocks of firms
    # compare labels through codes: the first index of each label, -1 for no label
    canon, labels = pd.factorize(np.asarray(classes.labels, dtype=object))
    base = pd.Index(labels).get_indexer(base_class.to_numpy(dtype=object))
    if classes.method == "thresholds":
        kept = _kept_by_thresholds(scores, classes, base, canon)
    else:
        # each firm's place when sorted by tie-break descending, then key: the ranking's ties
        tie = -tiebreak.fillna(-np.inf).to_numpy(dtype="float64")
        sec = np.empty(len(tie), dtype=np.int64)
        if key is None:  # ties in their order
            sec[np.argsort(tie, kind="stable")] = np.arange(len(tie))
        else:
            sec[rank_order(tie, np.zeros(len(tie)), key)] = np.arange(len(tie))
        kept = _kept_by_shares(scores, sec, classes, base, canon)
    share = kept / cfg.draws
    if forced is not None:
        share = np.where(forced, 1.0, share)
    return pd.Series(share, index=ratios.index)


_AREAS = ("area_mu", "area_acre")


def scored_inputs(cfg: ScoringConfig) -> dict[str, list[tuple[str, str, float]]]:
    """The filing columns each list's indicators need: column -> ``(list, indicator,
    weight)`` for every weighted indicator whose numerator or denominator it is (land area
    is measured, never read)."""
    out: dict[str, list[tuple[str, str, float]]] = {}
    for group, weights in cfg.weights.items():
        for name, weight in weights.items():
            ind = INDICATORS.get(name)
            if ind is None or not weight:
                continue
            for column in (ind.numerator, ind.denominator):
                if column not in _AREAS:
                    out.setdefault(column, []).append((group, name, float(weight)))
    return out


def headline_money(cfg: ScoringConfig) -> dict[str, tuple[str, str, float]]:
    """The money each list is mostly scored on: the numerator of its heaviest indicator (a
    per-area one first among equals), e.g. ``tax`` for 亩均税收, ``assessed_value`` for value
    per acre; column -> ``(list, indicator, weight)``."""
    out: dict[str, tuple[str, str, float]] = {}
    for group, weights in cfg.weights.items():
        ranked = sorted(
            ((n, float(w)) for n, w in weights.items() if n in INDICATORS and w),
            key=lambda nw: (-nw[1], INDICATORS[nw[0]].denominator not in _AREAS),
        )
        if ranked:
            name, weight = ranked[0]
            out.setdefault(INDICATORS[name].numerator, (group, name, weight))
    return out


def _check_per_indicator(cfg: ScoringConfig) -> None:
    """``[scoring.missing]`` and a ``[scoring.cap]`` table name known indicators and rules."""
    tables: dict[str, set[str]] = {"[scoring.missing]": set(cfg.missing)}
    if isinstance(cfg.cap, Mapping):
        tables["[scoring.cap]"] = set(cfg.cap)
    for where, table in tables.items():
        unknown = sorted(set(table) - set(INDICATORS))
        if unknown:
            raise ConfigError(
                f"{where} names unknown indicators {', '.join(unknown)}; "
                f"known: {', '.join(INDICATORS)}"
            )
    for name in cfg.missing:
        missing_rule(cfg, name)


def list_weights(group: str, cfg: ScoringConfig) -> dict[str, float]:
    weights = {k: float(v) for k, v in cfg.weights.get(group, {}).items()}
    unknown = sorted(set(weights) - set(INDICATORS))
    if unknown:
        raise ConfigError(
            f"[scoring.weights.{group}] names unknown indicators "
            f"{', '.join(unknown)}; known: {', '.join(INDICATORS)}"
        )
    return weights


def evaluate(
    frame: pd.DataFrame,
    basis: pd.DataFrame,
    *,
    scoring: ScoringConfig,
    classes: ClassConfig,
    stability: StabilityConfig,
    policy: PolicyConfig,
) -> pd.DataFrame:
    """Score and class every enterprise-year of ``frame`` on its evaluation ``basis``.

    ``frame`` has uscc, year, land_status, area_mu, above_scale, industry; ``basis`` (same
    index) has the quantities of each firm's land unit (or its own, for lessees) and
    ``unit_key``. Returns group, graded, every indicator, sub-scores ``score_<indicator>``,
    score, rank, class, class_name, class_stability, borderline, imputed, d_streak, surcharges.
    """
    names = sorted({n for g in LISTS for n in list_weights(g, scoring)} | {"tax_per_mu"})
    _check_per_indicator(scoring)
    values = compute_indicators(basis, names)
    out = pd.DataFrame(index=frame.index)
    out["group"] = (
        list_of(frame, scoring)
        if "parcels" not in scoring.weights
        else pd.Series("parcels", index=frame.index, dtype="string")
    )
    out["graded"] = in_scope(frame, scoring)
    entry = unit_entries(frame, basis, out, classes)
    for name in names:
        out[name] = values[name]
    cols = ["score", "rank", "class", "class_stability"]
    out[cols] = np.nan
    out["class"] = out["class"].astype("string")
    out["imputed"] = ""
    code = frame.get("industry", pd.Series("", index=frame.index)).astype("string")
    industry = code.str.replace(r"^[A-Za-z]", "", regex=True).str[: scoring.industry_level]
    graded = np.flatnonzero(out["graded"].to_numpy())
    lists = pd.DataFrame(
        {"group": out["group"].iloc[graded], "year": frame["year"].iloc[graded]}
    ).groupby(["group", "year"], sort=False, dropna=False)
    ctx = _Context(frame, basis, values, industry, scoring, classes, stability)
    scored: dict[str, np.ndarray] = {}
    # lists in the order of their names and years, not of their first rows: the columns they
    # add come in that order, whatever the order of the filing table
    named = {cast("tuple[str, int]", key): at for key, at in lists.indices.items()}
    for (group, year), at in sorted(named.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        rows = graded[at]
        entries = rows[entry[rows] == rows]  # each unit once (each firm with "firm")
        # every graded row takes its entry's result
        of_entry = positions(pd.Index(entry[rows]), pd.Index(entries))
        for column, result in _score_group(entries, str(group), int(year), ctx).items():
            if column not in scored:
                known = column in out
                scored[column] = (
                    out[column].to_numpy(copy=True) if known else np.full(len(out), np.nan)
                )
            scored[column][rows] = np.asarray(result)[of_entry]
    for column, result in scored.items():  # new columns in order of first appearance
        if column in out and isinstance(out[column].dtype, pd.api.extensions.ExtensionDtype):
            out[column] = pd.Series(result, index=out.index).astype(out[column].dtype)
        else:  # float columns
            out[column] = result
    out["rank"] = out["rank"].astype("Int64")
    out["borderline"] = out["class_stability"] < stability.borderline_below
    names_map = dict(zip(classes.labels, classes.names, strict=False))
    out["class_name"] = out["class"].map(names_map).astype("string")
    out["d_streak"] = _streaks(frame, out["class"], classes)
    _surcharge(out, basis, classes, policy)
    return out


def unit_entries(
    frame: pd.DataFrame, basis: pd.DataFrame, out: pd.DataFrame, classes: ClassConfig
) -> np.ndarray:
    """With ``[classes] share = "unit"``, the graded firms of a land unit and year are one
    entry: the one with the smallest credit code stands for them, the unit is on the 规上
    list if any of them is (else on its land's list; they share the land), and ``out``'s
    ``group`` says so. Returns, per row, the position of the row standing for it in ranking
    (itself for a firm alone, with ``share = "firm"``, or when not graded)."""
    n = len(frame)
    entry = np.arange(n)
    if classes.share != "unit" or n == 0:
        return entry
    graded = out["graded"].to_numpy(dtype=bool)
    # one code per (unit, year), from integer codes (text keys joined and hashed cost 1 s
    # at a million firms); the unit's firms by credit code, ranked by Arrow's sort
    unit = pd.factorize(basis["unit_key"].astype(str))[0].astype(np.int64)
    year = pd.factorize(frame["year"])[0].astype(np.int64)
    code, _ = pd.factorize(unit * (int(year.max(initial=0)) + 1) + year)
    rows = np.flatnonzero(graded)
    if len(rows) == 0:
        return entry
    text = pa.array(frame["uscc"].astype(str).to_numpy(dtype=object)[rows], type=pa.string())
    by_code = np.empty(len(rows), dtype=np.int64)
    by_code[np.asarray(pc.sort_indices(text))] = np.arange(len(rows))
    order = rows[np.lexsort((by_code, code[rows]))]
    first = np.r_[True, code[order][1:] != code[order][:-1]]
    head = np.full(int(code.max()) + 1, -1, dtype=np.int64)
    head[code[order][first]] = order[first]
    entry[rows] = head[code[rows]]
    group = out["group"].to_numpy(dtype=object).copy()
    above = np.zeros(int(code.max()) + 1, dtype=bool)
    np.logical_or.at(above, code[rows], group[rows] == "above_scale")
    lifted = graded & above[code] & (group != "above_scale") & (group != "parcels")
    group[lifted] = "above_scale"
    out["group"] = pd.array(group, dtype="string")
    return entry


@dataclass(frozen=True)
class _Context:
    frame: pd.DataFrame
    basis: pd.DataFrame
    indicators: pd.DataFrame
    industry: pd.Series
    scoring: ScoringConfig
    classes: ClassConfig
    stability: StabilityConfig


def _score_group(rows: np.ndarray, group: str, year: int, ctx: _Context) -> dict[str, np.ndarray]:
    """Score, rank and class the firms at positions ``rows`` of one list and year: the values
    of each output column for those rows, in their order."""
    weights = list_weights(group, ctx.scoring)
    if not weights or len(rows) == 0:
        return {}
    given = {k: float(v) for k, v in ctx.scoring.benchmarks.get(group, {}).items()}
    bench = _benchmarks(
        ctx.basis.iloc[rows], list(weights), given, ctx.scoring, ctx.industry.iloc[rows]
    )
    ratios, imputed = score_list(ctx.indicators.iloc[rows], weights, bench, ctx.scoring)
    out: dict[str, np.ndarray] = {}
    for name, w in weights.items():
        out[f"score_{name}"] = (w * ratios[name]).to_numpy()
        out[f"benchmark_{name}"] = bench[name].to_numpy()
    score = (ratios * pd.Series(weights)).sum(axis=1)
    tiebreak = ctx.indicators["tax_per_mu"].iloc[rows]
    codes = ctx.frame["uscc"].iloc[rows]
    rank, cls = assign_classes(score, tiebreak, codes, ctx.classes)
    low = np.zeros(len(rows), dtype=bool)
    if ctx.classes.tax_floor_per_mu > 0 and ctx.classes.method != "none":
        low = (tiebreak < ctx.classes.tax_floor_per_mu).to_numpy()
        cls[low] = ctx.classes.labels[-1]
    out["score"] = score.to_numpy()
    out["rank"] = rank.to_numpy(dtype="float64")
    out["class"] = cls.to_numpy(dtype=object)
    # an indicator from only some of the unit's firms is named as imputed too
    imputed = imputed | partial_units(ctx.basis.iloc[rows], list(weights)).set_axis(imputed.index)
    out["imputed"] = _flag_names(imputed)
    out["class_stability"] = class_stability(
        ratios,
        weights,
        cls,
        tiebreak,
        cfg=ctx.stability,
        classes=ctx.classes,
        seed_offset=year,
        key=codes,
        forced=low,
    ).to_numpy()
    logger.info("scored %d entries of list %s%s", len(rows), group, f", {year}" if year else "")
    return out


def _flag_names(flags: pd.DataFrame) -> np.ndarray:
    """Per row, the names of its true columns joined by ", " ("" if none), column by column:
    each distinct combination of flags is named once."""
    columns = list(flags.columns)
    bits = np.zeros(len(flags), dtype=np.int64)
    for i, column in enumerate(columns):
        bits |= flags[column].to_numpy(dtype=bool).astype(np.int64) << i
    combos, which = np.unique(bits, return_inverse=True)
    names = [", ".join(c for i, c in enumerate(columns) if combo >> i & 1) for combo in combos]
    return np.array(names, dtype=object)[which.ravel()]


def _streaks(frame: pd.DataFrame, cls: pd.Series, classes: ClassConfig) -> pd.Series:
    """Consecutive years in the last class, up to and including each year. Only calendar
    years in a row count: D in 2016 and D in 2021 are two streaks of one year, for the years
    between were not evaluated and are not assumed (:func:`year_gaps` says so)."""
    last = classes.labels[-1] if classes.labels else "D"
    d = (cls == last).fillna(False).to_numpy(dtype=np.int64)
    firm, _ = pd.factorize(frame["uscc"])
    # each firm's rows in year order (ties in their order); a firm's first row, each row not
    # in the last class, and each row after a gap in the years starts a streak
    years = frame["year"].to_numpy()
    order = np.lexsort((years, firm))
    d, firm, years = d[order], firm[order], years[order]
    at = np.arange(len(d))
    gap = np.r_[True, years[1:] > years[:-1] + 1][: len(d)]
    begins = np.r_[True, firm[1:] != firm[:-1]][: len(d)] | (d == 0) | gap
    start = np.maximum.accumulate(np.where(begins, at, 0)) if len(d) else at
    streak = np.empty(len(d), dtype=np.int64)
    streak[order] = at - start + d[start]
    return pd.Series(streak, index=frame.index)


def year_gaps(years: list[int]) -> list[str]:
    """Notes on evaluation years that do not follow each other (the class streaks break
    there)."""
    ordered = sorted(set(years))
    return [
        f"the evaluation years {a} and {b} are not consecutive: years in the last class do "
        f"not run on across {b - a - 1} year(s) without an evaluation"
        for a, b in itertools.pairwise(ordered)
        if b - a > 1
    ]


def _surcharge(
    out: pd.DataFrame, basis: pd.DataFrame, classes: ClassConfig, policy: PolicyConfig
) -> None:
    rate = out["class"].map({k: float(v) for k, v in policy.surcharge.items()}).astype("float64")
    if policy.streak_surcharge > 0:
        rate = rate.where(out["d_streak"] < classes.streak_years, policy.streak_surcharge)
    out["surcharge_per_kwh"] = rate.fillna(0.0)
    own_kwh = basis.get("own_electricity_kwh", pd.Series(np.nan, index=out.index))
    out["surcharge_yuan"] = out["surcharge_per_kwh"] * own_kwh.fillna(0.0)
