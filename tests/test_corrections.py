"""Corrections after the objection period and the comparison of two runs (issue 17).

The sample county's own corrections file (data/parcels/corrections.csv) is applied and every
figure it changes is checked against the input; one firm's tax is then corrected on a config
with published (fixed) benchmarks, where the test can work out by hand which firms move: the
firms of the corrected firm's land unit change tax per mu and score (30 points of weight on
tax per mu over its benchmark), the ranks of its list are re-sorted here, and the classes
follow from the ranks by the shares. ``mujun compare`` must list exactly those firms.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_mujun, tiny_filings, write_tiny
from mujun.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "parcels"
HEADER = "统一社会信用代码,年度,字段,更正值,单位,理由,依据文件"


def _firms(out: Path) -> pd.DataFrame:
    return pd.read_csv(
        out / "exports" / "enterprises.csv", encoding="utf-8-sig", dtype={"uscc": str}
    )


def _ledger(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "exports" / "ledger.csv", encoding="utf-8-sig", dtype={"key": str})


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("notice")
    assert main(["run", "--out", str(out), "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def corrected(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("final")
    code = main(["run", "--out", str(out), "-q", "--corrections", str(SAMPLE / "corrections.csv")])
    assert code == 0
    return out


def test_the_sample_corrections_change_exactly_their_figures(base, corrected):
    given = pd.read_csv(SAMPLE / "corrections.csv", dtype={"统一社会信用代码": str})
    filings = pd.read_csv(SAMPLE / "filings.csv", dtype={"统一社会信用代码": str})
    before, after = _firms(base), _firms(corrected)
    column = {
        "实缴税金": ("tax", 1e4),
        "年平均职工人数": ("employees", 1),
        "综合能耗": ("energy_tce", 1),
    }
    header = {
        "实缴税金": "实缴税金(万元)",
        "综合能耗": "综合能耗(吨标煤)",
        "年平均职工人数": "年平均职工人数",
    }
    for _, row in given.iterrows():
        name, factor = column[row["字段"]]
        key = (row["统一社会信用代码"], int(row["年度"]))
        old = before.set_index(["uscc", "year"]).loc[key]
        new = after.set_index(["uscc", "year"]).loc[key]
        filed = filings[(filings["统一社会信用代码"] == key[0]) & (filings["年份"] == key[1])].iloc[
            0
        ]
        assert old[name] == pytest.approx(float(filed[header[row["字段"]]]) * factor)
        assert new[name] == pytest.approx(float(row["更正值"]) * factor)
    # the firm whose tax was corrected: tax per mu on its own land, from the corrected tax
    firm = after.set_index(["uscc", "year"]).loc[("91330522704042014W", 2021)]
    assert firm["land_status"] == "own"
    assert firm["tax_per_mu"] == pytest.approx(1650.0 / firm["area_mu"], rel=1e-9)
    assert (
        _firms(base).set_index(["uscc", "year"]).loc[("91330522704042014W", 2021)]["class"] == "D"
    )
    assert firm["class"] == "C"  # 16.50 万元 more lifts it over the D line of its list
    # every other filing figure is the same
    keys = {(r["统一社会信用代码"], int(r["年度"])) for _, r in given.iterrows()}
    same = ~after.set_index(["uscc", "year"]).index.isin(keys)
    for col in ("tax", "employees", "energy_tce", "value_added", "revenue"):
        a = before.set_index(["uscc", "year"])[col]
        b = after.set_index(["uscc", "year"])[col]
        assert np.allclose(a[same], b[same], equal_nan=True)
    # the ledger: each correction used, with old and new; the filing noted
    ledger = _ledger(corrected)
    mine = ledger[ledger["source"] == "corrections.csv"]
    assert list(mine["fate"]) == ["used"] * 3
    assert "tax 1,598.24 万元 -> 1,650 万元" in mine["reason"].iloc[0]
    noted = ledger[
        (ledger["source"] == "filings.csv") & ledger["reason"].str.contains("corrected by")
    ]
    assert sorted(noted["key"]) == sorted(k for k, _ in keys)
    table = pd.read_csv(corrected / "exports" / "corrections.csv", encoding="utf-8-sig")
    assert list(table["old"]) == [1598.24, 229, 1091.09]
    assert list(table["new"]) == [1650.0, 251, 1019.5]
    record = json.loads((corrected / "exports" / "run.json").read_text("utf-8"))
    digest = hashlib.sha256((SAMPLE / "corrections.csv").read_bytes()).hexdigest()
    assert record["inputs"]["corrections"]["sha256"] == digest
    assert record["summary"]["cycle"]["corrections"] == {
        "applied": 3,
        "firms": 3,
        "by_field": {"tax": 1, "employees": 1, "energy_tce": 1},
    }
    # and the money check counted the corrected tax as input
    before_in = json.loads((base / "exports" / "run.json").read_text("utf-8"))["summary"]
    assert record["summary"]["money"]["tax"]["input_yuan"] == pytest.approx(
        before_in["money"]["tax"]["input_yuan"] + (1650.0 - 1598.24) * 1e4
    )


def test_compare_of_the_notice_and_the_final_run_is_a_diff_of_their_exports(base, corrected):
    assert main(["compare", str(base), str(corrected), "-q"]) == 0
    got = pd.read_csv(
        corrected / "exports" / "compare_enterprises.csv", encoding="utf-8-sig", dtype={"uscc": str}
    )
    old = _firms(base).set_index(["uscc", "year"])
    new = _firms(corrected).set_index(["uscc", "year"])
    cols = ["score", "rank", "class", "tax", "tax_per_mu", "employees"]
    differ = pd.Series(False, index=old.index)
    for col in cols:
        if old[col].dtype.kind in "fi":
            digits = 0 if col == "tax" else 2
            a, b = old[col].round(digits), new[col].reindex(old.index).round(digits)
            differ |= ~((a == b) | (a.isna() & b.isna()))
        else:
            a, b = old[col].fillna(""), new[col].reindex(old.index).fillna("")
            differ |= a != b
    expected = set(differ[differ].index)
    listed = set(zip(got["uscc"], got["year"], strict=True))
    assert expected <= listed  # every change of these columns is listed
    # and every listed row changed in some compared column, shown old and new
    for row in got.itertuples():
        assert row.presence == "both"
        for col in str(row.changed).split("; "):
            assert getattr(row, f"{col}_old") != getattr(row, f"{col}_new") or pd.isna(
                getattr(row, f"{col}_old")
            ) != pd.isna(getattr(row, f"{col}_new"))
    moved = got[got["class_old"] != got["class_new"]]
    assert sorted(zip(moved["class_old"], moved["class_new"], strict=True)) == [
        ("C", "D"),
        ("D", "C"),
    ]
    # parcels: flags, class and zone membership as parcels.geojson of each run says
    parcels = pd.read_csv(
        corrected / "exports" / "compare_parcels.csv",
        encoding="utf-8-sig",
        dtype={"parcel_id": str},
    )

    def geo(out: Path) -> pd.DataFrame:
        doc = json.loads((out / "exports" / "parcels.geojson").read_text("utf-8"))
        return pd.DataFrame([f["properties"] for f in doc["features"]]).set_index("parcel_id")

    a, b = geo(base), geo(corrected)

    def members(p: pd.DataFrame) -> pd.Series:
        zone = p["zone_id"].dropna()
        sets = {z: frozenset(zone.index[zone == z]) for z in zone.unique()}
        return p["zone_id"].map(lambda z: sets.get(z, frozenset()))

    ma, mb = members(a), members(b)
    changed = set()
    for pid in a.index:
        flags = ("underused", "underuse_reasons", "cold_spot", "class")
        if any(str(a.at[pid, f]) != str(b.at[pid, f]) for f in flags) or ma[pid] != mb[pid]:
            changed.add(pid)
    assert set(parcels["parcel_id"]) == changed
    assert len(changed) > 0
    summary = json.loads((corrected / "exports" / "compare.json").read_text("utf-8"))
    assert summary["enterprises"]["changed"] == len(got)
    assert summary["inputs_differ"] == ["corrections (new run only)"]
    assert summary["config_differs"] == []


def test_correcting_one_firms_tax_moves_exactly_the_firms_worked_out_here(base, tmp_path):
    firms = _firms(base)
    weights = json.loads((base / "exports" / "run.json").read_text("utf-8"))["config"]["scoring"][
        "weights"
    ]
    # published benchmarks (the notice run's 2021 group means, fixed), firms ranked one by one
    lines = ["[classes]", 'share = "firm"', ""]
    for group, table in weights.items():
        of = firms[(firms["group"] == group) & (firms["year"] == 2021)]
        if of.empty:
            continue
        lines.append(f"[scoring.benchmarks.{group}]")
        for ind in table:
            value = of[f"benchmark_{ind}"].dropna()
            if len(value):
                lines.append(f"{ind} = {float(value.iloc[0])!r}")
        lines.append("")
    config = tmp_path / "fixed.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    b0, b1 = tmp_path / "b0", tmp_path / "b1"
    assert main(["run", "--config", str(config), "--out", str(b0), "-q"]) == 0
    before = _firms(b0)
    year = before[before["year"] == 2021]
    # a firm sharing its land with other 规上 firms only
    shared = year[year["land_status"] == "shared"].groupby("unit")
    unit = next(u for u, g in shared if len(g) >= 2 and (g["group"] == "above_scale").all())
    firm = year[year["unit"] == unit].iloc[0]
    delta_wan = 500.0
    corrections = tmp_path / "corrections.csv"
    corrections.write_text(
        f"{HEADER}\n{firm['uscc']},2021,tax,{firm['tax'] / 1e4 + delta_wan:.2f},万元,x,y\n",
        encoding="utf-8",
    )
    code = main(
        ["run", "--config", str(config), "--corrections", str(corrections), "--out", str(b1), "-q"]
    )
    assert code == 0
    assert main(["compare", str(b0), str(b1), "-q"]) == 0
    # worked out here: the unit's tax per mu, the score (30 points on tax per mu / benchmark)
    lst = year[(year["group"] == "above_scale") & year["score"].notna()].set_index("uscc")
    assert lst["imputed"].fillna("").str.contains("tax_per_mu").sum() == 0
    bench = float(lst["benchmark_tax_per_mu"].iloc[0])
    w = weights["above_scale"]["tax_per_mu"]
    mine = lst["unit"] == unit
    new = lst.copy()
    step = delta_wan / float(lst.loc[mine, "area_mu"].iloc[0])
    new.loc[mine, "tax_per_mu"] += step
    new.loc[mine, "score"] += w * step / bench
    ordered = new.reset_index().sort_values(
        ["score", "tax_per_mu", "uscc"], ascending=[False, False, True], kind="stable"
    )
    new.loc[ordered["uscc"], "rank"] = np.arange(1, len(ordered) + 1)
    bounds = np.rint(np.cumsum([0.25, 0.45, 0.25, 0.05]) * len(new)).astype(int)
    new["class"] = np.array(list("ABCD"))[
        np.clip(np.searchsorted(bounds, new["rank"].to_numpy(), side="left"), 0, 3)
    ]
    assert (
        np.array(list("ABCD"))[np.clip(np.searchsorted(bounds, lst["rank"], side="left"), 0, 3)]
        == lst["class"].to_numpy()
    ).all()  # the share rule reproduces the notice run's classes
    moves = (
        (new["score"].round(2) != lst["score"].round(2))
        | (new["rank"] != lst["rank"])
        | (new["class"] != lst["class"])
        | (new["tax_per_mu"].round(2) != lst["tax_per_mu"].round(2))
    )
    expected = set(lst.index[moves]) | {firm["uscc"]}
    got = pd.read_csv(
        b1 / "exports" / "compare_enterprises.csv", encoding="utf-8-sig", dtype={"uscc": str}
    )
    assert set(got["year"]) == {2021}
    assert set(got["uscc"]) == expected
    assert len(expected) >= 3  # the unit's firms and those its rise passed
    rows = got.set_index("uscc")
    assert (rows.loc[list(expected), "rank_new"] == new.loc[list(expected), "rank"]).all()
    assert (rows.loc[list(expected), "class_new"] == new.loc[list(expected), "class"]).all()
    assert np.allclose(rows.loc[list(expected), "score_new"], new.loc[list(expected), "score"])


def _tiny_run(
    tmp_path: Path, text: str, *extra: str, filings: pd.DataFrame | None = None
) -> tuple[int, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    files = write_tiny(tmp_path, filings)
    path = tmp_path / "corrections.csv"
    path.write_text(text, encoding="utf-8")
    return run_mujun(files, tmp_path / "out", "--corrections", str(path), *extra), str(path)


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("91330000000000000X,2021,tax,10,万元,r,d", "is not a firm in the filings"),
        ("{A},2021,利润,10,万元,r,d", "'利润' is not a filings column"),
        ("{A},2021,tax,10,,r,d", "no unit for tax"),
        ('{A},2021,tax,"12,5",万元,r,d', "decimal comma"),
        ("{A},2019,tax,10,万元,r,d", "has no filing of 2019; it filed for 2016, 2021"),
        ("{A},2021,uscc,10,,r,d", "names the filing and is not corrected here"),
        ("{A},2021,energy_tce,10,吨标煤,r,d", "the filings have no energy_tce column"),
        ("{A},2021,tax,10,吨,r,d", "unknown money unit"),
        ("{A},2021,tax,,万元,r,d", "blank; a correction gives the right figure"),
    ],
)
def test_a_correction_that_cannot_be_applied_stops_the_run_naming_its_row(
    tmp_path, capsys, row, said
):
    code_a = tiny_filings().iloc[0]["统一社会信用代码"]
    code, _ = _tiny_run(
        tmp_path, f"uscc,year,field,value,unit,reason,document\n{row.format(A=code_a)}\n"
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "corrections.csv row 2" in err
    assert said in err
    assert not (tmp_path / "out" / "exports").exists()


def test_units_from_the_header_or_config_and_two_that_disagree(tmp_path, capsys):
    code = tiny_filings().iloc[0]["统一社会信用代码"]
    # the value header's unit: 万元
    ok, _ = _tiny_run(tmp_path / "a", f"uscc,year,field,value(万元)\n{code},2021,tax,123.4\n")
    assert ok == 0
    firms = _firms(tmp_path / "a" / "out").set_index(["uscc", "year"])
    assert firms.loc[(code, 2021), "tax"] == pytest.approx(1_234_000.0)
    # [units.corrections] tax = "元"
    (tmp_path / "b").mkdir(parents=True)
    config = tmp_path / "b" / "c.toml"
    config.write_text('[units.corrections]\ntax = "元"\n', encoding="utf-8")
    ok, _ = _tiny_run(
        tmp_path / "b",
        f"统一社会信用代码,年度,字段,更正值\n{code},2021,税收,98765\n",
        "--config",
        str(config),
    )
    assert ok == 0
    firms = _firms(tmp_path / "b" / "out").set_index(["uscc", "year"])
    assert firms.loc[(code, 2021), "tax"] == pytest.approx(98_765.0)
    # the header says 万元, the row 元: which one is meant is not for mujun to choose
    bad, _ = _tiny_run(tmp_path / "c", f"uscc,year,field,value(万元),unit\n{code},2021,tax,12,元\n")
    assert bad == 2
    assert "the units given for tax disagree" in capsys.readouterr().err


def test_a_repeated_correction_is_a_duplicate_or_a_conflict(tmp_path, capsys):
    code = tiny_filings().iloc[0]["统一社会信用代码"]
    text = f"uscc,year,field,value,unit\n{code},2021,tax,12,万元\n{code},2021,tax,12,万元\n"
    assert _tiny_run(tmp_path / "a", text)[0] == 0
    ledger = _ledger(tmp_path / "a" / "out")
    mine = ledger[ledger["source"] == "corrections.csv"].set_index("record")
    assert mine.loc[2, "fate"] == "used"
    assert mine.loc[3, "fate"] == "duplicate"
    conflict = f"uscc,year,field,value,unit\n{code},2021,tax,12,万元\n{code},2021,tax,13,万元\n"
    assert _tiny_run(tmp_path / "b", conflict)[0] == 2
    assert "row 2 corrects the same tax of the same filing to another value" in (
        capsys.readouterr().err
    )


def test_a_parcel_list_correction_moves_the_firm_to_its_land(tmp_path):
    code = tiny_filings().iloc[0]["统一社会信用代码"]  # 甲 on P1; P5 is vacant
    assert _tiny_run(tmp_path, f"uscc,year,field,value\n{code},2021,宗地号,P5\n")[0] == 0
    firms = _firms(tmp_path / "out").set_index(["uscc", "year"])
    assert firms.loc[(code, 2021), "parcel_ids"] == "P5"
    parcels = json.loads((tmp_path / "out" / "exports" / "parcels.geojson").read_text("utf-8"))
    vacant = {f["properties"]["parcel_id"]: f["properties"]["vacant"] for f in parcels["features"]}
    assert vacant["P5"] is False
    assert vacant["P1"] is True  # only 甲's 2016 filing names it now
    ledger = _ledger(tmp_path / "out")
    assert (
        "parcel_ids P1 -> P5" in ledger.loc[ledger["source"] == "corrections.csv", "reason"].iloc[0]
    )


def test_a_quantity_that_cannot_be_negative_is_refused(tmp_path, capsys):
    filings = tiny_filings().assign(年平均职工人数=[10, 20, 30, 40, 50, 60, 10])
    code = filings.iloc[0]["统一社会信用代码"]
    text = f"uscc,year,field,value,unit\n{code},2021,employees,-3,人\n"
    assert _tiny_run(tmp_path, text, filings=filings)[0] == 2
    assert "employees cannot be negative" in capsys.readouterr().err


def test_compare_refuses_what_is_not_two_runs_of_one_year(base, tmp_path, capsys):
    assert main(["compare", str(base), str(tmp_path / "nothing")]) == 2
    assert "holds no finished mujun run" in capsys.readouterr().err
    assert main(["compare", str(base), str(base)]) == 2
    assert "are the same run" in capsys.readouterr().err
    other = tmp_path / "y2016"
    assert main(["run", "--out", str(other), "--year", "2016", "-q"]) == 0
    assert main(["compare", str(base), str(other)]) == 2
    assert "evaluates 2021" in capsys.readouterr().err


def test_a_new_run_in_the_folder_takes_the_old_comparison_away(base, tmp_path):
    out = tmp_path / "final"
    assert main(["run", "--out", str(out), "-q"]) == 0
    assert main(["compare", str(base), str(out), "-q"]) == 0
    assert (out / "exports" / "compare_enterprises.csv").exists()
    assert main(["run", "--out", str(out), "-q", "--overwrite"]) == 0
    assert not (out / "exports" / "compare_enterprises.csv").exists()
    assert not (out / "exports" / "compare.json").exists()


def test_the_report_tells_the_cycle_and_the_public_one_no_figures(base, corrected):
    from test_notice import _text  # noqa: PLC0415 - pdftotext, as the notice tests read it

    assert main(["compare", str(base), str(corrected), "-q"]) == 0
    assert main(["report", str(corrected), "--overwrite", "-q"]) == 0
    text = " ".join(_text(corrected / "reports" / "mujun.pdf").split())
    assert "七、年度评价周期" in text
    assert "公示异议更正" in text
    assert "与公示结果的比较" in text
    assert "长兴荣汇包装有限公司" in text
    assert "1,598.24" in text
    assert "长兴县税务局完税证明 2022-017" in text
    moves = pd.read_csv(corrected / "exports" / "compare_enterprises.csv", encoding="utf-8-sig")
    moved = moves[moves["class_old"] != moves["class_new"]]
    for name in moved["name"]:
        assert name in text
    summary = json.loads((corrected / "exports" / "compare.json").read_text("utf-8"))
    assert f"有变化的企业 {summary['enterprises']['changed']} 家次" in text
    assert "标准地承诺履约" in text
    assert "低效用地再开发台账" in text
    assert main(["report", str(corrected), "--profile", "public", "--overwrite", "-q"]) == 0
    public = " ".join(_text(corrected / "reports" / "mujun-public.pdf").split())
    assert "公示异议更正" in public
    assert "长兴荣汇包装有限公司" in public
    assert "1,598.24" not in public  # the tax as filed
    assert "得分 原值" not in public
