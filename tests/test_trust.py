"""Never silently wrong (issue 12): inputs that used to give a run that exits 0 and is wrong.

Each test builds an input that shows one fault, runs mujun on it and asserts the exit code, the
message, the ledger fates and the money figures, with expected values computed here from the
input.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely.affinity
from shapely.geometry import Polygon, box

import mujun
from conftest import CODES, X0, Y0, tiny_filings, tiny_parcels
from mujun.cli import main
from mujun.errors import DataQualityWarning
from mujun.schema import MU_M2


def _write(
    tmp: Path, parcels: gpd.GeoDataFrame | None = None, filings: pd.DataFrame | None = None
) -> dict[str, Path]:
    files = {"parcels": tmp / "parcels.gpkg", "filings": tmp / "filings.csv"}
    (tiny_parcels() if parcels is None else parcels).to_file(files["parcels"], engine="pyogrio")
    frame = tiny_filings() if filings is None else filings
    frame.to_csv(files["filings"], index=False, encoding="utf-8-sig")
    return files


def _run(files: dict[str, Path], **sections: dict) -> mujun.RunResult:
    inp = {k: str(v) for k, v in files.items()} | sections.pop("input", {})
    return mujun.run(mujun.load_config(overrides={"input": inp, **sections}))


def _cli(files: dict[str, Path], out: Path, *extra: str) -> int:
    args = ["run", "--out", str(out), "-q", "--no-map"]
    for key, path in files.items():
        args += [f"--{key}", str(path)]
    return main([*args, *extra])


def _ledger(res: mujun.RunResult, source: str = "parcels.gpkg") -> pd.DataFrame:
    return res.ledger.loc[res.ledger["source"] == source].set_index("record")


# ------------------------------------------------------------- parcels of several features


def _split_parcel() -> gpd.GeoDataFrame:
    """P1 as a real cadastre may store it: a 33,241 m² main piece and a 43 m² sliver across
    a road, two features with the id P1 (33,284 m² in all)."""
    parcels = tiny_parcels()
    main_piece = box(X0, Y0, X0 + 33_241 / 100, Y0 + 100)
    sliver = box(X0 + 400, Y0 - 50, X0 + 404.3, Y0 - 40)  # 4.3 m x 10 m = 43 m²
    parcels.loc[0, "geometry"] = sliver  # the sliver comes first in the file
    piece = parcels.iloc[[0]].assign(geometry=[main_piece])
    parcels = pd.concat([parcels, piece], ignore_index=True)
    parcels.loc[1:4, "geometry"] = parcels.loc[1:4, "geometry"].translate(0, 1000)
    return gpd.GeoDataFrame(parcels, geometry="geometry", crs=4549)


def test_parcel_of_several_features_is_dissolved_and_carries_all_its_land(tmp_path):
    files = _write(tmp_path, _split_parcel())
    res = _run(files)
    got = res.parcels.set_index("parcel_id")
    assert len(got) == 5
    assert got.loc["P1", "area_m2"] == pytest.approx(33_284.0)
    assert got.loc["P1", "geometry"].geom_type == "MultiPolygon"
    # A pays 30 万元 on P1: over all of its land, not over the 43 m² sliver (766x more)
    expected = 30.0 / (33_284.0 / MU_M2)
    assert got.loc["P1", "tax_per_mu"] == pytest.approx(expected)
    firm = res.enterprises.set_index(["uscc", "year"]).loc[(CODES["A"], 2021)]
    assert firm["tax_per_mu"] == pytest.approx(expected)
    ledger = _ledger(res)
    assert ledger.loc[6, "fate"] == "merged"
    assert ledger.loc[6, "reason"].startswith("part of parcel 'P1': dissolved into record 1")
    assert ledger.loc[1, "fate"] == "used"
    assert (
        "parcel of 2 features (records 1, 6) dissolved into one MultiPolygon"
        in (ledger.loc[1, "reason"])
    )
    assert res.summary.parcels["merged"] == {"parcels": 1, "features": 2}


def test_merged_parcels_are_counted_in_the_summary(tmp_path, capsys):
    files = _write(tmp_path, _split_parcel())
    assert _cli(files, tmp_path / "out") == 0
    assert (
        main(
            [
                "run",
                "--out",
                str(tmp_path / "o2"),
                "--no-map",
                "--overwrite",
                "--parcels",
                str(files["parcels"]),
                "--filings",
                str(files["filings"]),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1 parcel merged from 2 features" in out


def test_exact_and_overlapping_repeats_stay_duplicates(tmp_path):
    parcels = tiny_parcels()
    again = parcels.iloc[[0, 1]].copy()
    again.loc[1, "geometry"] = box(X0 + 150, Y0 + 50, X0 + 350, Y0 + 150)  # half over P2
    parcels = gpd.GeoDataFrame(
        pd.concat([parcels, again], ignore_index=True), geometry="geometry", crs=4549
    )
    files = _write(tmp_path, parcels)
    with pytest.warns(DataQualityWarning, match="overlap its earlier feature"):
        res = _run(files)
    ledger = _ledger(res)
    assert ledger.loc[6, "fate"] == "duplicate"
    assert "repeats 'P1' of record 1 (same geometry)" in ledger.loc[6, "reason"]
    assert ledger.loc[7, "fate"] == "duplicate"
    assert "repeats 'P2' of record 2 (overlapping it by 10000.0 m²)" in ledger.loc[7, "reason"]
    got = res.parcels.set_index("parcel_id")["area_m2"]
    np.testing.assert_allclose(got.loc[["P1", "P2"]], [10_000.0, 20_000.0])


def test_same_id_first_and_error(tmp_path, capsys):
    files = _write(tmp_path, _split_parcel())
    with pytest.warns(DataQualityWarning) as caught:
        res = _run(files, parcels={"same_id": "first"})
    said = " ".join(str(w.message) for w in caught)
    assert "repeat with a different geometry" in said
    # the sliver, declared 15 mu, is 232 times smaller than declared: implausible
    assert "1 parcel(s) declare an area 100x off their surveyed area" in said
    assert "is implausible" in _ledger(res).loc[1, "reason"]
    assert res.parcels.set_index("parcel_id").loc["P1", "area_m2"] == pytest.approx(43.0)
    assert _ledger(res).loc[6, "fate"] == "duplicate"
    config = tmp_path / "strict.toml"
    config.write_text('[parcels]\nsame_id = "error"\n', encoding="utf-8")
    assert _cli(files, tmp_path / "out", "--config", str(config)) == 2
    err = capsys.readouterr().err
    assert "parcels.gpkg: 1 parcel id(s) are used by several features" in err
    assert "parcel id 'P1': features 1, 6" in err
    assert '[parcels] same_id = "merge"' in err


def test_a_repaired_feature_dropped_as_a_duplicate_is_a_duplicate(tmp_path):
    parcels = tiny_parcels()
    bow = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    again = parcels.iloc[[0]].assign(geometry=[bow])  # P1 again, a bow-tie inside P1
    parcels = gpd.GeoDataFrame(
        pd.concat([parcels, again], ignore_index=True), geometry="geometry", crs=4549
    )
    files = _write(tmp_path, parcels)
    with pytest.warns(DataQualityWarning):
        res = _run(files)
    row = _ledger(res).loc[6]
    assert row["fate"] == "duplicate"
    assert "repaired with make_valid" in row["reason"]
    assert "repeats 'P1' of record 1 (overlapping it by 5000.0 m²); left out" in row["reason"]


# ------------------------------------------------------------------- placeholder ids


def test_placeholder_ids_are_rejected_never_vacant_land(tmp_path):
    parcels = tiny_parcels()
    road = box(X0 - 2000, Y0 - 300, X0 + 3400, Y0 - 200)  # 5.4 km x 100 m: 54 ha of road
    extra = ["---", "-", "ROAD", "RR", "N/A", "0", "无", "道路", "//", "r-7"]
    rows = gpd.GeoDataFrame(
        {"宗地号": extra, "园区": None, "登记用地面积(亩)": np.nan},
        geometry=[shapely.affinity.translate(road, 0, -200 * i) for i in range(len(extra))],
        crs=4549,
    )
    parcels = gpd.GeoDataFrame(
        pd.concat([parcels, rows], ignore_index=True), geometry="geometry", crs=4549
    )
    files = _write(tmp_path, parcels)
    res = _run(files, parcels={"placeholder_ids": ["R-*"]})
    ledger = _ledger(res)
    placeholders = ledger.loc[6:15]
    assert (placeholders["fate"] == "rejected").all()
    assert placeholders.loc[8, "reason"].startswith("placeholder id 'ROAD': names no parcel")
    assert placeholders.loc[15, "reason"].startswith("placeholder id 'r-7'")
    assert sorted(res.parcels["parcel_id"]) == ["P1", "P2", "P3", "P4", "P5"]
    assert int(res.parcels["vacant"].sum()) == 1  # P5 only: no road became vacant land
    assert res.summary.underuse["by_reason"]["vacant"] == 1


def test_placeholder_in_a_filing_parcel_list_reads_as_no_parcel(tmp_path):
    filings = tiny_filings()
    filings.loc[4, "宗地号"] = "无"  # E: a lessee written as 无
    filings.loc[0, "宗地号"] = "P1、-"
    files = _write(tmp_path, filings=filings)
    res = _run(files)
    ent = res.enterprises.set_index(["uscc", "year"])
    assert ent.loc[(CODES["E"], 2021), "land_status"] == "lessee"
    assert ent.loc[(CODES["A"], 2021), "land_status"] == "own"
    f = _ledger(res, "filings.csv")
    assert "parcel id '无' is a placeholder, read as no parcel" in f.loc[6, "reason"]
    assert f.loc[6, "fate"] == "used"
    assert "parcel id '-' is a placeholder" in f.loc[2, "reason"]


# --------------------------------------------------------------------------- numbers


def _money(res: mujun.RunResult) -> dict[str, float]:
    """Tax in, out and set aside (yuan), from the run's reconciliation."""
    tax = res.summary.money["tax"]
    return {k: tax[k] for k in ("input_yuan", "enterprises_yuan", "set_aside_yuan")}


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("12,5", "'12,5' has a decimal comma"), ("1.234,5", "'1.234,5' has a decimal comma")],
)
def test_decimal_comma_is_refused_naming_the_cell_and_the_fix(tmp_path, capsys, cell, shown):
    filings = tiny_filings().astype({"实缴税金(万元)": object})
    filings.loc[2, "实缴税金(万元)"] = cell
    files = _write(tmp_path, filings=filings)
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"filings.csv row 4, column '实缴税金(万元)': {shown}" in err
    assert '[input] decimal = ","' in err


