"""Benchmark: the planner's HTML map at scale, against a plain folium script.

Generates ``--n`` synthetic parcels (irregular quadrilaterals of 2-300 mu, log-uniform, packed
in shelves in EPSG:4549) with the columns :func:`mujun.maps.render_map` reads, then, in the
same run:

- mujun: ``render_map(parcels, ...)`` and ``map_html(fmap, offline=True)`` written to a file
  (all of mujun's layers, tooltips, search and filters; Leaflet and jQuery embedded),
- baseline: a plain folium script, ``folium.Map()`` with one ``folium.GeoJson`` layer of the
  parcels in EPSG:4326 with a ``GeoJsonTooltip`` of a few columns, then ``save()``.
- lonboard: the single-file peer, a ``SolidPolygonLayer`` of the parcels filled by tax per mu
  (five quantile classes), pickable, ``Map(basemap=None).to_html()`` (deck.gl in WebGL; the
  browser gets SwiftShader, ``--use-angle=swiftshader --enable-unsafe-swiftshader``).

``--tools`` picks the pages (at 1,000,000 parcels the folium page would be some 640 MB: leave
``baseline`` out). Pan/zoom frames: at mujun's parcel zoom (lonboard: its first view), four
mouse drags of 300 px and four wheel zooms, the page recording the time between its
animation frames; the table gives their median and the longest.

mujun's page is built twice: as shipped (above ``aggregate_above`` parcels, zooms below
``aggregate_zoom`` draw grid cells) and with aggregation off, so that the first view draws every
parcel.

Build time is the wall-clock time of building and writing the page (the baseline's includes
its reprojection to EPSG:4326). Once all are built, each page is opened in headless Chromium
through Playwright, from a Python process of its own, with the network cut (only file://
pages; the baseline's Leaflet, jQuery and Bootstrap CDN URLs are served from the XStatic
packages, other CDN scripts and stylesheets get an empty answer, tiles are refused).

Draw time runs from the navigation until the page has drawn its first view: for the baseline,
until the SVG overlay pane holds every path; for mujun, until its script has decoded the
first part of its data and painted every layer shown at load (the page's performance mark
``mj:first-view``, set once the frame after the painting has run). Ready is, for mujun, until
the second part (the text columns, firms and lessees) is read and the panel, legend and tools
are built (``window.mujunMap`` set); the other pages are ready when drawn. Response time is
that of a zoom in (``setZoom`` without animation, until ``zoomend`` and two animation
frames). For mujun's shipped page, "parcels" is the time to go from the first view to the
parcel zoom (``aggregate_zoom``) at the centre and paint the parcels there. Each browser wait
is capped (``--timeout``, 300 s).

Needs Playwright and a Chromium (``--chromium``, default ``/usr/bin/chromium``)::

    python bench/map.py --n 10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import xstatic.pkg.jquery
import xstatic.pkg.leaflet
from _machine import cpu_name
from _parcels import shelf_quadrilaterals

from mujun.schema import MU_M2
from mujun.underuse import REASONS as UNDERUSE_REASONS

CRS = "EPSG:4549"
ORIGIN = (490_000.0, 3_430_000.0)  # south-west corner, EPSG:4549 metres
YEAR = 2021
LABELS = ("A", "B", "C", "D")
NAMES = ("优先发展", "提升发展", "调控帮扶", "倒逼整治")
REASONS = tuple(UNDERUSE_REASONS)
PARKS = ("经济开发区", "高新区", "临港产业园", "城西工业园", "滨江工业园")
INDUSTRIES = ("13", "17", "26", "29", "33", "34", "35", "38", "39")
PLACES = ("浙江", "嘉兴", "湖州", "杭州", "绍兴", "宁波", "海宁", "桐乡")
WORDS = ("恒", "达", "华", "盛", "新", "丰", "鑫", "源", "宏", "泰", "嘉", "瑞", "科", "普")
TRADES = ("纺织", "机械", "电子", "化工", "新材料", "五金", "汽车零部件", "光伏", "包装")
FORMS = ("有限公司", "股份有限公司", "科技有限公司", "制造有限公司")
BASELINE_FIELDS = ["parcel_id", "park", "enterprises", "area_mu", "tax_per_mu", "class"]
ZOOM_JS = """async () => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  const t0 = performance.now();
  await new Promise(r => {
    map.once('zoomend', r);
    map.setZoom(map.getZoom() + 1, {animate: false});
  });
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return (performance.now() - t0) / 1000;
}"""
PATHS = "document.querySelectorAll('.leaflet-overlay-pane path').length"
PARCEL_ZOOM_JS = """async () => {
  const app = window.mujunMap, map = app.map;
  const t0 = performance.now();
  await new Promise(r => {
    map.once('zoomend', r);
    map.setZoom(app.P.aggregate.zoom, {animate: false});
  });
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [(performance.now() - t0) / 1000, app.drawn()];
}"""


def make_parcels(n: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """``n`` irregular quadrilaterals of 2-300 mu (log-uniform), packed in shelves."""
    quads = shelf_quadrilaterals(n, rng, ORIGIN)
    order = rng.permutation(n)  # parcel ids not in size order
    return gpd.GeoDataFrame(geometry=quads[order], crs=CRS)


def _firm_name(rng: np.random.Generator) -> str:
    place, trade, form = (str(rng.choice(a)) for a in (PLACES, TRADES, FORMS))
    return f"{place}{''.join(rng.choice(WORDS, 2))}{trade}{form}"


def _uscc(rng: np.random.Generator) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return "91330" + "".join(rng.choice(list(chars), 13))


def add_columns(gdf: gpd.GeoDataFrame, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """The columns ``render_map`` reads, with plausible synthetic values (10 % vacant)."""
    n = len(gdf)
    out = gdf.copy()
    out.insert(0, "parcel_id", [f"P{i:07d}" for i in range(n)])
    out["park"] = rng.choice(PARKS, n)
    out["area_mu"] = (out.geometry.area / MU_M2).round(2)
    declared = out["area_mu"] * rng.normal(1.0, 0.03, n)
    declared[rng.random(n) < 0.3] = np.nan
    out["declared_area_mu"] = declared.round(2)
    out["area_diff_pct"] = (100 * (out["declared_area_mu"] / out["area_mu"] - 1)).round(1)
    vacant = rng.random(n) < 0.10
    out["vacant"] = vacant
    firms: list[str | None] = []
    codes: list[str | None] = []
    for v in vacant:
        k = 0 if v else int(rng.choice([1, 1, 1, 2, 3]))
        firms.append("、".join(sorted({_firm_name(rng) for _ in range(k)})) or None)
        codes.append("、".join(sorted(_uscc(rng) for _ in range(k))) or None)
    out["enterprises"] = firms
    out["uscc"] = codes
    tax = np.exp(rng.normal(math.log(15), 0.9, n))
    out["tax_per_mu"] = np.where(vacant, np.nan, tax).round(4)
    out["value_added_per_mu"] = np.where(vacant, np.nan, tax * rng.uniform(3, 8, n)).round(4)
    out["revenue_per_mu"] = np.where(vacant, np.nan, tax * rng.uniform(20, 60, n)).round(4)
    cls = pd.Series(rng.choice(LABELS, n, p=[0.2, 0.4, 0.3, 0.1]), index=out.index)
    out["class"] = cls.where(~vacant, None)
    second = pd.Series(rng.choice(LABELS, n), index=out.index)
    both = pd.Series(rng.random(n) < 0.1, index=out.index)
    out["classes"] = out["class"].where(~both, out["class"] + "、" + second)
    out["industry2"] = pd.Series(rng.choice(INDUSTRIES, n), index=out.index).where(~vacant, None)
    flags = pd.DataFrame(False, index=out.index, columns=list(REASONS))
    flags["vacant"] = vacant & (rng.random(n) < 0.7)
    flags["unused_buildings"] = vacant & ~flags["vacant"]
    flags["low_coverage"] = ~vacant & (rng.random(n) < 0.08)
    flags["low_far"] = ~vacant & (rng.random(n) < 0.12)
    flags["low_tax"] = ~vacant & (out["tax_per_mu"] < 3)
    flags["below_benchmark"] = ~vacant & (out["tax_per_mu"] < 6)
    flags["class_d"] = (out["class"] == "D").fillna(False).astype(bool)
    flags["d_streak"] = flags["class_d"] & (rng.random(n) < 0.3)
    out["underused"] = flags.any(axis=1)
    names = np.array(REASONS)
    out["underuse_reasons"] = ["; ".join(names[row]) for row in flags.to_numpy()]
    for col in REASONS:
        out[f"flag_{col}"] = flags[col]
    out["zone_id"] = None
    return out


def _parcels(n: int, seed: int, cache: Path | None) -> gpd.GeoDataFrame:
    """The synthetic parcels, from ``cache`` if it holds them."""
    if cache is not None and cache.exists():
        parcels = gpd.read_parquet(cache)
        if len(parcels) == n:
            return parcels
    rng = np.random.default_rng(seed)
    parcels = add_columns(make_parcels(n, rng), rng)
    if cache is not None:
        parcels.to_parquet(cache)
    return parcels


def build_mujun(parcels: gpd.GeoDataFrame, path: Path, *, aggregate: bool = True) -> float:
    """Build and write mujun's map; its seconds."""
    from mujun.config import MapConfig  # noqa: PLC0415
    from mujun.indicators import display_unit  # noqa: PLC0415
    from mujun.maps import map_html, render_map  # noqa: PLC0415
    from mujun.maps.render import ClassLegend  # noqa: PLC0415

    firms = parcels.loc[~parcels["vacant"], "class"].value_counts()
    legend = ClassLegend(labels=LABELS, names=NAMES, firms={k: int(v) for k, v in firms.items()})
    cfg = MapConfig(offline=True) if aggregate else MapConfig(offline=True, aggregate_above=10**9)
    start = time.perf_counter()
    fmap = render_map(
        parcels,
        unit=display_unit("万元/亩"),
        cfg=cfg,
        year=YEAR,
        classes=legend,
    )
    path.write_text(map_html(fmap, offline=True), encoding="utf-8")
    return time.perf_counter() - start


