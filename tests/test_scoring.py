"""Scoring and classes against hand-computed expectations, presets, properties."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mujun
from mujun import scoring
from mujun.config import ClassConfig, PolicyConfig, ScoringConfig, StabilityConfig, load_config
from mujun.errors import ConfigError
from mujun.scoring import (
    INDICATORS,
    _benchmarks,
    assign_classes,
    class_stability,
    compute_indicators,
    evaluate,
    in_scope,
    score_list,
)

HUANGYAN_B = {
    "tax_per_mu": 24.097,
    "value_added_per_mu": 136.16,
    "value_added_per_tce": 2.694,
    "value_added_per_emission": 4929.81,
    "labour_productivity": 18.14,
    "rd_share": 0.0302,
}
HUANGYAN_W = {
    "tax_per_mu": 30,
    "value_added_per_mu": 20,
    "value_added_per_tce": 20,
    "value_added_per_emission": 10,
    "labour_productivity": 10,
    "rd_share": 10,
}


def _firms(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Frame and basis for firms given as dicts of 万元 / mu / tce / t / persons."""
    frame = pd.DataFrame(
        [
            {
                "uscc": r.get("uscc", f"U{i}"),
                "year": r.get("year", 2022),
                "land_status": r.get("land_status", "own"),
                "area_mu": r.get("area_mu", 10.0),
                "above_scale": r.get("above_scale", True),
                "industry": r.get("industry", "3484"),
            }
            for i, r in enumerate(rows)
        ]
    )
    basis = pd.DataFrame(
        {
            "tax": [r.get("tax", np.nan) * 1e4 for r in rows],
            "value_added": [r.get("va", np.nan) * 1e4 for r in rows],
            "revenue": [r.get("revenue", np.nan) * 1e4 for r in rows],
            "rd_spend": [r.get("rd", np.nan) * 1e4 for r in rows],
            "employees": [r.get("employees", np.nan) for r in rows],
            "energy_tce": [r.get("tce", np.nan) for r in rows],
            "emissions": [r.get("emissions", np.nan) for r in rows],
            "electricity_kwh": [r.get("kwh", np.nan) for r in rows],
            "area_mu": frame["area_mu"],
            "unit_key": [f"K{i}" for i in range(len(rows))],
            "own_electricity_kwh": [r.get("kwh", np.nan) for r in rows],
        }
    )
    return frame, basis


def _at_benchmark(area_mu: float = 10.0, **overrides) -> dict:
    """A 规上 firm whose every indicator equals Huangyan's 2022 benchmark."""
    va = 136.16 * area_mu
    firm = {
        "area_mu": area_mu,
        "tax": 24.097 * area_mu,
        "va": va,
        "tce": va / 2.694,
        "emissions": va / 4929.81,
        "employees": va / 18.14,
        "revenue": 10_000.0,
        "rd": 0.0302 * 10_000.0,
    }
    firm.update(overrides)
    return firm


def _huangyan() -> mujun.Config:
    return load_config(
        preset="huangyan-2022",
        overrides={"stability": {"draws": 50}, "classes": {"method": "none"}},
    )


def test_huangyan_preset_has_the_published_numbers():
    cfg = _huangyan()
    assert dict(cfg.scoring.benchmarks["above_scale"]) == HUANGYAN_B
    assert dict(cfg.scoring.weights["above_scale"]) == HUANGYAN_W
    assert sum(cfg.scoring.weights["above_scale"].values()) == 100
    assert cfg.scoring.benchmarks["below_scale"]["tax_per_kwh"] == 0.2352


def test_a_firm_at_every_benchmark_scores_exactly_100():
    cfg = _huangyan()
    frame, basis = _firms([_at_benchmark(), _at_benchmark(area_mu=55.5)])
    out = evaluate(
        frame,
        basis,
        scoring=cfg.scoring,
        classes=cfg.classes,
        stability=cfg.stability,
        policy=cfg.policy,
    )
    np.testing.assert_allclose(out["score"], [100.0, 100.0], rtol=1e-12)
    np.testing.assert_allclose(out["score_tax_per_mu"], [30.0, 30.0])


