"""Benchmark: the planner's steps on a built map page, in headless Chromium.

Opens a page mujun wrote (``bench/map.py --workdir DIR`` keeps them) once it is ready, and
times, in the page (``performance.now()`` around each step, the DOM updated when it ends):

- a search by the first four characters of a firm's name (the first search builds the
  search text of every parcel), by the whole name, and by a parcel id;
- a click on the first hit, until the parcel is zoomed to and marked;
- a click on that parcel, until its popup shows;
- opening the attribute table (its first page of 100 rows);
- choosing the first class in the class menu, until the count of parcels shown is updated.

The network is cut (file:// only). ::

    python bench/map_steps.py /tmp/m1m/mujun.html
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

SEARCH = """(q) => {
  const box = document.querySelector('.mj-search');
  const t0 = performance.now();
  box.value = q;
  box.dispatchEvent(new Event('input'));
  return [performance.now() - t0, document.querySelectorAll('.mj-hit').length];
}"""
A_NAME = """() => {
  const c = mujunMap.parcels.col;
  for (let i = Math.floor(mujunMap.parcels.n / 8); i < mujunMap.parcels.n; i++) {
    const v = c.enterprises(i);
    if (v) return [v.split('、')[0], c.parcel_id(Math.floor(mujunMap.parcels.n * 0.65))];
  }
  return null;
}"""
TABLE = """() => {
  const t0 = performance.now();
  document.querySelector('.mj-table-open').click();
  return performance.now() - t0;
}"""
FILTER = """() => {
  const menu = document.querySelector('select.mj-filter[data-field="class"]');
  menu.selectedIndex = 1;
  const t0 = performance.now();
  menu.dispatchEvent(new Event('change'));
  return [performance.now() - t0, menu.value, document.querySelector('.mj-count').dataset.n];
}"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path, help="a map page mujun wrote")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    args = parser.parse_args(argv)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        page.goto(args.page.as_uri(), timeout=300_000)
        page.wait_for_function("window.mujunMap !== undefined", timeout=300_000)
        n = page.evaluate("mujunMap.parcels.n")
        name, parcel_id = page.evaluate(A_NAME)
        print(f"{args.page}: {n:,} parcels")
        for what, query in (("4 characters", name[:4]), ("a name", name), ("an id", parcel_id)):
            ms, hits = page.evaluate(SEARCH, query)
            print(f"search by {what} ({query}): {ms:.0f} ms, {hits} hits")
        start = time.perf_counter()
        page.click(".mj-hit >> nth=0")
        page.wait_for_selector("path.mj-kept", timeout=30_000)
        took = time.perf_counter() - start
        print(f"a hit clicked, the parcel zoomed to and marked: {took:.2f} s")
        box = page.locator("path.mj-kept").bounding_box()
        assert box is not None
        start = time.perf_counter()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector(".leaflet-popup", timeout=30_000)
        title = page.inner_text(".leaflet-popup b")
        print(f"the parcel clicked, its popup ({title}): {time.perf_counter() - start:.2f} s")
        ms = page.evaluate(TABLE)
        rows = page.locator(".mj-table tbody tr").count()
        print(f"the attribute table opened: {ms:.0f} ms, {rows} rows on its page")
        ms, value, shown = page.evaluate(FILTER)
        print(f"class menu set to {value}: {ms:.0f} ms, {int(shown):,} parcels shown")
        browser.close()


if __name__ == "__main__":
    main()