def test_decimal_comma_read_when_declared(tmp_path):
    filings = tiny_filings().astype(str)
    filings["实缴税金(万元)"] = ["30", "90", "30", "1.234,5", "5", "7", "15"]  # D: 1234.5 万元
    filings["工业增加值(万元)"] = ["150", "450", "12,5", "240", "20", "30", "90"]
    files = _write(tmp_path, filings=filings)
    res = _run(files, input={"decimal": ","})
    ent = res.enterprises.set_index(["uscc", "year"])
    assert ent.loc[(CODES["D"], 2021), "tax"] == pytest.approx(12_345_000)
    assert ent.loc[(CODES["C"], 2021), "value_added"] == pytest.approx(125_000)
    expected = (30 + 90 + 30 + 1234.5 + 5 + 7 + 15) * 1e4
    assert _money(res)["input_yuan"] == pytest.approx(expected)


def test_misplaced_thousands_separators_are_refused(tmp_path, capsys):
    filings = tiny_filings().astype({"实缴税金(万元)": object})
    filings.loc[0, "实缴税金(万元)"] = "3,00"
    files = _write(tmp_path, filings=filings)
    assert _cli(files, tmp_path / "out") == 2
    assert "'3,00' has a decimal comma" in capsys.readouterr().err
    filings.loc[0, "实缴税金(万元)"] = "1,2,3"
    files = _write(tmp_path, filings=filings)
    assert _cli(files, tmp_path / "o2") == 2
    assert "'1,2,3' has a thousands separator out of place" in capsys.readouterr().err