def test_a_hand_computed_firm_matches():
    # tax 48.194/mu (2 B) -> 60; VA/mu 68.08 (B/2) -> 10; VA/tce 2.694 -> 20;
    # emissions missing -> list average x/B; labour 36.28 (2 B) -> 20; R&D 0 -> 0
    cfg = _huangyan()
    va = 68.08 * 10
    firm = {
        "area_mu": 10.0,
        "tax": 481.94,
        "va": va,
        "tce": va / 2.694,
        "employees": va / 36.28,
        "revenue": 5000.0,
        "rd": 0.0,
    }
    other = _at_benchmark(emissions=_at_benchmark()["va"] / (4929.81 * 1.5))  # x/B = 1.5
    frame, basis = _firms([firm, other])
    out = evaluate(
        frame,
        basis,
        scoring=cfg.scoring,
        classes=cfg.classes,
        stability=cfg.stability,
        policy=cfg.policy,
    )
    # the missing emission ratio takes the list's average: only the other firm has one, 1.5
    expected = 60 + 10 + 20 + 10 * 1.5 + 20 + 0
    assert out.loc[0, "score"] == pytest.approx(expected)
    assert out.loc[0, "imputed"] == "value_added_per_emission"
    assert out.loc[1, "score"] == pytest.approx(100 + 10 * 0.5)


def test_negative_values_floor_at_zero_and_cap_limits():
    cfg = ScoringConfig(cap=2.0)
    values = pd.DataFrame({"tax_per_mu": [-5.0, 10.0, 100.0]})
    bench = pd.DataFrame({"tax_per_mu": [10.0, 10.0, 10.0]})
    ratios, imputed = score_list(values, {"tax_per_mu": 100}, bench, cfg)
    np.testing.assert_allclose(ratios["tax_per_mu"], [0.0, 1.0, 2.0])
    assert not imputed.any().any()


def test_negative_direction_indicator():
    cfg = ScoringConfig()
    values = pd.DataFrame({"emission_intensity": [0.0, 1.0, 1.5, 3.0]})
    bench = pd.DataFrame({"emission_intensity": [1.0] * 4})
    ratios, _ = score_list(values, {"emission_intensity": 10}, bench, cfg)
    np.testing.assert_allclose(ratios["emission_intensity"], [2.0, 1.0, 0.5, 0.0])


def test_minmax_with_floor_jingde():
    cfg = ScoringConfig(method="minmax", minmax_floor=20)
    values = pd.DataFrame({"tax_per_mu": [0.0, 5.0, 10.0]})
    ratios, _ = score_list(values, {"tax_per_mu": 40}, pd.DataFrame(), cfg)
    # w·[20 + 80·(x − min)/(max − min)]/100: 8, 24, 40
    np.testing.assert_allclose(40 * ratios["tax_per_mu"], [8.0, 24.0, 40.0])


def test_computed_benchmark_is_the_list_total_ratio():
    cfg = ScoringConfig(weights={"above_scale": {"tax_per_mu": 100}})
    frame, basis = _firms([{"tax": 10.0, "area_mu": 10.0}, {"tax": 90.0, "area_mu": 30.0}])
    out = evaluate(
        frame,
        basis,
        scoring=cfg,
        classes=ClassConfig(method="none"),
        stability=StabilityConfig(draws=0),
        policy=PolicyConfig(),
    )
    # benchmark = (10 + 90) / (10 + 30) = 2.5 万元/亩; firms at 1.0 and 3.0
    np.testing.assert_allclose(out["benchmark_tax_per_mu"], [2.5, 2.5])
    np.testing.assert_allclose(out["score"], [40.0, 120.0])


def test_industry_mean_benchmarks():
    cfg = ScoringConfig(
        weights={"above_scale": {"tax_per_mu": 100}},
        benchmark_source="industry_mean",
        industry_level=2,
    )
    frame, basis = _firms(
        [
            {"tax": 10.0, "industry": "3484"},
            {"tax": 30.0, "industry": "3499"},
            {"tax": 50.0, "industry": "C2669"},
        ]
    )
    out = evaluate(
        frame,
        basis,
        scoring=cfg,
        classes=ClassConfig(method="none"),
        stability=StabilityConfig(draws=0),
        policy=PolicyConfig(),
    )
    np.testing.assert_allclose(out["benchmark_tax_per_mu"], [2.0, 2.0, 5.0])
    np.testing.assert_allclose(out["score"], [50.0, 150.0, 100.0])


