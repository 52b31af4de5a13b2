"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright.

Playwright's own browser download cannot work here, so the tests use /usr/bin/chromium (installed
by scripts/setup-system.sh). Under CI=true a missing browser fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("MUJUN_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} not found; run scripts/setup-system.sh (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@contextmanager
def offline_page(chromium, errors: list[str] | None = None, **options: Any) -> Iterator[Any]:
    """A page in a new browser context (``options``: ``new_context``'s) that loads only
    file:// URLs (no basemap, no CDN); on leaving, checks that the page threw no error (or,
    given ``errors``, leaves the errors there for the test), and closes the context."""
    context = chromium.new_context(**options)
    page = context.new_page()
    thrown: list[str] = [] if errors is None else errors
    page.on("pageerror", lambda e: thrown.append(str(e)))
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    yield page
    if errors is None:
        assert thrown == []
    context.close()


def hold_back_rest(ms: int) -> str:
    """An init script that holds back the second part of a map page's data (its second
    inflate) by ``ms`` milliseconds: the page between its first view and ready, for a test."""
    return f"""(() => {{
      const text = Response.prototype.text;
      let calls = 0;
      Response.prototype.text = function () {{
        calls += 1;
        const read = text.call(this);
        if (calls !== 2) return read;
        return read.then((t) => new Promise((done) => setTimeout(() => done(t), {int(ms)})));
      }};
    }})();"""


def wait_for_map(page, timeout: float = 15_000) -> None:
    """Wait until the page's script has decoded the data and drawn the layers."""
    page.wait_for_function("window.mujunMap !== undefined", timeout=timeout)


def drawn(page) -> dict[str, int]:
    """Shapes drawn by each layer that is on, by layer id."""
    return page.evaluate("mujunMap.drawn()")


def hover_parcel(page, parcel_id: str) -> str:
    """Centre the map on a parcel, move the mouse over it, return the tooltip's text."""
    point = page.evaluate(
        """(pid) => {
            const app = window.mujunMap, P = app.parcels, b = P.box;
            let i = -1;
            for (let k = 0; k < P.n; k++) { if (P.col.parcel_id(k) === pid) { i = k; } }
            if (i < 0) return null;
            const c = app.map.unproject([(b[4*i] + b[4*i+2]) / 2, (b[4*i+1] + b[4*i+3]) / 2], 0);
            app.map.setView(c, app.map.getZoom(), {animate: false});  // clear of the legend
            const p = app.map.latLngToContainerPoint(c);
            const box = app.map.getContainer().getBoundingClientRect();
            return {x: p.x + box.left, y: p.y + box.top};
        }""",
        parcel_id,
    )
    assert point is not None, f"parcel {parcel_id} not on the map"
    page.mouse.move(point["x"] - 20, point["y"] - 20)
    page.mouse.move(point["x"], point["y"], steps=5)
    page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
    return page.inner_text(".leaflet-tooltip")


def screen_point(page, lon: float, lat: float, zoom: int = 17) -> dict[str, float]:
    """Centre the map on (lon, lat) at ``zoom`` and return that point in page pixels."""
    return page.evaluate(
        """([lon, lat, zoom]) => {
            const map = mujunMap.map;
            map.setView([lat, lon], zoom, {animate: false});
            const p = map.latLngToContainerPoint([lat, lon]);
            const box = map.getContainer().getBoundingClientRect();
            return {x: p.x + box.left, y: p.y + box.top};
        }""",
        [lon, lat, zoom],
    )
