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
    assert res.summary["parcels"]["merged"] == {"parcels": 1, "features": 2}


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
    with pytest.warns(DataQualityWarning, match="different geometry"):
        res = _run(files, parcels={"same_id": "first"})
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
    assert res.summary["underuse"]["by_reason"]["vacant"] == 1


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
