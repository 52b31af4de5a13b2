"""The ``mujun`` command end to end, on the bundled sample county and on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from conftest import run_mujun
from mujun.cli import main
from mujun.schema import MU_M2
from test_writers import check_rfc7946

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "parcels"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    assert main(["run", "--out", str(out), "-q"]) == 0
    return out


def _exports(out: Path, name: str) -> Path:
    return out / "exports" / name


@pytest.mark.slow
def test_sample_outputs_exist(sample_run):
    for rel in (
        "maps/mujun.html",
        "exports/parcels.geojson",
        "exports/enterprises.csv",
        "exports/ledger.csv",
        "exports/run.json",
        "exports/units.csv",
        "exports/enterprises.xlsx",
        "exports/county.csv",
        "exports/parks.csv",
        "exports/industries.csv",
        "exports/changes.csv",
    ):
        assert (sample_run / rel).stat().st_size > 0, rel


@pytest.mark.slow
def test_sample_ledger_accounts_for_every_input_record(sample_run):
    n_parcels = len(gpd.read_file(SAMPLE / "parcels.gpkg"))
    n_filings = len(pd.read_csv(SAMPLE / "filings.csv", dtype=str))
    ledger = pd.read_csv(_exports(sample_run, "ledger.csv"))
    assert list(ledger.columns) == ["source", "record", "key", "fate", "reason"]
    counts = ledger.groupby("source").size()
    assert counts["parcels.gpkg"] == n_parcels == 2005
    assert counts["filings.csv"] == n_filings == 2800
    parcels_fates = ledger.loc[ledger["source"] == "parcels.gpkg", "fate"].value_counts()
    assert parcels_fates["vacant"] == 227  # README of the sample: 227 vacant in 2021
    assert ledger["reason"].notna().all()


@pytest.mark.slow
def test_sample_geojson_is_rfc7946_with_required_properties(sample_run):
    doc = json.loads(_exports(sample_run, "parcels.geojson").read_text(encoding="utf-8"))
    check_rfc7946(doc)
    assert len(doc["features"]) == 2005
    props = doc["features"][0]["properties"]
    for key in (
        "parcel_id",
        "area_mu",
        "declared_area_mu",
        "tax_per_mu",
        "value_added_per_mu",
        "enterprises",
        "park",
    ):
        assert key in props


@pytest.mark.slow
def test_sample_per_mu_matches_an_independent_computation(sample_run):
    """Recompute tax per mu of every single-firm single-parcel holding from the raw files."""
    raw = gpd.read_file(SAMPLE / "parcels.gpkg").to_crs(4549)
    area_mu = pd.Series(raw.area.to_numpy() / MU_M2, index=raw["宗地号"])
    filings = pd.read_csv(SAMPLE / "filings.csv", dtype={"宗地号": str})
    f21 = filings[(filings["年份"] == 2021) & filings["宗地号"].notna()]
    single = f21[~f21["宗地号"].str.contains("、")]
    sole = single[
        ~single["宗地号"].isin(
            f21["宗地号"].str.split("、").explode().value_counts().loc[lambda s: s > 1].index
        )
    ]
    expected = sole["实缴税金(万元)"].to_numpy() / area_mu[sole["宗地号"]].to_numpy()
    doc = json.loads(_exports(sample_run, "parcels.geojson").read_text(encoding="utf-8"))
    got = {f["properties"]["parcel_id"]: f["properties"]["tax_per_mu"] for f in doc["features"]}
    assert len(sole) > 800
    np.testing.assert_allclose([got[p] for p in sole["宗地号"]], expected, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_sample_run_json_reproduces_and_checks_area(sample_run):
    run = json.loads(_exports(sample_run, "run.json").read_text(encoding="utf-8"))
    assert run["summary"]["working_crs"] == "EPSG:4549"
    assert abs(run["summary"]["area_check"]["total_diff_pct"]) < 0.01
    assert run["summary"]["area_check"]["max_abs_diff_pct"] < 0.01
    assert len(run["inputs"]["parcels"]["sha256"]) == 64
    assert run["inputs"]["filings"]["units"]["tax"] == "万元"
    assert run["versions"]["geopandas"]
    money = run["summary"]["money"]["tax"]
    raw_tax = pd.read_csv(SAMPLE / "filings.csv")["实缴税金(万元)"].sum() * 1e4
    assert money["input_yuan"] == pytest.approx(raw_tax)
    assert money["enterprises_yuan"] == pytest.approx(raw_tax)
    assert money["on_land_2021_yuan"] == pytest.approx(money["parcels_2021_yuan"])


@pytest.mark.slow
def test_sample_enterprises_csv(sample_run):
    ent = pd.read_csv(_exports(sample_run, "enterprises.csv"), encoding="utf-8-sig")
    for col in (
        "uscc",
        "name",
        "year",
        "area_mu",
        "tax_per_mu",
        "value_added_per_mu",
        "land_status",
    ):
        assert col in ent.columns
    assert len(ent) == 2800
    assert set(ent["land_status"]) == {"own", "shared", "lessee"}
    assert ent.loc[ent["land_status"] == "lessee", "tax_per_mu"].isna().all()


def test_existing_outputs_are_not_overwritten(sample_run, capsys):
    assert main(["run", "--out", str(sample_run), "-q"]) == 3
    assert "pass --overwrite" in capsys.readouterr().err


def test_bad_input_exits_2_with_a_message_not_a_traceback(tmp_path, capsys):
    csv = tmp_path / "f.csv"
    csv.write_text("统一社会信用代码,企业名称,税收\nX,甲,1\n", encoding="utf-8")
    code = main(
        [
            "run",
            "--parcels",
            str(SAMPLE / "parcels.gpkg"),
            "--filings",
            str(csv),
            "--out",
            str(tmp_path),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "has no unit" in err
    assert "Traceback" not in err


def test_missing_file_exits_2(tmp_path, capsys):
    code = main(
        [
            "run",
            "--parcels",
            str(tmp_path / "nope.gpkg"),
            "--filings",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "nope.gpkg does not exist" in capsys.readouterr().err


def test_help_is_complete_with_examples():
    out = subprocess.run(
        [sys.executable, "-m", "mujun.cli", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for text in (
        "--parcels",
        "--filings",
        "--parks",
        "--config",
        "--out",
        "--overwrite",
        "--offline",
        "examples:",
        "mujun run --parcels",
        "exit codes",
    ):
        assert text in out
    top = subprocess.run(
        [sys.executable, "-m", "mujun.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "run" in top
    assert "presets" in top
    assert "examples:" in top


def test_presets_are_listed(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "zhejiang" in out.split()
    assert "huangyan-2022" in out.split()
    assert "value-per-acre" in out.split()


@pytest.mark.slow
def test_run_prints_a_summary_with_the_area_check(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "parcels: 2,005 usable, 227 vacant" in out
    assert "area check: plane vs ellipsoidal" in out
    assert "working CRS CGCS2000 / 3-degree Gauss-Kruger CM 120E" in out
    # the sample is scaled to Changxing's published 规上 averages (METHOD.md section 4)
    assert "county tax_per_mu (above_scale, per occupied mu): 2016 9.40, 2021 33.40 万元/亩" in out
    assert "per industrial mu including vacant land" in out
    assert "county value_added_per_mu" not in out


@pytest.mark.slow
def test_sample_classes_follow_the_shares(sample_run):
    ent = pd.read_csv(_exports(sample_run, "enterprises.csv"))
    above = ent[(ent["year"] == 2021) & (ent["group"] == "above_scale")]
    # the firms of a land unit are one entry of the list (issue 14.6): shares count units
    entries = above[above["graded"]].drop_duplicates("unit")
    counts = entries["class"].value_counts()
    n = len(entries)
    for label, share in zip("ABCD", (0.25, 0.45, 0.25, 0.05), strict=True):
        assert abs(counts[label] - share * n) <= 1
    assert above["class_stability"].between(0, 1).all()
    assert 0 < above["borderline"].mean() < 0.5
    parks = pd.read_csv(_exports(sample_run, "parks.csv"))
    assert set(parks["park"]) >= {"东区工业园", "南湖产业园", "西山工业园", "北港智造园"}


@pytest.mark.slow
def test_sample_geoparquet_export(sample_run):
    import pyarrow.parquet as pq  # noqa: PLC0415

    path = _exports(sample_run, "parcels.parquet")
    parcels = gpd.read_parquet(path)
    assert len(parcels) == 2005
    assert parcels.crs.to_epsg() == 4549  # the working CRS, not lon/lat
    # surveyed area straight from the stored geometry
    mu = parcels.geometry.area / MU_M2
    assert (mu - parcels["area_mu"]).abs().max() <= 0.005  # area_mu has 2 decimals
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    covering = geo["columns"]["geometry"]["covering"]["bbox"]
    assert covering["xmin"] == ["bbox", "xmin"]
    table = pq.read_table(path, columns=["bbox"]).to_pandas()
    assert (table["bbox"].map(lambda b: b["xmin"]) == parcels.bounds["minx"]).all()


def test_sample_underuse_and_zones(sample_run):
    doc = json.loads(_exports(sample_run, "parcels.geojson").read_text(encoding="utf-8"))
    props = pd.DataFrame([f["properties"] for f in doc["features"]])
    for col in (
        "underused",
        "underuse_reasons",
        "coverage",
        "far",
        "zone_id",
        "cold_spot",
        "builtup_fraction",
    ):
        assert col in props.columns
    occupied = props[~props["vacant"]]
    # footprints and the independent 10 m raster agree on coverage (the raster has noise)
    assert np.corrcoef(occupied["coverage"], occupied["builtup_fraction"])[0, 1] > 0.8
    assert (props.loc[props["underused"], "underuse_reasons"] != "").all()
    assert (props.loc[~props["underused"], "underuse_reasons"].fillna("") == "").all()
    zones = json.loads(_exports(sample_run, "zones.geojson").read_text(encoding="utf-8"))
    check_rfc7946(zones)
    z = pd.DataFrame([f["properties"] for f in zones["features"]])
    assert z["rank"].tolist() == list(range(1, len(z) + 1))
    assert z["gain_wan"].is_monotonic_decreasing
    # zones hold underused parcels only, each in one zone, at least two to a zone; an
    # underused parcel is in a zone exactly when its zone_id says so
    in_zones = z["parcel_ids"].str.split("、").explode()
    assert in_zones.is_unique
    assert (z["n_parcels"] >= 2).all()
    assert set(in_zones) <= set(props.loc[props["underused"], "parcel_id"])
    assert set(in_zones) == set(props.loc[props["zone_id"].notna(), "parcel_id"])
    ledger = pd.read_csv(_exports(sample_run, "ledger.csv"))
    assert (ledger["source"] == "buildings.gpkg").sum() == 5450


def test_surface_geotiff_written(tiny_files, tmp_path):
    code = run_mujun(tiny_files, tmp_path, "--surface-m", "10")
    assert code == 0
    with rasterio.open(tmp_path / "exports" / "tax_per_mu.tif") as src:
        assert src.crs.to_epsg() == 4549
        assert src.res == (10.0, 10.0)
        values = src.read(1)
        assert src.nodata == -9999.0
    assert set(np.unique(values[values != -9999.0]).round(6)) == {2.0, 3.0}


def test_progress_bar_counts_the_stages(tiny_files, tmp_path, monkeypatch):
    import io  # noqa: PLC0415

    import mujun.cli  # noqa: PLC0415
    from mujun.progress import StageProgress  # noqa: PLC0415

    bars: list[tuple[StageProgress, io.StringIO]] = []

    def to_text(total: int, *, quiet: bool) -> StageProgress:
        screen = io.StringIO()
        bars.append((StageProgress(total, quiet=quiet, file=None if quiet else screen), screen))
        return bars[-1][0]

    monkeypatch.setattr(mujun.cli, "StageProgress", to_text)
    args = ["run", "--parcels", str(tiny_files["parcels"]), "--filings", str(tiny_files["filings"])]
    assert main([*args, "--out", str(tmp_path), "--no-map"]) == 0
    progress, screen = bars[-1]
    # read, check, reproject, repair, measure, filings, join, units, scoring, parcels, tables,
    # underuse, reconcile (no parks, no buildings), then write parcels and tables (no map)
    assert (progress.bar.n, progress.bar.total) == (15, 15)
    assert "mujun: 0/15 stages" in screen.getvalue()
    assert not (tmp_path / "maps").exists()
    assert main([*args, "--out", str(tmp_path), "--overwrite", "-q"]) == 0
    assert bars[-1][1].getvalue() == ""  # --quiet: no bar


@pytest.mark.slow
def test_sample_unit_ratios_use_the_firms_that_report_both_parts(sample_run):
    """Issue 14.3's case: CX-0235's unit in 2016, where one co-tenant left emissions blank.
    Value added per t is the reporting firms' value added over their emissions, from the
    filings themselves (4,430 万元/t; the issue's 4,432 against 80,052 was measured before the
    sample's money was rescaled to the apportioned-land rule)."""
    ent = pd.read_csv(_exports(sample_run, "enterprises.csv"), dtype={"uscc": str})
    row = ent[(ent["year"] == 2016) & ent["parcel_ids"].str.contains("CX-0235", na=False)]
    members = ent[(ent["year"] == 2016) & (ent["unit"] == row["unit"].iloc[0])]
    raw = pd.read_csv(Path(__file__).parents[1] / "data" / "parcels" / "filings.csv")
    raw = raw[(raw["年份"] == 2016) & raw["统一社会信用代码"].isin(members["uscc"])]
    assert len(raw) == len(members) >= 2
    both = raw.dropna(subset=["工业增加值(万元)", "主要污染物排放量(吨)"])
    assert 0 < len(both) < len(raw)  # some co-tenant did not report
    expected = both["工业增加值(万元)"].sum() / both["主要污染物排放量(吨)"].sum()
    assert members["value_added_per_emission"].tolist() == pytest.approx([expected] * len(members))
    assert round(expected) == 4430
    assert members["imputed"].str.contains("value_added_per_emission").all()


def test_console_warnings_are_plain_sentences(tiny_files, tmp_path):
    """The console as a planner sees it (a real process, not pytest's log capture): a data
    warning is one sentence naming the file, without the package's paths, the warning's class
    or a line of Python; -v shows each stage under its own name with its time."""
    layer = gpd.read_file(tiny_files["parcels"])
    layer.loc[0, "登记用地面积(亩)"] = 3000.0  # P1 is 15 mu: 200x its surveyed area
    layer.to_file(tiny_files["parcels"], driver="GPKG")
    mujun = Path(sys.executable).with_name("mujun")
    args = [str(mujun), "run", "--parcels", str(tiny_files["parcels"]), "--filings"]
    args += [str(tiny_files["filings"]), "--out", str(tmp_path / "out"), "--no-map"]
    done = subprocess.run([*args, "-v"], capture_output=True, text=True, check=True)
    err = done.stderr.splitlines()
    assert (
        "warning: parcels.gpkg: 1 parcel(s) declare an area 100x off their surveyed area; "
        "see the ledger"
    ) in err
    assert not [line for line in err if ".py" in line or "Warning" in line or "WKT" in line]
    assert not [line for line in err if "PROJCS[" in line or "GEOGCRS[" in line]
    stages = [line.split(" ")[0].lstrip("[") for line in err if line.startswith("[")]
    assert stages == [
        *("read", "check", "reproject", "repair", "measure", "filings", "join", "units"),
        *("scoring", "parcels", "tables", "underuse", "reconcile", "write"),
        "write",
    ]
    assert any(line.startswith("[reproject ") and "working CRS CGCS2000" in line for line in err)