def build_baseline(parcels: gpd.GeoDataFrame, path: Path) -> float:
    """Build and save the plain folium map; its seconds."""
    start = time.perf_counter()
    gdf = parcels[[*BASELINE_FIELDS, "geometry"]].to_crs(4326)
    fmap = folium.Map()
    folium.GeoJson(gdf, tooltip=folium.GeoJsonTooltip(fields=BASELINE_FIELDS)).add_to(fmap)
    fmap.save(str(path))
    return time.perf_counter() - start


LONBOARD_COLOURS = np.array(
    [[215, 25, 28], [253, 174, 97], [255, 255, 191], [166, 217, 106], [26, 150, 65]],
    dtype=np.uint8,
)
"""Five classes of tax per mu (quantiles), low to high; vacant land grey."""


def build_lonboard(parcels: gpd.GeoDataFrame, path: Path) -> float:
    """Build and write lonboard's page (``SolidPolygonLayer`` filled by tax per mu, pickable
    for its tooltip, ``Map.to_html``); its seconds. The page loads require.js, the widget
    manager, anywidget, parquet-wasm's wasm and geoarrow-js's earcut worker from CDNs: the
    browser is given them from their npm packages (``--lonboard-assets``)."""
    import lonboard  # noqa: PLC0415

    start = time.perf_counter()
    gdf = parcels[[*BASELINE_FIELDS, "geometry"]].to_crs(4326)
    tax = parcels["tax_per_mu"].to_numpy()
    bins = np.nanquantile(tax, [0.2, 0.4, 0.6, 0.8])
    colours = LONBOARD_COLOURS[np.searchsorted(bins, np.nan_to_num(tax, nan=-1))]
    colours[np.isnan(tax)] = [189, 189, 189]
    layer = lonboard.SolidPolygonLayer.from_geopandas(gdf, get_fill_color=colours, pickable=True)
    lonboard.Map(layer, basemap=None).to_html(path)
    seconds = time.perf_counter() - start
    # require.js is served from its npm package, unminified: not the CDN file of the hash
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r' integrity="sha256-[^"]*"', "", text, count=1), encoding="utf-8")
    return seconds


