"""Themes and overlays on the sample county's map, in Chromium: one theme at a time, overlays
above it in a fixed order, a legend entry for every layer shown, policy class lines, a change
palette centred on zero, and a layer list that folds away on small screens."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from browser import wait_for_map
from mujun.cli import main

pytestmark = pytest.mark.browser

BREAKS = [4, 10, 20, 40]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("themes")
    assert main(["run", "--out", str(out / "default"), "-q"]) == 0
    config = out / "breaks.toml"
    config.write_text(f"[map]\nbreaks = {BREAKS}\n", encoding="utf-8")
    assert main(["run", "--out", str(out / "breaks"), "-q", "--config", str(config)]) == 0
    doc = json.loads((out / "default/exports/parcels.geojson").read_text(encoding="utf-8"))
    parcels = pd.DataFrame([f["properties"] for f in doc["features"]])
    return {
        "default": out / "default/maps/mujun.html",
        "breaks": out / "breaks/maps/mujun.html",
        "parcels": parcels,
    }


def _open(chromium, path: Path, width: int = 1366, height: int = 768):
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(path.as_uri())
    wait_for_map(page)
    return context, page


def _shown(page) -> list[str]:
    return page.evaluate("mujunMap.layers.filter(l => l._map).map(l => l.theme.id)")


def _pane_z(page, layer: str) -> int:
    """The stacking order of the pane that layer's canvas is drawn in."""
    return page.evaluate(
        """(id) => {
            const c = document.querySelector(`canvas[data-theme="${id}"]`);
            return Number(getComputedStyle(c.parentElement).zIndex);
        }""",
        layer,
    )


def test_one_theme_at_a_time_and_overlays_above_it_in_a_fixed_order(chromium, runs):
    context, page = _open(chromium, runs["default"])
    themes = page.eval_on_selector_all(
        ".mj-sec-layers input[type=radio]", "rs => rs.map(r => r.value)"
    )
    assert themes == ["tax", "tax_first", "value_added", "change", "class", "score", "all"]
    for theme in themes:  # a person clicks each theme in turn: only that one is drawn
        page.locator(f".mj-layer[data-layer='{theme}']").click()
        assert [t for t in _shown(page) if t in themes] == [theme]
        assert page.is_checked(f".mj-layer[data-layer='{theme}'] input")
    # tick the overlays top first, the reverse of their drawing order
    for overlay in ("zones", "cold_spot", "flag_low_far", "underused"):
        page.locator(f".mj-layer[data-layer='{overlay}']").click()
    page.locator(".mj-layer[data-layer='tax']").click()  # re-ticking a theme keeps it below
    order = ["tax", "underused", "flag_low_far", "cold_spot", "zones", "vacant", "parks"]
    assert set(_shown(page)) == set(order)
    z = [_pane_z(page, layer) for layer in order]
    assert all(a < b for a, b in itertools.pairwise(z)), dict(zip(order, z, strict=True))
    # the legend: the theme's block, then a row for every overlay, top down
    rows = page.eval_on_selector_all(
        ".mj-legend-overlays .mj-legend-row", "rs => rs.map(r => r.dataset.layer)"
    )
    assert rows == order[:0:-1]
    context.close()


