"""The demo map of the sample county in Chromium: layers, popups, zones, grid aggregates."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import shapely

from browser import drawn, screen_point, wait_for_map
from mujun.cli import main

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("sample-map")
    config = out / "aggregate.toml"
    config.write_text("[map]\naggregate_above = 100\n", encoding="utf-8")
    assert main(["run", "--out", str(out), "-q", "--offline"]) == 0
    # a second folder: an overwrite would replace the first run, its map included
    assert main(["run", "--out", str(out / "grid"), "-q", "--offline", "--map-name",
                 "grid", "--config", str(config)]) == 0  # fmt: skip
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    parcels = pd.DataFrame([f["properties"] for f in doc["features"]])
    parcels["geometry"] = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]]
    zones = json.loads((out / "exports" / "zones.geojson").read_text(encoding="utf-8"))
    return {
        "map": out / "maps" / "mujun.html",
        "grid": out / "grid" / "maps" / "grid.html",
        "parcels": parcels.set_index("parcel_id", drop=False),
        "zones": pd.DataFrame([f["properties"] for f in zones["features"]]),
        "enterprises": pd.read_csv(out / "exports" / "enterprises.csv", dtype={"uscc": str}),
    }


@pytest.fixture
def page(chromium, sample):
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    yield page
    assert dialogs == []
    context.close()


def _open(page, path: Path) -> None:
    page.goto(path.as_uri())
    wait_for_map(page)


def test_every_parcel_drawn_and_layers_toggle(page, sample):
    _open(page, sample["map"])
    parcels = sample["parcels"]
    occupied = parcels[~parcels["vacant"].astype(bool)]
    assert drawn(page) == {
        "tax": len(parcels),  # 2,005: the theme outlines the parcels it has no value for
        "vacant": int(parcels["vacant"].sum()),  # 227
        "parks": 4,
    }
    coloured = len(parcels) - page.evaluate("mujunMap.blank()")["tax"]
    assert coloured == int(occupied["tax_per_mu"].notna().sum())
    page.locator(".mj-layer", has_text="综合评价分类").click()  # a theme: tax goes
    now = drawn(page)
    assert "tax" not in now
    assert now["class"] - page.evaluate("mujunMap.blank()")["class"] == int(
        parcels["class"].notna().sum()
    )
    page.locator(".mj-layer", has_text="整合提升片区").click()
    assert drawn(page)["zones"] == len(sample["zones"])


def test_popup_lists_the_firms_and_the_zone_links_to_its_parcels(page, sample):
    _open(page, sample["map"])
    parcels, zones = sample["parcels"], sample["zones"]
    firms = sample["enterprises"]
    firms = firms[firms["year"] == firms["year"].max()]
    per_parcel = firms.assign(pid=firms["parcel_ids"].str.split("、")).explode("pid")
    counts = per_parcel.groupby("pid").size()
    # a parcel in a zone, with two or more firms
    pid = next(p for p in zones["parcel_ids"].str.split("、").explode() if counts.get(p, 0) >= 2)
    point = parcels.loc[pid, "geometry"].representative_point()
    xy = screen_point(page, point.x, point.y)
    page.mouse.click(xy["x"], xy["y"])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    rows = popup.locator(".mj-firms tr").all_inner_texts()
    want = per_parcel[per_parcel["pid"] == pid].sort_values("name")
    assert len(rows) == 1 + len(want)  # header and one row per firm
    head = rows[0].split("\t")
    assert head[:4] == ["企业", "分类", "亩均税收", "亩均增加值"]
    for row, (_, firm) in zip(rows[1:], want.iterrows(), strict=True):
        cells = row.split("\t")
        assert cells[0] == firm["name"]
        assert cells[1] == firm["class"]
        assert cells[2] == f"{firm['tax_per_mu']:,.2f}"
        need = firm["tax_per_mu_to_next_class"]  # what it takes, from enterprises.csv
        assert cells[head.index("升类所需亩均税收")] == ("—" if pd.isna(need) else f"{need:,.2f}")
    zone = zones[zones["parcel_ids"].str.split("、").apply(lambda ids: pid in ids)].iloc[0]
    assert f"整合片区：{zone['zone_id']}" in popup.inner_text()
    popup.locator(".mj-zone-show").click()
    assert page.get_attribute(".mj-count", "data-n") == str(int(zone["n_parcels"]))
    assert page.input_value(".mj-filter[data-field='zone_id']") == zone["zone_id"]
    assert drawn(page)["tax"] == int(zone["n_parcels"])


def test_low_zooms_show_grid_cells_with_a_summary(page, sample):
    _open(page, sample["grid"])  # aggregate_above = 100: the 2,005 parcels are "many"
    zoom = page.evaluate("mujunMap.map.getZoom()")
    assert zoom < 13
    cells = page.evaluate("mujunMap.layers.filter(l => l._map).map(l => [l.theme.id, l.cells])")
    cells = dict(cells)
    assert cells["tax"] > 10
    assert cells["vacant"] > 10
    assert drawn(page)["tax"] == 0  # no single parcel at this zoom
    # hover the densest cell: the tooltip sums its parcels
    point = page.evaluate("""() => {
        const app = mujunMap, P = app.parcels, b = P.box, map = app.map, count = {};
        const s = Math.pow(2, map.getZoom()), po = map.getPixelOrigin(), cell = 16;
        let best = null;
        for (let i = 0; i < P.n; i++) {
            const c = app.cellOf(i, s, po.x, po.y, cell), k = c.join(",");
            count[k] = (count[k] || 0) + 1;
            if (!best || count[k] > count[best]) { best = k; }
        }
        const [cx, cy] = best.split(",").map(Number);
        const lp = L.point((cx + 0.5) * cell, (cy + 0.5) * cell);
        const p = map.layerPointToContainerPoint(lp);
        const box = map.getContainer().getBoundingClientRect();
        return {x: p.x + box.left, y: p.y + box.top, n: count[best]};
    }""")
    page.mouse.move(point["x"] - 3, point["y"] - 3)
    page.mouse.move(point["x"], point["y"], steps=3)
    page.wait_for_selector(".leaflet-tooltip")
    assert f"本格 {point['n']} 宗地块" in page.inner_text(".leaflet-tooltip")
    page.evaluate("mujunMap.map.setZoom(13, {animate: false})")
    assert drawn(page)["tax"] > 0  # parcels again at the parcel zoom