def test_zero_denominator_left_out_of_that_indicator_only():
    basis = pd.DataFrame({"value_added": [1e6, 1e6], "employees": [0.0, 10.0]})
    got = compute_indicators(basis, ["labour_productivity"])
    assert np.isnan(got.loc[0, "labour_productivity"])
    assert got.loc[1, "labour_productivity"] == pytest.approx(10.0)


def test_classes_by_shares_ties_and_hard_floor():
    score = pd.Series([90.0, 90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0])
    tax = pd.Series([1.0, 2.0, 5, 5, 5, 5, 5, 5, 5, 5])
    key = pd.Series([f"K{i}" for i in range(10)])
    rank, cls = assign_classes(score, tax, key, ClassConfig(shares=(0.2, 0.5, 0.2, 0.1)))
    assert rank.tolist() == [2, 1, 3, 4, 5, 6, 7, 8, 9, 10]  # tie broken by tax per mu
    assert cls.tolist() == ["A", "A", "B", "B", "B", "B", "B", "C", "C", "D"]
    _, cls = assign_classes(
        score, tax, key, ClassConfig(method="thresholds", thresholds=(85, 55, 35))
    )
    assert cls.tolist() == ["A", "A", "B", "B", "B", "C", "C", "D", "D", "D"]


def test_hard_tax_floor_sends_to_d():
    cfg = ScoringConfig(weights={"above_scale": {"value_added_per_mu": 100}})
    frame, basis = _firms(
        [
            {"tax": 1.0, "va": 900.0},
            {"tax": 100.0, "va": 100.0},
            {"tax": 100.0, "va": 50.0},
            {"tax": 100.0, "va": 10.0},
        ]
    )
    out = evaluate(
        frame,
        basis,
        scoring=cfg,
        classes=ClassConfig(shares=(0.25, 0.5, 0.25, 0.0), tax_floor_per_mu=4.0),
        stability=StabilityConfig(draws=0),
        policy=PolicyConfig(),
    )
    assert out.loc[0, "rank"] == 1
    assert out.loc[0, "class"] == "D"  # best by value added, but tax 0.1 万元/亩 < 4


