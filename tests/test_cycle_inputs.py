"""Land-grant commitments and the redevelopment register (issue 17): on the sample county's
own files (data/parcels/commitments.csv, redevelopment.csv) and on small hostile ones. The
expected values are worked out here from the input tables and the run's parcels.geojson."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import page_data, run_mujun
from mujun.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "parcels"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("cycle")
    assert main(["run", "--out", str(out), "-q"]) == 0
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    parcels = pd.DataFrame([f["properties"] for f in doc["features"]]).set_index("parcel_id")
    return {"out": out, "parcels": parcels}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"parcel_id": str})


def test_commitments_are_checked_against_the_measured_figures(sample):
    out, parcels = sample["out"], sample["parcels"]
    given = pd.read_csv(SAMPLE / "commitments.csv", dtype={"宗地号": str})
    table = _read(out / "exports" / "commitments.csv").set_index("parcel_id")
    known = given[given["宗地号"].isin(parcels.index)]
    assert sorted(table.index) == sorted(known["宗地号"])  # CX-9999 is not a parcel
    columns = {
        "容积率": "far",
        "亩均税收(万元/亩)": "tax_per_mu",
        "亩均产出(万元/亩)": "output_per_mu",
    }
    measured = {"far": "far", "tax_per_mu": "tax_per_mu", "output_per_mu": "revenue_per_mu"}
    short_by = dict.fromkeys(measured, 0)
    for _, row in known.iterrows():
        pid, due = row["宗地号"], int(row["达产年份"])
        got = table.loc[pid]
        assert got["due"] == due
        if due > 2021:
            assert got["status"] == "not yet due"
            assert np.isnan(got["tax_per_mu_actual"])
            assert not got["short"]
            continue
        assert got["status"] == "due"
        missed = False
        for header, name in columns.items():
            actual = parcels.loc[pid, measured[name]]
            assert got[f"{name}_actual"] == pytest.approx(actual, abs=1e-4)
            assert got[f"{name}_shortfall"] == pytest.approx(row[header] - actual, abs=1e-4)
            assert bool(got[f"{name}_met"]) == (actual >= row[header])
            short_by[name] += int(actual < row[header])
            missed |= actual < row[header]
        assert bool(got["short"]) == missed
        assert parcels.loc[pid, "commitment"] == ("short" if missed else "met")
    record = json.loads((out / "exports" / "run.json").read_text(encoding="utf-8"))
    cycle = record["summary"]["cycle"]["commitments"]
    assert cycle["short_by"] == short_by
    assert cycle["short"] == int(table["short"].sum())
    ledger = pd.read_csv(out / "exports" / "ledger.csv", encoding="utf-8-sig")
    orphan = ledger[(ledger["source"] == "commitments.csv") & (ledger["fate"] == "orphan")]
    assert list(orphan["key"]) == ["CX-9999"]
    assert "not in the parcel layer" in orphan["reason"].iloc[0]


def test_register_marks_known_underused_land_and_what_done_work_brought(sample):
    out, parcels = sample["out"], sample["parcels"]
    given = pd.read_csv(SAMPLE / "redevelopment.csv", dtype={"宗地号": str})
    words = {"已完成": "done", "实施中": "in progress", "已计划": "planned", "已认定": "identified"}
    known = given[given["宗地号"].isin(parcels.index)]
    for _, row in known.iterrows():
        assert parcels.loc[row["宗地号"], "redevelopment_status"] == words[row["状态"]]
        assert parcels.loc[row["宗地号"], "redevelopment_measure"] == row["措施"]
    listed = parcels["redevelopment_status"].notna()
    underused = parcels["underused"].astype(bool)
    assert int(parcels["underused_new"].sum()) == int((underused & ~listed).sum())
    assert int((underused & listed).sum()) == 6  # CX-0351 is in the register, not underused
    table = _read(out / "exports" / "redevelopment.csv").set_index("parcel_id")
    done = table[table["status"] == "done"]
    for pid, row in done.iterrows():
        want = parcels.loc[pid, "tax_per_mu_change"]
        if pd.isna(want):
            assert pd.isna(row["tax_per_mu_change"])
        else:
            assert row["tax_per_mu_change"] == pytest.approx(want, abs=1e-4)
    ledger = pd.read_csv(out / "exports" / "ledger.csv", encoding="utf-8-sig")
    orphan = ledger[(ledger["source"] == "redevelopment.csv") & (ledger["fate"] == "orphan")]
    assert list(orphan["key"]) == ["CX-0000"]


def test_the_map_shows_both_on_internal_maps_only(sample, tmp_path):
    data = page_data((sample["out"] / "maps" / "mujun.html").read_text(encoding="utf-8"))
    overlays = {t["id"]: t for t in data["themes"] if t["role"] == "overlay"}
    assert overlays["redevelopment"]["label"] == "在册再开发地块（7 宗）"
    assert overlays["commitment_short"]["label"].endswith("（3 宗）")
    assert main(["run", "--out", str(tmp_path), "-q", "--profile", "public"]) == 0
    public = page_data((tmp_path / "maps" / "mujun.html").read_text(encoding="utf-8"))
    ids = {t["id"] for t in public["themes"]}
    assert not ids & {"redevelopment", "commitment_short"}
    assert "commitment" not in public["sets"]["parcels"]["cols"]


def _tiny_side(tmp_path: Path, name: str, text: str, tiny_files) -> tuple[int, str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    flag = "--commitments" if name.startswith("commit") else "--redevelopment"
    return run_mujun(tiny_files, tmp_path / "out", flag, str(path)), path.name


def test_a_commitment_in_another_unit_stops_the_run(tiny_files, tmp_path, capsys):
    text = "宗地号,亩均税收(元/平方米),达产年份\nP1,30,2021\n"
    code, name = _tiny_side(tmp_path, "commitments.csv", text, tiny_files)
    assert code == 2
    err = capsys.readouterr().err
    assert name in err
    assert "万元/亩" in err
    assert "元/平方米" in err


def test_an_unknown_register_status_stops_the_run_naming_the_row(tiny_files, tmp_path, capsys):
    text = "宗地号,状态\nP1,已完成\nP2,待定\n"
    code, _ = _tiny_side(tmp_path, "register.csv", text, tiny_files)
    assert code == 2
    err = capsys.readouterr().err
    assert "row 3" in err
    assert "'待定'" in err
    assert "已完成" in err  # the words allowed


def test_a_parcel_listed_twice_keeps_its_last_entry(tiny_files, tmp_path):
    text = "parcel_id,status,measure\nP1,identified,收回\nP1,done,提升改造\nP9,planned,收回\n"
    code, _ = _tiny_side(tmp_path, "register.csv", text, tiny_files)
    assert code == 0
    ledger = pd.read_csv(tmp_path / "out" / "exports" / "ledger.csv", encoding="utf-8-sig")
    mine = ledger[ledger["source"] == "register.csv"].set_index("record")
    assert mine.loc[2, "fate"] == "duplicate"
    assert mine.loc[3, "fate"] == "used"
    assert mine.loc[4, "fate"] == "orphan"
    table = _read(tmp_path / "out" / "exports" / "redevelopment.csv")
    assert table[["parcel_id", "status", "measure"]].values.tolist() == [["P1", "done", "提升改造"]]
