"""What it takes (``mujun.takes``): the tax per mu each graded firm needs to reach the next
class and to leave D, checked against a brute force that edits the firm's filed tax and
re-runs the real chain (land units, evaluation basis, :func:`mujun.scoring.evaluate`) step by
step, for the benchmark (list mean and published) and min-max methods and both class rules."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import CODES, run_mujun, tiny_filings, write_tiny
from mujun.config import Config, StabilityConfig, load_config
from mujun.indicators import LandRules, enterprise_indicators, evaluation_basis, unit_table
from mujun.pipeline import _walk, open_engine
from mujun.schema import MU_M2
from mujun.scoring import evaluate, ratio_pairs
from mujun.stages import RunState
from mujun.takes import STEP, what_it_takes

CONFIGS = {  # name -> overrides: each scoring method with each class rule
    "mean-shares": {},
    "mean-thresholds": {"classes": {"method": "thresholds", "thresholds": [60.0, 50.0, 45.0]}},
    "minmax-shares": {"scoring": {"method": "minmax"}},
    "minmax-thresholds": {
        "scoring": {"method": "minmax"},
        "classes": {"method": "thresholds", "thresholds": [45.0, 30.0, 15.0]},
    },
    "published-capped-floor": {
        "preset": "huangyan-2022",
        "scoring": {"cap": 1.5},
        "classes": {"tax_floor_per_mu": 2.5},
    },
    "industry-mean-thresholds": {
        "scoring": {"benchmark_source": "industry_mean"},
        "classes": {"method": "thresholds", "thresholds": [60.0, 50.0, 45.0]},
    },
}
"""Thresholds for the tiny county's scores (one indicator of two: 10 to 65 points)."""
SAMPLE_CONFIGS = {
    "mean-shares": {},
    "minmax-thresholds": {
        "scoring": {"method": "minmax"},
        "classes": {"method": "thresholds", "thresholds": [80.0, 60.0, 45.0]},
    },
    "published-capped-floor": CONFIGS["published-capped-floor"],
    "mean-thresholds": {"classes": {"method": "thresholds", "thresholds": [130.0, 95.0, 70.0]}},
}


def _config(overrides: dict, **paths: Path) -> Config:
    extra = dict(overrides)
    preset = extra.pop("preset", None)
    extra.setdefault("input", {}).update({k: str(v) for k, v in paths.items()})
    return load_config(preset=preset, overrides=extra)


def _state(config: Config) -> RunState:
    with open_engine(config) as engine:
        return _walk(config, engine, until="units")


def _rescore(
    state: RunState, config: Config, filings: pd.DataFrame, *, takes: bool = True
) -> pd.DataFrame:
    """The real chain from the filings on: land units, firm indicators, basis, evaluation
    (and what it takes, unless not ``takes``)."""
    by_id = state.parcels.set_index("parcel_id")
    rules = LandRules(basis=config.area.basis, incomplete=config.area.incomplete)
    units = unit_table(state.occ, filings, by_id["area_m2"], state.unit, rules)
    firms = enterprise_indicators(filings, state.occ, units, state.unit)
    basis = evaluation_basis(filings, state.occ, units, ratio_pairs())
    cfg = replace(config, stability=StabilityConfig(draws=0))
    scores = evaluate(
        firms,
        basis,
        scoring=cfg.scoring,
        classes=cfg.classes,
        stability=cfg.stability,
        policy=cfg.policy,
    )
    if not takes:
        return scores
    return scores.join(
        what_it_takes(firms, basis, scores, scoring=cfg.scoring, classes=cfg.classes)
    )


def _class_at(state: RunState, config: Config, row: int, tau: float, base: pd.DataFrame) -> str:
    """The class of enterprise-year ``row`` when its own filed tax is raised until its tax per
    mu (its unit's) is ``tau`` 万元/亩."""
    area_mu = base.loc[row, "area_m2"] / MU_M2
    filings = state.filings.copy()
    rise = (tau - base.loc[row, "tax_per_mu"]) * area_mu * 1e4
    filings.loc[row, "tax"] = filings.loc[row, "tax"] + rise
    return str(_rescore(state, config, filings, takes=False).loc[row, "class"])


def _brute(state: RunState, config: Config, row: int, base: pd.DataFrame, coarse: float) -> float:
    """Step up from the firm's own tax per mu (on the grid of 0.01) by ``coarse`` until its
    class is better, then through the last step by a tenth of it, then by 0.01: the first
    value of the grid of 0.01 at which it is (steps of 0.01 all the way cost too many runs)."""
    labels = list(config.classes.labels)
    now = labels.index(base.loc[row, "class"])
    tau0 = base.loc[row, "tax_per_mu"]

    def better(k: int) -> bool:
        return labels.index(_class_at(state, config, row, k * STEP, base)) < now

    k = math.floor(tau0 / STEP)  # on the grid, at most the firm's own: not better
    for step in (round(coarse / STEP), round(coarse / STEP / 10), 1):
        while not better(k + step):
            k += step
            assert k * STEP < tau0 + 5000, "no class change found"
    return round((k + 1) * STEP, 2)


