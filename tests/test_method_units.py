"""Method fidelity (issue 14), land units: incomplete parcel lists, one entry per unit in
ranking, land apportioned between groups, tables on one basis, missing-data rules and caps,
and the area basis. Expected values are computed here from the tiny county's geometry and
figures (conftest: P1 15 mu, P2 30, P3 15, P4 30, P5 15 surveyed; P2 declared 27)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import mujun
from conftest import CODES, run_mujun, tiny_filings, tiny_parcels, write_tiny
from mujun.errors import ConfigError

MU = {"P1": 15.0, "P2": 30.0, "P3": 15.0, "P4": 30.0, "P5": 15.0}  # 100 m x 100 m = 15 mu
TAX = {"A": 30.0, "B": 90.0, "C": 30.0, "D": 60.0, "E": 5.0, "F": 7.0}  # 2021, 万元


def _run(files: dict[str, Path], **sections: dict) -> mujun.RunResult:
    inp = {k: str(v) for k, v in files.items()}
    cfg = mujun.load_config(overrides={"input": inp, **sections})
    return mujun.run(cfg)


def _with_g(declared: dict[str, float] | None = None) -> pd.DataFrame:
    """The tiny filings plus G, who lists P5 (in the layer) and P98 (not): 45 万元 of tax."""
    filings = tiny_filings()
    g = pd.DataFrame(
        {
            "统一社会信用代码": ["91330522MA2B0006XM"],
            "企业名称": ["庚公司"],
            "年份": [2021],
            "宗地号": ["P5、P98"],
            "实缴税金(万元)": [45],
            "工业增加值(万元)": [100],
            "营业收入(万元)": [400],
        }
    )
    filings = pd.concat([filings, g], ignore_index=True)
    if declared is not None:
        filings["用地面积(亩)"] = filings["企业名称"].map(declared)
    return filings


def _row(res: mujun.RunResult, code: str, year: int = 2021) -> pd.Series:
    return res.enterprises.set_index(["uscc", "year"]).loc[(code, year)]


# ------------------------------------------------------- 4. partly missing parcel lists


def test_a_firm_with_a_missing_parcel_is_kept_out_of_ranking_and_county_figures(tmp_path):
    res = _run(write_tiny(tmp_path, _with_g()))
    g = _row(res, "91330522MA2B0006XM")
    assert g["land_incomplete"]
    assert not g["graded"]
    assert pd.isna(g["tax_per_mu"])  # not 45 / 15 = 3.0 on the one parcel found
    assert pd.isna(g["rank"])
    assert pd.isna(g["class"])
    county = res.tables["county"].set_index("year").loc[2021]
    land = MU["P1"] + MU["P2"] + MU["P3"] + MU["P4"]  # P5 is G's: out with G
    on_land = TAX["A"] + TAX["B"] + TAX["C"] + TAX["D"]
    assert county["land_mu"] == pytest.approx(land)
    assert county["tax_on_land_wan"] == pytest.approx(on_land)
    assert county["tax_per_mu"] == pytest.approx(on_land / land)
    assert county["tax_without_land_wan"] == pytest.approx(TAX["E"] + TAX["F"] + 45)
    assert county["land_incomplete"] == 1
    ledger = res.ledger
    reason = ledger.loc[ledger["key"].astype(str).str.contains("91330522MA2B0006XM"), "reason"]
    assert reason.str.contains("land incomplete").any()
    assert reason.str.contains("not graded").any()


def test_land_incomplete_declared_evaluates_on_the_filed_area(tmp_path):
    res = _run(write_tiny(tmp_path, _with_g({"庚公司": 20.0})), area={"incomplete": "declared"})
    g = _row(res, "91330522MA2B0006XM")
    assert g["land_incomplete"]
    assert g["graded"]
    assert g["area_mu"] == pytest.approx(20.0)
    assert g["tax_per_mu"] == pytest.approx(45 / 20)
    county = res.tables["county"].set_index("year").loc[2021]
    land = MU["P1"] + MU["P2"] + MU["P3"] + MU["P4"] + 20.0
    assert county["tax_per_mu"] == pytest.approx((TAX["A"] + TAX["B"] + 90 + 45) / land)


# --------------------------------------------------------- 6. co-tenants share one result


def _scaled(scales: str) -> pd.DataFrame:
    filings = tiny_filings()
    filings["规模"] = [{"+": "规上", "-": "规下"}[c] for c in scales]
    return filings


def test_identical_co_tenants_are_one_entry_ranked_once(tmp_path):
    """A, B, C, D all 规上; C and D are one unit (P4): three entries. By rank shares
    (25/45/25/5 %) three entries take A, B, C; the unit has the highest tax per mu
    (90 / 30 = 3 against 2 and 2) and value added per mu (12 against 10 and 10)."""
    res = _run(write_tiny(tmp_path, _scaled("+++++++")))
    c, d = _row(res, CODES["C"]), _row(res, CODES["D"])
    for column in ("score", "rank", "class", "class_stability", "group"):
        assert c[column] == d[column]
    assert c["rank"] == 1
    assert c["class"] == "A"
    ranks = sorted(int(_row(res, CODES[k])["rank"]) for k in "ABC")
    assert ranks == [1, 2, 3]  # three entries, not four
    # with share = "firm" the bound between A and B falls between the identical co-tenants
    res = _run(write_tiny(tmp_path, _scaled("+++++++")), classes={"share": "firm"})
    c, d = _row(res, CODES["C"]), _row(res, CODES["D"])
    assert c["score"] == pytest.approx(d["score"])
    assert (c["class"], d["class"]) == ("A", "B")  # C's credit code sorts first


def test_a_unit_with_a_guishang_firm_is_on_the_guishang_list(tmp_path):
    res = _run(write_tiny(tmp_path, _scaled("+-+-+++")))  # C 规上, D 规下 on P4
    c, d = _row(res, CODES["C"]), _row(res, CODES["D"])
    assert c["group"] == d["group"] == "above_scale"
    assert c["class"] == d["class"]
    res = _run(write_tiny(tmp_path, _scaled("+-+-+++")), classes={"share": "firm"})
    assert _row(res, CODES["D"])["group"] == "below_scale"  # 30 mu, own list


# ------------------------------------------------------------------- 7. mixed lists


def test_a_mixed_unit_splits_its_land_between_the_groups(tmp_path):
    res = _run(write_tiny(tmp_path, _scaled("+-+-+++")))
    county = res.summary.county["2021"]
    # P4 (30 mu) is C's and D's: 15 mu each, so no land counts in both groups
    above = MU["P1"] + MU["P4"] / 2
    below = MU["P2"] + MU["P3"] + MU["P4"] / 2
    assert county["above_scale"]["area_mu"] == pytest.approx(above)
    assert county["below_scale"]["area_mu"] == pytest.approx(below)
    assert above + below == pytest.approx(county["all"]["area_mu"])
    assert county["above_scale"]["tax_per_mu"] == pytest.approx((TAX["A"] + TAX["C"]) / above)
    assert county["below_scale"]["tax_per_mu"] == pytest.approx((TAX["B"] + TAX["D"]) / below)


def test_declared_areas_in_the_filings_apportion_a_shared_unit(tmp_path):
    filings = _scaled("+-+-+++")
    filings["用地面积(亩)"] = [15, 45, 10, 30, None, None, 15]  # C 10 mu, D 30 mu of P4
    res = _run(write_tiny(tmp_path, filings))
    county = res.summary.county["2021"]
    c_share = MU["P4"] * 10 / (10 + 30)
    assert county["above_scale"]["area_mu"] == pytest.approx(MU["P1"] + c_share)
    parks = res.tables["parks"].set_index(["year", "park"]).loc[(2021, "西区")]
    assert parks["land_mu"] == pytest.approx(MU["P4"])  # the park has the unit whole


# ------------------------------------------------------------ 8. tables on one basis


def test_county_csv_money_and_per_mu_cover_the_same_firms(tmp_path):
    files = write_tiny(tmp_path, tiny_filings())
    assert run_mujun(files, tmp_path / "out") == 0
    county = pd.read_csv(tmp_path / "out" / "exports" / "county.csv").set_index("year")
    row = county.loc[2021]
    land = MU["P1"] + MU["P2"] + MU["P3"] + MU["P4"]
    on_land = TAX["A"] + TAX["B"] + TAX["C"] + TAX["D"]
    assert row["enterprises"] == 6
    assert row["enterprises_on_land"] == 4
    assert row["lessees"] == 1
    assert row["orphans"] == 1
    assert row["tax_on_land_wan"] == pytest.approx(on_land)
    assert row["tax_per_mu"] == pytest.approx(on_land / land)
    assert row["tax_without_land_wan"] == pytest.approx(TAX["E"] + TAX["F"])
    # per industrial mu: the same money over all parcel land, vacant P5 included
    assert row["industrial_land_mu"] == pytest.approx(sum(MU.values()))
    assert row["tax_per_mu_industrial"] == pytest.approx(on_land / sum(MU.values()))
    run = json.loads((tmp_path / "out" / "exports" / "run.json").read_text(encoding="utf-8"))
    summary = run.get("summary", run)
    assert summary["county"]["2021"]["all"]["enterprises"] == row["enterprises"]
    assert summary["county"]["2021"]["all"]["enterprises_on_land"] == 4
    assert sum(summary["enterprises"]["2021"].values()) == row["enterprises"]


# --------------------------------------------------------- 10. missing data and caps


def _emissions(tmp: Path, **scoring: object) -> mujun.RunResult:
    filings = _scaled("+++++++")
    filings["主要污染物排放量(吨)"] = [1.0, None, 2.0, 2.0, None, None, 1.0]  # B blank
    return _run(write_tiny(tmp, filings), scoring=scoring)


def test_missing_emissions_are_imputed_by_default(tmp_path):
    res = _emissions(tmp_path)
    b = _row(res, CODES["B"])
    assert "value_added_per_emission" in b["imputed"]
    # the list's average x / B over the firms that have it: A 150/1, unit C+D 360/4;
    # B = (150 + 360) / (1 + 4) = 102; A's x/B = 150/102, the unit's 90/102
    mean = (150 / 102 + 90 / 102) / 2
    weight = mujun.load_config().scoring.weights["above_scale"]["value_added_per_emission"]
    assert b["score_value_added_per_emission"] == pytest.approx(weight * mean)


@pytest.mark.parametrize(("rule", "points"), [("zero", 0.0), ("penalty:3", -3.0)])
def test_missing_rules_per_indicator(tmp_path, rule, points):
    res = _emissions(tmp_path, missing={"value_added_per_emission": rule})
    b = _row(res, CODES["B"])
    assert b["score_value_added_per_emission"] == pytest.approx(points)
    a = _row(res, CODES["A"])
    weight = mujun.load_config().scoring.weights["above_scale"]["value_added_per_emission"]
    assert a["score_value_added_per_emission"] == pytest.approx(weight * 150 / 102)


def test_a_bad_missing_rule_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"\[scoring.missing\] rd_share = 'penalty:x'"):
        _emissions(tmp_path, missing={"rd_share": "penalty:x"})
    with pytest.raises(ConfigError, match="unknown indicators nope"):
        _emissions(tmp_path, missing={"nope": "zero"})


def test_a_cap_per_indicator_limits_that_sub_score_only(tmp_path):
    res = _emissions(tmp_path, cap={"tax_per_mu": 1.2})
    mean = (TAX["A"] + TAX["B"] + TAX["C"] + TAX["D"]) / (15 + 45 + 30)  # 210 / 90
    weight = mujun.load_config().scoring.weights["above_scale"]["tax_per_mu"]
    c = _row(res, CODES["C"])
    assert 3.0 / mean > 1.2
    assert c["score_tax_per_mu"] == pytest.approx(weight * 1.2)
    assert _row(res, CODES["A"])["score_tax_per_mu"] == pytest.approx(weight * 2.0 / mean)
    uncapped = _row(_emissions(tmp_path), CODES["C"])
    assert uncapped["score_tax_per_mu"] == pytest.approx(weight * 3.0 / mean)


# -------------------------------------------------------------------- 11. area basis


def test_both_bases_are_in_enterprises_and_declared_can_be_chosen(tmp_path):
    files = write_tiny(tmp_path, tiny_filings())
    res = _run(files)
    b = _row(res, CODES["B"])  # P2 (declared 27 mu) and P3 (15)
    assert b["tax_per_mu"] == pytest.approx(90 / (MU["P2"] + MU["P3"]))
    assert b["tax_per_mu_declared"] == pytest.approx(90 / (27 + 15))
    assert b["unit_declared_area_mu"] == pytest.approx(42.0)
    res = _run(files, area={"basis": "declared"})
    b = _row(res, CODES["B"])
    assert b["area_mu"] == pytest.approx(42.0)
    assert b["tax_per_mu"] == pytest.approx(90 / 42)
    assert b["tax_per_mu_surveyed"] == pytest.approx(90 / 45)
    basis = res.summary.area_basis
    assert basis["basis"] == "declared"
    assert basis["units_differing"] == 1  # only B's unit: 42 against 45 mu (6.7 %)


# --------------------------------------------------------------- 12. headline labels


def test_zones_have_a_minimum_size_and_the_summary_says_what_it_sums(tmp_path):
    """At a 60 m gap P1, P2 and P3 (50 m apart, 东区) are one zone; P4 (西区) and P5 (no
    park) would be zones of one parcel each."""
    files = write_tiny(tmp_path, tiny_filings())
    res = _run(files, underuse={"zone_gap_m": 60.0})
    zones = res.tables["zones"]
    assert zones["n_parcels"].tolist() == [3]
    assert set(zones.iloc[0]["parcel_ids"].split("、")) == {"P1", "P2", "P3"}
    # 东区's median tax per occupied mu: P1 30/15, P2 and P3 90/45: 2.0 万元/亩
    gain = 2.0 * (MU["P1"] + MU["P2"] + MU["P3"]) - (TAX["A"] + TAX["B"])
    assert zones.iloc[0]["gain_wan"] == pytest.approx(gain)
    u = res.summary.underuse
    assert u["zones"] == 1
    assert u["zone_min_parcels"] == 2
    assert u["zone_gain_all_wan"] == pytest.approx(gain)
    assert u["zones_gaining"] == int(gain > 0)
    assert res.parcels.set_index("parcel_id").loc["P4", "underused"]  # still flagged
    single = _run(files, underuse={"zone_gap_m": 60.0, "zone_min_parcels": 1})
    assert sorted(single.tables["zones"]["n_parcels"].tolist()) == [1, 1, 3]


def test_the_console_summary_names_the_area_basis(tmp_path, capsys):
    from mujun.cli import main  # noqa: PLC0415

    files = write_tiny(tmp_path, tiny_filings())
    args = ["run", "--parcels", str(files["parcels"]), "--filings", str(files["filings"])]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    # units with both areas: A (P1), B (P2 + P3), C/D (P4) in 2021 and A (P1) in 2016;
    # only B's differs by more than 5 % (42 declared against 45 surveyed mu)
    assert "area basis: surveyed (enterprises.csv has the declared figures too)" in out
    assert "by more than 5 % in 1 of 4 land units" in out


def test_without_parks_firms_on_land_are_outside_parks_not_without_land(tmp_path):
    files = write_tiny(tmp_path, tiny_filings())
    tiny_parcels().drop(columns="园区").to_file(files["parcels"], engine="pyogrio")
    res = _run(files)
    parks = res.tables["parks"].set_index(["year", "park"])
    outside = parks.loc[(2021, "（园区外）")]
    assert outside["enterprises_on_land"] == 4  # A, B, C, D
    assert outside["land_mu"] == pytest.approx(MU["P1"] + MU["P2"] + MU["P3"] + MU["P4"])
    assert parks.loc[(2021, "（无用地）"), "enterprises_on_land"] == 0  # E and F only
