"""Method fidelity (issue 14): each rule with a test whose expected values are computed here
from the inputs, not by calling the functions under test."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

import mujun
from conftest import CODES, tiny_filings, write_tiny
from mujun import config as config_module
from mujun.cli import main
from mujun.errors import ConfigError


def _run(files: dict[str, Path], preset: str | None = None, **sections: dict) -> mujun.RunResult:
    inp = {k: str(v) for k, v in files.items()} | sections.pop("input", {})
    cfg = mujun.load_config(preset=preset, overrides={"input": inp, **sections})
    return mujun.run(cfg)


# ------------------------------------------------------------------- 1. preset layering


def test_a_preset_builds_on_the_preset_it_names(tmp_path):
    zhejiang = mujun.load_config(preset="zhejiang")
    huangyan = mujun.load_config(preset="huangyan-2022")
    assert huangyan.underuse.far_min == zhejiang.underuse.far_min  # its base's FAR table
    assert huangyan.policy.surcharge == {"D": 0.3}
    assert huangyan.scoring.weights["lessee"] == {"tax_per_kwh": 100}
    assert huangyan.scoring.benchmarks["above_scale"]["tax_per_mu"] == 24.097  # its own
    # a config file naming it gets the same layers
    path = tmp_path / "county.toml"
    path.write_text('preset = "huangyan-2022"\n', encoding="utf-8")
    assert mujun.load_config(path).underuse.far_min == zhejiang.underuse.far_min
    # and the lessee (E, who lists no parcel) is scored and classed on its list
    filings = tiny_filings()
    filings["用电量(万千瓦时)"] = [10, 20, 30, 40, 5, 6, 10]
    res = _run(write_tiny(tmp_path, filings), preset="huangyan-2022")
    lessee = res.enterprises.set_index(["uscc", "year"]).loc[(CODES["E"], 2021)]
    assert lessee["group"] == "lessee"
    # alone on its list it is at its own average: tax/kWh over the benchmark = 1, 100 points
    assert lessee["score"] == pytest.approx(100.0)
    # one firm: A takes the first round(1 x 0.25) = 0 ranks, B the first round(1 x 0.70) = 1
    assert lessee["class"] == "B"


def test_presets_that_name_each_other_in_a_circle_are_refused(monkeypatch):
    texts = {"a": 'preset = "b"\n', "b": 'preset = "a"\n'}
    monkeypatch.setattr(config_module, "_preset_text", lambda name: texts[name])
    with pytest.raises(ConfigError, match="presets name each other in a circle: a -> b -> a"):
        mujun.load_config(preset="a")


def test_presets_show_prints_the_effective_configuration_as_toml(capsys):
    assert main(["presets", "--show", "huangyan-2022"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("huangyan-2022 <- zhejiang <- built-in defaults")
    shown = tomllib.loads(out)
    effective = mujun.load_config(preset="huangyan-2022").to_dict()
    assert shown["underuse"]["far_min"] == effective["underuse"]["far_min"]
    assert shown["scoring"]["weights"] == effective["scoring"]["weights"]
    assert shown["classes"]["names"] == ["优先发展", "提升发展", "调控帮扶", "倒逼整治"]
    assert main(["presets"]) == 0
    assert "(on zhejiang)" in capsys.readouterr().out


# -------------------------------------------------------- 2. stability and hard rules


def test_firms_forced_to_d_by_the_tax_floor_keep_d_in_every_draw(tmp_path):
    """A (2.0 万元/亩) and B (2.0) are under a 2.5 floor: D whatever the weights."""
    res = _run(write_tiny(tmp_path), classes={"tax_floor_per_mu": 2.5})
    ent = res.enterprises.set_index(["uscc", "year"])
    for firm in "AB":
        row = ent.loc[(CODES[firm], 2021)]
        assert row["tax_per_mu"] == pytest.approx(2.0)
        assert row["class"] == "D"
        assert row["class_stability"] == 1.0
        assert not row["borderline"]


# ------------------------------------------------ 3. unit ratios over reporting firms


def test_a_unit_ratio_uses_only_the_firms_that_report_both_parts(tmp_path):
    """C and D share P4; D leaves emissions blank. The unit's value added per t is C's
    value added over C's emissions, and both are flagged imputed."""
    filings = tiny_filings()
    filings["规模"] = "规上"
    filings["主要污染物排放量(吨)"] = [1.0, 3.0, 2.0, None, None, None, 1.0]
    res = _run(write_tiny(tmp_path, filings))
    ent = res.enterprises.set_index(["uscc", "year"])
    c, d = ent.loc[(CODES["C"], 2021)], ent.loc[(CODES["D"], 2021)]
    # 120 万元 of value added over 2 t: 60 万元/t (not (120 + 240) / 2 = 180)
    assert c["value_added_per_emission"] == pytest.approx(60.0)
    assert d["value_added_per_emission"] == pytest.approx(60.0)
    for row in (c, d):
        assert "value_added_per_emission" in row["imputed"]
    a = ent.loc[(CODES["A"], 2021)]
    assert "value_added_per_emission" not in a["imputed"]  # alone and reporting
    # the list's average, each unit once over its reporting firms: A 150/1, B 450/3, C 120/2
    mean = (150 + 450 + 120) / (1 + 3 + 2)
    assert c["benchmark_value_added_per_emission"] == pytest.approx(mean)
    weight = mujun.load_config().scoring.weights["above_scale"]["value_added_per_emission"]
    assert c["score_value_added_per_emission"] == pytest.approx(weight * 60.0 / mean)