def test_d_streak_and_surcharge():
    cfg = ScoringConfig(weights={"above_scale": {"tax_per_mu": 100}})
    rows = []
    for year in (2019, 2020, 2021):
        rows += [
            {"uscc": "LOW", "year": year, "tax": 1.0, "kwh": 1e6},
            {"uscc": "HIGH", "year": year, "tax": 100.0, "kwh": 1e6},
        ]
    frame, basis = _firms(rows)
    out = evaluate(
        frame,
        basis,
        scoring=cfg,
        classes=ClassConfig(shares=(0.5, 0, 0, 0.5)),
        stability=StabilityConfig(draws=0),
        policy=PolicyConfig(surcharge={"D": 0.3}, streak_surcharge=0.4),
    )
    low = out[frame["uscc"] == "LOW"]
    assert low["d_streak"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(low["surcharge_per_kwh"], [0.3, 0.3, 0.4])
    np.testing.assert_allclose(low["surcharge_yuan"], [300_000, 300_000, 400_000])
    assert out.loc[frame["uscc"] == "HIGH", "surcharge_yuan"].sum() == 0


def test_stability_flags_borderline_firms():
    cfg = ScoringConfig(weights={"above_scale": {"tax_per_mu": 50, "value_added_per_mu": 50}})
    # firm 0 is top on tax, bottom on VA: which of 0/1 is A depends on the weights
    frame, basis = _firms(
        [
            {"tax": 20.0, "va": 100.0},
            {"tax": 10.0, "va": 201.0},
            {"tax": 1.0, "va": 10.0},
            {"tax": 1.0, "va": 5.0},
        ]
    )
    out = evaluate(
        frame,
        basis,
        scoring=cfg,
        classes=ClassConfig(shares=(0.25, 0.5, 0.25, 0)),
        stability=StabilityConfig(draws=400, spread=0.2),
        policy=PolicyConfig(),
    )
    assert out.loc[[0, 1], "borderline"].all()
    assert 0.05 < out.loc[0, "class_stability"] < 0.95
    assert out.loc[3, "class_stability"] == 1.0


def test_scope_rules_list_but_do_not_grade():
    cfg = ScoringConfig(
        weights={"above_scale": {"tax_per_mu": 100}}, exclude_industries=("44",), exempt=("NEW",)
    )
    frame, basis = _firms(
        [{"tax": 10.0, "industry": "4411"}, {"uscc": "NEW", "tax": 10.0}, {"tax": 10.0}]
    )
    out = evaluate(
        frame,
        basis,
        scoring=cfg,
        classes=ClassConfig(),
        stability=StabilityConfig(draws=0),
        policy=PolicyConfig(),
    )
    assert out["graded"].tolist() == [False, False, True]
    assert out.loc[[0, 1], "score"].isna().all()


def test_unknown_indicator_in_weights_is_a_config_error(tmp_path: Path):
    path = tmp_path / "county.toml"
    path.write_text("[scoring.weights.above_scale]\ntax_per_hectare = 100\n", encoding="utf-8")
    cfg = load_config(path)
    frame, basis = _firms([{"tax": 1.0}])
    with pytest.raises(ConfigError, match="unknown indicators tax_per_hectare"):
        evaluate(
            frame,
            basis,
            scoring=cfg.scoring,
            classes=cfg.classes,
            stability=cfg.stability,
            policy=cfg.policy,
        )


def test_user_toml_extends_a_preset(tmp_path: Path):
    path = tmp_path / "county.toml"
    path.write_text(
        'preset = "huangyan-2022"\n[scoring.benchmarks.above_scale]\n'
        "tax_per_mu = 30.0\n[classes]\nnames = ['一类', '二类', '三类', '四类']\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.preset == "huangyan-2022"
    assert cfg.scoring.benchmarks["above_scale"]["tax_per_mu"] == 30.0
    assert cfg.scoring.benchmarks["above_scale"]["rd_share"] == 0.0302  # kept from the preset
    assert cfg.classes.names[0] == "一类"


# ---------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.1, 500), st.floats(0.1, 3000), st.floats(1, 1000)),
        min_size=2,
        max_size=25,
    ),
    st.integers(0, 24),
    st.sampled_from(["tax", "va"]),
    st.floats(1.01, 5),
)
def test_improving_a_positive_indicator_never_lowers_the_score(firms, pick, what, factor):
    """Holds with published benchmarks and with list averages (x/(S/A) grows with x)."""
    rows = [
        {
            "tax": t,
            "va": v,
            "tce": v / 2.5,
            "employees": v / 18,
            "emissions": v / 4000,
            "revenue": 3 * v,
            "rd": 0.03 * v,
            "area_mu": a,
            "kwh": 1e5,
        }
        for t, v, a in firms
    ]
    pick %= len(rows)
    better = [dict(r) for r in rows]
    better[pick][what] *= factor
    for preset in ("zhejiang", "huangyan-2022"):
        cfg = load_config(
            preset=preset, overrides={"stability": {"draws": 0}, "classes": {"method": "none"}}
        )
        kw = {
            "scoring": cfg.scoring,
            "classes": cfg.classes,
            "stability": cfg.stability,
            "policy": cfg.policy,
        }
        before = evaluate(*_firms(rows), **kw)
        after = evaluate(*_firms(better), **kw)
        assert after.loc[pick, "score"] >= before.loc[pick, "score"] - 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1000), min_size=1, max_size=200), st.integers(0, 10_000))
def test_class_shares_within_one_firm(scores, seed):
    shares = (0.25, 0.45, 0.25, 0.05)
    s = pd.Series(scores)
    rng = np.random.default_rng(seed)
    _, cls = assign_classes(
        s, pd.Series(rng.random(len(s))), pd.Series(range(len(s))), ClassConfig(shares=shares)
    )
    counts = cls.value_counts()
    for label, share in zip("ABCD", shares, strict=True):
        assert abs(counts.get(label, 0) - share * len(s)) <= 1


