"""Consolidation zones on the sample county's map, in Chromium: the zone's tooltip and popup
(land, firms, reasons, tax, gain, why each parcel is in it, list and export), zones of two
parcels or more, a public map without money, double-click zoom, and tools that mute clicks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import shapely

from browser import wait_for_map
from conftest import page_data
from mujun.cli import main
from mujun.config import UnderuseConfig
from mujun.maps.text import TEXT

pytestmark = pytest.mark.browser

PUBLIC_REASONS = ("vacant", "unused_buildings", "low_coverage", "low_far")  # no money in them
MONEY_WORDS = ("万元", "税收", "末档", "可增")


def _frame(path: Path) -> pd.DataFrame:
    doc = json.loads(path.read_text(encoding="utf-8"))
    frame = pd.DataFrame([f["properties"] for f in doc["features"]])
    frame["geometry"] = [shapely.geometry.shape(f["geometry"]) for f in doc["features"]]
    return frame


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("zones-map")
    assert main(["run", "--out", str(out), "-q", "--offline"]) == 0
    assert main(["run", "--out", str(out / "public"), "-q", "--offline",
                 "--profile", "public", "--map-name", "public"]) == 0  # fmt: skip
    firms = pd.read_csv(out / "exports" / "enterprises.csv", dtype={"uscc": str})
    firms = firms[firms["year"] == firms["year"].max()]
    return {
        "map": out / "maps" / "mujun.html",
        "public": out / "public" / "maps" / "public.html",
        "parcels": _frame(out / "exports" / "parcels.geojson").set_index("parcel_id", drop=False),
        "zones": _frame(out / "exports" / "zones.geojson"),
        "firms": firms.assign(pid=firms["parcel_ids"].str.split("、")).explode("pid"),
    }


def _page(chromium, width: int = 1366, height: int = 768):
    size = {"width": width, "height": height}
    context = chromium.new_context(viewport=size, accept_downloads=True)
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    return context, page


@pytest.fixture
def page(chromium):
    context, page = _page(chromium)
    yield page
    context.close()


def _open(page, path: Path, *, zones: bool = True) -> None:
    page.goto(path.as_uri())
    wait_for_map(page)
    if zones:  # tick the zones overlay in the layer list, as a person would
        _tick_zones(page)
        page.wait_for_function("mujunMap.layers.some(l => l._map && l.theme.id === 'zones')")


def _tick_zones(page) -> None:
    """Tick the zones overlay in the layer list, unfolding the list (and panel) if folded."""
    row = page.locator(".mj-layer[data-layer='zones']")
    names = page.eval_on_selector_all(
        ".mj-fold[aria-expanded='false']", "bs => bs.map((b) => b.dataset.fold)"
    )
    opened = []
    for name in names:
        if row.is_visible():
            break
        page.click(f".mj-fold[data-fold='{name}']")
        opened.append(name)
    row.click()
    for name in reversed(opened):  # and fold them again, as a person on a phone would
        page.click(f".mj-fold[data-fold='{name}']")


def _point(
    page, lon: float, lat: float, zoom: int = 17, at: tuple[float, float] = (0.5, 0.5)
) -> dict[str, float]:
    """Bring (lon, lat) to the fraction ``at`` of the map's width and height (the centre, or
    a spot clear of the panel and legend on a phone) and give its page coordinates."""
    return page.evaluate(
        """([lon, lat, zoom, at]) => {
            const map = mujunMap.map, size = map.getSize();
            map.setView([lat, lon], zoom, {animate: false});
            map.panBy([(0.5 - at[0]) * size.x, (0.5 - at[1]) * size.y], {animate: false});
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return {x: p.x + box.left, y: p.y + box.top};
        }""",
        [lon, lat, zoom, list(at)],
    )


def _hover(page, xy) -> str:
    page.mouse.move(xy["x"] - 15, xy["y"] - 15)
    page.mouse.move(xy["x"], xy["y"], steps=4)
    page.wait_for_selector(".leaflet-tooltip")
    return page.inner_text(".leaflet-tooltip")


def _in_zone(zone: pd.Series, parcels: pd.DataFrame) -> dict[str, float]:
    """A point of the zone inside one of its parcels (the largest)."""
    ids = zone["parcel_ids"].split("、")
    biggest = parcels.loc[ids].sort_values("area_mu").iloc[-1]
    p = biggest["geometry"].representative_point()
    return {"lon": p.x, "lat": p.y}


def _reasons_zh(codes: str | None, keep=None) -> str:
    if not isinstance(codes, str) or not codes:
        return "—"
    kept = [c for c in codes.split("; ") if keep is None or c in keep]
    return "、".join(TEXT[c][0] for c in kept) or "—"


def _money(v: float) -> str:
    return f"{v:,.2f}"  # as the page prints 万元 and 万元/亩 (zh-CN, two decimals)


def test_top_zone_tooltip_and_popup_say_why_each_parcel_is_in_it(page, sample):
    parcels, zones, firms = sample["parcels"], sample["zones"], sample["firms"]
    top = zones.sort_values("rank").iloc[0]
    ids = sorted(top["parcel_ids"].split("、"))
    _open(page, sample["map"])
    where = _in_zone(top, parcels)
    xy = _point(page, where["lon"], where["lat"], zoom=16)
    tip = _hover(page, xy)
    assert tip.splitlines() == [
        f"片区 {top['zone_id']}（第 1 位）",
        f"园区：{top['park']}",
        f"地块：{top['n_parcels']} 宗，{_money(top['area_mu'])} 亩",
        f"企业：{top['n_enterprises']} 家",
        f"现状税收：{_money(top['tax_wan'])} 万元",
        f"达到园区中位亩均税收可增：{_money(top['gain_wan'])} 万元",
    ]
    print(tip)
    page.mouse.click(xy["x"], xy["y"])
    popup = page.locator(".mj-zone-popup")
    popup.wait_for()
    assert popup.get_attribute("data-zone") == top["zone_id"]
    text = popup.inner_text()
    assert f"达到园区中位亩均税收可增：{_money(top['gain_wan'])} 万元" in text
    assert f"各地块入选原因（{len(ids)} 宗）" in text
    # the reasons counted over the zone's parcels, as zones.geojson counts them
    counts = [r.rsplit(" ", 1) for r in top["reasons"].split("; ")]
    want = "、".join(f"{TEXT[code][0]} {n} 宗" for code, n in counts)
    assert popup.locator(".mj-zone-reasons").inner_text() == f"低效原因（宗数）：{want}"
    # a row per parcel: id, its reasons as parcels.geojson has them, tax per mu, class
    rows = popup.locator(".mj-zone-parcels tr").all_inner_texts()
    assert rows[0].split("\t") == ["宗地", "低效原因", "亩均税收", "分类"]
    assert len(rows) - 1 == top["n_parcels"] == len(ids)  # 47
    for row, pid in zip(rows[1:], ids, strict=True):
        p = parcels.loc[pid]
        tax = "—" if pd.isna(p["tax_per_mu"]) else _money(p["tax_per_mu"])
        cls = p["class"] if isinstance(p["class"], str) else "—"
        assert row.split("\t") == [pid, _reasons_zh(p["underuse_reasons"]), tax, cls]
    # the firms on its parcels, each once: name, class, tax per mu
    on = firms[firms["pid"].isin(ids)].drop_duplicates("uscc").sort_values("name")
    frows = popup.locator(".mj-zone-firms tr").all_inner_texts()
    assert len(frows) - 1 == len(on)
    for row, (_, f) in zip(frows[1:], on.iterrows(), strict=True):
        assert row.split("\t")[:3] == [f["name"], f["class"], _money(f["tax_per_mu"])]
    # the case: a class-A firm paying over 90 万元/亩, its parcel flagged only for FAR
    strong = on[(on["class"] == "A") & (on["tax_per_mu"] > 90)]
    assert len(strong) >= 1
    pid = strong["pid"].iloc[0]
    assert parcels.loc[pid, "underuse_reasons"] == "low_far"
    row = popup.locator(f".mj-zone-parcels tr[data-parcel='{pid}']").inner_text().split("\t")
    assert row[1] == "容积率<行业标准"
    print(f"{strong['name'].iloc[0]} ({pid}): {strong['tax_per_mu'].iloc[0]:.2f} 万元/亩, {row[1]}")


def test_a_parcel_row_opens_the_parcel_and_the_buttons_list_and_export(page, sample, tmp_path):
    parcels, zones = sample["parcels"], sample["zones"]
    zone = zones.sort_values("rank").iloc[1]
    ids = sorted(zone["parcel_ids"].split("、"))
    _open(page, sample["map"])
    where = _in_zone(zone, parcels)
    xy = _point(page, where["lon"], where["lat"], zoom=16)
    page.mouse.click(xy["x"], xy["y"])
    popup = page.locator(".mj-zone-popup")
    popup.wait_for()
    with page.expect_download() as info:
        popup.locator(".mj-zone-export").click()
    path = tmp_path / "zone.geojson"
    info.value.save_as(path)
    assert info.value.suggested_filename == f"zone-{zone['zone_id']}-parcels.geojson"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert [f["properties"]["parcel_id"] for f in doc["features"]] == ids
    assert doc["units"]["area_mu"] == "亩"  # the attribute table's export: columns and units
    for f in doc["features"]:
        assert f["properties"]["zone_id"] == zone["zone_id"]
        reasons = parcels.loc[f["properties"]["parcel_id"], "underuse_reasons"]
        assert f["properties"]["reasons"] == _reasons_zh(reasons)  # in the page's language
        shape = shapely.geometry.shape(f["geometry"])
        polys = getattr(shape, "geoms", [shape])
        assert all(p.exterior.is_ccw for p in polys)  # RFC 7946 exterior rings
        ref = parcels.loc[f["properties"]["parcel_id"], "geometry"]
        # the page holds its shapes simplified by [map] simplify_m, as the panel exports them
        assert shape.symmetric_difference(ref).area < 1e-2 * ref.area
    # the parcel row: that parcel's own popup
    pid = ids[-1]
    popup.locator(f".mj-zone-parcels tr[data-parcel='{pid}'] button").click()
    parcel = page.locator(".leaflet-popup .mj-popup:not(.mj-zone-popup)")
    parcel.wait_for()
    assert parcel.locator("b").first.inner_text() == f"宗地 {pid}"
    assert f"整合片区：{zone['zone_id']}" in parcel.inner_text()
    # and back: the zone's popup lists only its parcels when asked
    xy = _point(page, where["lon"], where["lat"], zoom=16)
    page.mouse.click(xy["x"], xy["y"])
    page.locator(".mj-zone-popup .mj-zone-show").click()
    assert page.get_attribute(".mj-count", "data-n") == str(len(ids))
    # the zone's popup closes (Leaflet fades it out first: wait up to 5 s). Under CI load a
    # popup was twice still open after "show" (not reproduced here, not yet diagnosed);
    # the zone's own popup is what "show" must close
    page.locator(".mj-zone-popup").wait_for(state="detached", timeout=5000)
    assert page.locator(".mj-zone-popup").count() == 0


def test_with_zones_off_parcels_answer(page, sample):
    parcels, zones = sample["parcels"], sample["zones"]
    zone = zones.sort_values("rank").iloc[0]
    where = _in_zone(zone, parcels)
    pid = next(
        i for i in zone["parcel_ids"].split("、")
        if parcels.loc[i, "geometry"].contains(shapely.Point(where["lon"], where["lat"]))
    )  # fmt: skip
    _open(page, sample["map"], zones=False)
    xy = _point(page, where["lon"], where["lat"])
    assert _hover(page, xy).splitlines()[0] == f"宗地 {pid}"
    page.mouse.click(xy["x"], xy["y"])
    page.locator(".leaflet-popup .mj-popup").wait_for()
    assert page.locator(".mj-zone-popup").count() == 0
    assert page.locator(".leaflet-popup .mj-popup b").first.inner_text() == f"宗地 {pid}"


def test_one_parcel_zones_are_not_zones(page, sample):
    parcels, zones = sample["parcels"], sample["zones"]
    assert UnderuseConfig().zone_min_parcels == 2
    assert zones["n_parcels"].min() >= 2
    assert (zones["parcel_ids"].str.split("、").str.len() == zones["n_parcels"]).all()
    members = parcels["zone_id"].value_counts()
    assert members.min() >= 2
    lone = parcels[parcels["underused"].astype(bool) & parcels["zone_id"].isna()]
    print(f"{len(zones)} zones, {len(lone)} underused parcels in no zone")
    assert len(lone) > 0
    _open(page, sample["map"])
    on_page = page.evaluate(
        """() => {
            const Z = mujunMap.sets.zones, out = [];
            for (let j = 0; j < Z.n; j++) {
                out.push([Z.col.zone_id(j), Z.col.n_parcels(j), mujunMap.zoneParcels(j).length]);
            }
            return out;
        }"""
    )
    assert len(on_page) == len(zones)
    assert min(n for _, n, _ in on_page) >= 2
    assert {z: k for z, _, k in on_page} == members.to_dict()
    # a lone underused parcel: still flagged, in no zone, so the parcel answers
    pid = lone.sort_values("area_mu").index[-1]
    p = lone.loc[pid, "geometry"].representative_point()
    tip = _hover(page, _point(page, p.x, p.y))
    assert tip.splitlines()[0] == f"宗地 {pid}"
    assert f"低效原因：{_reasons_zh(lone.loc[pid, 'underuse_reasons'])}" in tip
    assert "整合片区" not in tip


def test_double_click_zooms_without_a_popup(page, sample):
    parcels = sample["parcels"]
    pid = parcels.sort_values("area_mu").index[-1]
    p = parcels.loc[pid, "geometry"].representative_point()
    _open(page, sample["map"], zones=False)
    xy = _point(page, p.x, p.y, zoom=15)
    page.mouse.move(xy["x"], xy["y"])
    page.mouse.dblclick(xy["x"], xy["y"])
    page.wait_for_function("mujunMap.map.getZoom() === 16")
    page.wait_for_timeout(700)  # past the double-click interval
    assert page.locator(".leaflet-popup").count() == 0
    xy = _point(page, p.x, p.y, zoom=16)
    page.mouse.click(xy["x"], xy["y"])
    page.locator(".leaflet-popup .mj-popup").wait_for()
    assert page.evaluate("mujunMap.map.getZoom()") == 16
    assert page.locator(".leaflet-popup .mj-popup b").first.inner_text() == f"宗地 {pid}"


def test_a_tool_mutes_hover_and_click(page, sample):
    parcels, zones = sample["parcels"], sample["zones"]
    where = _in_zone(zones.sort_values("rank").iloc[0], parcels)
    _open(page, sample["map"])
    xy = _point(page, where["lon"], where["lat"])
    page.evaluate("window.mujunMap.tool = 'measure'")  # what the measuring tool sets
    page.mouse.move(xy["x"] - 15, xy["y"] - 15)
    page.mouse.move(xy["x"], xy["y"], steps=4)
    page.mouse.click(xy["x"], xy["y"])
    page.wait_for_timeout(700)
    assert page.locator(".leaflet-popup").count() == 0
    assert page.locator(".leaflet-tooltip").count() == 0
    page.evaluate("window.mujunMap.tool = null")
    page.mouse.click(xy["x"], xy["y"])
    page.locator(".mj-zone-popup").wait_for()


def test_public_zone_popup_has_no_money(page, sample):
    parcels = sample["parcels"]
    data = page_data(sample["public"].read_text(encoding="utf-8"))
    cols = set(data["sets"]["zones"]["cols"])
    assert cols == {"zone_id", "rank", "park", "n_parcels", "area_mu"}
    assert not {"zone_tip_tax", "zone_tip_gain", "zone_tax_per_area"} & set(data["texts"])
    _open(page, sample["public"])
    top = page.evaluate(
        """() => {
            const app = mujunMap, Z = app.sets.zones;
            const j = [...Array(Z.n).keys()].find((k) => Z.col.rank(k) === 1);
            const ids = app.zoneParcels(j).map((i) => app.parcels.col.parcel_id(i));
            return {id: Z.col.zone_id(j), ids};
        }"""
    )
    ids = sorted(top["ids"])
    biggest = parcels.loc[ids].sort_values("area_mu").iloc[-1]["geometry"].representative_point()
    xy = _point(page, biggest.x, biggest.y, zoom=16)
    tip = _hover(page, xy)
    assert tip.splitlines()[0] == f"片区 {top['id']}（第 1 位）"
    page.mouse.click(xy["x"], xy["y"])
    popup = page.locator(".mj-zone-popup")
    popup.wait_for()
    text = tip + popup.inner_text()
    for word in MONEY_WORDS:
        assert word not in text
    rows = popup.locator(".mj-zone-parcels tr").all_inner_texts()
    assert rows[0].split("\t") == ["宗地", "低效原因", "分类"]
    for row, pid in zip(rows[1:], ids, strict=True):
        reasons = _reasons_zh(parcels.loc[pid, "underuse_reasons"], keep=PUBLIC_REASONS)
        assert row.split("\t")[:2] == [pid, reasons]
    print(f"public {top['id']}: {len(ids)} parcels, {len(rows) - 1} rows")


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_zone_popup_fits_the_screen(chromium, sample, width, height, tmp_path):
    context, page = _page(chromium, width, height)
    try:
        parcels, zones = sample["parcels"], sample["zones"]
        where = _in_zone(zones.sort_values("rank").iloc[0], parcels)
        _open(page, sample["map"])
        at = (0.75, 0.65) if width < 500 else (0.5, 0.5)  # a phone: clear of the panel
        xy = _point(page, where["lon"], where["lat"], zoom=16, at=at)
        page.mouse.click(xy["x"], xy["y"])
        page.locator(".mj-zone-popup").wait_for()
        page.wait_for_timeout(400)  # the popup's pan into view
        box = page.locator(".leaflet-popup-content-wrapper").bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= height
        scrolled = page.locator(".leaflet-popup-scrolled")
        assert scrolled.evaluate("e => e.scrollHeight > e.clientHeight")  # 47 parcels scroll
        shot = Path(__file__).parent.parent / "docs" / f"map-zone-popup-{width}.png"
        page.screenshot(path=str(tmp_path / shot.name))
        print(box, tmp_path / shot.name)
    finally:
        context.close()
