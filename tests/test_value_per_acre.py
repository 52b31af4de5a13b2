"""The value-per-acre preset: a US-style parcel table with no enterprise at all."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import box

import mujun
from browser import hover_parcel, wait_for_map
from conftest import page_data, run_mujun
from mujun.cli import main
from mujun.schema import ACRE_M2

X, Y = 359_000.0, 3_939_000.0  # UTM 17N, Asheville NC
SIDE = float(np.sqrt(ACRE_M2))  # one acre squares
VALUES = pd.DataFrame(
    {
        "PIN": ["9648-01", "9648-02", "9648-02", "9648-03", "9648-04"],
        "Assessed value (USD)": [610_000, 1_100_000, 1_100_000, 20_000_000, 95_000],
    }
)
"""Assessed values: two condo records on 9648-02; 9648-04 a 25 m x 20 m house lot."""


def asheville_parcels() -> gpd.GeoDataFrame:
    """The parcels in their surveyed CRS (UTM 17N): 1, 0.2, 34 and 500 m² (0.12355...) acres."""
    return gpd.GeoDataFrame(
        {"PIN": ["9648-01", "9648-02", "9648-03", "9648-04"]},
        geometry=[
            box(X, Y, X + SIDE, Y + SIDE),
            box(X + 100, Y, X + 100 + SIDE, Y + SIDE / 5),
            box(X + 200, Y, X + 200 + 2 * SIDE, Y + 17 * SIDE),
            box(X + 400, Y, X + 425, Y + 20),
        ],
        crs=32617,
    )


@pytest.fixture
def asheville(tmp_path: Path) -> dict[str, Path]:
    """The parcels as GeoJSON (longitude/latitude) and the values as a CSV without a year."""
    files = {"parcels": tmp_path / "parcels.geojson", "filings": tmp_path / "values.csv"}
    asheville_parcels().to_crs(4326).to_file(files["parcels"], engine="pyogrio")
    VALUES.to_csv(files["filings"], index=False)
    return files


def test_rows_on_one_parcel_are_summed_per_acre(asheville):
    cfg = mujun.load_config(
        preset="value-per-acre",
        overrides={
            "input": {k: str(v) for k, v in asheville.items()},
            "columns": {"parcels": {"parcel_id": "PIN"}},
        },
    )
    res = mujun.run(cfg)
    assert res.working_crs.to_epsg() == 32617
    got = res.parcels.set_index("parcel_id")
    lot = 500 / ACRE_M2
    np.testing.assert_allclose(got["area_acre"], [1.0, 0.2, 34.0, lot], rtol=1e-4)
    np.testing.assert_allclose(
        got["assessed_value_per_acre"],
        [610_000, 2_200_000 / 0.2, 20_000_000 / 34, 95_000 / lot],
        rtol=1e-4,
    )
    ent = res.enterprises
    assert len(ent) == 5
    assert set(ent["group"]) == {"parcels"}
    assert ent["class"].isna().all()  # the preset grades by score only, no classes
    # the benchmark is the county's total value over total acres
    bench = (610_000 + 2_200_000 + 20_000_000 + 95_000) / (35.2 + lot)
    np.testing.assert_allclose(ent["benchmark_assessed_value_per_acre"], bench, rtol=1e-4)


def test_value_per_acre_cli_writes_outputs(asheville, tmp_path, capsys):
    code = main(
        [
            "run",
            "--config",
            str(_config(tmp_path)),
            "--parcels",
            str(asheville["parcels"]),
            "--filings",
            str(asheville["filings"]),
            "--out",
            str(tmp_path / "out"),
            "-q",
        ]
    )
    assert code == 0
    page = (tmp_path / "out" / "maps" / "mujun.html").read_text(encoding="utf-8")
    assert "USD/acre" in _page_words(page)  # the legends' unit, in the page's data


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "asheville.toml"
    path.write_text(
        'preset = "value-per-acre"\n[columns.parcels]\nparcel_id = "PIN"\n', encoding="utf-8"
    )
    return path


# --- everything a user sees speaks acres and USD, and says no year -------------------------

CHINESE_UNITS = [r"\bmu\b", r"_mu\b", "亩", "万元", r"\byear 0\b", "yuan", "差别电价"]
"""What a value-per-acre run must never show: the per-mu method's words and a made-up year."""


def _chinese_units(text: str) -> list[tuple[str, str]]:
    """Each pattern of CHINESE_UNITS found in ``text``, with its context (for the message)."""
    return [
        (pattern, text[max(0, hit.start() - 40) : hit.end() + 40])
        for pattern in CHINESE_UNITS
        for hit in re.finditer(pattern, text)
    ]


_ENCODED = ("shapes", "bits", "count", "index")
"""Keys of the map data holding base64 (shapes, bit sets, varints): bytes, not words."""


def _strings(value: object) -> list[str]:
    """Every key and string in the map's data but its base64 encodings."""
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in _ENCODED for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _page_words(page: str) -> str:
    """The words mujun itself puts on a map page: its data (layer names, legends, popup and
    tooltip templates, column names, units, values) and the title. Leaflet's and the page
    script's code (maps/js/) are left out: code is not what a planner reads."""
    title = re.search(r'<div class="mj-title">.*?</div>', page, re.S)
    assert title, "no title on the page"
    return "\n".join([*_strings(page_data(page)), title.group(0)])


def _run_cli(files: dict[str, Path], out: Path, config: Path, *extra: str) -> int:
    return run_mujun(files, out, "--config", str(config), *extra, quiet=False)