@pytest.mark.parametrize("cell", ["1e308", "inf", "nan", "-inf"])
def test_overflow_inf_and_nan_are_refused_never_infinity_in_run_json(tmp_path, capsys, cell):
    filings = tiny_filings().astype({"实缴税金(万元)": object})
    filings.loc[1, "实缴税金(万元)"] = cell
    files = _write(tmp_path, filings=filings)
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "filings.csv row 3, column '实缴税金(万元)'" in err
    # set aside, the rest of the money adds up and run.json holds no Infinity
    assert _cli(files, tmp_path / "o2", "--on-invalid", "reject") == 0
    run = (tmp_path / "o2" / "exports" / "run.json").read_text("utf-8")
    assert "Infinity" not in run
    assert "NaN" not in run
    res = _run(files, input={"on_invalid": "reject"})
    assert _ledger(res, "filings.csv").loc[3, "fate"] == "rejected"
    assert _money(res)["input_yuan"] == pytest.approx((30 + 30 + 60 + 5 + 7 + 15) * 1e4)


def test_missing_value_codes_read_as_missing(tmp_path):
    filings = tiny_filings()
    filings.loc[0, "工业增加值(万元)"] = -9999
    filings.loc[2, "实缴税金(万元)"] = -1
    files = _write(tmp_path, filings=filings)
    res = _run(files, input={"missing_values": [-1, -9999]})
    ent = res.enterprises.set_index(["uscc", "year"])
    assert np.isnan(ent.loc[(CODES["A"], 2021), "value_added"])
    assert np.isnan(ent.loc[(CODES["C"], 2021), "tax"])
    assert any("missing-value code" in n for n in res.summary.notes)
    assert _money(res)["input_yuan"] == pytest.approx((30 + 90 + 60 + 5 + 7 + 15) * 1e4)


