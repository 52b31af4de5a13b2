"""A real town, end to end: Bellingham, Massachusetts (MassGIS Level 3 parcels and the
assessor table, FY2026, public domain), read from its zip as published.

Expected values are FACTS.md's, computed independently of mujun (tests/data/real/
bellingham-ma/), and a plain geopandas computation in this file. See PROVENANCE.md there.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import mujun
from browser import offline_page, wait_for_map
from mujun.cli import main

ZIP = Path(__file__).parent / "data" / "real" / "bellingham-ma" / "L3_SHP_M025_BELLINGHAM.zip"
PARCELS = f"zip://{ZIP}!L3_SHP_M025_Bellingham/M025TaxPar_CY25_FY26.shp"
TABLE = f"zip://{ZIP}!L3_SHP_M025_Bellingham/M025Assess_CY25_FY26.dbf"

# FACTS.md
FEATURES, TABLE_ROWS = 6_273, 6_999
JOINED_IDS = 6_189
NULL_IDS, ORPHAN_IDS = 5, 4
JOINED_AREA_M2 = 44_058_528
ALL_AREA_M2 = 48_919_651
TOTAL_VALUE, JOINED_VALUE = 4_091_316_189, 4_089_630_689

CONFIG = """\
preset = "value-per-acre"
[columns.parcels]
parcel_id = "LOC_ID"
[columns.filings]
parcel_ids = "LOC_ID"
[units.filings]
assessed_value = "USD"
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> mujun.RunResult:
    folder = tmp_path_factory.mktemp("bellingham")
    config = folder / "bellingham.toml"
    config.write_text(CONFIG, encoding="utf-8")
    cfg = mujun.load_config(
        config,
        overrides={"input": {"parcels": PARCELS, "filings": TABLE}, "output": {"map": False}},
    )
    return mujun.run(cfg)


def test_counts_and_fates_match_the_facts(result):
    counts = result.summary.ledger
    assert counts["M025TaxPar_CY25_FY26.shp"] == {"used": JOINED_IDS, "vacant": 84}
    assert counts["M025Assess_CY25_FY26.dbf"] == {
        "used": TABLE_ROWS - NULL_IDS - ORPHAN_IDS,
        "orphan": ORPHAN_IDS,
        "rejected": NULL_IDS,
    }
    assert result.working_crs.to_epsg() == 26986  # the data's own state plane, not UTM


def test_join_rates_both_ways_match_the_facts(result):
    join = result.summary.join
    f, p = join["filings_to_parcels"], join["parcels_to_filings"]
    assert (f["listing_a_parcel"], f["finding_one"]) == (TABLE_ROWS - NULL_IDS, 6_990)
    assert (f["distinct_ids"], f["distinct_ids_found"]) == (6_193, JOINED_IDS)
    assert (p["parcels"], p["named"]) == (FEATURES, JOINED_IDS)
    assert p["rate"] == pytest.approx(0.9866, abs=5e-5)
    assert "F_664683_2841613" in f["unmatched_examples"]  # USE_CODE 132, no polygon


def test_areas_and_money_match_the_facts_and_geopandas(result):
    parcels = result.parcels
    np.testing.assert_allclose(parcels["area_m2"].sum(), ALL_AREA_M2, atol=1.0)
    joined = parcels.loc[~parcels["vacant"]]
    np.testing.assert_allclose(joined["area_m2"].sum(), JOINED_AREA_M2, atol=1.0)
    money = result.summary.money["assessed_value"]
    assert money["input_yuan"] == TOTAL_VALUE
    assert money["parcels_2026_yuan"] == JOINED_VALUE
    # an independent computation: geopandas reading the zip, summing per LOC_ID
    layer = gpd.read_file(PARCELS, engine="pyogrio")
    table = gpd.read_file(TABLE, engine="pyogrio", read_geometry=False)
    value = table.groupby("LOC_ID")["TOTAL_VAL"].sum()
    layer["value"] = layer["LOC_ID"].map(value)
    expected = (layer["value"] / (layer.geometry.area / 4046.8564224)).dropna()
    got = result.parcels.set_index("parcel_id")["assessed_value_per_acre"].dropna()
    got.index = got.index.astype(str)
    expected.index = layer.loc[expected.index, "LOC_ID"].to_numpy()
    pd.testing.assert_series_equal(
        got.sort_index(), expected.sort_index(), check_names=False, rtol=1e-9
    )


