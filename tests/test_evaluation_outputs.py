"""The evaluation outputs on the tiny county: workbook, aggregates, changes, class layer."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pandas as pd
import pytest

import mujun
from conftest import CODES, page_data, run_mujun
from mujun import tables
from mujun.io import xlsx
from mujun.io.xlsx import _STATUS, _sheet_name, round4, write_enterprise_workbook
from mujun.join import Occupancy


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
    # C and D are one land unit: one entry of the list, ranked once (issue 14.6)
    assert [r[0] for r in rows] == [1, 1, 2, 3]
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
    data = page_data((out / "maps" / "mujun.html").read_text(encoding="utf-8"))
    theme = next(t for t in data["themes"] if t["id"] == "class")
    assert theme["role"] == "theme"
    assert theme["legend"]["title"] == "综合评价分类（2021 年）"
    assert theme["legend"]["unit"] == "企业数，地块数"
    ent = pd.read_csv(out / "exports" / "enterprises.csv")
    graded = ent.loc[(ent["year"] == 2021) & ent["class"].notna(), "class"].value_counts()
    rows = {r["key"]: r["label"] for r in theme["legend"]["rows"]}
    assert set(rows) == {"A", "B", "C", "D"}
    for label, text in rows.items():  # e.g. "A 优先发展（1 家，{n} 宗）": the page counts parcels
        assert text.endswith(f"（{int(graded.get(label, 0))} 家，{{n}} 宗）"), text


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


# --------------------------------------------------------------------------------------------
# the workbook writer on its own: values as the former openpyxl writer wrote them, long lists


def _firms(n: int) -> pd.DataFrame:
    """``n`` firms of one list with awkward values: missing cells, halves, markup, spaces."""
    rng = np.random.default_rng(7)
    tax = rng.uniform(0, 50, n).round(5)  # five decimals: numpy's round can differ from Python's
    tax[::5] = np.nan
    return pd.DataFrame(
        {
            "year": 2021,
            "group": "above_scale",
            "rank": pd.array([*range(1, n), None], dtype="Int64"),
            "name": [f"<甲&乙> {i} " if i % 3 == 0 else f"企业{i}" for i in range(n)],
            "uscc": pd.array([f"9133{i:014d}" for i in range(n)], dtype="string"),
            "industry": pd.array(["3311", None] * (n // 2) + ["3311"] * (n % 2), dtype="string"),
            "land_status": "own",
            "area_mu": rng.uniform(1, 100, n),
            "tax_per_mu": tax,
            "score_tax_per_mu": np.round(rng.uniform(0, 100, n)),
            "score": rng.uniform(0, 100, n),
            "class": "A",
            "borderline": [i % 2 == 0 for i in range(n)],
            "d_streak": np.arange(n, dtype="int64"),
            "data_flags": "",
        }
    )


def _reference_rows(frame: pd.DataFrame) -> list[list[object]]:
    """The rows the former writer (one openpyxl cell per value) wrote, as openpyxl reads them."""
    out = []
    for rec in frame.sort_values(["rank", "uscc"], na_position="last").itertuples(index=False):
        row: list[object] = []
        for col, value in zip(frame.columns, rec, strict=True):
            if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
                row.append(None)
            elif col == "land_status":
                row.append(_STATUS.get(str(value), (value, value))[0])
            elif col == "borderline":
                row.append("是" if value else None)
            elif isinstance(value, float):
                rounded = round(value, 4)
                row.append(int(rounded) if rounded.is_integer() else rounded)
            elif isinstance(value, str):
                row.append(value or None)  # an empty string reads back as an empty cell
            else:
                row.append(value.item() if hasattr(value, "item") else value)
        out.append(row)
    return out


def test_workbook_values_match_the_cell_by_cell_writer(tmp_path):
    firms = _firms(50)
    firms["land_status"] = ["own", "shared", "odd", None, "lessee"] * 10
    path = tmp_path / "e.xlsx"
    weights = {"above_scale": {"tax_per_mu": 100.0}}
    write_enterprise_workbook(firms, path, year=2021, weights=weights)
    ws = openpyxl.load_workbook(path)["规上企业"]
    header = [c.value for c in ws[2]]
    assert header[:3] == ["排名", "企业名称", "统一社会信用代码"]
    assert ws.freeze_panes == "C3"
    assert str(ws.merged_cells) == f"A1:{openpyxl.utils.get_column_letter(len(header))}1"
    assert (ws["A1"].font.b, ws["A1"].font.sz) == (True, 14)
    assert (ws["B2"].font.b, ws["B2"].alignment.wrap_text) == (True, True)
    assert ws.column_dimensions["B"].width == 30
    assert ws.column_dimensions["A"].width == 14
    cols = ["rank", "name", "uscc", "industry", "land_status", "area_mu", "tax_per_mu"]
    cols += ["score_tax_per_mu", "score", "class", "borderline", "d_streak", "data_flags"]
    got = [[c.value for c in r] for r in ws.iter_rows(min_row=3)]
    expected = _reference_rows(firms[cols])
    assert [[type(v) for v in r] for r in got] == [[type(v) for v in r] for r in expected]
    assert got == expected
    assert got[0][1] == "<甲&乙> 0 "  # markup escaped, spaces kept


def test_round4_is_pythons_round():
    rng = np.random.default_rng(3)
    values = np.concatenate(
        [
            rng.standard_normal(20_000) * 10.0 ** rng.integers(-8, 16, 20_000),
            np.round(rng.uniform(-1e4, 1e4, 20_000), 5),  # ties and near-ties
            (np.arange(-5000, 5000) + 0.5) / 1e4,
            [0.0, -0.0, 2.675, 0.28155, 1.00005, 2.0**52, 1e300, 5e-324],
        ]
    )
    got = round4(values)
    expected = np.array([round(float(v), 4) for v in values])
    assert np.array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))
    assert (np.round(values, 4) != expected).any()  # why numpy's round is not enough


def test_long_list_continues_on_further_sheets(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx, "MAX_SHEET_ROWS", 2 + 4)  # two heading rows and four firms
    firms = _firms(10)
    path = tmp_path / "e.xlsx"
    xlsx.write_enterprise_workbook(firms, path, year=2021, weights={}, lang="zh")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["规上企业", "规上企业 (2)", "规上企业 (3)"]
    ranks = []
    for ws in wb:
        assert ws["A1"].value == "2021年度 规上企业 亩均效益综合评价结果"
        assert ws["A2"].value == "排名"
        assert ws.freeze_panes == "C3"
        ranks.append([r[0].value for r in ws.iter_rows(min_row=3)])
    assert ranks == [[1, 2, 3, 4], [5, 6, 7, 8], [9, None]]  # every firm once, in rank order


def test_sheet_names_stay_valid_when_split():
    long = "x" * 40
    assert _sheet_name(long, 1) == "x" * 31
    assert _sheet_name(long, 12) == "x" * 26 + " (12)"
    assert _sheet_name("a/b[c]", 2) == "a-b-c- (2)"


def test_workbook_parts_are_well_formed_xml(tmp_path):
    firms = _firms(6)
    firms["name"] = ["a\x01b", " lead", "trail\u3000", "&amp;", "]]>", "<x/>"]
    path = tmp_path / "e.xlsx"
    write_enterprise_workbook(firms, path, year=2021, weights={}, lang="en")
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            ElementTree.fromstring(zf.read(name))  # raises on malformed XML
    ws = openpyxl.load_workbook(path)["Above designated size"]
    assert ws["A1"].value == "Above designated size: per-mu evaluation results, 2021"
    names = [r[1].value for r in ws.iter_rows(min_row=3)]
    assert names == ["ab", " lead", "trail\u3000", "&amp;", "]]>", "<x/>"]  # control char dropped


def test_workbook_with_no_firms_in_the_year_is_still_a_workbook(tmp_path):
    path = tmp_path / "e.xlsx"
    write_enterprise_workbook(_firms(3), path, year=1999, weights={})
    assert openpyxl.load_workbook(path).sheetnames == ["Sheet1"]


@pytest.mark.parametrize("labels", [("A", "B", "C", "D"), ("A", "B", "B", "D"), ("甲", "乙")])
@pytest.mark.parametrize("seed", [0, 1])
def test_parcel_classes_by_bits_equal_those_by_labels(labels, seed):
    """The worst class and the classes of each parcel from its firms' class ranks as bits
    equal the grouped labels they replace (in any index order)."""
    rng = np.random.default_rng(seed)
    n_links, n_firms = 300, 120
    links = pd.DataFrame(
        {
            "uscc": pd.array([f"C{i}" for i in rng.integers(0, n_firms, n_links)], dtype="string"),
            "year": rng.choice([2016, 2021], n_links),
            "parcel_id": pd.array([f"P{i}" for i in rng.integers(0, 150, n_links)], dtype="str"),
            "filing": rng.integers(0, n_firms, n_links) * 2,
        }
    )
    classes = np.array([*labels, None], dtype=object)[rng.integers(0, len(labels) + 1, n_firms)]
    enterprises = pd.DataFrame(
        {"class": pd.array(classes, dtype="string")}, index=np.arange(n_firms) * 2
    )
    occ = Occupancy(links=links, land_status=pd.Series(), missing=pd.Series(), unit=pd.Series())
    for year in (2016, 2021, 1999):
        got = tables.parcel_classes(occ, enterprises, year, labels)
        want = tables._parcel_classes(occ, enterprises, year, labels)
        if want.empty:
            assert got.empty
            continue
        pd.testing.assert_frame_equal(got.sort_index(), want.sort_index())