def test_negative_quantities_are_flagged_and_read_as_missing(tmp_path):
    filings = tiny_filings()
    filings["年平均职工人数"] = [10, 20, -5, 30, 2, 3, 9]
    filings["综合能耗(吨标煤)"] = [1.0, 2.0, 3.0, -4.0, 1.0, 1.0, 1.0]
    files = _write(tmp_path, filings=filings)
    res = _run(files)
    ent = res.enterprises.set_index(["uscc", "year"])
    assert np.isnan(ent.loc[(CODES["C"], 2021), "employees"])
    assert np.isnan(ent.loc[(CODES["D"], 2021), "energy_tce"])
    f = _ledger(res, "filings.csv")
    assert "employees -5.00 cannot be negative: read as missing" in f.loc[4, "reason"]
    assert "energy_tce -4.00 cannot be negative" in f.loc[5, "reason"]


def test_implausible_tax_per_mu_and_declared_area_are_warned_per_firm(tmp_path):
    filings = tiny_filings()
    filings.loc[0, "实缴税金(万元)"] = 300_000  # 20,000 万元/亩 on A's 15 mu
    filings["用地面积(亩)"] = [15.0, 45.0, 30.0, 30.0, None, None, 15.0]
    filings.loc[1, "用地面积(亩)"] = 45_000.0  # B declares 1,000 times its 45 mu
    files = _write(tmp_path, filings=filings)
    with pytest.warns(DataQualityWarning, match="2 firm-year"):
        res = _run(files)
    f = _ledger(res, "filings.csv")
    assert "tax per mu 20000.0 万元/亩 is implausible (over 10,000)" in f.loc[2, "reason"]
    assert (
        "declared area 45000.00 mu against 45.00 mu surveyed is implausible" in (f.loc[3, "reason"])
    )
    assert res.summary.findings["filings.csv"]["implausible figure"] == 2


# ------------------------------------------------------------------------------ CSV


def test_doubled_quote_after_the_first_8_kb_keeps_its_row(tmp_path):
    filings = tiny_filings()
    filler = pd.DataFrame(
        {
            "统一社会信用代码": [f"91330522MA2B{i:05d}X" for i in range(300)],
            "企业名称": [f"填充公司{i}" for i in range(300)],
            "年份": 2016,
            "宗地号": "",
            "实缴税金(万元)": 1.0,
            "工业增加值(万元)": 1.0,
            "营业收入(万元)": 1.0,
        }
    )
    frame = pd.concat([filler, filings], ignore_index=True)
    frame.loc[300, "企业名称"] = 'He said "甲" Co'  # quoted, with doubled quotes, row 302
    files = _write(tmp_path, filings=frame)
    text = files["filings"].read_text("utf-8-sig")
    assert text.index('""') > 8192
    with pytest.warns(DataQualityWarning):  # the filler codes fail their check character
        res = _run(files)
    ent = res.enterprises.set_index(["uscc", "year"])
    assert ent.loc[(CODES["A"], 2021), "name"] == 'He said "甲" Co'
    assert ent.loc[(CODES["A"], 2021), "tax"] == 300_000
    assert ent.loc[(CODES["A"], 2021), "value_added"] == 1_500_000


