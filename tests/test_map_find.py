"""Find and keep, on the sample county's map in Chromium: filters by a figure, a legend class,
the park menu's zoom, the kept highlight, and lessees in the search.

Expected values come from the run's own exports (parcels.geojson, enterprises.csv) and the
sample's park boundaries, computed here with pandas, mapclassify and geopandas. The page
carries per-area figures to two decimals (its encoding); the expectations round likewise.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
import shapely
from playwright.sync_api import expect

from browser import offline_page, screen_point, wait_for_map
from mujun.cli import main

pytestmark = pytest.mark.browser

DATA = Path(__file__).resolve().parents[1] / "data" / "parcels"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("find-map")
    public = out / "public.toml"
    public.write_text('[map]\nprofile = "public"\n', encoding="utf-8")
    assert main(["run", "--out", str(out), "-q", "--offline"]) == 0
    assert main(["run", "--out", str(out / "pub"), "-q", "--offline", "--map-name", "pub",
                 "--config", str(public)]) == 0  # fmt: skip
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    parcels = pd.DataFrame([f["properties"] for f in doc["features"]])
    parcels["geometry"] = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]]
    firms = pd.read_csv(out / "exports" / "enterprises.csv", dtype={"uscc": str})
    return {
        "map": out / "maps" / "mujun.html",
        "public": out / "pub" / "maps" / "pub.html",
        "parcels": parcels.set_index(parcels["parcel_id"].rename(None)),
        "enterprises": firms[firms["year"] == firms["year"].max()],
    }


@pytest.fixture
def page(chromium):
    with offline_page(chromium, viewport={"width": 1366, "height": 768}) as page:
        yield page


def _open(page, path: Path) -> None:
    page.goto(path.as_uri())
    wait_for_map(page)


def _count(page) -> int:
    return int(page.get_attribute(".mj-count", "data-n"))


def _shown_ids(page) -> list[str]:
    return page.evaluate("mujunMap.shown().map(i => mujunMap.parcels.col.parcel_id(i))")


def _tax(parcels: pd.DataFrame) -> pd.Series:
    """Tax per mu as the page holds it (two decimals); NaN for vacant parcels."""
    return parcels["tax_per_mu"].round(2)


def test_lowest_n_and_below_a_value_combine_with_the_menus(page, sample):
    _open(page, sample["map"])
    parcels = sample["parcels"]
    tax = _tax(parcels)
    page.select_option(".mj-fig", "tax_per_mu")
    page.fill(".mj-fig-lowest", "10")
    # lowest 10: parcels without a tax per mu (vacant, NaN) never count; ties by parcel id
    ranked = parcels.assign(v=tax).dropna(subset=["v"]).sort_values(["v", "parcel_id"])
    want = ranked["parcel_id"].head(10).tolist()
    assert _count(page) == 10
    assert sorted(_shown_ids(page)) == sorted(want)
    assert not parcels.loc[want, "vacant"].any()
    print("lowest 10 by tax per mu:", want)
    # with the park menu, the lowest 10 of that park
    park = "东区工业园"
    page.select_option(".mj-filter[data-field='park']", park)
    in_park = ranked[ranked["park"] == park]["parcel_id"].head(10).tolist()
    assert sorted(_shown_ids(page)) == sorted(in_park)
    page.select_option(".mj-filter[data-field='park']", "")
    page.fill(".mj-fig-lowest", "")
    page.fill(".mj-fig-below", "4")
    below = int((tax < 4).sum())  # NaN compares false: vacant parcels are left out
    assert _count(page) == below  # 384 on the sample
    print("below 4 万元/亩:", below)
    page.select_option(".mj-filter[data-field='park']", park)
    assert _count(page) == int(((tax < 4) & (parcels["park"] == park)).sum())
    page.select_option(".mj-fig", "")  # no figure: the figure fields do nothing
    assert _count(page) == int((parcels["park"] == park).sum())


def test_a_legend_class_click_filters_to_that_class(page, sample):
    _open(page, sample["map"])
    parcels = sample["parcels"]
    tax = _tax(parcels).where(~parcels["vacant"].astype(bool))
    # the map's classes: quintiles of the values it holds (two decimals), upper bounds closed
    bins = mapclassify.Quantiles(tax.dropna().to_numpy(), k=5).bins
    klass = pd.Series(np.searchsorted(bins, tax.fillna(0).to_numpy(), side="left"), tax.index)
    want = int(((klass == 1) & tax.notna()).sum())
    row = page.locator(".mj-legend-row[data-layer='tax'][data-key='1']")
    row.click()
    assert _count(page) == want
    chip = page.locator(".mj-legend-chip")
    assert chip.inner_text().startswith(f"已筛选：{bins[0]:,.2f} – {bins[1]:,.2f}")
    print("class 2 of tax per mu:", want, chip.inner_text())
    assert "mj-active" in (page.locator(".mj-legend-row[data-key='1']").get_attribute("class"))
    row = page.locator(".mj-legend-row[data-layer='tax'][data-key='1']")  # redrawn
    row.click()  # a second click toggles it off
    assert _count(page) == len(parcels)
    assert page.locator(".mj-legend-chip").count() == 0
    page.locator(".mj-legend-row[data-layer='tax'][data-key='0']").click()
    assert _count(page) == int(((klass == 0) & tax.notna()).sum())
    page.click(".mj-legend-chip .mj-chip-clear")
    assert _count(page) == len(parcels)


def test_choosing_a_park_fits_the_map_to_it(page, sample):
    _open(page, sample["map"])
    parks = gpd.read_file(DATA / "parks.gpkg").to_crs(4326)
    name = "西山工业园"
    west, south, east, north = parks[parks["园区名称"] == name].total_bounds
    page.select_option(".mj-filter[data-field='park']", name)
    b = page.evaluate(
        "(() => { const b = mujunMap.map.getBounds();"
        " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()"
    )
    assert b[0] <= west
    assert b[1] <= south
    assert b[2] >= east
    assert b[3] >= north
    ratio = min((b[2] - b[0]) / (east - west), (b[3] - b[1]) / (north - south))
    print(f"view / park: {ratio:.2f}")
    assert ratio < 2.7  # one zoom step (2x) and the panel's width at most
    assert _count(page) == int((sample["parcels"]["park"] == name).sum())


def test_a_clicked_or_found_parcel_stays_highlighted_until_cleared(page, sample):
    _open(page, sample["map"])
    parcels = sample["parcels"]
    pid = parcels[~parcels["vacant"].astype(bool)].index[3]
    point = parcels.loc[pid, "geometry"].representative_point()
    xy = screen_point(page, point.x, point.y)
    page.mouse.click(xy["x"], xy["y"])
    kept = page.locator("path.mj-kept")
    expect(kept).to_have_count(1)  # once the double-click interval has passed
    assert page.inner_text(".mj-kept-chip").startswith(f"已选中：宗地 {pid}")
    page.mouse.move(xy["x"] + 300, xy["y"] + 200, steps=5)  # elsewhere: the hover moves on
    page.wait_for_timeout(200)
    assert kept.count() == 1
    page.keyboard.press("Escape")
    assert kept.count() == 0
    assert page.locator(".mj-kept-chip").count() == 0
    # a search hit clicked is kept too; the chip's clear button clears it
    other = parcels.index[10]
    page.fill(".mj-search", other)
    page.locator(".mj-hit", has_text=other).first.click()
    page.mouse.move(5, 400)
    page.wait_for_timeout(200)
    assert kept.count() == 1
    assert page.inner_text(".mj-kept-chip").startswith(f"已选中：宗地 {other}")
    page.click(".mj-kept-chip .mj-chip-clear")
    assert kept.count() == 0


def _lessees(firms: pd.DataFrame) -> pd.DataFrame:
    lessees = firms[(firms["land_status"] == "lessee") & firms["parcel_ids"].isna()]
    assert len(lessees) > 0
    return lessees.sort_values("name")


def test_a_lessee_is_found_by_name_or_credit_code_and_marked(page, sample):
    _open(page, sample["map"])
    lessee = _lessees(sample["enterprises"]).iloc[5]
    page.fill(".mj-search", lessee["name"])
    hit = page.locator(".mj-hit.mj-lessee")
    want = f"{lessee['name']} · 租赁企业，无自有地块 · 分类 {lessee['class']}"
    assert hit.all_inner_texts() == [want]  # no per-mu figures: a lessee has no land
    print(want)
    page.fill(".mj-search", lessee["uscc"].lower())
    assert page.locator(".mj-hit.mj-lessee").all_inner_texts() == [want]


def test_a_public_map_has_no_figure_filter_and_lessees_by_name_only(page, sample):
    _open(page, sample["public"])
    assert page.locator(".mj-fig").count() == 0
    lessee = _lessees(sample["enterprises"]).iloc[5]
    page.fill(".mj-search", lessee["name"])
    want = f"{lessee['name']} · 租赁企业，无自有地块 · 分类 {lessee['class']}"
    assert page.locator(".mj-hit.mj-lessee").all_inner_texts() == [want]
    page.fill(".mj-search", lessee["uscc"])
    assert page.locator(".mj-hit.mj-lessee").count() == 0
    cols = page.evaluate("Object.keys(mujunMap.P.lessees.cols)")
    assert sorted(cols) == ["class", "name"]
    page.click(".mj-table-open")  # the table: no money columns on a public map
    heads = page.eval_on_selector_all(".mj-table th", "ths => ths.map(t => t.dataset.key)")
    assert heads == [
        "parcel_id", "park", "enterprises", "class", "area_mu", "coverage_pct", "far",
        "reasons", "zone_id",
    ]  # fmt: skip
