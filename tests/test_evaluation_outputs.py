"""The evaluation outputs on the tiny county: workbook, aggregates, changes, class layer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import mujun
from conftest import CODES, run_mujun


@pytest.fixture
def out(tiny_files, tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    assert run_mujun(tiny_files, folder) == 0
    return folder


def test_workbook_has_one_sheet_per_list_in_rank_order(out):
    wb = openpyxl.load_workbook(out / "exports" / "enterprises.xlsx")
    # tiny county: every firm is 规下 (no 规模 column); C, D share 30 mu, A has 15, B 45
    assert wb.sheetnames == ["规下企业（用地≥阈值）", "租赁企业"]
    ws = wb["规下企业（用地≥阈值）"]
    assert ws["A1"].value == "2021年度 规下企业（用地≥阈值） 亩均效益综合评价结果"
    header = [c.value for c in ws[2]]
    assert header[:3] == ["排名", "企业名称", "统一社会信用代码"]
    assert "亩均税收(万元/亩)" in header
    assert "综合得分" in header
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=3)]
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    names = [r[1] for r in rows]
    # C and D share 3 万元/亩 (combined unit), above A and B at 2 万元/亩
    assert set(names[:2]) == {"丙公司", "丁公司"}
    tax = header.index("亩均税收(万元/亩)")
    assert [r[tax] for r in rows] == [3.0, 3.0, 2.0, 2.0]


def test_workbook_in_english(tiny_files, tmp_path):
    cfg = mujun.load_config(
        overrides={
            "input": {k: str(v) for k, v in tiny_files.items()},
            "output": {"out_dir": str(tmp_path), "lang": "en"},
        }
    )
    mujun.write_outputs(mujun.run(cfg))
    wb = openpyxl.load_workbook(tmp_path / "exports" / "enterprises.xlsx")
    assert wb.sheetnames == ["Below size, own land", "Lessees"]
    assert wb["Lessees"]["A2"].value == "Rank"


def test_county_park_and_industry_tables(out):
    county = pd.read_csv(out / "exports" / "county.csv").set_index("year")
    assert county.loc[2021, "enterprises"] == 6
    assert county.loc[2021, "land_mu"] == pytest.approx(90.0)
    assert county.loc[2021, "tax_per_mu"] == pytest.approx(210 / 90)
    parks = pd.read_csv(out / "exports" / "parks.csv").set_index(["year", "park"])
    # 东区: A (15 mu, 30 万元) and B (45 mu, 90 万元); 西区: C+D (30 mu, 90 万元)
    assert parks.loc[(2021, "东区"), "land_mu"] == pytest.approx(60.0)
    assert parks.loc[(2021, "东区"), "tax_per_mu"] == pytest.approx(2.0)
    assert parks.loc[(2021, "西区"), "tax_per_mu"] == pytest.approx(3.0)
    classes = parks.loc[2021].loc[["东区", "西区"], ["class_A", "class_B", "class_C", "class_D"]]
    assert classes.to_numpy().sum() == 4  # the four graded firms on land
    assert parks.loc[(2021, "（无用地）"), "lessees"] == 1  # the lessee has no park


def test_changes_between_years(out):
    changes = pd.read_csv(out / "exports" / "changes.csv").set_index("uscc")
    assert list(changes.index) == [CODES["A"]]
    row = changes.loc[CODES["A"]]
    assert (row["year_from"], row["year_to"]) == (2016, 2021)
    assert row["tax_per_mu_from"] == pytest.approx(1.0)
    assert row["tax_per_mu_change"] == pytest.approx(1.0)


def test_enterprises_csv_has_the_evaluation_columns(out):
    ent = pd.read_csv(out / "exports" / "enterprises.csv")
    for col in (
        "group",
        "tax_per_mu",
        "score_tax_per_mu",
        "score",
        "rank",
        "class",
        "class_stability",
        "borderline",
        "surcharge_yuan",
    ):
        assert col in ent.columns
    e21 = ent[ent["year"] == 2021].set_index("name")
    assert e21.loc["丙公司", "score"] == pytest.approx(e21.loc["丁公司", "score"])
    assert e21.loc["戊公司", "group"] == "lessee"
    assert np.isnan(e21.loc["己公司", "score"])  # orphan: listed, not graded


def test_map_has_a_class_layer_with_counts(out):
    page = (out / "maps" / "mujun.html").read_text(encoding="utf-8")
    assert "综合评价分类（2021 年）" in page
    assert "企业数，地块数" in page


def test_parcel_change_between_years_and_park_changes(out):

    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    props = {f["properties"]["parcel_id"]: f["properties"] for f in doc["features"]}
    assert props["P1"]["tax_per_mu_2016"] == pytest.approx(1.0)
    assert props["P1"]["tax_per_mu_change"] == pytest.approx(1.0)
    assert props["P4"]["tax_per_mu_change"] is None  # not used in 2016
    assert props["P4"]["class"] in {"A", "B", "C", "D"}
    park = pd.read_csv(out / "exports" / "park_changes.csv").set_index("park")
    assert park.loc["东区", "tax_per_mu_from"] == pytest.approx(1.0)  # A alone in 2016
    assert park.loc["东区", "tax_per_mu_to"] == pytest.approx(2.0)
