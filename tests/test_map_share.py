"""Share and print on the sample county's map, in Chromium: the permalink (view, theme,
overlays, filters in the URL hash) copied and opened in a new page; hostile hash values
ignored; the print layout on A4 and A3 landscape, read back from the PDF."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
import shapely
from PIL import Image
from playwright.sync_api import expect
from pypdf import PdfReader

import mujun
from browser import hold_back_rest, wait_for_map
from mujun.cli import main

pytestmark = pytest.mark.browser

MM = 72 / 25.4  # PDF points per millimetre
PARK = "北港智造园"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("share")
    assert main(["run", "--out", str(out), "-q", "--offline"]) == 0
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    run = json.loads((out / "exports" / "run.json").read_text(encoding="utf-8"))
    return {
        "map": out / "maps" / "mujun.html",
        "parcels": pd.DataFrame([f["properties"] for f in doc["features"]]),
        "run": run,
    }


@pytest.fixture
def context(chromium):
    context = chromium.new_context(
        viewport={"width": 1366, "height": 768}, permissions=["clipboard-read", "clipboard-write"]
    )
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
    )
    # The print dialog is the browser's, not the page's: here page.pdf() stands for its
    # "Save as PDF", so window.print only records that the page asked for it.
    context.add_init_script(
        "window.print = () => { window.printCalls = (window.printCalls || 0) + 1; };"
    )
    yield context
    context.close()


def _open(context, url: str, dialogs: list[str] | None = None):
    page = context.new_page()
    if dialogs is not None:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    wait_for_map(page)
    return page


def _state(page) -> dict[str, object]:
    """What a person sees: the view, the theme and overlays ticked, the menus, the count."""
    return page.evaluate(
        """() => {
            const app = mujunMap, c = app.map.getCenter();
            const menus = {};
            for (const s of document.querySelectorAll(".mj-filter")) {
                menus[s.dataset.field] = s.value;
            }
            const ticked = ".mj-sec-layers input[type=checkbox]:checked";
            return {
                zoom: app.map.getZoom(), lat: c.lat, lng: c.lng,
                theme: document.querySelector(".mj-sec-layers input[type=radio]:checked").value,
                overlays: [...document.querySelectorAll(ticked)].map((x) => x.value).sort(),
                drawn: app.layers.filter((l) => l._map).map((l) => l.theme.id).sort(),
                menus, count: document.querySelector(".mj-count").textContent,
                legend: document.querySelector(".mj-legend-block b").textContent,
            };
        }"""
    )


def test_permalink_copied_and_opened_shows_the_same(context, sample):
    parcels = sample["parcels"]
    page = _open(context, sample["map"].as_uri())
    page.click(".mj-layer[data-layer='class']")  # theme: the evaluation class
    page.click(".mj-layer[data-layer='zones']")  # overlay on
    page.click(".mj-layer[data-layer='vacant']")  # overlay off
    page.select_option(".mj-filter[data-field='park']", PARK)
    page.click(".leaflet-control-zoom-in")
    page.wait_for_timeout(400)
    page.mouse.move(600, 400)
    page.mouse.down()
    page.mouse.move(480, 460, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    page.click(".mj-copy-link")
    page.wait_for_selector(".mj-link-note:has-text('已复制')")
    link = page.evaluate("navigator.clipboard.readText()")
    before = _state(page)
    hash_ = link.split("#", 1)[1]
    print(f"permalink: #{hash_}")
    pairs = dict(p.split("=", 1) for p in hash_.split("&"))
    assert pairs["t"] == "class"
    assert set(pairs["o"].split(",")) == {"zones", "parks"}
    assert pairs["f"] == f"park:{quote(PARK, safe='')}"
    assert int(pairs["z"]) == before["zoom"]
    lat, lng = (float(v) for v in pairs["c"].split(","))
    assert (lat, lng) == pytest.approx((before["lat"], before["lng"]), abs=1e-6)
    # opened by a colleague in a new page
    other = _open(context, link)
    after = _state(other)
    n_park = int((parcels["park"] == PARK).sum())
    assert after["count"] == f"显示 {n_park} 宗地块"
    assert after["menus"]["park"] == PARK
    assert {k: v for k, v in after["menus"].items() if k != "park"} == dict.fromkeys(
        [k for k in after["menus"] if k != "park"], ""
    )
    assert after["theme"] == "class"
    assert after["overlays"] == ["parks", "zones"]
    assert after["drawn"] == ["class", "parks", "zones"]
    assert after["zoom"] == before["zoom"]
    assert (after["lat"], after["lng"]) == pytest.approx((before["lat"], before["lng"]), abs=1e-6)
    same = ("zoom", "theme", "overlays", "drawn", "menus", "count", "legend")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}
    # the hash follows what the person does next
    other.select_option(".mj-filter[data-field='park']", "")
    assert "f=" not in other.evaluate("location.hash")
    other.click(".leaflet-control-zoom-out")
    other.wait_for_timeout(400)
    assert f"z={before['zoom'] - 1}&" in other.evaluate("location.hash")


HOSTILE = (
    "#z=<img src=x onerror=alert(1)>&c=NaN,1e999&t=<script>alert(2)</script>"
    "&o=%3Cimg%20src%3Dx%20onerror%3Dalert(3)%3E,parks,constructor"
    "&f=park:%3Cimg%20src%3Dx%20onerror%3Dalert(4)%3E,class:%E0%A4%A,__proto__:x&zz=%ZZ"
)


def test_hostile_hash_is_ignored(context, sample):
    dialogs: list[str] = []
    plain = _state(_open(context, sample["map"].as_uri()))
    page = _open(context, sample["map"].as_uri() + HOSTILE, dialogs)
    page.wait_for_timeout(500)
    seen = _state(page)
    assert dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator(".mj-panel script, .mj-legend script").count() == 0
    assert seen["theme"] == plain["theme"] == "tax"
    assert seen["overlays"] == ["parks"]  # the one known overlay named
    assert seen["menus"] == plain["menus"]
    assert seen["count"] == f"显示 {len(sample['parcels'])} 宗地块"
    assert seen["zoom"] == plain["zoom"]
    clean = page.evaluate("location.hash")
    assert "<" not in clean
    assert "%3C" not in clean
    assert "script" not in clean
    print(f"hostile hash rewritten as {clean}")


def test_registered_state_round_trips(context, sample):
    page = _open(context, sample["map"].as_uri() + "#demo=a%2Cb,%E5%8C%97")
    got = page.evaluate(
        """() => {
            let value = null;
            mujunMap.registerState("demo", () => value, (v) => { value = v; });
            const restored = value;
            value = ["x,y", "z"];
            mujunMap.changed("filter");
            return {restored, hash: location.hash};
        }"""
    )
    assert got["restored"] == ["a,b", "北"]
    assert "demo=x%2Cy,z" in got["hash"]


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _print(page, paper: str, path: Path, **pdf) -> Path:
    page.select_option(".mj-paper", paper)
    page.click(".mj-print")
    assert page.evaluate("window.printCalls") == 1
    page.pdf(path=str(path), **pdf)
    return path


def test_print_a4_sheet(context, sample, tmp_path):
    page = _open(context, sample["map"].as_uri())
    title = page.inner_text(".mj-title")
    legend = page.inner_text(".mj-legend-block b")
    pdf = _print(page, "A4", tmp_path / "a4.pdf", format="A4", landscape=True)
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width) / MM, float(box.height) / MM) == pytest.approx((297, 210), abs=1)
    text = _pdf_text(pdf)
    run = sample["run"]
    made = datetime.fromisoformat(run["started_utc"]).astimezone().date().isoformat()
    files = [Path(v["path"]).name for v in run["inputs"].values() if "path" in v]
    print(f"sheet text:\n{text}")
    assert title in text
    assert f"制图日期：{made}" in text
    assert f"mujun {mujun.__version__}" in text
    assert "parcels.gpkg" in files
    assert "filings.csv" in files
    flat = text.replace("\n", "")
    for name in files:
        assert name in flat
    assert legend in text
    assert "N" in text.split()  # the north arrow's letter
    assert any(u in text for u in (" km", " m\n")) or "km" in text  # the scale bar
    for hidden in ("图层与查询", "复制链接", "测量距离和面积", "导出 CSV"):
        assert hidden not in text  # the panel is not on the sheet
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "a4")],
        check=True,
    )
    image = Image.open(tmp_path / "a4-1.png").convert("RGB")
    colours = image.getcolors(1 << 20)
    assert colours is not None
    assert len(colours) > 1000
    # the map part of the sheet (right of the head and the legend) is drawn, not blank
    w, h = image.size
    right = image.crop((w // 2, h // 5, w * 9 // 10, h * 4 // 5)).getcolors(1 << 20)
    assert right is not None
    assert len(right) > 300
    print(
        f"A4 sheet: {len(colours)} colours, {len(right)} in its map part; {tmp_path / 'a4-1.png'}"
    )
    # after printing the page is the screen's again
    assert page.evaluate("document.body.classList.contains('mj-printing')") is False
    assert page.evaluate("mujunMap.map.getSize().x") == 1366
    assert page.locator(".mj-print-head").count() == 0


def test_print_a3_sheet(context, sample, tmp_path):
    page = _open(context, sample["map"].as_uri())
    zoom = page.evaluate("mujunMap.map.getZoom()")
    pdf = _print(page, "A3", tmp_path / "a3.pdf", prefer_css_page_size=True)
    reader = PdfReader(pdf)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    size = (float(box.width) / MM, float(box.height) / MM)
    print(f"A3 sheet: {size[0]:.1f} x {size[1]:.1f} mm")
    assert size == pytest.approx((420, 297), abs=1)
    assert page.evaluate("mujunMap.map.getZoom()") == zoom
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(pdf), str(tmp_path / "a3")], check=True)
    colours = Image.open(tmp_path / "a3-1.png").convert("RGB").getcolors(1 << 20)
    assert colours is not None
    assert len(colours) > 1000


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_tools_reachable(chromium, sample, tmp_path, width, height):
    context = chromium.new_context(viewport={"width": width, "height": height})
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
    )
    page = _open(context, sample["map"].as_uri())
    try:
        if width < 700:
            page.click(".mj-fold[data-fold='panel']")
        page.mouse.move(width - 100, height // 2)
        page.mouse.wheel(0, 3000)
        page.wait_for_timeout(400)  # the scroll to settle
        for sel in (".mj-copy-link", ".mj-paper", ".mj-print", ".mj-measure"):
            box = page.locator(sel).bounding_box()
            assert box is not None
            assert box["y"] + box["height"] <= height
            assert box["x"] >= 0
            page.locator(sel).click(trial=True)  # nothing covers it
        page.screenshot(path=str(tmp_path / f"tools-{width}.png"))
        print(f"screenshot {tmp_path / f'tools-{width}.png'}")
    finally:
        context.close()


def test_permalink_keeps_the_figure_filter(context, sample):
    """The find helper's figure filter (lowest N by tax per mu) and a legend class travel in
    the link too (app.registerState)."""
    parcels = sample["parcels"]
    page = _open(context, sample["map"].as_uri())
    page.select_option(".mj-fig", "tax_per_mu")
    page.fill(".mj-fig-lowest", "20")
    expect(page.locator(".mj-count")).to_have_text("显示 20 宗地块")
    page.click(".mj-copy-link")
    page.wait_for_selector(".mj-link-note:has-text('已复制')")
    link = page.evaluate("navigator.clipboard.readText()")
    assert "&g=tax_per_mu,20," in link
    other = _open(context, link)
    expect(other.locator(".mj-count")).to_have_text("显示 20 宗地块")
    assert other.input_value(".mj-fig") == "tax_per_mu"
    assert other.input_value(".mj-fig-lowest") == "20"
    # the 20 shown are the 20 lowest by tax per mu (ties by parcel id), as computed here
    taxed = parcels.dropna(subset=["tax_per_mu"]).sort_values(["tax_per_mu", "parcel_id"])
    shown = other.evaluate("mujunMap.shown().map((i) => mujunMap.parcels.col.parcel_id(i))")
    assert sorted(shown) == sorted(taxed["parcel_id"].head(20))
    # a legend class, clicked, and opened again
    other.fill(".mj-fig-lowest", "")
    other.locator(".mj-legend-row[data-key='0']").first.click()
    n_low = int(other.locator(".mj-count").get_attribute("data-n"))
    link = other.evaluate("location.href")
    assert "&l=tax,0" in link
    third = _open(context, link)
    assert int(third.locator(".mj-count").get_attribute("data-n")) == n_low
    print(f"lowest-20 link restored; legend class link: {n_low} parcels")


FIRST_VIEW = "performance.getEntriesByName('mj:first-view').length === 1"
SEEN = """() => {
  const map = Object.values(window).find((v) => v instanceof L.Map);
  const c = map.getCenter();
  return {zoom: map.getZoom(), lat: c.lat, lng: c.lng,
          canvases: [...document.querySelectorAll('canvas.mj-canvas')].map((x) => x.dataset.theme)};
}"""


def _link(sample) -> tuple[str, float, float]:
    """A shared link to zoom 15 on a parcel of the sample, with the class theme."""
    doc = json.loads(
        (sample["map"].parent.parent / "exports" / "parcels.geojson").read_text(encoding="utf-8")
    )
    point = shapely.geometry.shape(doc["features"][7]["geometry"]).representative_point()
    return f"{sample['map'].as_uri()}#z=15&c={point.y:.6f},{point.x:.6f}&t=class", point.y, point.x


def test_a_shared_link_shows_its_view_and_theme_from_the_first_view(context, sample):
    """The link's view and theme are those of the first view, not applied once the page has
    read the rest of its data (held back here); the planner's move in between is kept."""
    url, lat, lng = _link(sample)
    context.add_init_script(hold_back_rest(1500))
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(FIRST_VIEW)
    first = page.evaluate(SEEN)
    assert first["zoom"] == 15
    assert abs(first["lat"] - lat) < 1e-5
    assert abs(first["lng"] - lng) < 1e-5
    assert "class" in first["canvases"]
    assert "tax" not in first["canvases"]
    assert page.evaluate("window.mujunMap === undefined")  # still reading
    page.evaluate(
        "Object.values(window).find((v) => v instanceof L.Map).panBy([200, 0], {animate: false})"
    )
    moved = page.evaluate(SEEN)
    assert moved["lng"] > lng
    wait_for_map(page)
    ready = page.evaluate(SEEN)
    assert (ready["zoom"], ready["lat"], ready["lng"]) == (15, moved["lat"], moved["lng"])
    assert "class" in ready["canvases"]
    page.close()


def test_a_shared_link_left_alone_keeps_its_view_when_ready(context, sample):
    url, lat, lng = _link(sample)
    context.add_init_script(hold_back_rest(500))
    page = context.new_page()
    page.goto(url)
    wait_for_map(page)
    ready = page.evaluate(SEEN)
    assert ready["zoom"] == 15
    assert abs(ready["lat"] - lat) < 1e-5
    assert abs(ready["lng"] - lng) < 1e-5
    page.close()
