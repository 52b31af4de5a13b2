"""Search, filters and export in the page, driven in headless Chromium (no server)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely
from playwright.sync_api import expect

from browser import hold_back_rest, offline_page, wait_for_map
from conftest import page_data, run_mujun
from mujun.maps.encode import pack, unpack
from mujun.maps.payload import SCHEMA_VERSION
from test_writers import check_rfc7946

XSS = "<img src=x onerror=alert(1)>"
pytestmark = pytest.mark.browser


@pytest.fixture
def page_and_data(tiny_files, tmp_path: Path, chromium):
    frame = pd.read_csv(tiny_files["filings"], dtype=str, keep_default_na=False)
    frame.loc[0, "企业名称"] = XSS
    frame.to_csv(tiny_files["filings"], index=False, encoding="utf-8-sig")
    out = tmp_path / "out"
    assert run_mujun(tiny_files, out, "--offline") == 0
    parcels = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    props = pd.DataFrame([f["properties"] for f in parcels["features"]]).set_index("parcel_id")
    context = chromium.new_context(accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto((out / "maps" / "mujun.html").as_uri())
    wait_for_map(page)
    yield page, props, dialogs, tmp_path
    context.close()


def test_search_finds_a_firm_and_shows_names_as_text(page_and_data):
    page, _, dialogs, _ = page_and_data
    page.fill(".mj-search", "丙公司")
    hits = page.locator(".mj-hit").all_inner_texts()
    assert hits == ["P4 · 丁公司、丙公司"]
    page.fill(".mj-search", "img")
    assert page.locator(".mj-hit").all_inner_texts() == [f"P1 · {XSS}"]
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.locator(".mj-hit").first.click()
    page.wait_for_timeout(300)
    assert dialogs == []


def test_filters_change_the_count(page_and_data):
    page, props, _, _ = page_and_data
    assert page.get_attribute(".mj-count", "data-n") == str(len(props))
    cls = props["class"].dropna()
    label = cls.value_counts().index[0]
    page.select_option(".mj-filter[data-field='class']", label)
    assert page.get_attribute(".mj-count", "data-n") == str(int((cls == label).sum()))
    page.select_option(".mj-filter[data-field='class']", "")
    page.select_option(".mj-filter[data-field='reasons']", "vacant")
    assert page.get_attribute(".mj-count", "data-n") == "1"  # P5


def test_export_downloads_exactly_the_filtered_parcels(page_and_data):
    page, props, _, tmp = page_and_data
    page.select_option(".mj-filter[data-field='park']", "东区")
    expected = sorted(props.index[props["park"] == "东区"])
    with page.expect_download() as info:
        page.click(".mj-export-geojson")
    path = tmp / "filtered.geojson"
    info.value.save_as(path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    check_rfc7946(doc, precision=6)
    assert sorted(f["properties"]["parcel_id"] for f in doc["features"]) == expected
    assert all("tip" not in f["properties"] for f in doc["features"])
    with page.expect_download() as info:
        page.click(".mj-export-csv")
    csv = tmp / "filtered.csv"
    info.value.save_as(csv)
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(csv, encoding="utf-8-sig")
    assert sorted(table["parcel_id"]) == expected
    assert XSS in set(table["enterprises"].dropna())


def test_legends_follow_their_layers(page_and_data):
    """One theme at a time (radio buttons), and a legend block or row for every layer shown,
    paired by id (data-layer), not by its text."""
    page, _, _, _ = page_and_data

    def legend_ids() -> set[str]:
        rows = page.eval_on_selector_all(
            ".mj-legend-body .mj-legend-row", "rs => rs.map(r => r.dataset.layer)"
        )
        return set(rows)

    def shown() -> set[str]:
        return set(page.evaluate("mujunMap.layers.filter(l => l._map).map(l => l.theme.id)"))

    radios = page.eval_on_selector_all(
        ".mj-sec-layers input[type=radio]", "rs => rs.map(r => r.value)"
    )
    assert radios == ["tax", "tax_first", "value_added", "change", "class", "score", "all"]
    assert shown() == {"tax", "vacant"} == legend_ids()
    page.locator(".mj-layer[data-layer='value_added']").click()
    assert shown() == {"value_added", "vacant"} == legend_ids()
    page.locator(".mj-layer[data-layer='underused']").click()  # an overlay: ticked on top
    assert shown() == {"value_added", "underused", "vacant"} == legend_ids()
    page.locator(".mj-layer[data-layer='vacant']").click()
    page.locator(".mj-layer[data-layer='class']").click()
    assert shown() == {"class", "underused"} == legend_ids()
    expect(page.locator(".mj-legend-block[data-layer='class']")).to_contain_text("综合评价分类")


def test_data_of_another_schema_version_is_refused_on_the_page(page_and_data, chromium):
    """A page whose data and script come from different mujun versions says so."""
    _, _, _, tmp = page_and_data
    with _refused(chromium, tmp, "mj-data") as page:
        notice = page.locator(".mj-error:not(.mj-basemap-failed)")
        expect(notice).to_contain_text(f"reads version {SCHEMA_VERSION}")
        assert page.evaluate("window.mujunMap === undefined")
        assert page.evaluate("performance.getEntriesByName('mj:first-view').length") == 0


def _element(html: str, name: str) -> str:
    found = re.search(rf'<script [^>]*id="{name}"[^>]*>(.*?)</script>', html, re.S)
    assert found, f"no {name} element"
    return found.group(1).strip()


def _another_version(tmp: Path, name: str) -> Path:
    """A copy of the sample page whose data element ``name`` says the next schema version."""
    html = (tmp / "out" / "maps" / "mujun.html").read_text(encoding="utf-8")
    data = unpack(_element(html, name))
    data["schema_version"] = SCHEMA_VERSION + 1
    swapped = re.sub(
        rf'(<script [^>]*id="{name}"[^>]*>)(.*?)(</script>)',
        lambda m: m.group(1) + pack(data) + m.group(3),
        html,
        flags=re.S,
    )
    path = tmp / f"{name}-{SCHEMA_VERSION + 1}.html"
    path.write_text(swapped, encoding="utf-8")
    return path


@contextmanager
def _refused(chromium, tmp: Path, name: str) -> Iterator[Any]:
    """The page of :func:`_another_version` open in Chromium once it has said, on the page,
    that it cannot read that version; on leaving, that error is the one the page threw."""
    errors: list[str] = []
    with offline_page(chromium, errors) as page:
        page.goto(_another_version(tmp, name).as_uri())
        notice = page.locator(".mj-error:not(.mj-basemap-failed)")
        expect(notice).to_contain_text(f"format version {SCHEMA_VERSION + 1}", timeout=10_000)
        yield page
    assert len(errors) == 1
    assert f"format version {SCHEMA_VERSION + 1}" in errors[0]


def test_the_first_part_holds_only_what_the_first_view_draws(page_and_data):
    """The page's data in two parts: the first with the shapes and the columns the layers draw
    (and the area), the rest with the text columns, the firms and the lessees."""
    _, props, _, tmp = page_and_data
    html = (tmp / "out" / "maps" / "mujun.html").read_text(encoding="utf-8")
    first = unpack(_element(html, "mj-data"))
    rest = unpack(_element(html, "mj-data-rest"))
    drawn = {t["col"] for t in first["themes"] if t["set"] == "parcels" and "col" in t}
    drawn.add(first["area_col"])
    assert set(first["sets"]["parcels"]["cols"]) == drawn
    assert {"tax_per_mu", "vacant", "area_mu"} <= drawn
    later = set(rest["sets"]["parcels"]["cols"])
    assert not later & drawn
    assert {"parcel_id", "enterprises"} <= later
    assert "firms" in rest
    assert "firms" not in first
    assert rest["schema_version"] == first["schema_version"] == SCHEMA_VERSION
    whole = page_data(html)
    assert set(whole["sets"]["parcels"]["cols"]) == drawn | later
    assert sorted(whole["sets"]["parcels"]["cols"]["parcel_id"]["v"]) == sorted(props.index)


def test_the_first_view_is_drawn_from_the_first_part_alone(page_and_data, chromium):
    """A page whose second part cannot be read still draws its parcels, says why the rest is
    missing, and has no panel (nothing half-built)."""
    _, _, _, tmp = page_and_data
    with _refused(chromium, tmp, "mj-data-rest") as page:
        assert page.evaluate("performance.getEntriesByName('mj:first-view').length") == 1
        assert page.evaluate("performance.getEntriesByName('mj:ready').length") == 0
        painted = page.evaluate(
            """() => [...document.querySelectorAll('canvas.mj-canvas')].map(c => {
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
              return [c.dataset.theme, n];
            })"""
        )
        layers = dict(painted)
        assert set(layers) == {"tax", "vacant"}, painted
        assert layers["tax"] > 1000, painted  # the tax per mu fills: the sample's parcels
        assert page.locator(".mj-panel").count() == 0
        assert page.locator(".mj-reading").count() == 0  # the note gives way to the notice
        assert page.evaluate("window.mujunMap === undefined")


def test_while_the_rest_is_read_the_map_is_drawn_and_says_so(page_and_data, chromium):
    """Between the first view and the rest (held back here), the parcels are drawn, a note
    stands where the panel will be, and hover shows nothing; then the panel replaces it."""
    _, _, _, tmp = page_and_data
    with offline_page(chromium) as page:
        page.add_init_script(hold_back_rest(1500))
        page.goto((tmp / "out" / "maps" / "mujun.html").as_uri())
        page.wait_for_function("performance.getEntriesByName('mj:first-view').length === 1")
        note = page.locator(".mj-reading")
        expect(note).to_have_text("正在读取地块属性、企业与检索……")
        assert page.locator(".mj-panel").count() == 0
        assert page.evaluate("window.mujunMap === undefined")
        doc = json.loads((tmp / "out" / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
        inside = shapely.geometry.shape(doc["features"][0]["geometry"]).representative_point()
        xy = page.evaluate(
            """([lon, lat]) => {
                const map = Object.values(window).find((v) => v instanceof L.Map);
                map.setView([lat, lon], 17, {animate: false});
                const p = map.latLngToContainerPoint([lat, lon]);
                const box = map.getContainer().getBoundingClientRect();
                return {x: p.x + box.left, y: p.y + box.top};
            }""",
            [inside.x, inside.y],
        )
        page.mouse.move(xy["x"] - 20, xy["y"] - 20)
        page.mouse.move(xy["x"], xy["y"], steps=5)
        page.wait_for_timeout(300)
        assert page.locator(".leaflet-tooltip").count() == 0  # nothing to say yet
        wait_for_map(page)
        assert page.locator(".mj-reading").count() == 0
        assert page.locator(".mj-panel").count() == 1
        page.mouse.move(xy["x"] - 20, xy["y"] - 20)
        # the same point, now ready: the parcel's tooltip
        page.mouse.move(xy["x"], xy["y"], steps=5)
        expect(page.locator(".leaflet-tooltip")).to_contain_text(
            doc["features"][0]["properties"]["parcel_id"]
        )