def test_rows_with_too_few_or_too_many_cells_are_refused_or_set_aside(tmp_path, capsys):
    lines = tiny_filings().to_csv(index=False).splitlines()
    lines[2] = lines[2].rsplit(",", 2)[0]  # row 3 (B) lost its last two cells
    lines[4] += ",99"  # row 5 (D) has a cell beyond the header
    files = {"parcels": _write(tmp_path)["parcels"], "filings": tmp_path / "ragged.csv"}
    files["filings"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "ragged.csv row 3, 5 cells where the header has 7" in err
    assert "ragged.csv row 5, text beyond the header's 7 columns" in err
    res = _run(files, input={"on_invalid": "reject"})
    f = _ledger(res, "ragged.csv")
    assert f.loc[[3, 5], "fate"].tolist() == ["rejected", "rejected"]
    assert _money(res)["set_aside_yuan"] == pytest.approx((90 + 60) * 1e4)
    assert _money(res)["enterprises_yuan"] == pytest.approx((30 + 30 + 5 + 7 + 15) * 1e4)


def test_blank_trailing_lines_are_no_records_and_nul_bytes_are_refused(tmp_path, capsys):
    files = _write(tmp_path)
    text = files["filings"].read_text("utf-8-sig")
    files["filings"].write_text(text + "\n\n,,,,,,\n\n", encoding="utf-8")
    res = _run(files)
    assert len(_ledger(res, "filings.csv")) == 7
    files["filings"].write_bytes(text.encode("utf-8").replace("甲公司".encode(), b"\x00\x00"))
    assert _cli(files, tmp_path / "out") == 2
    assert "filings.csv holds NUL bytes (the first on line 2)" in capsys.readouterr().err


# ----------------------------------------------------------------------------- XLSX


def test_formula_cells_without_a_cached_value_stop_the_run(tmp_path, capsys):
    import openpyxl  # noqa: PLC0415

    book = openpyxl.Workbook()
    sheet = book.active
    frame = tiny_filings()
    sheet.append(list(frame.columns))
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        values = list(row)
        values[4] = f"=F{i}/5"  # tax as a formula, as a script writes it: no cached value
        sheet.append(values)
    files = {"parcels": _write(tmp_path)["parcels"], "filings": tmp_path / "filings.xlsx"}
    book.save(files["filings"])
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "filings.xlsx, sheet 'Sheet': 7 formula cell(s) hold no computed value" in err
    assert "(E2, E3, E4, E5, E6, E7, E8)" in err
    assert "save it once" in err


# ---------------------------------------------------------- tables in other formats


def _tiny_table() -> pd.DataFrame:
    """The tiny filings with short headers, as a DBF holds them (10 bytes), units declared."""
    frame = tiny_filings()
    return frame.rename(
        columns={
            "统一社会信用代码": "USCC",
            "企业名称": "NAME",
            "年份": "YEAR",
            "宗地号": "PARCELS",
            "实缴税金(万元)": "TAX",
            "工业增加值(万元)": "VA",
            "营业收入(万元)": "REVENUE",
        }
    )


_TABLE_CONFIG = {
    "columns": {"filings": {"parcel_ids": "PARCELS", "value_added": "VA"}},
    "units": {"filings": {"tax": "万元", "value_added": "万元", "revenue": "万元"}},
}


@pytest.mark.parametrize("fmt", ["dbf", "gpkg", "fgb", "parquet", "csv-in-zip", "dbf-in-zip"])
def test_filings_from_tables_gdal_reads_and_from_zips(tmp_path, fmt):
    import zipfile  # noqa: PLC0415

    frame = _tiny_table()
    parcels = _write(tmp_path)["parcels"]
    table = gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=4326)
    if fmt in {"dbf", "dbf-in-zip"}:
        path = tmp_path / "tab" / "filings.shp"
        path.parent.mkdir()
        table.to_file(path, engine="pyogrio", encoding="UTF-8")
        target = path.with_suffix(".dbf")
        path.with_suffix(".cpg").unlink(missing_ok=True)  # no .cpg: UTF-8 detected
    elif fmt == "gpkg":
        target = tmp_path / "filings.gpkg"
        table.to_file(target, engine="pyogrio", layer="f")
    elif fmt == "fgb":
        target = tmp_path / "filings.fgb"
        table.to_file(target, engine="pyogrio", SPATIAL_INDEX="NO")
    elif fmt == "parquet":
        target = tmp_path / "filings.parquet"
        frame.to_parquet(target)
    else:
        target = tmp_path / "filings.csv"
        frame.to_csv(target, index=False)
    if fmt.endswith("-in-zip"):
        archive = tmp_path / "county.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.write(target, f"data/{target.name}")
        target = f"zip://{archive}!data/{target.name}"
    res = mujun.run(
        mujun.load_config(
            overrides={"input": {"parcels": str(parcels), "filings": str(target)}, **_TABLE_CONFIG}
        )
    )
    got = res.parcels.set_index("parcel_id")["tax_per_mu"]
    np.testing.assert_allclose(got.loc[["P1", "P2", "P3", "P4"]], [2.0, 2.0, 2.0, 3.0])
    assert _money(res)["input_yuan"] == pytest.approx(237e4)
    ledger = res.ledger.loc[res.ledger["source"] != "parcels.gpkg"]
    first = 2 if fmt == "csv-in-zip" else 1  # spreadsheet rows in a CSV, rows from 1 else
    assert ledger["record"].tolist() == list(range(first, first + 7))


