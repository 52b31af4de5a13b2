"""The measuring tool on the sample county's map, in Chromium: a person clicks the corners
of a parcel and reads its length, perimeter and area, compared with the WGS84 ellipsoid's
(pyproj.Geod); popups stay closed while measuring; Esc clears the measure and leaves the
tool."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import shapely.geometry
from playwright.sync_api import expect
from pyproj import Geod

from browser import wait_for_map
from mujun.cli import main
from mujun.schema import ACRE_M2

pytestmark = pytest.mark.browser

MU_M2 = 10000 / 15


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("measure")
    assert main(["run", "--out", str(out), "-q", "--offline"]) == 0
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    return {"map": out / "maps" / "mujun.html", "features": doc["features"]}


def _quadrilateral(features: list[dict]) -> dict:
    """The largest parcel drawn with four corners (five points, the ring closed)."""
    fours = [
        f
        for f in features
        if f["geometry"]["type"] == "Polygon" and len(f["geometry"]["coordinates"][0]) == 5
    ]
    geod = Geod(ellps="WGS84")
    return max(
        fours,
        key=lambda f: abs(geod.geometry_area_perimeter(shapely.geometry.shape(f["geometry"]))[0]),
    )


def _open(chromium, path: Path, width: int = 1366, height: int = 768):
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(path.as_uri())
    wait_for_map(page)
    return context, page


def _corners_on_screen(page, corners: list[list[float]]) -> list[dict[str, float]]:
    """Bring the parcel to the middle of the map, large, as a person zooming in would; the
    corners' places on the screen."""
    return page.evaluate(
        """(corners) => {
            const map = mujunMap.map;
            const b = L.latLngBounds(corners.map(([lon, lat]) => [lat, lon]));
            map.setView(b.getCenter(), map.getBoundsZoom(b, false, L.point(800, 300)),
                        {animate: false});
            const box = map.getContainer().getBoundingClientRect();
            return corners.map(([lon, lat]) => {
                const p = map.latLngToContainerPoint([lat, lon]);
                return {x: p.x + box.left, y: p.y + box.top};
            });
        }""",
        corners,
    )


def _number(text: str, word: str) -> float:
    """The number after `word` in the readout, in metres or square metres."""
    m = re.search(rf"{word}[：:] ?([\d,.]+) (米|公里|平方米|km|m²|m)", text)
    assert m, f"no {word} in {text!r}"
    value = float(m.group(1).replace(",", ""))
    return value * 1000 if m.group(2) in ("公里", "km") else value


def _measure(page, ring: list[list[float]]) -> str:
    """Turn the tool on, click the corners, end with Enter: the readout."""
    page.click(".mj-measure")
    for p in _corners_on_screen(page, ring):
        page.mouse.click(p["x"], p["y"])
    page.keyboard.press("Enter")
    return page.inner_text(".mj-measure-out")


def test_measure_a_parcel_like_the_ellipsoid(chromium, sample):
    parcel = _quadrilateral(sample["features"])
    ring = parcel["geometry"]["coordinates"][0][:4]
    geod = Geod(ellps="WGS84")
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    path_m = geod.line_length(lons, lats)
    area_m2, perimeter_m = geod.polygon_area_perimeter(lons, lats)
    area_m2 = abs(area_m2)
    context, page = _open(chromium, sample["map"])
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.click(".mj-measure")
        points = _corners_on_screen(page, ring)
        zoom = page.evaluate("mujunMap.map.getZoom()")
        for p in points[:3]:
            page.mouse.click(p["x"], p["y"])
            assert page.locator(".leaflet-popup").count() == 0  # no popup while measuring
        page.mouse.dblclick(points[3]["x"], points[3]["y"])  # the last corner ends it
        page.wait_for_timeout(300)
        assert page.evaluate("mujunMap.map.getZoom()") == zoom  # the double-click did not zoom
        assert page.locator(".leaflet-popup").count() == 0
        text = page.inner_text(".mj-measure-out")
        pid = parcel["properties"]["parcel_id"]
        wgs84 = f"path {path_m:.1f} m, perimeter {perimeter_m:.1f} m, area {area_m2:.0f} m²"
        print(f"parcel {pid}: page says {text!r}; WGS84: {wgs84}")
        assert _number(text, "距离") == pytest.approx(path_m, rel=0.005)
        assert _number(text, "周长") == pytest.approx(perimeter_m, rel=0.005)
        assert _number(text, "面积") == pytest.approx(area_m2, rel=0.005)
        ha = re.search(r"([\d,.]+) 公顷", text)
        mu = re.search(r"([\d,.]+) 亩", text)
        assert ha
        assert mu
        assert float(ha.group(1).replace(",", "")) == pytest.approx(area_m2 / 1e4, rel=0.005)
        assert float(mu.group(1).replace(",", "")) == pytest.approx(area_m2 / MU_M2, rel=0.005)
        # the label on the map says the same
        assert page.inner_text(".mj-measure-tip") == "\n".join(text.splitlines()[:3])
        # a click after the end starts a new measure
        page.mouse.click(points[0]["x"], points[0]["y"])
        assert page.inner_text(".mj-measure-out").startswith("距离：0.0 米")
        page.keyboard.press("Escape")
        assert page.inner_text(".mj-measure-out") == ""
        expect(page.locator(".mj-measure-tip")).to_have_count(0)  # after its fade
        assert page.locator(".leaflet-overlay-pane path").count() == 0
        assert page.get_attribute(".mj-measure", "aria-pressed") == "false"
        # the tool is left: a click on the parcel opens its popup again
        centre = {k: sum(p[k] for p in points) / 4 for k in ("x", "y")}
        page.mouse.click(centre["x"], centre["y"])
        page.wait_for_selector(".leaflet-popup", timeout=5_000)
        assert parcel["properties"]["parcel_id"] in page.inner_text(".leaflet-popup")
        assert dialogs == []
    finally:
        context.close()


