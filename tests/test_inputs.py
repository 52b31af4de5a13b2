"""Real-world inputs (issue 3): one fixture per case, built in code, asserting values.

Each test writes the tiny county (conftest) in some awkward shape and checks that mujun reads it
the same way, repairs what is safe with a ledger entry, or refuses with a precise message.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from codecs import BOM_UTF8 as BOM
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

import mujun
from conftest import CODES, X0, Y0, tiny_filings, tiny_parcels
from mujun import validate
from mujun.cli import main
from mujun.errors import CRSError, DataQualityWarning, InputError, InputFileError, SchemaError
from mujun.io import readers

EXPECTED = {"P1": 2.0, "P2": 2.0, "P3": 2.0, "P4": 3.0}


def _run(parcel_file: Path, filings: Path, **sections) -> mujun.RunResult:
    inp = {"parcels": str(parcel_file), "filings": str(filings), **sections.pop("input", {})}
    return mujun.run(mujun.load_config(overrides={"input": inp, **sections}))


def _write(
    tmp: Path, parcels: gpd.GeoDataFrame | None = None, filings: pd.DataFrame | None = None
) -> tuple[Path, Path]:
    p, f = tmp / "parcels.gpkg", tmp / "filings.csv"
    (tiny_parcels() if parcels is None else parcels).to_file(p, engine="pyogrio")
    (tiny_filings() if filings is None else filings).to_csv(f, index=False, encoding="utf-8-sig")
    return p, f


def _tax(res: mujun.RunResult) -> dict[str, float]:
    got = res.parcels.set_index("parcel_id")["tax_per_mu"]
    return {k: got[k] for k in EXPECTED}


def _ledger(res: mujun.RunResult, source: str) -> pd.DataFrame:
    return res.ledger.loc[res.ledger["source"] == source].set_index("record")


# ------------------------------------------------------------------ encodings


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_detected(tmp_path, encoding):
    p, f = _write(tmp_path)
    tiny_filings().to_csv(f, index=False, encoding=encoding)
    res = _run(p, f)
    assert _tax(res) == pytest.approx(EXPECTED)
    assert res.inputs["filings"]["encoding"] == ("gb18030" if "gb" in encoding else "utf-8-sig")
    assert "丙公司" in set(res.enterprises["name"])


def test_declared_encoding_that_does_not_fit_is_refused(tmp_path):
    p, f = _write(tmp_path)
    tiny_filings().to_csv(f, index=False, encoding="gbk")
    with pytest.raises(InputFileError, match=r"is not valid utf-8 text.*--encoding"):
        _run(p, f, input={"encoding": "utf-8"})
    assert _tax(_run(p, f, input={"encoding": "gbk"})) == pytest.approx(EXPECTED)


@pytest.mark.parametrize("cpg", [True, False])
def test_shapefile_dbf_in_gbk_with_or_without_cpg(tmp_path, cpg):
    shp = tmp_path / "parcels.shp"
    frame = tiny_parcels().rename(columns={"登记用地面积(亩)": "DJMJ", "宗地号": "ZDH"})
    frame["园区"] = ["东区", "东区", "东区", "西区", None]
    frame.to_file(shp, engine="pyogrio", encoding="GBK")
    if cpg:
        shp.with_suffix(".cpg").write_text("GBK", encoding="ascii")
    else:
        shp.with_suffix(".cpg").unlink(missing_ok=True)
    assert shp.with_suffix(".cpg").exists() == cpg
    assert "东区".encode("gbk") in shp.with_suffix(".dbf").read_bytes()
    _, f = _write(tmp_path)
    res = _run(
        shp,
        f,
        columns={"parcels": {"parcel_id": "ZDH", "declared_area": "DJMJ"}},
        units={"parcels": {"declared_area": "亩"}},
    )
    assert res.parcels.set_index("parcel_id").loc["P4", "park"] == "西区"
    assert _tax(res) == pytest.approx(EXPECTED)


# ------------------------------------------------------------------ headers and values


def test_chinese_header_variants_units_and_typed_values(tmp_path):
    p, _ = _write(tmp_path)
    f = tmp_path / "f.csv"
    pd.DataFrame(
        {
            "统一社会信用代码": [CODES["A"], CODES["B"]],
            "单位名称": ["甲公司", "乙公司"],
            "年度": [2021, 2021],
            "地块编号": ["P1", "P2,P3"],
            "税收（元）": ["300,000", "９００，０００"],  # thousands separators, full-width digits
            "增加值(亿元)": ["0.015", "—"],
            "主营业务收入(万元)": ["600", "-"],
            "年末从业人员": ["10", ""],
            "综合能耗(吨标煤)": ["1.5", "2"],
            "研发经费支出(万元)": ["5", "6"],
        }
    ).to_csv(f, index=False, encoding="utf-8-sig")
    res = _run(p, f)
    ent = res.enterprises.set_index("name")
    assert ent.loc["甲公司", "tax"] == 300_000
    assert ent.loc["乙公司", "tax"] == 900_000
    assert ent.loc["甲公司", "value_added"] == pytest.approx(1_500_000)
    assert np.isnan(ent.loc["乙公司", "value_added"])
    assert np.isnan(ent.loc["乙公司", "revenue"])
    assert ent.loc["甲公司", "employees"] == 10
    assert ent.loc["甲公司", "rd_spend"] == 50_000
    assert ent.loc["乙公司", "tax_per_mu"] == pytest.approx(2.0)
    assert res.inputs["filings"]["units"]["value_added"] == "亿元"


def test_area_unit_in_english_header(tmp_path):
    parcels = tiny_parcels().rename(columns={"登记用地面积(亩)": "land (m2)"})
    parcels["land (m2)"] = parcels["land (m2)"] * 10000 / 15
    p, f = _write(tmp_path, parcels)
    res = _run(p, f)
    np.testing.assert_allclose(
        res.parcels.set_index("parcel_id")["declared_area_mu"], [15, 27, 15, 30, 15]
    )


def test_unknown_money_unit_is_an_error_naming_column_and_fix(tmp_path):
    p, _ = _write(tmp_path)
    f = tmp_path / "f.csv"
    tiny_filings().rename(columns={"实缴税金(万元)": "实缴税金"}).to_csv(f, index=False)
    with pytest.raises(SchemaError) as info:
        _run(p, f)
    assert "f.csv: column '实缴税金'" in str(info.value)
    assert "实缴税金(万元)" in str(info.value)


def test_bad_cells_listed_or_rejected_by_policy(tmp_path):
    p, _ = _write(tmp_path)
    f = tmp_path / "f.csv"
    frame = tiny_filings()
    frame["实缴税金(万元)"] = frame["实缴税金(万元)"].astype(str)
    frame.loc[1, "实缴税金(万元)"] = "九十"
    frame.to_csv(f, index=False, encoding="utf-8-sig")
    with pytest.raises(InputError, match=r"f.csv row 3, column '实缴税金\(万元\)': '九十'"):
        _run(p, f)
    res = _run(p, f, input={"on_invalid": "reject"})
    row = _ledger(res, "f.csv").loc[3]
    assert row["fate"] == "rejected"
    assert "'九十' is not a number" in row["reason"]
    assert res.summary.money["tax"]["input_yuan"] == pytest.approx(
        res.summary.money["tax"]["enterprises_yuan"]
    )
    assert CODES["B"] not in set(res.enterprises["uscc"])


# ------------------------------------------------------------------ XLSX layouts


def _xlsx_with_title_and_merged_header(path: Path) -> None:
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "说明"
    notes["A1"] = "本表为示例"
    ws = wb.create_sheet("规上企业")
    ws["A1"] = "2021年度工业企业亩均效益评价数据"
    ws.merge_cells("A1:F1")
    top = ["统一社会信用代码", "企业名称", "年份", "宗地号", "经济指标", None]
    sub = [None, None, None, None, "实缴税金(万元)", "工业增加值(万元)"]
    for col, (a, b) in enumerate(zip(top, sub, strict=True), start=1):
        ws.cell(row=2, column=col, value=a)
        ws.cell(row=3, column=col, value=b)
    for col in "ABCD":
        ws.merge_cells(f"{col}2:{col}3")
    ws.merge_cells("E2:F2")
    for r, row in enumerate(tiny_filings().itertuples(index=False), start=4):
        ws.append([]) if False else None
        ws.cell(row=r, column=1, value=row[0])
        ws.cell(row=r, column=2, value=row[1])
        ws.cell(row=r, column=3, value=row[2])
        ws.cell(row=r, column=4, value=row[3])
        ws.cell(row=r, column=5, value=row[4])
        ws.cell(row=r, column=6, value=row[5])
    last = 4 + len(tiny_filings())
    ws.cell(row=last, column=1, value="合计")
    ws.cell(row=last, column=5, value=237)
    wb.save(path)


def test_xlsx_title_row_merged_header_sheet_and_totals_row(tmp_path):
    p, _ = _write(tmp_path)
    f = tmp_path / "filings.xlsx"
    _xlsx_with_title_and_merged_header(f)
    res = _run(p, f, input={"sheet": "规上企业"})
    assert _tax(res) == pytest.approx(EXPECTED)
    ledger = _ledger(res, "filings.xlsx")
    assert ledger.index.min() == 4  # spreadsheet row numbers: data start on row 4
    totals = ledger.loc[4 + len(tiny_filings())]
    assert totals["fate"] == "rejected"
    assert "totals row" in totals["reason"]
    money = res.summary.money["tax"]
    assert money["set_aside_yuan"] == pytest.approx(2_370_000)  # the 合计 row, not counted
    assert money["enterprises_yuan"] == pytest.approx(2_370_000)
    assert any("row 3" in n for n in res.summary.notes)


# ------------------------------------------------------------------ identifiers


def test_failing_credit_code_is_flagged_and_warned_not_rejected(tmp_path):
    frame = tiny_filings()
    frame.loc[0, "统一社会信用代码"] = "91350100M0001TGQXM"  # a legal early pilot code
    p, f = _write(tmp_path, filings=frame)
    with pytest.warns(DataQualityWarning, match="1 credit code"):
        res = _run(p, f)
    ent = res.enterprises.set_index("uscc")
    assert ent.loc["91350100M0001TGQXM", "uscc_check"] == "bad_check"
    assert ent.loc["91350100M0001TGQXM", "tax_per_mu"] == pytest.approx(2.0)
    row = _ledger(res, "filings.csv").loc[2]
    assert row["fate"] == "used"
    assert "GB 32100-2015" in row["reason"]


def test_parcel_ids_normalised_and_separators(tmp_path):
    parcels = tiny_parcels()
    parcels["宗地号"] = ["ｐ１", " P2 ", "p3", "P4", "P5"]
    frame = tiny_filings()
    frame["宗地号"] = ["P1", "P2；P3", "P4", "p4", "", "P99", "P1"]
    p, f = _write(tmp_path, parcels, frame)
    res = _run(p, f)
    assert _tax(res) == pytest.approx(EXPECTED)
    frame.loc[1, "宗地号"] = "P2 / P3"
    p, f = _write(tmp_path, parcels, frame)
    assert _tax(_run(p, f)) == pytest.approx(EXPECTED)


@pytest.mark.parametrize("cell", ["P2、P3", "P2,P3", "P2;P3", "P2/P3", "P2 P3", "P2，P3"])
def test_each_separator(tmp_path, cell):
    frame = tiny_filings()
    frame.loc[1, "宗地号"] = cell
    p, f = _write(tmp_path, filings=frame)
    assert _tax(_run(p, f)) == pytest.approx(EXPECTED)


def test_ids_that_collide_after_normalising_are_reported_with_both_spellings(tmp_path):
    parcels = pd.concat([tiny_parcels(), tiny_parcels().iloc[[0]]], ignore_index=True)
    parcels.loc[5, "宗地号"] = "ｐ１"
    parcels = gpd.GeoDataFrame(parcels, geometry="geometry", crs=4549)
    parcels.loc[5, "geometry"] = box(X0 + 900, Y0, X0 + 1000, Y0 + 100)
    p, f = _write(tmp_path, parcels)
    with pytest.warns(DataQualityWarning, match="different geometry"):
        res = _run(p, f, parcels={"same_id": "first"})
    row = _ledger(res, "parcels.gpkg").loc[6]
    assert row["fate"] == "duplicate"
    assert "'ｐ１' repeats 'P1' of record 1 (different geometry)" in row["reason"]
    assert len(res.parcels) == 5
    # by default a second, disjoint feature with the id is a part of parcel P1
    res = _run(p, f)
    row = _ledger(res, "parcels.gpkg").loc[6]
    assert row["fate"] == "merged"
    assert "part of parcel 'ｐ１': dissolved into record 1 'P1' (2 features" in row["reason"]
    got = res.parcels.set_index("parcel_id")
    assert got.loc["P1", "area_m2"] == pytest.approx(20_000)
    assert got.loc["P1", "geometry"].geom_type == "MultiPolygon"
    # A's 30 万元 now spread over 30 mu: 1 万元/亩
    assert got.loc["P1", "tax_per_mu"] == pytest.approx(1.0)


# ------------------------------------------------------------------ geometry


def test_bow_tie_repaired_with_area_before_and_after(tmp_path):
    parcels = tiny_parcels()
    x, y = X0 + 600, Y0
    parcels.loc[4, "geometry"] = Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])
    p, f = _write(tmp_path, parcels)
    res = _run(p, f)
    row = _ledger(res, "parcels.gpkg").loc[5]
    assert row["fate"] == "fixed"
    assert "Self-intersection" in row["reason"]
    assert "area 0.0 -> 5000.0 m²" in row["reason"]
    assert res.parcels.set_index("parcel_id").loc["P5", "area_m2"] == pytest.approx(5000)


def test_repeated_vertices_removed(tmp_path):
    parcels = tiny_parcels()
    parcels.loc[0, "geometry"] = Polygon(
        [(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 100), (X0, Y0 + 100)]
    )
    p, f = _write(tmp_path, parcels)
    res = _run(p, f)
    row = _ledger(res, "parcels.gpkg").loc[1]
    assert row["fate"] == "fixed"
    assert "1 repeated vertices removed" in row["reason"]
    assert _tax(res) == pytest.approx(EXPECTED)


def test_unclosed_ring_closed_on_reading(tmp_path):
    p = tmp_path / "parcels.geojson"
    ring = [[119.9, 31.0], [119.901, 31.0], [119.901, 31.001], [119.9, 31.001]]
    features = [
        {
            "type": "Feature",
            "properties": {"宗地号": "P1"},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
    ]
    p.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    _, f = _write(tmp_path)
    res = _run(p, f, join={"min_rate": 0.0})  # one parcel of the county's five
    row = _ledger(res, "parcels.geojson").loc[1]
    assert row["fate"] == "fixed"
    assert "ring not closed" in row["reason"]
    assert res.parcels.loc[0, "area_m2"] == pytest.approx(95.4 * 111.1, rel=0.02)


def test_empty_null_and_non_polygon_features_rejected_multipolygon_and_z_kept(tmp_path):
    parcels = tiny_parcels()
    extra = gpd.GeoDataFrame(
        {"宗地号": ["E1", "E2", "E3", "E4", "M1", "Z1"], "园区": None, "登记用地面积(亩)": np.nan},
        geometry=[
            Polygon(),
            None,
            Point(X0, Y0),
            LineString([(X0, Y0), (X0 + 5, Y0)]),
            MultiPolygon(
                [box(X0 + 700, Y0, X0 + 800, Y0 + 100), box(X0 + 900, Y0, X0 + 1000, Y0 + 100)]
            ),
            shapely.force_3d(box(X0 + 1100, Y0, X0 + 1200, Y0 + 100), 12.0),
        ],
        crs=4549,
    )
    p, f = _write(tmp_path, pd.concat([parcels, extra], ignore_index=True))
    res = _run(p, f)
    ledger = _ledger(res, "parcels.gpkg")
    assert ledger.loc[6, "fate"] == "rejected"
    assert ledger.loc[7, "fate"] == "rejected"
    assert "empty or missing geometry" in ledger.loc[7, "reason"]
    assert "geometry is a Point" in ledger.loc[8, "reason"]
    assert "geometry is a LineString" in ledger.loc[9, "reason"]
    kept = res.parcels.set_index("parcel_id")
    assert kept.loc["M1", "area_m2"] == pytest.approx(20_000)
    assert kept.loc["Z1", "area_m2"] == pytest.approx(10_000)
    assert not shapely.has_z(kept.geometry).any()


# ------------------------------------------------------------------ CRS


@pytest.mark.parametrize("epsg", [4490, 4326, 4549, 4528, 3857])
def test_input_crs_reprojected_to_gauss_kruger(tmp_path, epsg):
    p, f = _write(tmp_path, tiny_parcels().to_crs(epsg))
    res = _run(p, f)
    assert res.working_crs.to_epsg() == 4549
    np.testing.assert_allclose(
        res.parcels.set_index("parcel_id")["area_m2"], [1e4, 2e4, 1e4, 2e4, 1e4], rtol=1e-6
    )


def test_zone_prefixed_eastings_declared_as_cm_zone(tmp_path):
    shifted = tiny_parcels().translate(xoff=40_000_000)
    parcels = tiny_parcels().set_geometry(shifted).set_crs(4549, allow_override=True)
    p, f = _write(tmp_path, parcels)
    res = _run(p, f)
    assert any("zone number 40" in n for n in res.summary.crs_notes)
    assert _tax(res) == pytest.approx(EXPECTED)
    centroid = res.parcels.to_crs(4490).union_all().centroid
    assert 119.8 < centroid.x < 120.0


def test_cm_eastings_declared_as_zone_prefixed(tmp_path):
    parcels = tiny_parcels().set_crs(4528, allow_override=True)
    p, f = _write(tmp_path, parcels)
    res = _run(p, f)
    assert any("no zone number" in n for n in res.summary.crs_notes)
    assert _tax(res) == pytest.approx(EXPECTED)


def test_northing_first_coordinates_swapped(tmp_path):
    swapped = shapely.transform(tiny_parcels().geometry.array, lambda c: c[:, ::-1])
    parcels = tiny_parcels().set_geometry(swapped)
    p, f = _write(tmp_path, parcels)
    res = _run(p, f)
    assert any("northing-first" in n for n in res.summary.crs_notes)
    assert _tax(res) == pytest.approx(EXPECTED)
    centroid = res.parcels.to_crs(4490).union_all().centroid
    assert 30.9 < centroid.y < 31.1


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_missing_crs_names_the_likely_crs_and_flag(tmp_path, capsys):
    parcels = tiny_parcels().set_crs(None, allow_override=True)
    p, f = _write(tmp_path, parcels)
    with pytest.raises(CRSError) as info:
        _run(p, f)
    assert "has no CRS" in str(info.value)
    assert "--parcels-crs" in str(info.value)
    assert (
        main(
            [
                "run",
                "--parcels",
                str(p),
                "--filings",
                str(f),
                "--out",
                str(tmp_path),
                "--parcels-crs",
                "EPSG:4549",
                "-q",
            ]
        )
        == 0
    )


def test_parks_in_another_crs_are_reconciled(tmp_path):
    p, f = _write(tmp_path)
    parks = gpd.GeoDataFrame(
        {"园区名称": ["北园"]}, geometry=[box(X0 - 50, Y0 - 50, X0 + 600, Y0 + 400)], crs=4549
    ).to_crs(4326)
    parks_path = tmp_path / "parks.geojson"
    parks.to_file(parks_path, engine="pyogrio")
    res = _run(p, f, input={"parks": str(parks_path)})
    assert res.parks.crs.to_epsg() == 4549
    got = res.parcels.set_index("parcel_id")["park"]
    assert got["P5"] == "北园"  # no park attribute: taken from the park polygon
    assert got["P1"] == "东区"  # the attribute wins where present


# ------------------------------------------------------------------ duplicates, gaps, odd figures


def test_duplicate_filing_rows_identical_and_conflicting(tmp_path):
    frame = tiny_filings()
    conflicting = frame.iloc[[1]].assign(**{"实缴税金(万元)": 1})
    frame = pd.concat([frame, frame.iloc[[0]], conflicting], ignore_index=True)
    p, f = _write(tmp_path, filings=frame)
    with pytest.warns(DataQualityWarning, match="different figures"):
        res = _run(p, f)
    ledger = _ledger(res, "filings.csv")
    assert "row 2 (identical)" in ledger.loc[9, "reason"]
    assert "row 3 (different figures)" in ledger.loc[10, "reason"]
    assert _tax(res) == pytest.approx(EXPECTED)
    assert res.summary.money["tax"]["set_aside_yuan"] == pytest.approx(310_000)


def test_negative_tax_and_zero_employees_kept_and_flagged(tmp_path):
    frame = tiny_filings()
    frame.loc[0, "实缴税金(万元)"] = -6
    frame["年平均职工人数"] = [0, 10, 10, 10, 3, 2, 5]
    p, f = _write(tmp_path, filings=frame)
    res = _run(p, f)
    ent = res.enterprises.set_index(["name", "year"])
    assert ent.loc[("甲公司", 2021), "tax_per_mu"] == pytest.approx(-6 / 15)
    assert ent.loc[("甲公司", 2021), "data_flags"] == "negative tax; zero employees"
    assert "negative tax" in _ledger(res, "filings.csv").loc[2, "reason"]


def test_overlapping_parcels_reported_with_area(tmp_path):
    parcels = tiny_parcels()
    parcels.loc[4, "geometry"] = box(X0 + 50, Y0 + 50, X0 + 150, Y0 + 150)  # covers part of P1
    p, f = _write(tmp_path, parcels)
    with pytest.warns(DataQualityWarning, match="1 pair"):
        res = _run(p, f)
    ledger = _ledger(res, "parcels.gpkg")
    assert "overlaps parcel P5 by 2500.0 m²" in ledger.loc[1, "reason"]
    assert "overlaps parcel P1 by 2500.0 m²" in ledger.loc[5, "reason"]


# ------------------------------------------------------------------ formats


def test_topojson_and_geojson_without_crs_member(tmp_path):
    lonlat = tiny_parcels().to_crs(4326)
    arcs, geoms = [], []
    for i, (pid, geom) in enumerate(zip(lonlat["宗地号"], lonlat.geometry, strict=True)):
        arcs.append([list(c) for c in geom.exterior.coords])
        geoms.append({"type": "Polygon", "arcs": [[i]], "properties": {"宗地号": pid}})
    topo = {
        "type": "Topology",
        "arcs": arcs,
        "objects": {"parcels": {"type": "GeometryCollection", "geometries": geoms}},
    }
    path = tmp_path / "parcels.topojson"
    path.write_text(json.dumps(topo), encoding="utf-8")
    _, f = _write(tmp_path)
    assert _tax(_run(path, f)) == pytest.approx(EXPECTED, rel=1e-6)
    plain = tmp_path / "plain.geojson"
    plain.write_text(lonlat.to_json(), encoding="utf-8")
    assert '"crs"' not in plain.read_text(encoding="utf-8")
    assert _tax(_run(plain, f)) == pytest.approx(EXPECTED, rel=1e-6)


# ------------------------------------------------------------------ validate command and exits


@pytest.mark.filterwarnings("ignore::mujun.errors.DataQualityWarning")  # the CLI logs them
def test_validate_command_reports_groups_and_writes_only_the_ledger(tmp_path, capsys):
    parcels = tiny_parcels()
    parcels.loc[4, "geometry"] = box(X0 + 50, Y0 + 50, X0 + 150, Y0 + 150)
    frame = pd.concat([tiny_filings(), tiny_filings().iloc[[0]]], ignore_index=True)
    p, f = _write(tmp_path, parcels, frame)
    out = tmp_path / "out"
    code = main(["validate", "--parcels", str(p), "--filings", str(f), "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "filings.csv · duplicate filing row: 1" in text
    assert "row 9" in text
    assert "parcels.gpkg · overlap: 2" in text
    assert "filings.csv · orphan: no listed parcel exists: 1" in text
    assert "P99" in text
    ledger = pd.read_csv(out / "exports" / "ledger.csv")
    assert len(ledger) == 5 + 8
    assert sorted(p.name for p in (out / "exports").iterdir()) == ["ledger.csv"]
    assert not (out / "maps").exists()


def test_unusable_input_exits_2_without_traceback(tmp_path, capsys):
    p, f = _write(tmp_path)
    f.write_text("a,b\n1,2\n", encoding="utf-8")
    assert main(["run", "--parcels", str(p), "--filings", str(f), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no column for uscc" in err
    assert "Traceback" not in err


def test_repairs_exit_0_and_the_summary_says_so(tmp_path, capsys):
    parcels = tiny_parcels()
    x, y = X0 + 600, Y0
    parcels.loc[4, "geometry"] = Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])
    p, f = _write(tmp_path, parcels)
    assert main(["run", "--parcels", str(p), "--filings", str(f), "--out", str(tmp_path)]) == 0
    assert "parcels.gpkg: used 4, fixed 1" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# bulk (Arrow / NumPy) versions of per-cell code agree with it, cell for cell


_ID_TEXT = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.text(alphabet="cxCX-－0１2、,，;；/ \u3000\t长兴ßİﬁ", max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ID_TEXT, max_size=15))
def test_bulk_ids_and_parcel_lists_match_one_by_one(values):
    cells = pd.Series(values, dtype=object)
    ids = readers.normalize_ids(cells)
    assert ids.dtype == "string"
    expected = [None if v is None else readers.normalize_id(v) for v in values]
    assert [None if v is pd.NA else v for v in ids] == expected
    split = readers.split_parcel_ids_bulk(cells.astype("string"))
    assert list(split) == [readers.split_parcel_ids(v) for v in values]


def _blank_and_total_one_by_one(raw: pd.DataFrame) -> tuple[list[bool], list[bool]]:
    """The NumPy versions the readers had: str() of each cell, NumPy strings."""
    text = raw.astype(str).to_numpy().astype(str)
    blank = (np.char.strip(text) == "").all(axis=1)
    first = raw.iloc[:, :3].astype(str).to_numpy().astype(str)
    folded = np.vectorize(
        lambda v: "".join(unicodedata.normalize("NFKC", v).split()).lower(), otypes=[str]
    )(first)
    total = np.isin(folded, list(readers._TOTAL_WORDS)).any(axis=1)
    return blank.tolist(), total.tolist()


_CELL = st.one_of(
    st.sampled_from(
        ["", " ", "\u3000", "\x00", " \x00 ", "a\x00 ", "合计", "合 计", "ＴＯＴＡＬ", "Sum\t"]
    ),
    st.text(alphabet=" \t\x00\x1cTotalSUM合计小总计ａ", max_size=6),
    st.text(max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4).flatmap(lambda w: st.lists(st.lists(_CELL, min_size=w, max_size=w))))
def test_blank_and_total_rows_match_the_numpy_versions(rows):
    raw = pd.DataFrame(rows, dtype=object)
    blank, total = _blank_and_total_one_by_one(raw)
    assert readers._blank_rows(raw).tolist() == blank
    assert readers._total_rows(raw).tolist() == (total if len(raw) else [])


def _csv_module_rows(text: str) -> list[list[str]] | None:
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    width = max((len(r) for r in rows), default=0)
    return [r + [""] * (width - len(r)) for r in rows]


_FIELD = st.lists(
    st.sampled_from(["a", "1", " ", "中", '"', "'", ",", ";", "\t", "\n", "\r\n", "\\"]), max_size=6
).map("".join)


@st.composite
def _csv_text(draw: st.DrawFn) -> str:
    """Tables of quoted and bare fields, mostly rectangular, with awkward characters."""
    delim = draw(st.sampled_from([",", "\t", ";", "|"]))
    width = draw(st.integers(1, 5))
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        fields = []
        for _ in range(width if draw(st.integers(0, 9)) else draw(st.integers(1, 6))):
            field = draw(_FIELD)
            if draw(st.booleans()) or any(c in field for c in (delim, '"', "\n", "\r")):
                field = '"' + field.replace('"', '""') + '"'
            fields.append(field)
        lines.append(delim.join(fields))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(_csv_text(), st.text(alphabet=["a", ",", '"', "\n", "\r", " ", "中"], max_size=30))
)
def test_arrow_csv_reads_what_the_csv_module_reads(text):
    try:
        expected = _csv_module_rows(text)
    except csv.Error:
        return
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    fast = readers._arrow_csv_rows(text, dialect)
    if fast is not None:  # None: left to the csv module
        assert fast.astype(object).to_numpy().tolist() == expected


def test_arrow_csv_is_used_for_a_plain_table_and_not_for_blank_lines():
    assert readers._arrow_csv_rows("a,b\n1,2\n", csv.excel) is not None
    assert readers._arrow_csv_rows("a,b\n\n1,2\n", csv.excel) is None  # an empty row
    assert readers._arrow_csv_rows("a,b\r1,2\r", csv.excel) is None  # lone CRs
    assert readers._arrow_csv_rows("a,b\n1\n", csv.excel) is None  # ragged


def test_fixed_text_is_python_formatting():
    rng = np.random.default_rng(4)
    values = np.concatenate(
        [
            rng.standard_normal(20_000) * 10.0 ** rng.integers(-3, 16, 20_000),
            np.round(rng.uniform(-1e4, 1e4, 20_000), 2),  # halves at the first decimal
            [0.0, -0.0, 0.05, 0.15, 0.25, -0.04, np.nan, np.inf, -np.inf, 1e300, 2.0**52],
        ]
    )
    for decimals in (0, 1, 2):
        expected = [f"{v:.{decimals}f}" for v in values]
        assert validate.fixed_text(values, decimals).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=10))
def test_bulk_repr_is_repr(values):
    text = pd.Series(values, dtype="string")
    assert validate._reprs(text).tolist() == [repr(v) for v in text.astype(object)]


def test_odd_figures_joins_the_flags_of_each_row():
    filings = pd.DataFrame(
        {
            "tax": [-1.0, 5.0, np.nan, -2.0],
            "revenue": [1.0, -3.0, 0.0, -1.0],
            "employees": [0.0, 3.0, 0.0, 1.0],
        }
    )
    assert validate.odd_figures(filings).tolist() == [
        "negative tax; zero employees",
        "negative revenue",
        "zero employees",
        "negative tax; negative revenue",
    ]


_XLSX_CELL = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.floats(),
    st.floats(min_value=-1e12, max_value=1e12).map(lambda v: round(v, 2)),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.dates(),
    st.just(pd.NA),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_XLSX_CELL, max_size=20))
def test_bulk_cell_text_matches_one_by_one(values):
    column = pd.Series(values, dtype=object)
    assert readers._column_text(column).tolist() == [readers._cell_text(v) for v in values]


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        *((bom, enc) for bom in (b"", BOM, BOM * 2) for enc in (None, "utf-8", "UTF8")),
        (b"", "gb18030"),
    ],
)
def test_csv_rows_from_the_files_own_bytes(tmp_path, bom, encoding):
    """Arrow parses the file's own UTF-8 bytes less the BOMs taken off the text: the rows
    of the text encoded again."""
    body = "统一社会信用代码,名称\r\n91330100MA2XXXXX1,甲厂\r\n".encode(encoding or "utf-8")
    path = tmp_path / "f.csv"
    path.write_bytes(bom + body)
    rows, _ = readers._read_csv_rows(path, encoding)
    text, _ = readers._decode(path, encoding)
    want = readers._arrow_csv_rows(text.removeprefix("\ufeff"), csv.excel)
    assert want is not None
    pd.testing.assert_frame_equal(rows, want)
    assert rows.to_numpy().tolist() == [["统一社会信用代码", "名称"], ["91330100MA2XXXXX1", "甲厂"]]