def _local_assets() -> dict[str, Path]:
    leaflet = Path(xstatic.pkg.leaflet.BASE_DIR)
    jquery = Path(xstatic.pkg.jquery.BASE_DIR) / "jquery.min.js"
    return {
        "leaflet.js": leaflet / "leaflet.js",
        "leaflet.css": leaflet / "leaflet.css",
        "jquery": jquery,
    }


def _route(route: Any) -> None:
    """Only file:// pages; the CDN's Leaflet and jQuery from disk; no other network."""
    url = route.request.url
    if url.startswith("file://"):
        route.continue_()
        return
    assets = _local_assets()
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    if "leaflet" in url and name in ("leaflet.js", "leaflet.css"):
        route.fulfill(path=assets[name])
    elif "jquery" in name and name.endswith(".js"):
        route.fulfill(path=assets["jquery"])
    elif route.request.resource_type in ("script", "stylesheet", "font"):
        route.fulfill(status=200, body="")  # bootstrap, font awesome, awesome-markers...
    else:
        route.abort()  # tiles and anything else


def browse(page_path: Path, tool: str, *, chromium: str, timeout: float) -> dict[str, Any]:
    """Draw and response times of one page in a fresh headless Chromium."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    result: dict[str, Any] = {
        "draw": None,
        "ready": None,
        "response": None,
        "drawn": None,
        "parcels": None,
    }
    n = int(page_path.with_suffix(".n").read_text())
    drawn_js = (
        f"() => {PATHS} >= {n}"
        if tool == "baseline"
        else "() => performance.getEntriesByName('mj:first-view').length > 0"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", _route)
            page.set_default_timeout(timeout * 1000)
            start = time.perf_counter()
            try:
                page.goto(page_path.as_uri(), wait_until="commit", timeout=timeout * 1000)
                left = max(1.0, timeout - (time.perf_counter() - start))
                page.wait_for_function(drawn_js, timeout=left * 1000, polling=50)
                result["draw"] = time.perf_counter() - start
                if tool != "baseline":  # the panel, legend and tools: the second part read
                    left = max(1.0, timeout - (time.perf_counter() - start))
                    page.wait_for_function(READY_JS, timeout=left * 1000, polling=50)
                result["ready"] = time.perf_counter() - start
            except PlaywrightTimeout:
                return result  # the page may still be busy: no count, no zoom
            if tool != "baseline":
                result["marks"] = page.evaluate(MARKS_JS)
            result["drawn"] = (
                _count(page)
                if tool == "baseline"
                else page.evaluate("({parcels: mujunMap.drawn(), cells: mujunMap.cells()})")
            )
            if tool == "mujun":
                result["parcels"] = page.evaluate(PARCEL_ZOOM_JS)
            result["response"] = page.evaluate(ZOOM_JS)
            if tool == "mujun":
                page.evaluate("mujunMap.map.setZoom(mujunMap.P.aggregate.zoom, {animate: false})")
                result["frames"] = frames(page)
                result["tiles"] = page.evaluate(
                    "({tiles: mujunMap.parcels.tiles, decoded: mujunMap.parcels.decodes,"
                    " kept: mujunMap.parcels.decoded().length})"
                )
        finally:
            browser.close()
    return result


READY_JS = "() => window.mujunMap !== undefined"
MARKS_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const out = {html_read: nav.responseEnd, html_parsed: nav.domInteractive};
  for (const m of performance.getEntriesByType("mark")) out[m.name] = m.startTime;
  for (const k of Object.keys(out)) out[k] = Math.round(out[k]);
  return out;
}"""
"""The page's own timeline in ms from its navigation: the file read, the HTML parsed, the first
view painted (``mj:first-view``) and the whole page ready (``mj:ready``)."""