def test_policy_lines_class_both_years_and_the_legend_counts_them(chromium, runs):
    context, page = _open(chromium, runs["breaks"])
    parcels = runs["parcels"]
    occupied = parcels[~parcels["vacant"].astype(bool)]
    edges = [-np.inf, *BREAKS, np.inf]
    legend = page.locator(".mj-legend-block[data-layer='tax']")
    expect(legend).to_contain_text("分级：设定分界 4、10、20、40")
    tax = occupied["tax_per_mu"].dropna().round(2)  # as the map has them
    want = pd.cut(tax, edges, right=False).value_counts(sort=False)
    labels = ["低于 4.00", "4.00 – 10.00", "10.00 – 20.00", "20.00 – 40.00", "40.00 及以上"]
    rows = legend.locator(".mj-legend-row:not(.mj-none)").all_inner_texts()
    assert rows == [f"{lab}（{n} 宗）" for lab, n in zip(labels, want.to_numpy(), strict=True)]
    vacant = int(parcels["vacant"].astype(bool).sum()) + int(occupied["tax_per_mu"].isna().sum())
    assert legend.locator(".mj-none").inner_text() == f"无数值（空置）（{vacant} 宗）"
    # the first year on the same lines, so that the two maps compare
    page.locator(".mj-layer[data-layer='tax_first']").click()
    first = page.locator(".mj-legend-block[data-layer='tax_first']")
    expect(first).to_contain_text("亩均税收（万元/亩，2016 年）")
    expect(first).to_contain_text("（与 2021 年相同）")
    old = pd.cut(parcels["tax_per_mu_2016"].dropna().round(2), edges, right=False)
    rows = first.locator(".mj-legend-row:not(.mj-none)").all_inner_texts()
    counts = old.value_counts(sort=False).to_numpy()
    assert rows == [f"{lab}（{n} 宗）" for lab, n in zip(labels, counts, strict=True)]
    context.close()


def test_change_palette_is_centred_on_zero(chromium, runs):
    context, page = _open(chromium, runs["default"])
    page.locator(".mj-layer[data-layer='change']").click()
    legend = page.locator(".mj-legend-block[data-layer='change']")
    expect(legend).to_contain_text("以 0 为中心")
    colours = page.evaluate(
        """() => {
            const app = mujunMap, t = app.layer("change").theme, P = app.parcels, out = {};
            for (let i = 0; i < P.n; i++) {
                const st = app.style(t, i);
                out[P.col.parcel_id(i)] = st && st.fill ? st.fill : null;
            }
            return out;
        }"""
    )
    parcels = runs["parcels"].set_index("parcel_id")
    change = parcels["tax_per_mu_change"].dropna().round(2)  # as the map has them
    assert (change < 0).sum() > 50
    assert (change > 0).sum() > 50
    by_colour = pd.Series(colours).reindex(change.index).groupby(lambda pid: colours[pid])
    signs = {colour: set(np.sign(change.loc[group.index])) for colour, group in by_colour}
    assert len(signs) >= 4
    assert all(len(s) == 1 for s in signs.values()), signs  # no class holds both signs
    reds = {c for c, s in signs.items() if s == {-1.0}}
    blues = {c for c, s in signs.items() if s == {1.0}}
    assert reds <= {"#b2182b", "#ef8a62", "#fddbc7"}
    assert blues <= {"#d1e5f0", "#67a9cf", "#2166ac"}
    context.close()


def _box(page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_layer_list_folds_and_never_hides_the_zoom_or_search_results(chromium, runs, width, height):
    context, page = _open(chromium, runs["default"], width, height)
    small = width < 700
    body = page.locator(".mj-panel-body")
    if small:  # starts folded on a phone, like the legend
        assert body.is_hidden()
        assert page.locator(".mj-legend-body").is_hidden()
        page.locator(".mj-fold[data-fold='panel']").click()
    assert body.is_visible()
    overlays = page.locator(".mj-overlay-list")
    page.locator(".mj-fold[data-fold='overlays']").click()  # the long list folds on its own
    assert overlays.is_hidden()
    page.locator(".mj-fold[data-fold='overlays']").click()
    assert overlays.is_visible()
    assert not _overlap(_box(page, ".leaflet-control-zoom"), _box(page, ".mj-panel"))
    assert not _overlap(_box(page, ".leaflet-control-zoom"), _box(page, ".mj-title"))
    page.locator(".mj-search").fill("长兴")
    hit = page.locator(".mj-hit").first
    expect(hit).to_be_visible()
    hit.scroll_into_view_if_needed()
    box = hit.bounding_box()
    assert box is not None
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).className",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == "mj-hit"  # not covered by the legend or anything else
    page.locator(".mj-fold[data-fold='panel']").click()  # folded, the map is free again
    assert body.is_hidden()
    assert _box(page, ".mj-panel")["height"] < 40
    context.close()
