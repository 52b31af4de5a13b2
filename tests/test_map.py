"""The planner's map: escaping of input strings, offline drawing, tooltips, in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from playwright.sync_api import expect

from browser import drawn, hover_parcel, wait_for_map
from conftest import page_data, run_mujun
from mujun.maps.assets import CDN_CSS, CDN_JS, local_asset

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "</script><script>alert(2)</script>"
XSS_PARK = "<b onmouseover=alert(3)>园</b>"
XSS_OTHER = "<svg onload=alert(4)>"
XSS_ID = "<i>P5</i>"
XSS_TITLE = "<img src=y onerror=alert(6)>"


@pytest.fixture
def hostile_run(tiny_files, tmp_path: Path) -> dict[str, Path]:
    """The tiny county with script-like text in every text field: enterprise names, industry,
    park, parcel id, land use, and the map title from the config."""
    frame = pd.read_csv(tiny_files["filings"], dtype=str, keep_default_na=False)
    frame.loc[0, "企业名称"] = XSS_IMG
    frame.loc[3, "企业名称"] = XSS_SCRIPT
    frame["所属行业"] = [XSS_OTHER] * len(frame)
    frame.to_csv(tiny_files["filings"], index=False, encoding="utf-8-sig")
    parcels = gpd.read_file(tiny_files["parcels"])
    parcels.loc[0, "园区"] = XSS_PARK
    parcels.loc[4, "宗地号"] = XSS_ID
    parcels["用地性质"] = XSS_OTHER
    parcels.to_file(tiny_files["parcels"], engine="pyogrio")
    config = tmp_path / "hostile.toml"
    config.write_text(f'[map]\ntitle = "{XSS_TITLE}"\n', encoding="utf-8")
    out = tmp_path / "out"
    for offline in (False, True):  # one run per folder: an overwrite replaces a whole run
        # embedded is the default (issue 16); --cdn asks for the CDN
        code = run_mujun(
            tiny_files,
            out / ("offline" if offline else "online"),
            "--config",
            str(config),
            "--map-name",
            "offline" if offline else "online",
            *([] if offline else ["--cdn"]),
        )
        assert code == 0
    return {
        "online": out / "online" / "maps" / "online.html",
        "offline": out / "offline" / "maps" / "offline.html",
        "geojson": out / "online" / "exports" / "parcels.geojson",
    }


def test_input_strings_never_reach_the_page_as_markup(hostile_run):
    for name in ("online", "offline"):
        page = hostile_run[name].read_text(encoding="utf-8")
        assert XSS_IMG not in page
        assert XSS_SCRIPT not in page
        assert "<b onmouseover" not in page
        for raw in (XSS_OTHER, XSS_TITLE, XSS_ID.upper(), "<script>alert"):
            assert raw not in page, raw
        assert "onerror=alert(1)" not in page  # names are only in the packed data...
        data = page_data(page)["sets"]["parcels"]["cols"]
        assert XSS_IMG in data["enterprises"]["v"]  # ...as text, for textContent
        assert XSS_ID.upper() in data["parcel_id"]["v"]


def test_exports_keep_the_names_as_data(hostile_run):
    doc = json.loads(hostile_run["geojson"].read_text(encoding="utf-8"))
    names = {f["properties"]["enterprises"] for f in doc["features"]}
    assert XSS_IMG in names  # text in JSON is data; escaping is the page's job


def test_offline_page_embeds_everything(hostile_run):
    page = hostile_run["offline"].read_text(encoding="utf-8")
    assert not re.findall(r'<script[^>]+src="https?://', page)
    assert not re.findall(r'<link[^>]+href="https?://', page)
    assert "Leaflet 1.9.3" in page or "leaflet" in page.lower()


def _open(browser, url: str, *, route_cdn: bool):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    dialogs: list[str] = []
    external: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    local = {u: local_asset(u) for u in [*CDN_JS.values(), *CDN_CSS.values()]}

    def handle(route):
        url_ = route.request.url
        if url_.startswith("file:"):
            return route.continue_()
        external.append(url_)
        if route_cdn and url_ in local:  # stand-in for the CDN: the same files, from PyPI
            ctype = "text/css" if url_.endswith(".css") else "application/javascript"
            return route.fulfill(path=str(local[url_]), content_type=ctype)
        return route.abort()

    page.route("**/*", handle)
    page.goto(url)
    wait_for_map(page)
    return page, dialogs, external


@pytest.mark.browser
def test_offline_map_draws_with_the_network_cut_and_shows_names_as_text(hostile_run, chromium):
    page, dialogs, external = _open(chromium, hostile_run["offline"].as_uri(), route_cdn=False)
    # the tax theme draws the 5 parcels: 4 occupied ones coloured by tax per mu, the vacant
    # one as an outline; the vacant overlay marks it; no parks file
    assert drawn(page) == {"tax": 5, "vacant": 1}
    assert page.evaluate("mujunMap.blank()") == {"tax": 1}
    assert not [u for u in external if "tile" not in u], "only basemap tiles may be requested"
    text = hover_parcel(page, "P1")
    assert XSS_IMG in text  # shown literally, as text
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    text = hover_parcel(page, "P4")
    assert XSS_SCRIPT in text
    page.fill(".mj-search", "P5")  # the hostile parcel id, found and listed as text
    assert page.locator(".mj-hit").all_inner_texts() == [XSS_ID.upper()]
    for selector in ("svg[onload]", "img[src='y']", "b[onmouseover]", "i"):
        assert page.locator(selector).count() == 0, selector
    assert XSS_TITLE in page.inner_text(".mj-title")
    # the basemap's tiles were refused: the page says so, in its language, and still draws
    notice = page.locator(".mj-basemap-failed")
    notice.wait_for(timeout=5_000)
    assert notice.inner_text() == "底图未能加载（无网络？）；地块照常显示。"
    notice.click()  # a note: a click puts it away
    expect(notice).to_have_count(0)
    assert drawn(page)["tax"] == 5
    page.wait_for_timeout(300)
    assert dialogs == []
    page.close()


@pytest.mark.browser
def test_online_map_draws_from_cdn_urls(hostile_run, chromium):
    page, dialogs, external = _open(chromium, hostile_run["online"].as_uri(), route_cdn=True)
    assert drawn(page) == {"tax": 5, "vacant": 1}
    assert set(CDN_JS.values()) <= set(external)
    legend = page.inner_text(".mj-legend")
    assert "万元/亩" in legend
    assert "空置地块（1 宗）" in legend
    assert dialogs == []
    page.close()