def _check(state: RunState, config: Config, rows: list[int], coarse: float) -> int:
    base = _rescore(state, config, state.filings)
    base = base.join(state.enterprises[["area_m2"]])
    checked = 0
    for row in rows:
        cls = base.loc[row, "class"]
        if pd.isna(cls) or cls == config.classes.labels[0] or pd.isna(base.loc[row, "tax_per_mu"]):
            assert np.isnan(base.loc[row, "tax_per_mu_to_next_class"])
            continue
        if base.loc[row, "what_it_takes"] == "out_of_reach":  # no change even far above
            far = base.loc[row, "tax_per_mu"] * 100 + 100
            assert _class_at(state, config, row, far, base) == cls
            continue
        want = _brute(state, config, row, base, coarse)
        assert base.loc[row, "tax_per_mu_to_next_class"] == pytest.approx(want, abs=1e-9), row
        last = cls == config.classes.labels[-1]
        d = base.loc[row, "tax_per_mu_to_leave_d"]
        assert (d == pytest.approx(want, abs=1e-9)) if last else np.isnan(d)
        checked += 1
    return checked


@pytest.mark.parametrize("name", list(CONFIGS))
def test_tiny_county_against_brute_force(tmp_path: Path, name: str) -> None:
    """Every graded firm of the tiny county (5 firms on land, one lessee), each config."""
    files = write_tiny(tmp_path)
    config = _config(CONFIGS[name], parcels=files["parcels"], filings=files["filings"])
    state = _state(config)
    rows = list(np.flatnonzero(state.enterprises["year"].to_numpy() == 2021))
    assert _check(state, config, [state.enterprises.index[r] for r in rows], coarse=0.5) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SAMPLE_CONFIGS))
def test_sample_county_against_brute_force(name: str) -> None:
    """A few firms of the sample county of each list, below the top class."""
    config = _config(SAMPLE_CONFIGS[name])
    state = _state(config)
    base = _rescore(state, config, state.filings)
    graded = base[base["class"].notna() & base["tax_per_mu"].notna()]
    graded = graded[graded["class"] != config.classes.labels[0]]
    picks = (
        graded.assign(year=state.enterprises["year"])
        .groupby(["group", "class", "year"], observed=True)
        .head(1)
        .index[:3]
    )
    assert _check(state, config, list(picks), coarse=2.0) >= 2


@pytest.mark.parametrize("name", ["mean-shares", "mean-thresholds"])
def test_shared_land_with_electricity_from_one_tenant(tmp_path: Path, name: str) -> None:
    """Electricity filed by some firms (tax per kWh, weight 50 of the 规下 lists, rises with
    the firm's tax too), C and D sharing P4 and only D filing electricity. With ``share =
    "firm"`` D is a list entry of its own but tied with C on every figure, which rise with it:
    it can never pass C (out of reach, and the brute force finds no change far above)."""
    filings = tiny_filings()
    filings["用电量(千瓦时)"] = [3e5, 9e5, None, 2e5, 1e4, 1e4, 2e5]
    files = write_tiny(tmp_path, filings)
    overrides = {
        "mean-shares": {"classes": {"share": "firm"}},
        "mean-thresholds": {"classes": {"method": "thresholds", "thresholds": [90, 70, 40]}},
    }[name]
    config = _config(overrides, parcels=files["parcels"], filings=files["filings"])
    state = _state(config)
    rows = list(state.enterprises.index[state.enterprises["year"] == 2021])
    assert _check(state, config, rows, coarse=0.5) >= 2


def test_columns_in_the_exports_and_workbook(tmp_path: Path) -> None:
    """The run writes both columns in enterprises.csv; D firms have the same figure in both,
    A firms neither; the figure is above the firm's own tax per mu."""
    files = write_tiny(tmp_path)
    assert run_mujun(files, tmp_path / "out") == 0
    firms = pd.read_csv(tmp_path / "out" / "exports" / "enterprises.csv", encoding="utf-8-sig")
    for column in ("tax_per_mu_to_next_class", "tax_per_mu_to_leave_d", "what_it_takes"):
        assert column in firms
    graded = firms[firms["class"].notna() & firms["tax_per_mu"].notna()]
    a = graded["class"] == "A"
    assert graded.loc[a, "tax_per_mu_to_next_class"].isna().all()
    rest = graded[~a]
    figure = rest["tax_per_mu_to_next_class"].notna()
    assert figure.sum() >= 2
    assert (rest.loc[figure, "tax_per_mu_to_next_class"] > rest.loc[figure, "tax_per_mu"]).all()
    assert (rest.loc[~figure, "what_it_takes"] == "out_of_reach").all()  # A alone in 2016
    d = graded["class"] == "D"
    np.testing.assert_allclose(
        graded.loc[d, "tax_per_mu_to_leave_d"], graded.loc[d, "tax_per_mu_to_next_class"]
    )
    assert graded.loc[~d, "tax_per_mu_to_leave_d"].isna().all()
    assert CODES["A"] in set(firms["uscc"])
    book = pd.read_excel(
        tmp_path / "out" / "exports" / "enterprises.xlsx",
        sheet_name=None,
        header=1,
        engine="calamine",
    )
    sheet = next(v for v in book.values() if "升至上一类所需亩均税收(万元/亩)" in v)
    by_code = sheet.set_index("统一社会信用代码")["升至上一类所需亩均税收(万元/亩)"]
    csv = firms[firms["year"] == firms["year"].max()].set_index("uscc")
    for code, value in by_code.dropna().items():
        assert value == pytest.approx(csv.loc[code, "tax_per_mu_to_next_class"])
    assert by_code.notna().sum() >= 2


