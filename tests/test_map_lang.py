"""Languages all the way: on the English map of the sample county no Chinese word of mujun's
appears, and on the Chinese map no English one, wherever a person looks (title, layer list,
every theme's legend, overlays, menus, tooltips, popups, the controls' titles); values from
the data (firm and park names) aside, and the basemap's attribution (its licence's words)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from browser import hover_parcel, wait_for_map
from mujun.cli import main

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
ENGLISH = re.compile(r"\b[A-Za-z]{3,}\b")
NAMES = {"GeoJSON", "CSV", "OpenStreetMap"}
"""Names of file formats and of the basemap, the same in both languages."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("lang")
    for lang in ("zh", "en"):
        assert main(["run", "--out", str(out / lang), "-q", "--lang", lang]) == 0
    exports = out / "zh" / "exports"
    doc = json.loads((exports / "parcels.geojson").read_text(encoding="utf-8"))
    parcels = pd.DataFrame([f["properties"] for f in doc["features"]])
    firms = pd.read_csv(exports / "enterprises.csv", dtype=str)
    zones = json.loads((exports / "zones.geojson").read_text(encoding="utf-8"))
    values: set[str] = set()
    for col in ("parcel_id", "park", "enterprises", "uscc", "industry2", "zone_id"):
        values |= {str(v) for v in parcels[col].dropna()}
    for col in ("name", "uscc", "park", "industry", "parcel_ids"):
        values |= {str(v) for v in firms[col].dropna()}
    for f in zones["features"]:
        values |= {str(f["properties"][k]) for k in ("zone_id", "park", "enterprises")}
    # a name list joined by 、 is data too, and so is each name in it
    values |= {part for v in list(values) for part in v.split("、")}
    return {
        "zh": out / "zh" / "maps" / "mujun.html",
        "en": out / "en" / "maps" / "mujun.html",
        "values": sorted(values, key=len, reverse=True),
        "parcels": parcels,
    }


_COLLECT = """() => {
    const out = [];
    const skip = (e) => e.closest(".leaflet-control-attribution, script, style");
    for (const e of document.querySelectorAll("body *")) {
        if (skip(e)) continue;
        for (const a of ["title", "placeholder", "aria-label", "alt"]) {
            if (e.getAttribute(a)) out.push(e.getAttribute(a));
        }
        for (const n of e.childNodes) {
            if (n.nodeType === 3 && n.textContent.trim()) out.push(n.textContent.trim());
        }
    }
    return out;
}"""


def _words_seen(page, parcel_id: str) -> list[str]:
    """Every text a person can bring up: each theme's legend, every overlay, a tooltip, a
    popup, the menus and the controls."""
    seen: list[str] = page.evaluate(_COLLECT)
    themes = page.eval_on_selector_all(
        ".mj-sec-layers input[type=radio]", "r => r.map(x => x.value)"
    )
    for theme in themes:
        page.locator(f".mj-layer[data-layer='{theme}']").click()
        seen += page.evaluate(_COLLECT)
    for box in page.locator(".mj-sec-layers input[type=checkbox]").all():
        if not box.is_checked():
            box.click()
    seen += page.evaluate(_COLLECT)
    page.locator(".mj-layer[data-layer='tax']").click()
    seen.append(hover_parcel(page, parcel_id))
    box = page.locator(".leaflet-tooltip").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] + 8)
    page.locator(".leaflet-popup-content").wait_for(timeout=5_000)
    seen += page.evaluate(_COLLECT)
    return seen


def _without_data(texts: list[str], values: list[str]) -> str:
    text = "\n".join(texts)
    for v in values:
        if len(v) > 1:
            text = text.replace(v, " ")
    return text


def _open(chromium, path: Path):
    context = chromium.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(path.as_uri())
    wait_for_map(page)
    return context, page


def _busy_parcel(parcels: pd.DataFrame) -> str:
    """An underused parcel in a zone with several firms: its popup says the most."""
    pick = parcels[parcels["zone_id"].notna() & (parcels["n_enterprises"] >= 2)]
    return str(pick["parcel_id"].iloc[0])


def test_english_map_has_no_chinese_words_of_its_own(chromium, runs):
    context, page = _open(chromium, runs["en"])
    text = _without_data(_words_seen(page, _busy_parcel(runs["parcels"])), runs["values"])
    chinese = sorted({m.group(0) for m in CJK.finditer(text)})
    lines = [line for line in text.splitlines() if CJK.search(line)]
    assert chinese == [], lines[:10]
    assert "Land-use efficiency per mu (2021)" in text  # the title, in English
    assert "10k yuan/mu" in text
    assert "develop first" in text  # class A's name
    context.close()


def test_chinese_map_has_no_english_words_of_its_own(chromium, runs):
    context, page = _open(chromium, runs["zh"])
    text = _without_data(_words_seen(page, _busy_parcel(runs["parcels"])), runs["values"])
    english = sorted({m.group(0) for m in ENGLISH.finditer(text)} - NAMES)
    lines = [line for line in text.splitlines() if ENGLISH.search(line)]
    assert english == [], lines[:10]
    assert "亩均效益地图（2021 年）" in text
    context.close()