def test_dbf_without_cpg_in_gb18030_is_decoded(tmp_path):
    frame = _tiny_table()
    path = tmp_path / "t" / "filings.shp"
    path.parent.mkdir()
    gpd.GeoDataFrame(frame, geometry=[None] * len(frame), crs=4326).to_file(
        path, engine="pyogrio", encoding="GB18030"
    )
    path.with_suffix(".cpg").unlink(missing_ok=True)
    parcels = _write(tmp_path)["parcels"]
    res = mujun.run(
        mujun.load_config(
            overrides={
                "input": {"parcels": str(parcels), "filings": str(path.with_suffix(".dbf"))},
                **_TABLE_CONFIG,
            }
        )
    )
    assert res.enterprises["name"].iloc[0] == "甲公司"
    assert res.inputs["filings"]["encoding"] == "GB18030"


# -------------------------------------------------------- truncated and mislabelled


def _shapefile(tmp_path: Path) -> Path:
    path = tmp_path / "shp" / "parcels.shp"
    path.parent.mkdir()
    many = pd.concat([tiny_parcels()] * 20, ignore_index=True).drop(columns="登记用地面积(亩)")
    many["宗地号"] = [f"P{i}" for i in range(len(many))]
    many = gpd.GeoDataFrame(many, geometry="geometry", crs=4549)
    many["geometry"] = [
        shapely.affinity.translate(g, 600 * (i // 5), 0) for i, g in enumerate(many.geometry)
    ]
    many.to_file(path, engine="pyogrio", encoding="UTF-8")
    return path


@pytest.mark.parametrize("cut", ["shp", "dbf", "shx"])
def test_truncated_shapefile_stops_with_exit_2(tmp_path, capsys, cut):
    path = _shapefile(tmp_path)
    target = path.with_suffix(f".{cut}")
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2 + 3])
    files = {"parcels": path, "filings": _write(tmp_path)["filings"]}
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "parcels.shp: the shapefile is truncated or its files disagree" in err
    assert f"parcels.{cut}" in err.split("disagree (")[1]


def test_lonlat_labelled_gauss_kruger_and_web_mercator_labelled_4490_stop(tmp_path, capsys):
    lonlat = tiny_parcels().to_crs(4490).set_crs(4549, allow_override=True)
    files = _write(tmp_path, lonlat)
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "parcels.gpkg says its CRS is CGCS2000 / 3-degree Gauss-Kruger CM 120E" in err
    assert "the coordinates of 5 of its 5 features" in err
    assert "look like longitude/latitude in degrees: EPSG:4490" in err
    mercator = tiny_parcels().to_crs(3857).set_crs(4490, allow_override=True)
    files = _write(tmp_path, mercator)
    assert _cli(files, tmp_path / "o2") == 2
    err = capsys.readouterr().err
    assert "cannot be in that CRS" in err
    assert "Web Mercator metres (EPSG:3857" in err


def test_a_stray_feature_outside_the_crs_is_rejected_alone(tmp_path):
    parcels = tiny_parcels()
    parcels.loc[4, "geometry"] = box(0, 0, 10, 10)  # "null island", in a Gauss-Krüger layer
    res = _run(_write(tmp_path, parcels))
    row = _ledger(res).loc[5]
    assert row["fate"] == "rejected"
    assert row["reason"].startswith("coordinates outside the area CGCS2000 / 3-degree")
    assert res.working_crs.to_epsg() == 4549
    assert sorted(res.parcels["parcel_id"]) == ["P1", "P2", "P3", "P4"]


def test_geojson_without_crs_member_is_wgs84_and_run_json_says_so(tmp_path):
    files = {"parcels": tmp_path / "parcels.geojson", "filings": _write(tmp_path)["filings"]}
    tiny_parcels().to_crs(4326).to_file(files["parcels"], engine="pyogrio", RFC7946="YES")
    assert b'"crs"' not in files["parcels"].read_bytes()
    res = _run(files)
    assert any("GeoJSON without a crs member" in n for n in res.summary.crs_notes)
    np.testing.assert_allclose(res.parcels["area_m2"].sum(), 70_000, rtol=1e-4)  # 7 decimals