def test_out_of_reach_under_a_cap(tmp_path: Path) -> None:
    """The tiny county's lists score tax per mu alone at weight 50 (no electricity filed):
    with x/B capped at 1 no score passes 50, so with A from 50.5 no tax makes A: a B firm
    gets no figure and the reason."""
    files = write_tiny(tmp_path)
    overrides = {
        "scoring": {"cap": 1.0},
        "classes": {"method": "thresholds", "thresholds": [50.5, 40.0, 30.0]},
    }
    config = _config(overrides, parcels=files["parcels"], filings=files["filings"])
    state = _state(config)
    base = _rescore(state, config, state.filings)
    b = base[base["class"] == "B"]
    assert len(b) >= 1
    assert b["tax_per_mu_to_next_class"].isna().all()
    assert (b["what_it_takes"] == "out_of_reach").all()


def test_sample_timing() -> None:
    """What it takes on the whole sample (2,000+ firm-years) stays within seconds."""
    config = _config({})
    state = _state(config)
    basis = evaluation_basis(state.filings, state.occ, state.units, ratio_pairs())
    cfg = replace(config, stability=StabilityConfig(draws=0))
    scores = evaluate(
        state.enterprises,
        basis,
        scoring=cfg.scoring,
        classes=cfg.classes,
        stability=cfg.stability,
        policy=cfg.policy,
    )
    started = time.perf_counter()
    out = what_it_takes(state.enterprises, basis, scores, scoring=cfg.scoring, classes=cfg.classes)
    took = time.perf_counter() - started
    assert out["tax_per_mu_to_next_class"].notna().sum() > 1500
    assert took < 15, took


@pytest.mark.parametrize(
    "name",
    ["mean-shares", "published-capped-floor", "mean-thresholds", "industry-mean-shares"],
)
def test_windowed_what_if_equals_the_whole_list_what_if(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The benchmark method's what-if scores again only the rows near the firm's new score
    (mujun.takes._fast); on every firm of the sample county it must give exactly what
    re-scoring the whole list for each candidate gives."""
    import mujun.takes as takes  # noqa: PLC0415 - the module whose path is switched

    overrides = {"industry-mean-shares": {"scoring": {"benchmark_source": "industry_mean"}}}
    config = _config(overrides.get(name) or SAMPLE_CONFIGS.get(name) or CONFIGS[name])
    state = _state(config)
    fast = _rescore(state, config, state.filings)
    monkeypatch.setattr(takes, "_fast", lambda lst: None)
    full = _rescore(state, config, state.filings)
    cols = ["tax_per_mu_to_next_class", "tax_per_mu_to_leave_d", "what_it_takes"]
    assert fast["tax_per_mu_to_next_class"].notna().sum() > 1000
    pd.testing.assert_frame_equal(fast[cols], full[cols])


def test_a_min_max_list_too_large_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The min-max what-if re-scores the whole list per firm (its range moves); above
    FULL_MAX entries a list gets no figures and a warning, not a run that never ends."""
    import mujun.takes as takes  # noqa: PLC0415 - the limit is lowered for the sample

    config = _config(SAMPLE_CONFIGS["minmax-thresholds"])
    state = _state(config)
    monkeypatch.setattr(takes, "FULL_MAX", 100)
    with caplog.at_level("WARNING", logger="mujun.takes"):
        got = _rescore(state, config, state.filings).assign(year=state.enterprises["year"])
    graded = got["class"].notna()
    size = got[graded].groupby(["group", "year"])["class"].transform("size")
    big = size[size > 100].index
    small = size[size <= 100].index
    assert len(big) > 1000
    below_top = got["class"] != config.classes.labels[0]
    assert (
        got.loc[big, "what_it_takes"].where(below_top[big], "list_too_large") == "list_too_large"
    ).all()
    assert got.loc[big, "tax_per_mu_to_next_class"].isna().all()
    assert got.loc[small, "tax_per_mu_to_next_class"].notna().any()  # small lists keep theirs
    assert "what it takes is not computed" in caplog.text


def test_a_list_whose_tax_is_all_zero(tmp_path: Path) -> None:
    """Every firm filing 0 tax: the list mean of tax per mu is 0, x / B is 0 / 0 (found by
    the ledger property test in CI); the run ends and no firm gets a figure."""
    filings = tiny_filings().assign(**{"实缴税金(万元)": 0.0})
    files = write_tiny(tmp_path, filings)
    assert run_mujun(files, tmp_path / "out") == 0
    firms = pd.read_csv(tmp_path / "out" / "exports" / "enterprises.csv", encoding="utf-8-sig")
    assert firms["tax_per_mu_to_next_class"].isna().all()