def test_a_new_user_is_led_to_the_working_configuration(tmp_path, capsys):
    """No config at all: each message names the fix, and the fixes together run."""
    base = ["run", "--preset", "value-per-acre", "--out", str(tmp_path), "--no-map", "-q"]
    files = ["--parcels", PARCELS, "--filings", TABLE]
    assert main([*base, *files]) == 2
    err = capsys.readouterr().err
    assert "no column for parcel_id" in err
    assert (
        "column 'LOC_ID' of M025TaxPar_CY25_FY26.shp and column 'LOC_ID' of "
        "M025Assess_CY25_FY26.dbf join 99.9% of the filing rows"
    ) in err
    fix = next(line for line in err.splitlines() if "set [columns.parcels]" in line)
    parcel_fix, filing_fix = fix.split(": set ")[1].removesuffix(" in the config").split(" and ")
    config = tmp_path / "county.toml"
    config.write_text(
        parcel_fix.replace("] ", "]\n") + "\n" + filing_fix.replace("] ", "]\n") + "\n",
        encoding="utf-8",
    )
    assert main([*base, *files, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "column 'TOTAL_VAL' (assessed_value" in err
    assert '[units.filings] assessed_value = "USD"' in err
    unit_fix = err.split("or set ")[1].split(" in the config")[0]
    config.write_text(
        config.read_text("utf-8") + unit_fix.replace("] ", "]\n") + "\n", encoding="utf-8"
    )
    assert main([*base, *files, "--config", str(config)]) == 0


def test_a_wrong_id_column_stops_naming_the_one_that_joins(tmp_path, capsys):
    config = tmp_path / "wrong.toml"
    config.write_text(CONFIG.replace('parcel_id = "LOC_ID"', 'parcel_id = "MAP_PAR_ID"'))
    code = main(
        ["run", "--config", str(config), "--parcels", PARCELS, "--filings", TABLE, "--out",
         str(tmp_path), "--no-map", "-q"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "only 0.0% of the 6,994 rows of M025Assess_CY25_FY26.dbf that list a parcel" in err
    assert "from column 'LOC_ID', the layer's from column 'MAP_PAR_ID'" in err
    assert "column 'LOC_ID' of M025TaxPar_CY25_FY26.shp and column 'LOC_ID'" in err


@pytest.mark.browser
def test_the_real_town_map_opens_and_finds_a_parcel(tmp_path, chromium):
    """The town's map (offline page) in Chromium: every feature of the layer in the page
    (FACTS.md: 6,273), the first view drawn, and the search finding a parcel by its LOC_ID."""
    config = tmp_path / "bellingham.toml"
    config.write_text(CONFIG, encoding="utf-8")
    run = ["run", "--config", str(config), "--parcels", PARCELS, "--filings", TABLE]
    assert main([*run, "--out", str(tmp_path / "out"), "--offline", "-q"]) == 0
    ids = gpd.read_file(PARCELS, columns=["LOC_ID"], ignore_geometry=True)["LOC_ID"]
    loc_id = sorted(ids.dropna())[len(ids) // 2]
    with offline_page(chromium, viewport={"width": 1366, "height": 768}) as page:
        page.goto((tmp_path / "out" / "maps" / "mujun.html").as_uri())
        wait_for_map(page)
        assert page.evaluate("mujunMap.parcels.n") == FEATURES
        assert page.evaluate("performance.getEntriesByName('mj:first-view').length") == 1
        shown = page.evaluate("Object.values(mujunMap.drawn()).reduce((a, b) => a + b, 0)")
        assert shown > 1000  # the town at its first zoom: parcels, not grid cells (6,273 < 20,000)
        page.fill(".mj-search", loc_id)
        hits = page.locator(".mj-hit").all_inner_texts()
        assert hits, f"no hit for {loc_id}"
        assert hits[0].startswith(loc_id)