def _stability_by_sorting(
    ratios, weights, base_class, tiebreak, *, cfg, classes, seed_offset=0, key=None
):
    """The per-draw sort that ``class_stability`` replaces: the reference for equality."""
    rng = np.random.default_rng(cfg.seed + seed_offset)
    w = np.array([weights[c] for c in ratios.columns], dtype="float64")
    factors = rng.uniform(1 - cfg.spread, 1 + cfg.spread, size=(cfg.draws, len(w)))
    draws = w * factors
    draws *= w.sum() / draws.sum(axis=1, keepdims=True)
    scores = ratios.to_numpy() @ draws.T
    n = len(ratios)
    tie = tiebreak.fillna(-np.inf).to_numpy()
    # ties after the tie-break go by credit code, as the ranking's do
    key_rank = (
        np.arange(n)  # no key: ties in their order
        if key is None
        else pd.Series(key.astype(str).to_numpy()).rank(method="first").to_numpy()
    )
    kept = np.zeros(n)
    labels = np.asarray(classes.labels)
    base = base_class.to_numpy(dtype=object)
    for d in range(cfg.draws):
        if classes.method == "thresholds":
            idx = np.searchsorted(-np.asarray(classes.thresholds), -scores[:, d], side="right")
        else:
            order = np.lexsort((key_rank, -tie, -scores[:, d]))
            rank = np.empty(n, dtype=int)
            rank[order] = np.arange(1, n + 1)
            bounds = np.rint(np.cumsum(classes.shares) / sum(classes.shares) * n).astype(int)
            idx = np.searchsorted(bounds, rank, side="left")
        kept += labels[np.clip(idx, 0, len(labels) - 1)] == base
    return pd.Series(kept / cfg.draws, index=ratios.index)