def test_a_projected_crs_good_for_area_is_kept_as_working_crs(tmp_path):
    """Massachusetts state plane (EPSG:26986) in Bellingham: areal scale 0.99993, kept;
    UTM 19N would overstate area by 0.023 %."""
    x0, y0 = 180_000.0, 870_000.0
    parcels = gpd.GeoDataFrame(
        {"pin": ["A", "B"]},
        geometry=[box(x0, y0, x0 + 100, y0 + 100), box(x0 + 200, y0, x0 + 400, y0 + 50)],
        crs=26986,
    )
    files = {"parcels": tmp_path / "p.gpkg", "filings": tmp_path / "v.csv"}
    parcels.to_file(files["parcels"], engine="pyogrio")
    pd.DataFrame({"pin": ["A", "B"], "value (USD)": [1e6, 2e6]}).to_csv(files["filings"])
    res = mujun.run(
        mujun.load_config(
            preset="value-per-acre", overrides={"input": {k: str(v) for k, v in files.items()}}
        )
    )
    assert res.working_crs.to_epsg() == 26986
    np.testing.assert_allclose(res.parcels["area_m2"], [10_000, 10_000])


# ------------------------------------------------------------------ choosing columns


def test_of_two_parcel_id_columns_the_one_that_joins_is_chosen_and_said(tmp_path):
    parcels = tiny_parcels()
    parcels["地块编号"] = parcels["宗地号"]  # the real ids
    parcels["宗地号"] = [f"OLD-{i}" for i in range(5)]  # an old numbering, the first alias
    files = _write(tmp_path, parcels)
    res = _run(files)
    got = res.parcels.set_index("parcel_id")["tax_per_mu"]
    np.testing.assert_allclose(got.loc[["P1", "P2", "P3", "P4"]], [2.0, 2.0, 2.0, 3.0])
    assert res.inputs["parcels"]["columns"]["地块编号"] == "parcel_id"
    note = next(n for n in res.summary.notes if "several columns name parcel ids" in n)
    assert "(layer: '宗地号', '地块编号'; filings: '宗地号')" in note
    # 5 of the 6 filing rows that list a parcel: F lists P99, which is nowhere
    assert "column '地块编号' of the layer and '宗地号' of the filings join 83.3%" in note
    assert "(the first choice, '宗地号' and '宗地号', 0.0%)" in note


def test_two_tax_columns_that_differ_stop_and_equal_ones_are_noted(tmp_path, capsys):
    filings = tiny_filings()
    filings["税收(万元)"] = filings["实缴税金(万元)"]
    files = _write(tmp_path, filings=filings)
    res = _run(files)
    assert any("both name tax and hold the same values" in n for n in res.summary.notes)
    filings.loc[3, "税收(万元)"] = 61
    files = _write(tmp_path, filings=filings)
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert (
        "columns '税收(万元)' and '实缴税金(万元)' both look like tax and differ on 1 row(s)" in err
    )
    assert "(row 5: '61' against '60')" in err
    assert '[columns.filings] tax = "税收(万元)" (or "实缴税金(万元)")' in err


def test_the_same_header_twice_is_compared_too(tmp_path, capsys):
    text = tiny_filings().to_csv(index=False).splitlines()
    text[0] += ",实缴税金(万元)"
    text[1:] = [line + (",31" if i == 0 else ",") for i, line in enumerate(text[1:])]
    files = {"parcels": _write(tmp_path)["parcels"], "filings": tmp_path / "twice.csv"}
    files["filings"].write_text("\n".join(text) + "\n", encoding="utf-8")
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "'实缴税金(万元)' (repeated, copy 2) both look like tax" in err


def test_headers_with_invisible_characters_and_close_names(tmp_path, capsys):
    filings = tiny_filings().rename(
        columns={
            "实缴税金(万元)": "\ufeff实缴\u200b税金\xa0(万元)",
            "营业收入(万元)": "营业收(万元)",
        }
    )
    files = _write(tmp_path, filings=filings)
    res = _run(files)
    assert res.summary.money["tax"]["input_yuan"] == pytest.approx(237e4)
    note = next(n for n in res.summary.notes if "is not read" in n)
    assert "column '营业收(万元)' is not read, but looks like revenue" in note
    assert "[columns.filings] revenue = '营业收'" in note


# -------------------------------------------------------------------------- years


def test_a_year_with_no_filings_stops_listing_the_years(tmp_path, capsys):
    files = _write(tmp_path)
    assert _cli(files, tmp_path / "out", "--year", "2019") == 2
    err = capsys.readouterr().err
    assert "filings.csv has no usable filing of 2019; the years in it: 2016 (1 rows), 2021" in err