RAF_START = """() => {
  window.__frames = [];
  let last = performance.now();
  const tick = (t) => {
    window.__frames.push(t - last);
    last = t;
    window.__raf = requestAnimationFrame(tick);
  };
  window.__raf = requestAnimationFrame(tick);
}"""
RAF_STOP = "() => { cancelAnimationFrame(window.__raf); return window.__frames; }"


def frames(page: Any) -> dict[str, float]:
    """Pan and zoom with the mouse as a user does (four drags of 300 px, two wheel zooms in
    and two out, at the centre) while the page records the time between its animation
    frames: the median and the longest frame, in ms, and how many frames."""
    page.evaluate(RAF_START)
    cx, cy = 640, 400
    for dx, dy in ((300, 0), (0, 200), (-300, 0), (0, -200)):
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + dx, cy + dy, steps=10)
        page.mouse.up()
        page.wait_for_timeout(400)
    for delta in (-100, -100, 100, 100):
        page.mouse.move(cx, cy)
        page.mouse.wheel(0, delta)
        page.wait_for_timeout(600)
    times = np.asarray(page.evaluate(RAF_STOP)[1:], dtype=float)
    return {"median": float(np.median(times)), "max": float(times.max()), "n": len(times)}


def lonboard_route(assets: Path) -> Any:
    """The route of lonboard's page: its CDN scripts from npm packages under ``assets``."""
    files = {
        "require": assets / "requirejs" / "package" / "require.js",
        "anywidget": Path(
            next(p for p in sys.path if p.endswith("site-packages")),
            "anywidget/nbextension/index.js",
        ),
    }

    def route(r: Any) -> None:
        url = r.request.url
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        found = None
        if url.startswith(("file://", "http://127.0.0.1:")):
            r.continue_()
            return
        if "require" in name and name.endswith(".js"):
            found = files["require"]
        elif "html-manager" in url:
            found = assets / "html-manager" / "package" / "dist" / name
        elif "anywidget" in url and name == "index.js":
            found = files["anywidget"]
        elif "parquet-wasm" in url:
            found = assets / "parquet-wasm" / "package" / "esm" / name
        elif "geoarrow-js" in url:
            found = assets / "geoarrow-js" / "package" / "dist" / name
        if found is not None and found.exists():
            kind = "application/wasm" if name.endswith(".wasm") else "text/javascript"
            r.fulfill(path=found, headers={"Content-Type": kind})
        else:
            r.abort()

    return route