def test_the_page_check_finds_chinese_units_on_a_chinese_map(tiny_files, tmp_path):
    """The check below is not empty by construction: on the per-mu map it finds 亩 and mu."""
    assert run_mujun(tiny_files, tmp_path / "zh") == 0
    words = _page_words((tmp_path / "zh" / "maps" / "mujun.html").read_text(encoding="utf-8"))
    found = {pattern for pattern, _ in _chinese_units(words)}
    assert {"亩", r"_mu\b"} <= found  # 亩 in the popups, the area_mu column


def test_value_per_acre_run_speaks_acres_and_usd(asheville, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run_cli(asheville, out, _config(tmp_path)) == 0
    stdout = capsys.readouterr().out
    exports = out / "exports"
    record = json.loads((exports / "run.json").read_text(encoding="utf-8"))
    page = (out / "maps" / "mujun.html").read_text(encoding="utf-8")
    # run.json but its config block: that is the configuration as given (its field names
    # such as below_scale_min_mu are the config schema's), to rerun the run from
    shown = {
        "stdout": stdout,
        # as text, not \u escapes: 亩 must show as 亩
        "run.json": json.dumps(
            {k: v for k, v in record.items() if k != "config"}, ensure_ascii=False
        ),
        "map": _page_words(page),
        **{p.name: p.read_text(encoding="utf-8-sig") for p in sorted(exports.glob("*.csv"))},
    }
    assert len(shown) == 3 + 8  # all eight CSV tables, none skipped
    found = {name: _chinese_units(text) for name, text in shown.items()}
    assert found == {name: [] for name in shown}

    # the facts, computed here from the fixture: acres of the surveyed (UTM) geometry
    parcels = asheville_parcels().set_index("PIN")
    acres = parcels.geometry.area / ACRE_M2
    value = VALUES.groupby("PIN")["Assessed value (USD)"].sum()
    per_acre = value.sum() / acres.sum()

    county = pd.read_csv(exports / "county.csv", encoding="utf-8-sig")
    assert "year" not in county  # one evaluation, no year
    np.testing.assert_allclose(county["assessed_value_per_acre"], [per_acre], rtol=1e-9)
    np.testing.assert_allclose(county["land_acre"], [acres.sum()], rtol=1e-9)
    np.testing.assert_allclose(county["assessed_value_on_land_usd"], [value.sum()], rtol=1e-12)

    doc = json.loads((exports / "parcels.geojson").read_text(encoding="utf-8"))
    props = pd.DataFrame([f["properties"] for f in doc["features"]]).set_index("parcel_id")
    assert "year" not in props
    assert "area_mu" not in props
    pd.testing.assert_series_equal(
        props["assessed_value"], value.astype("float64"), check_names=False, check_index_type=False
    )
    expected = acres.round(4)
    assert expected["9648-04"] == 0.1236  # 4 decimals, where 2 would give 0.12
    pd.testing.assert_series_equal(
        props["area_acre"], expected, check_names=False, check_index_type=False
    )

    units = pd.read_csv(exports / "units.csv", encoding="utf-8-sig")
    assert units["unit"].str.fullmatch(r"U\d{5}").all()  # no year in the land unit ids

    # run.json: money in USD, areas in acres, no year
    summary = record["summary"]
    assert record["units"]["money"].startswith("USD")
    assert summary["year"] is None
    assert summary["years"] == []
    np.testing.assert_allclose(summary["parcels"]["area_acre"], acres.sum(), rtol=1e-9)
    np.testing.assert_allclose(summary["money"]["assessed_value"]["input_usd"], value.sum())
    np.testing.assert_allclose(
        summary["county"]["all"]["assessed_value_per_acre"], per_acre, rtol=1e-9
    )

    # the console summary
    lines = stdout.splitlines()
    assert lines[0].startswith("mujun ")
    assert "no year column" in lines[0]
    assert f"{acres.sum():,.1f} acres surveyed" in stdout
    assert "no declared areas to compare" in stdout  # not "0 differ ... by more than 0 %"
    assert (
        f"county assessed_value_per_acre (all, per occupied acre): {per_acre:.2f} USD/acre" in lines
    )
    assert "USD/year" in stdout

    # the workbook: English headers, acres, no surcharge
    sheet = openpyxl.load_workbook(exports / "enterprises.xlsx")["Parcels"]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "Parcels: value per acre"
    header = rows[1]
    assert "Land (acres, surveyed)" in header
    cells = " ".join(str(c) for row in rows for c in row if c is not None)
    assert _chinese_units(cells) == []
    assert "urcharge" not in cells
    name, land = header.index("Name"), header.index("Land (acres, surveyed)")
    assert {row[name]: row[land] for row in rows[2:]} == acres.round(4).to_dict()

    # the map: areas in acres, a scale bar in feet and miles
    data = page_data(page)
    assert data["texts"]["surveyed"] == "Surveyed area: {v} acres"
    assert data["area_col"] == "area_acre"
    np.testing.assert_allclose(
        data["sets"]["parcels"]["cols"]["area_acre"]["v"], acres.round(4).to_numpy()
    )
    assert data["scale"] == {"imperial": True, "metric": False}


@pytest.mark.browser
def test_value_per_acre_map_shows_acres_and_feet(asheville, tmp_path, chromium):
    out = tmp_path / "out"
    assert _run_cli(asheville, out, _config(tmp_path), "--offline", "-q") == 0
    page = chromium.new_page(viewport={"width": 1200, "height": 800})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto((out / "maps" / "mujun.html").as_uri())
    wait_for_map(page)
    scale = page.inner_text(".leaflet-control-scale")
    assert re.search(r"\d+ (ft|mi)\b", scale), scale
    assert not re.search(r"\d+ k?m\b", scale), scale  # no metric line
    tip = hover_parcel(page, "9648-01")
    assert "Surveyed area: 1.00 acres" in tip
    assert _chinese_units(tip) == []
    page.close()