def test_a_filings_file_without_a_year_column_takes_year(tmp_path):
    filings = tiny_filings()
    filings = filings.loc[filings["年份"] == 2021].drop(columns="年份")
    files = _write(tmp_path, filings=filings)
    assert _cli(files, tmp_path / "out", "--year", "2021") == 0
    ledger = pd.read_csv(tmp_path / "out" / "exports" / "ledger.csv")
    assert (ledger["fate"] != "rejected").all()


# ---------------------------------------------------------- configuration messages


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[columns]\nparcel_ids = "ML"\n', "write [columns.filings] parcel_ids = 'ML'"),
        ('[units]\nassessed_value = "USD"\n', "write [units.filings] assessed_value = 'USD'"),
        ('[columns.filing]\ntax = "x"\n', "unknown table [columns.filing]"),
        ('[columns.filings]\ntaxes = "x"\n', "unknown key(s) taxes in [columns.filings]"),
        ('[units.filings]\nname = "x"\n', "unknown key(s) name in [units.filings]"),
    ],
)
def test_misplaced_and_unknown_column_keys_are_refused(tmp_path, capsys, toml, message):
    config = tmp_path / "c.toml"
    config.write_text(toml, encoding="utf-8")
    assert _cli(_write(tmp_path), tmp_path / "out", "--config", str(config)) == 2
    assert message in capsys.readouterr().err


def test_a_missing_money_column_stops_naming_the_fix_and_the_fix_works(tmp_path, capsys):
    filings = tiny_filings().rename(columns={"实缴税金(万元)": "纳税额(万元)"})
    files = _write(tmp_path, filings=filings)
    assert _cli(files, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "no column for tax (tax paid), and the zhejiang preset scores on it" in err
    assert "the columns not read: '纳税额(万元)'" in err
    config = tmp_path / "c.toml"
    config.write_text('[columns.filings]\ntax = "纳税额(万元)"\n', encoding="utf-8")
    assert _cli(files, tmp_path / "o2", "--config", str(config)) == 0


def test_preset_option_layers_the_preset_over_its_base(tmp_path):
    files = _write(tmp_path)
    assert _cli(files, tmp_path / "out", "--preset", "huangyan-2022") == 0
    import json  # noqa: PLC0415

    run = json.loads((tmp_path / "out" / "exports" / "run.json").read_text("utf-8"))
    cfg = run["config"]
    assert cfg["preset"] == "huangyan-2022"
    assert cfg["scoring"]["benchmarks"]["above_scale"]["tax_per_mu"] == 24.097
    assert cfg["underuse"]["far_min"]["34"] == 0.7  # from its base, zhejiang
    assert cfg["policy"]["surcharge"] == {"D": 0.3}


def test_validate_prints_the_join_qa(tmp_path, capsys):
    filings = tiny_filings()
    parcels = tiny_parcels()
    parcels.loc[4, "宗地号"] = "Q007"
    filings.loc[4, "宗地号"] = "Q7"  # E lists Q7: Q007 once leading zeros are dropped
    files = _write(tmp_path, parcels, filings)
    code = main(
        ["validate", "--parcels", str(files["parcels"]), "--filings", str(files["filings"]),
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    # rows listing a parcel: A, B, C, D, E, F (2021) and A (2016): 5 find one
    assert "join: 71.4% of the filing rows that list a parcel find it (5 of 7" in out
    assert "80.0% of the parcels are named by a filing of 2021 (4 of 5)" in out
    assert "near misses by leading zeros: 1 (e.g. filing 'Q7' ~ parcel 'Q007')" in out


def test_a_second_parcel_id_column_that_joins_better_is_used_row_for_row(tmp_path):
    """Two 宗地号 columns, the first blank on every row: the second joins and is read on
    the right rows (a fuzz case once misaligned it and crashed)."""
    parcels = tmp_path / "parcels.gpkg"
    tiny_parcels().to_file(parcels, engine="pyogrio")
    filings = tmp_path / "filings.csv"
    filings.write_text(
        "统一社会信用代码,宗地号,宗地号,企业名称,年份,实缴税金(万元)\n"
        f"{CODES['A']},,P1,甲公司,2021,30\n"
        f"{CODES['B']},,P2、P3,乙公司,2021,90\n",
        encoding="utf-8",
    )
    cfg = mujun.load_config(overrides={"input": {"parcels": str(parcels), "filings": str(filings)}})
    res = mujun.run(cfg)
    ent = res.enterprises.set_index("uscc")
    assert ent.loc[CODES["A"], "parcel_ids"] == "P1"
    assert ent.loc[CODES["B"], "parcel_ids"] == "P2、P3"
    assert ent.loc[CODES["B"], "tax_per_mu"] == pytest.approx(90 / 45)