PAINTED = """() => {
  const c = document.querySelector('canvas');
  return c !== null && c.width > 0;
}"""


def browse_lonboard(
    page_path: Path, *, chromium: str, timeout: float, assets: Path
) -> dict[str, Any]:
    """lonboard's page: time until its canvas shows the polygons (a screenshot of the map
    with coloured pixels, checked every 0.25 s), then its pan/zoom frames. The page is served
    from a local HTTP server: opened from disk (origin null), its triangulation worker, a
    blob, cannot load its script, and the polygons are never drawn."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: PLC0415
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    result: dict[str, Any] = {"draw": None, "response": None, "drawn": None, "parcels": None}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--disable-background-networking",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.route("**/*", lonboard_route(assets))
            server = _serve(page_path.parent)
            url = f"http://127.0.0.1:{server.server_address[1]}/{page_path.name}"
            start = time.perf_counter()
            try:
                page.goto(url, wait_until="commit", timeout=timeout * 1000)
                page.wait_for_function(PAINTED, timeout=timeout * 1000, polling=100)
                result["canvas"] = time.perf_counter() - start
                while time.perf_counter() - start < timeout:
                    shot = page.screenshot(clip={"x": 320, "y": 200, "width": 640, "height": 400})
                    if _coloured(shot):
                        result["draw"] = time.perf_counter() - start
                        result["ready"] = result["draw"]  # drawn is ready: one part
                        break
                    page.wait_for_timeout(250)
            except PlaywrightTimeout:
                return result
            if result["draw"] is not None:
                result["frames"] = frames(page)
            server.shutdown()
        finally:
            browser.close()
    return result


def _serve(folder: Path) -> Any:
    """A local HTTP server of ``folder`` in a thread (any free port)."""
    import functools  # noqa: PLC0415
    import http.server  # noqa: PLC0415
    import threading  # noqa: PLC0415

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _coloured(png: bytes) -> bool:
    """Whether a screenshot holds pixels of the fill colours (not white or grey)."""
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return int((spread > 40).sum()) > 100


def _count(page: Any) -> int | None:
    try:
        return int(page.evaluate(PATHS))
    except Exception:  # a hung page: no count
        return None


def machine(chromium: str) -> str:
    cpu = cpu_name()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    libs = ", ".join(
        f"{p} {version(p)}"
        for p in ("folium", "geopandas", "shapely", "pandas", "playwright", "lonboard")
    )
    browser = Path(chromium).name
    try:
        import subprocess  # noqa: PLC0415

        browser = subprocess.run(
            [chromium, "--version"], capture_output=True, text=True, check=False, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}; {libs}; {browser} (headless); "
        f"load average at the end {load}"
    )


def _secs(value: float | None, timeout: float) -> str:
    return f"> {timeout:.0f}" if value is None else f"{value:.2f}"


def _ratio(value: float | None, ref: float | None) -> str:
    if value is None or ref is None or ref == 0:
        return "—"
    return f"{value / ref:.2f}"


def _frames(r: dict[str, Any]) -> str:
    f = r.get("frames")
    return "—" if not f else f"{f['median']:.0f} / {f['max']:.0f}"


def table(n: int, results: dict[str, dict[str, Any]], timeout: float) -> str:
    """The run's table; ratios against the baseline (the first tool if it did not run)."""
    ref_tool = "baseline" if "baseline" in results else next(iter(results))
    ref = results[ref_tool]
    lines = [
        f"| N | tool | HTML (MB) | build (s) | draw (s) | ready (s) | response (s) | pan/zoom "
        f"frames, median / max (ms) | size vs {ref_tool} | build vs {ref_tool} | "
        f"draw vs {ref_tool} |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, r in results.items():
        measured = r["draw"] is not None and "canvas" not in r  # lonboard: no zoom step
        response = _secs(r["response"], timeout) if measured else "—"
        lines.append(
            f"| {n:,} | {tool} | {r['mb']:.1f} | {r['build']:.1f} | "
            f"{_secs(r['draw'], timeout)} | {_secs(r.get('ready'), timeout)} | {response} | "
            f"{_frames(r)} | "
            f"{_ratio(r['mb'], ref['mb'])} | {_ratio(r['build'], ref['build'])} | "
            f"{_ratio(r['draw'], ref['draw'])} |"
        )
    return "\n".join(lines)


TOOLS = {
    "mujun": build_mujun,
    "mujun, no aggregates": lambda p, path: build_mujun(p, path, aggregate=False),
    "baseline": build_baseline,
    "lonboard": build_lonboard,
}


def browse_one(path: Path, tool: str, args: argparse.Namespace) -> dict[str, Any]:
    """The browser's measures of the page of ``tool`` at ``path``."""
    if tool == "lonboard":
        return browse_lonboard(
            path, chromium=args.chromium, timeout=args.timeout, assets=args.lonboard_assets
        )
    kind = "baseline" if tool == "baseline" else "mujun" if tool == "mujun" else "flat"
    return browse(path, kind, chromium=args.chromium, timeout=args.timeout)


def browse_apart(path: Path, tool: str, args: argparse.Namespace) -> dict[str, Any]:
    """:func:`browse_one` in a Python process of its own (``--browse``). Run from the process
    that built the pages, mujun's 1,000,000-parcel page was slower by the page's own marks
    (ready at 5.4 s against 3.9 s from a fresh process, twice each); why was not isolated
    (the builder holds some gigabytes)."""
    command = [sys.executable, __file__, "--browse", str(path), "--tool", tool]
    command += ["--timeout", str(args.timeout), "--chromium", args.chromium]
    command += ["--lonboard-assets", str(args.lonboard_assets)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"browsing {path} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of parcels")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--timeout", type=float, default=300.0, help="cap per browser wait (s)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    parser.add_argument("--workdir", type=Path, help="keep the pages here (default: a temp dir)")
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help=f"comma-separated pages to build and open (default: all of {', '.join(TOOLS)})",
    )
    parser.add_argument(
        "--parcels",
        type=Path,
        help="GeoParquet of the generated parcels: read if it exists, else written (saves "
        "the generation, about 2 minutes at 1,000,000)",
    )
    parser.add_argument(
        "--lonboard-assets",
        type=Path,
        default=Path("/tmp/lonboard-assets"),
        help="folder of the npm packages lonboard's page loads from CDNs, each unpacked in a "
        "folder of its name: requirejs, html-manager, parquet-wasm, geoarrow-js",
    )
    parser.add_argument("--browse", type=Path, help=argparse.SUPPRESS)  # browse_apart's child
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.browse:
        print(json.dumps(browse_one(args.browse, args.tool, args)))
        return
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {list(TOOLS)}")

    with tempfile.TemporaryDirectory(prefix="mujun-bench-map-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        parcels = _parcels(args.n, args.seed, args.parcels)
        print(
            f"generated {args.n:,} parcels ({parcels['area_mu'].sum():,.0f} mu, "
            f"{int(parcels['vacant'].sum()):,} vacant) in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        built: dict[str, tuple[Path, float, float]] = {}
        for tool in tools:
            path = workdir / f"{tool.replace(', ', '-').replace(' ', '-')}.html"
            path.with_suffix(".n").write_text(str(len(parcels)))
            seconds = TOOLS[tool](parcels, path)
            mb = path.stat().st_size / 1e6
            print(f"{tool}: built {mb:.1f} MB in {seconds:.1f} s", flush=True)
            built[tool] = (path, mb, seconds)
        del parcels
        results: dict[str, dict[str, Any]] = {}
        for tool, (path, mb, seconds) in built.items():
            res = browse_apart(path, tool, args)
            print(
                f"{tool}: first view drawn in {_secs(res['draw'], args.timeout)} s "
                f"(drawn: {res['drawn']}), zoom response {res['response']} s"
                + (f", parcel zoom {res['parcels']}" if res["parcels"] else "")
                + "".join(
                    f", {k} {res[k]}"
                    for k in ("ready", "marks", "frames", "tiles", "canvas")
                    if k in res
                ),
                flush=True,
            )
            results[tool] = {"mb": mb, "build": seconds, **res}

    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    print()
    print(f"Command: `{command}`")
    print(f"Machine: {machine(args.chromium)}")
    print()
    print(table(args.n, results, args.timeout))


if __name__ == "__main__":
    main()