def test_enter_ends_and_the_tool_fits_a_phone(chromium, sample, tmp_path):
    context, page = _open(chromium, sample["map"], 390, 844)
    try:
        page.click(".mj-fold[data-fold='panel']")  # the panel starts folded on a phone
        page.mouse.move(200, 400)
        page.mouse.wheel(0, 2000)  # to the panel's end: the tools
        page.click(".mj-measure")
        page.screenshot(path=str(tmp_path / "measure-phone-panel.png"))
        page.click(".mj-fold[data-fold='panel']")  # fold it again to see the map
        for x, y in ((120, 300), (270, 300), (270, 500)):
            page.mouse.click(x, y)
        page.keyboard.press("Enter")
        page.mouse.move(200, 600)
        text = page.inner_text(".mj-measure-tip")
        assert text.startswith("距离：")
        assert "面积：" in text
        tip = page.locator(".mj-measure-tip").bounding_box()
        assert tip is not None
        assert tip["x"] >= 0
        assert tip["x"] + tip["width"] <= 390 + 1
        page.screenshot(path=str(tmp_path / "measure-phone.png"))
        print(f"screenshots in {tmp_path}")
        page.keyboard.press("Escape")
        assert page.evaluate("mujunMap.tool") is None
    finally:
        context.close()


def test_measure_in_acres_on_a_us_map(chromium, tmp_path):
    """The value-per-acre map speaks English and acres: the one-acre square lot of
    test_value_per_acre, measured by its corners."""
    from test_value_per_acre import _config, _run_cli, asheville_parcels  # noqa: PLC0415

    files = {"parcels": tmp_path / "parcels.geojson", "filings": tmp_path / "values.csv"}
    asheville_parcels().to_crs(4326).to_file(files["parcels"], engine="pyogrio")
    from test_value_per_acre import VALUES  # noqa: PLC0415

    VALUES.to_csv(files["filings"], index=False)
    out = tmp_path / "out"
    assert _run_cli(files, out, _config(tmp_path), "--offline", "-q", "--lang", "en") == 0
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    lot = next(f for f in doc["features"] if f["properties"]["parcel_id"] == "9648-01")
    ring = lot["geometry"]["coordinates"][0][:4]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    area_m2, perimeter_m = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    area_m2 = abs(area_m2)
    context, page = _open(chromium, out / "maps" / "mujun.html")
    try:
        text = _measure(page, ring)
        print(f"US lot 9648-01: page says {text!r}; WGS84 {area_m2:.0f} m², {perimeter_m:.1f} m")
        assert _number(text, "Perimeter") == pytest.approx(perimeter_m, rel=0.005)
        assert _number(text, "Area") == pytest.approx(area_m2, rel=0.005)
        acres = re.search(r"([\d,.]+) acres\)", text)
        assert acres, text
        assert float(acres.group(1)) == pytest.approx(area_m2 / ACRE_M2, rel=0.005)
        assert re.search(r"[\d.]+ ha,", text)
        assert not re.search(r"[\u4e00-\u9fff]", text)
    finally:
        context.close()