@pytest.mark.parametrize(
    "classes",
    [
        ClassConfig(),
        ClassConfig(shares=(0.1, 0.0, 0.6, 0.3)),
        ClassConfig(shares=(0.5, 0.5), labels=("A", "B", "C")),
        ClassConfig(shares=(0.3, 0.3, 0.4), labels=("A", "B")),
        ClassConfig(labels=("A", "B", "B", "D")),
        ClassConfig(method="thresholds", thresholds=(60.0, 45.0, 30.0)),
    ],
)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 40, 500])
def test_class_stability_equals_sorting_every_draw(classes: ClassConfig, n: int):
    """Same draws, same classes as sorting each draw, also with ties in score and tie-break."""
    rng = np.random.default_rng(n)
    # few distinct ratio rows and tie-breaks: many firms tie in every draw
    rows = rng.choice([0.0, 0.5, 1.0, 1.2], size=(max(n // 3, 1), 4))
    ratios = pd.DataFrame(rows[rng.integers(0, len(rows), n)], columns=list("wxyz"))
    ratios.index = pd.Index(rng.permutation(n) * 10)
    weights = {"w": 40.0, "x": 30.0, "y": 20.0, "z": 10.0}
    tiebreak = pd.Series(rng.choice([np.nan, 1.0, 2.0, 3.0], n), index=ratios.index)
    score = (ratios * pd.Series(weights)).sum(axis=1)
    key = pd.Series(np.arange(n).astype(str), index=ratios.index)
    _, cls = assign_classes(score, tiebreak, key, classes)
    cfg = StabilityConfig(draws=60, spread=0.3)
    got = class_stability(
        ratios, weights, cls, tiebreak, cfg=cfg, classes=classes, seed_offset=3, key=key
    )
    want = _stability_by_sorting(
        ratios, weights, cls, tiebreak, cfg=cfg, classes=classes, seed_offset=3, key=key
    )
    pd.testing.assert_series_equal(got, want, check_exact=True)


def test_class_stability_in_blocks_of_draws(monkeypatch: pytest.MonkeyPatch):
    """Blocks of a few draws (as on a large list) give the same result as one block."""
    rng = np.random.default_rng(7)
    ratios = pd.DataFrame(rng.random((300, 3)).round(1), columns=list("abc"))
    weights = {"a": 50.0, "b": 30.0, "c": 20.0}
    tiebreak = pd.Series(rng.random(300).round(1))
    score = (ratios * pd.Series(weights)).sum(axis=1)
    _, cls = assign_classes(score, tiebreak, pd.Series(ratios.index.astype(str)), ClassConfig())
    cfg = StabilityConfig(draws=50, spread=0.25)
    args = (ratios, weights, cls, tiebreak)
    whole = scoring.class_stability(*args, cfg=cfg, classes=ClassConfig())
    monkeypatch.setattr(scoring, "_STABILITY_BLOCK", 300 * 7)
    blocks = scoring.class_stability(*args, cfg=cfg, classes=ClassConfig())
    pd.testing.assert_series_equal(whole, blocks, check_exact=True)
    reference = _stability_by_sorting(*args, cfg=cfg, classes=ClassConfig())
    pd.testing.assert_series_equal(whole, reference, check_exact=True)


@pytest.mark.parametrize(
    "classes",
    [
        ClassConfig(),
        ClassConfig(shares=(0.1, 0.0, 0.6, 0.3)),
        ClassConfig(method="thresholds", thresholds=(60.0, 45.0, 30.0)),
    ],
)
def test_class_stability_in_blocks_of_firms(
    monkeypatch: pytest.MonkeyPatch, classes: ClassConfig
) -> None:
    """Scores made a few firms at a time (as on a large list) give the same result as the
    whole firms × draws product, firm blocks of uneven size included."""
    rng = np.random.default_rng(11)
    n = 301
    ratios = pd.DataFrame(rng.random((n, 3)).round(2), columns=list("abc"))
    weights = {"a": 50.0, "b": 30.0, "c": 20.0}
    tiebreak = pd.Series(rng.random(n).round(1))
    score = (ratios * pd.Series(weights)).sum(axis=1)
    _, cls = assign_classes(score, tiebreak, pd.Series(ratios.index.astype(str)), classes)
    cfg = StabilityConfig(draws=40, spread=0.25)
    args = (ratios, weights, cls, tiebreak)
    whole = scoring.class_stability(*args, cfg=cfg, classes=classes)
    monkeypatch.setattr(scoring, "_STABILITY_BLOCK", 40 * 7)  # 7 firms a block, one of 8
    blocks = scoring.class_stability(*args, cfg=cfg, classes=classes)
    pd.testing.assert_series_equal(whole, blocks, check_exact=True)
    reference = _stability_by_sorting(*args, cfg=cfg, classes=classes)
    pd.testing.assert_series_equal(blocks, reference, check_exact=True)


def test_class_stability_never_holds_every_score(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory is bounded by a block of scores and those of the firms near a class bound, not
    firms × draws (2 GB for 850,000 firms and 300 draws)."""
    import tracemalloc  # noqa: PLC0415 - only this test measures allocations

    rng = np.random.default_rng(3)
    n, draws = 20_000, 300
    # indicators that mostly agree: a few firms per class bound change class in some draw
    level = rng.random((n, 1))
    ratios = pd.DataFrame(level + 0.02 * rng.random((n, 4)), columns=list("wxyz"))
    weights = {"w": 40.0, "x": 30.0, "y": 20.0, "z": 10.0}
    tiebreak = pd.Series(rng.random(n))
    score = (ratios * pd.Series(weights)).sum(axis=1)
    _, cls = assign_classes(score, tiebreak, pd.Series(ratios.index.astype(str)), ClassConfig())
    monkeypatch.setattr(scoring, "_STABILITY_BLOCK", 1 << 16)
    tracemalloc.start()
    try:
        class_stability(
            ratios, weights, cls, tiebreak, cfg=StabilityConfig(draws=draws), classes=ClassConfig()
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * n * draws * 8


def _benchmarks_by_pandas(basis, names, cfg, industry):
    """The per-indicator pandas aggregation ``_benchmarks`` replaces: the reference, with
    each group's sums exact then rounded once (``math.fsum``), as mujun's sums are."""
    out = pd.DataFrame(index=basis.index)
    for name in names:
        ind = INDICATORS[name]
        parts = basis[[ind.numerator, ind.denominator]].copy()
        parts["key"] = basis["unit_key"]
        parts["group"] = industry if cfg.benchmark_source == "industry_mean" else "all"
        valid = parts[parts[ind.denominator] > 0].dropna(subset=[ind.numerator])
        once = valid.drop_duplicates("key")
        sums = once.groupby("group")[[ind.numerator, ind.denominator]].agg(math.fsum)
        mean = sums[ind.numerator] / sums[ind.denominator] * ind.factor
        out[name] = parts["group"].map(mean).astype("float64")
    return out


@pytest.mark.parametrize("source", ["industry_mean", "group_mean"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_benchmarks_equal_the_pandas_aggregation(source: str, seed: int):
    """Each unit once (its first row with the indicator), by industry or over the list, with
    missing industries, zero areas and missing numerators, exactly as the pandas version."""
    rng = np.random.default_rng(seed)
    n = 200
    basis = pd.DataFrame(
        {
            "tax": np.where(rng.random(n) < 0.1, np.nan, rng.normal(1e6, 4e5, n)),
            "value_added": rng.normal(5e6, 1e6, n),
            "area_mu": np.where(rng.random(n) < 0.1, 0.0, rng.uniform(1, 80, n)),
            "energy_tce": rng.uniform(-1, 500, n),
            "unit_key": rng.choice([f"U{i}" for i in range(60)], n),
        },
        index=pd.Index(rng.permutation(n) + 1000),
    )
    industry = pd.Series(
        rng.choice(["13", "17", "", None], n, p=[0.45, 0.35, 0.1, 0.1]),
        index=basis.index,
        dtype="string",
    )
    cfg = ScoringConfig(benchmark_source=source)
    names = ["tax_per_mu", "value_added_per_mu", "value_added_per_tce"]
    got = _benchmarks(basis, names, {}, cfg, industry)
    want = _benchmarks_by_pandas(basis, names, cfg, industry)
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize(
    "cfg",
    [
        ScoringConfig(include_industries=("13", "44")),
        ScoringConfig(exclude_industries=("44", "17"), exempt=("b",)),
    ],
)
def test_industry_scope_by_code_prefix(cfg: ScoringConfig):
    """An industry code (section letter dropped) is in scope if it starts with any prefix."""
    frame = pd.DataFrame(
        {
            "industry": pd.Series(["C1311", "1711", None, "A44", "4400", "13"], dtype="string"),
            "uscc": list("abcdef"),
            "land_status": ["own"] * 5 + ["orphan"],
        }
    )
    code = ["1311", "1711", "", "44", "4400", "13"]
    include, exclude = cfg.include_industries, cfg.exclude_industries
    want = [
        (not include or any(c.startswith(p) for p in include))
        and not any(c.startswith(p) for p in exclude)
        and u not in cfg.exempt
        and s != "orphan"
        for c, u, s in zip(code, frame["uscc"], frame["land_status"], strict=True)
    ]
    assert in_scope(frame, cfg).tolist() == want


def test_class_stability_with_firms_near_two_bounds():
    """Wide draws put some firms near two class bounds (the per-bound look does not apply to
    them): still the classes of sorting every draw."""
    rng = np.random.default_rng(2)
    n = 60
    ratios = pd.DataFrame(rng.random((n, 3)), columns=list("abc"))
    weights = {"a": 50.0, "b": 30.0, "c": 20.0}
    tiebreak = pd.Series(rng.random(n).round(1))
    score = (ratios * pd.Series(weights)).sum(axis=1)
    _, cls = assign_classes(score, tiebreak, pd.Series(ratios.index.astype(str)), ClassConfig())
    cfg = StabilityConfig(draws=80, spread=0.95)
    args = (ratios, weights, cls, tiebreak)
    got = class_stability(*args, cfg=cfg, classes=ClassConfig())
    want = _stability_by_sorting(*args, cfg=cfg, classes=ClassConfig())
    pd.testing.assert_series_equal(got, want, check_exact=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_kept_near_bound_by_bound_equals_all_bounds_at_once(seed: int):
    """The per-bound look (firms near one bound) and the look over every bound together give
    the same draws kept."""
    rng = np.random.default_rng(seed)
    n = 400
    level = rng.random((n, 1))
    ratios = pd.DataFrame(level + 0.05 * rng.random((n, 3)), columns=list("abc"))
    weights = {"a": 50.0, "b": 30.0, "c": 20.0}
    tiebreak = pd.Series(rng.random(n).round(2))
    score = (ratios * pd.Series(weights)).sum(axis=1)
    classes = ClassConfig()
    _, cls = assign_classes(score, tiebreak, pd.Series(ratios.index.astype(str)), classes)
    calls: list[tuple] = []
    original = scoring._kept_near

    def both(scores, sec, near, **kw):
        calls.append(
            (original(scores, sec, near, **kw), scoring._kept_near_shared(scores, sec, near, **kw))
        )
        return calls[-1][0]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoring, "_kept_near", both)
        class_stability(ratios, weights, cls, tiebreak, cfg=StabilityConfig(), classes=classes)
    assert calls
    for (rows, kept), (rows_all, kept_all) in calls:
        np.testing.assert_array_equal(rows, rows_all)
        np.testing.assert_array_equal(kept, kept_all)


_ORDER_FLOATS = st.sampled_from([0.0, -0.0, 1.5, -2.0, np.inf, -np.inf])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            _ORDER_FLOATS,
            _ORDER_FLOATS,
            st.one_of(st.none(), st.sampled_from(["b", "a", "中", "B"])),
        ),
        max_size=30,
    )
)
def test_rank_order_is_the_three_column_sort(rows):
    """Score, then tie-break, then credit code as text (missing last), then position: the
    order DataFrame.sort_values gave, -0.0 and 0.0 tying."""
    first = np.array([r[0] for r in rows], dtype="float64")
    second = np.array([r[1] for r in rows], dtype="float64")
    key = pd.Series([r[2] for r in rows], dtype="string")
    want = (
        pd.DataFrame({"s": first, "t": second, "k": key.astype(str)})
        .sort_values(["s", "t", "k"])
        .index.to_numpy()
    )
    np.testing.assert_array_equal(scoring.rank_order(first, second, key), want)


def _streaks_by_groupby(frame: pd.DataFrame, cls: pd.Series, last: str) -> pd.Series:
    """The grouped running sums ``_streaks`` replaces: the reference."""
    data = pd.DataFrame(
        {"uscc": frame["uscc"], "year": frame["year"], "d": (cls == last).fillna(False).astype(int)}
    )
    data = data.sort_values("year", kind="stable")
    # a year not following the firm's previous one breaks the streak as a non-D year does
    jump = data.groupby("uscc")["year"].diff().fillna(0) > 1
    breaks = ((data["d"] == 0) | jump).groupby(data["uscc"]).cumsum()
    streak = data.groupby([data["uscc"], breaks])["d"].cumsum()
    return streak.reindex(frame.index).astype("int64")


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["F1", "F2", "F3"]),
            st.integers(2015, 2021),
            st.one_of(st.none(), st.sampled_from(["A", "C", "D"])),
        ),
        max_size=25,
    )
)
def test_streaks_equal_the_grouped_running_sums(rows):
    frame = pd.DataFrame(
        {
            "uscc": pd.array([r[0] for r in rows], dtype="string"),
            "year": np.array([r[1] for r in rows], dtype="int64"),
        },
        index=pd.Index(np.arange(len(rows)) * 3 + 1),
    )
    cls = pd.Series(pd.array([r[2] for r in rows], dtype="string"), index=frame.index)
    got = scoring._streaks(frame, cls, ClassConfig())
    pd.testing.assert_series_equal(got, _streaks_by_groupby(frame, cls, "D"), check_names=False)


@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), max_size=30))
def test_flag_names_join_the_true_columns_in_order(rows):
    flags = pd.DataFrame(rows, columns=["tax_per_mu", "rd_share", "tax_per_kwh"], dtype=bool)
    names = np.array(flags.columns)
    assert scoring._flag_names(flags).tolist() == [
        ", ".join(names[np.array(r, dtype=bool)]) for r in rows
    ]


def test_a_score_on_a_threshold_is_in_the_class_above():
    """[classes] thresholds are the lowest score of each class: 90 is A, 89.99 is B."""
    from mujun.scoring import threshold_codes  # noqa: PLC0415

    cfg = ClassConfig(method="thresholds")
    got = threshold_codes(np.array([90.0, 89.99, 70.0, 69.99, 50.0, 49.99, 120.0, -5.0]), cfg)
    assert [cfg.labels[i] for i in got] == ["A", "B", "B", "C", "C", "D", "A", "D"]
