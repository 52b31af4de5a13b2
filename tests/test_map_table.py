"""The attribute table of the sample county's English map in Chromium: sorting, a row's zoom,
and an export that writes exactly the table.

Expected values come from the run's exports (parcels.geojson) with pandas; the page holds
per-area figures to two decimals (its encoding), so the expected order sorts those.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from browser import offline_page, wait_for_map
from mujun.cli import main

pytestmark = pytest.mark.browser

# the English words of the underuse reasons, as a planner reads them
REASONS_EN = {
    "vacant": "vacant",
    "unused_buildings": "idle buildings",
    "low_coverage": "coverage under the minimum",
    "low_far": "FAR under the industry minimum",
    "low_tax": "tax per mu under the floor",
    "below_benchmark": "tax per mu under the benchmark",
    "class_d": "last class",
    "d_streak": "last class years running",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("table-map")
    config = out / "en.toml"
    config.write_text('[map]\nlang = "en"\n', encoding="utf-8")
    assert main(["run", "--out", str(out), "-q", "--offline", "--config", str(config)]) == 0
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    parcels = pd.DataFrame([f["properties"] for f in doc["features"]])
    parcels["geometry"] = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]]
    return {
        "map": out / "maps" / "mujun.html",
        "parcels": parcels.set_index(parcels["parcel_id"].rename(None)),
        "out": out,
    }


@pytest.fixture
def page(chromium):
    with offline_page(
        chromium, viewport={"width": 1366, "height": 768}, accept_downloads=True
    ) as page:
        yield page


def _open(page, path: Path) -> None:
    page.goto(path.as_uri())
    wait_for_map(page)
    page.click(".mj-table-open")


def _page_ids(page) -> list[str]:
    return page.locator(".mj-table tbody tr td:first-child").all_inner_texts()


def _all_ids(page) -> list[str]:
    """Every row's parcel id, page by page, as a person would read them."""
    return [r[0] for r in _all_rows(page, "parcel_id")]


def _all_rows(page, key: str) -> list[tuple[str, str]]:
    """Every row's parcel id and the cell of column key, page by page."""
    n = int(page.get_attribute(".mj-table-info", "data-n"))
    col = page.eval_on_selector_all(".mj-table th", "ths => ths.map(t => t.dataset.key)").index(key)
    rows: list[tuple[str, str]] = []
    while True:
        cells = page.eval_on_selector_all(
            ".mj-table tbody tr",
            f"trs => trs.map(r => [r.cells[0].innerText, r.cells[{col}].innerText])",
        )
        rows += [tuple(c) for c in cells]
        if len(rows) >= n:
            return rows
        page.click(".mj-table-next")


def _check_order(rows: list[tuple[str, str]], parcels: pd.DataFrame, *, descending: bool) -> None:
    """The page's order against pandas: the exported values (4 decimals) sorted, to the page's
    two decimals (a value the export rounds to 12.0550 may be 12.05 on the page); equal shown
    values in parcel id order; parcels without a value last, by parcel id."""
    ids = [r[0] for r in rows]
    assert sorted(ids) == sorted(parcels.index)
    values = parcels["tax_per_mu"]
    has = values.notna().sum()
    got = values.loc[ids].to_numpy()
    want = values.dropna().sort_values(ascending=not descending).to_numpy()
    # two values within 0.005 of one shown value may be 0.01 apart
    np.testing.assert_allclose(got[:has], want, atol=0.0101)
    assert ids[has:] == sorted(parcels.index[values.isna()])
    for (a, va), (b, vb) in itertools.pairwise(rows[:has]):
        if va == vb:
            assert a < b, (a, b, va)


def test_sorting_by_tax_per_mu_matches_pandas(page, sample):
    _open(page, sample["map"])
    parcels = sample["parcels"]
    assert page.inner_text(".mj-table-info") == f"Rows 1–100 of {len(parcels)}"
    assert _page_ids(page) == sorted(parcels.index)[:100]  # by parcel id at first
    page.click(".mj-table th[data-key='tax_per_mu']")
    rows = _all_rows(page, "tax_per_mu")
    _check_order(rows, parcels, descending=False)
    print("ascending:", rows[:3], "last:", rows[-1])
    page.click(".mj-table th[data-key='tax_per_mu']")  # again: descending, missing still last
    rows = _all_rows(page, "tax_per_mu")
    _check_order(rows, parcels, descending=True)
    print("descending:", rows[:3])


def test_clicking_a_row_zooms_to_the_parcel_and_keeps_it(page, sample):
    _open(page, sample["map"])
    row = page.locator(".mj-table tbody tr").nth(7)
    pid = row.locator("td").first.inner_text()
    row.click()
    west, south, east, north = sample["parcels"].loc[pid, "geometry"].bounds
    c = page.evaluate("(() => { const c = mujunMap.map.getCenter(); return [c.lng, c.lat]; })()")
    assert west <= c[0] <= east
    assert south <= c[1] <= north
    assert page.locator("path.mj-kept").count() == 1
    assert page.inner_text(".mj-kept-chip").startswith(f"Selected: parcel {pid}")
    print(pid, "centre", c)


def test_the_export_is_exactly_the_table(page, sample):
    _open(page, sample["map"])
    parcels = sample["parcels"]
    park = "东区工业园"
    page.select_option(".mj-filter[data-field='park']", park)
    page.select_option(".mj-filter[data-field='reasons']", "low_far")
    page.click(".mj-table th[data-key='far']")
    page.click(".mj-table th[data-key='far']")  # FAR descending
    table = _all_ids(page)
    reasons = parcels["underuse_reasons"].fillna("")
    want = parcels[
        (parcels["park"] == park) & reasons.str.split("; ").apply(lambda r: "low_far" in r)
    ]
    assert sorted(table) == sorted(want.index)
    with page.expect_download() as info:
        page.click(".mj-table-bar .mj-table-geojson")
    path = sample["out"] / "table.geojson"
    info.value.save_as(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    features = doc["features"]
    assert [f["properties"]["parcel_id"] for f in features] == table
    heads = page.eval_on_selector_all(".mj-table th", "ths => ths.map(t => t.dataset.key)")
    assert all(list(f["properties"]) == heads for f in features)
    assert doc["units"] == {
        "area_mu": "mu",
        "tax_per_mu": "10k yuan/mu",
        "value_added_per_mu": "10k yuan/mu",
        "revenue_per_mu": "10k yuan/mu",
        "coverage_pct": "%",
    }
    for f in features:
        p = f["properties"]
        row = parcels.loc[p["parcel_id"]]
        words = [REASONS_EN[c] for c in row["underuse_reasons"].split("; ")]
        assert p["reasons"] == ", ".join(words)
        assert p["coverage_pct"] == pytest.approx(round(100 * row["coverage"], 1))
        assert p["far"] == pytest.approx(round(row["far"], 2))
    print(len(features), "rows;", features[0]["properties"]["reasons"])
    with page.expect_download() as info:
        page.click(".mj-table-bar .mj-table-csv")
    csv = sample["out"] / "table.csv"
    info.value.save_as(csv)
    rows = pd.read_csv(csv, encoding="utf-8-sig")
    assert rows.columns.tolist() == heads
    assert rows["parcel_id"].tolist() == table