# ------------------------------------------------------------- 5. consecutive years


def test_d_streaks_count_consecutive_calendar_years_only():
    from mujun.scoring import _streaks  # noqa: PLC0415 - the rule itself

    frame = pd.DataFrame(
        {
            "uscc": ["x", "x", "y", "y", "y", "z", "z"],
            "year": [2016, 2021, 2019, 2020, 2021, 2020, 2021],
        }
    )
    cls = pd.Series(["D", "D", "D", "D", "D", "C", "D"], dtype="string")
    got = _streaks(frame, cls, mujun.config.ClassConfig())
    # x: 2016 and 2021 are apart: 1 and 1; y: three years in a row; z: C then D
    assert got.tolist() == [1, 1, 1, 2, 3, 0, 1]


def test_the_summary_says_when_evaluation_years_are_not_consecutive(tmp_path):
    res = _run(write_tiny(tmp_path))
    assert any("2016 and 2021 are not consecutive" in n for n in res.summary.notes)


# ---------------------------------------------------------------------- 9. tie rules


def test_identical_firms_tie_by_credit_code_in_rank_and_in_every_draw():
    from mujun.config import StabilityConfig  # noqa: PLC0415
    from mujun.scoring import assign_classes, class_stability  # noqa: PLC0415

    ratios = pd.DataFrame({"a": [1.0, 1.0, 1.0, 1.0], "b": [0.5, 0.5, 0.5, 0.5]})
    codes = pd.Series(["K4", "K2", "K3", "K1"])
    tie = pd.Series([2.0, 2.0, 2.0, 2.0])
    weights = {"a": 60.0, "b": 40.0}
    score = (ratios * pd.Series(weights)).sum(axis=1)
    classes = mujun.config.ClassConfig(shares=(0.5, 0.5), labels=("A", "B"))
    rank, cls = assign_classes(score, tie, codes, classes)
    assert rank.tolist() == [4, 2, 3, 1]  # by credit code, whatever the row order
    stab = class_stability(
        ratios, weights, cls, tie, cfg=StabilityConfig(draws=50), classes=classes, key=codes
    )
    assert stab.tolist() == [1.0, 1.0, 1.0, 1.0]  # the same order in every draw
