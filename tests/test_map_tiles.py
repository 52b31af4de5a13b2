"""Tiled shapes, on the sample county's map in Chromium: the page decodes a tile's vertices
only when it draws or reads one of its parcels, and every feature still sees every parcel.

The map is made with small tiles (``aggregate_zoom = 17``: tiles of about 300 m, grid cells
below it, from 100 parcels) and unsimplified shapes on OpenStreetMap (no GCJ-02 shift), so that
the shapes drawn are those exported. Expected parcels and tiles come from the run's own
``parcels.geojson``, with geopandas and shapely: a parcel is in view when its box meets the
view's box; its tile is that of its box centre at zoom 17 (256-pixel Web Mercator tiles).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from browser import offline_page, wait_for_map
from mujun.cli import main

pytestmark = pytest.mark.browser

ZOOM = 17
PIXEL_DEG = 360 / 256 / 2**ZOOM  # a pixel of zoom 17 in longitude (the page rounds boxes out)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("tiles-map")
    config = out / "tiles.toml"
    config.write_text(
        f'[map]\nbasemap = "osm"\nsimplify_m = 0\naggregate_above = 100\naggregate_zoom = {ZOOM}\n',
        encoding="utf-8",
    )
    assert main(["run", "--out", str(out), "-q", "--offline", "--config", str(config)]) == 0
    parcels = gpd.read_file(out / "exports" / "parcels.geojson")
    return {"map": out / "maps" / "mujun.html", "parcels": parcels}


@pytest.fixture
def page(chromium):
    with offline_page(chromium, viewport={"width": 1000, "height": 700}) as page:
        yield page


def _tile(lon: np.ndarray, lat: np.ndarray) -> list[tuple[int, int]]:
    """Web Mercator tile (column, row) at ZOOM of each point."""
    side = 2**ZOOM
    col = np.floor((lon + 180) / 360 * side).astype(int)
    s = np.sin(np.radians(lat))
    row = np.floor((0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)) * side).astype(int)
    return list(zip(col.tolist(), row.tolist(), strict=True))


def _expected(parcels: gpd.GeoDataFrame, view: dict[str, float]) -> dict[str, object]:
    """Parcels whose box meets the view (the canvas's extent), strictly and with boxes one
    pixel bigger (the page rounds them outwards), and the tiles of those parcels."""
    b = parcels.geometry.bounds
    boxes = [shapely.box(view["w"], view["s"], view["e"], view["n"])]
    meets = shapely.intersects(shapely.box(b.minx, b.miny, b.maxx, b.maxy), boxes[0])
    grown = shapely.box(
        b.minx - PIXEL_DEG, b.miny - PIXEL_DEG, b.maxx + PIXEL_DEG, b.maxy + PIXEL_DEG
    )
    loose = shapely.intersects(grown, boxes[0])
    centre = parcels.geometry.bounds
    tiles = _tile(
        ((centre.minx + centre.maxx) / 2).to_numpy(), ((centre.miny + centre.maxy) / 2).to_numpy()
    )
    in_view = {tiles[k] for k in np.flatnonzero(meets)}
    return {"strict": int(meets.sum()), "loose": int(loose.sum()), "tiles": len(in_view)}


STATE = """() => {
  const app = mujunMap, P = app.parcels, l = app.layer('tax'), map = app.map;
  // the canvas's own extent: the view and Leaflet's padding around it
  const b = L.latLngBounds(
    map.layerPointToLatLng(l._bounds.min), map.layerPointToLatLng(l._bounds.max));
  return {w: b.getWest(), e: b.getEast(), s: b.getSouth(), n: b.getNorth(),
          drawn: app.drawn(), decoded: P.decoded().length, decodes: P.decodes, tiles: P.tiles,
          n_parcels: P.n, zoom: app.map.getZoom()};
}"""


def _go(page, lon: float, lat: float) -> dict[str, object]:
    page.evaluate(
        "([lon, lat, z]) => mujunMap.map.setView([lat, lon], z, {animate: false})",
        [lon, lat, ZOOM],
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page.evaluate(STATE)


def _open(page, path: Path) -> dict[str, object]:
    page.goto(path.as_uri())
    wait_for_map(page)
    return page.evaluate(STATE)


def test_the_first_view_decodes_no_tile_and_a_parcel_view_only_its_own(page, sample):
    parcels = sample["parcels"]
    first = _open(page, sample["map"])
    assert first["n_parcels"] == len(parcels)
    assert first["zoom"] < ZOOM  # grid cells: no vertex needed
    assert first["decodes"] == 0
    assert first["tiles"] > 20  # the sample county in tiles of 300 m
    centre = parcels.geometry.iloc[0].representative_point()
    views = [_go(page, centre.x, centre.y)]
    want = [_expected(parcels, views[0])]
    assert want[0]["strict"] <= views[0]["drawn"]["tax"] <= want[0]["loose"]
    assert views[0]["decodes"] == views[0]["decoded"] == want[0]["tiles"]
    assert views[0]["decodes"] < first["tiles"]
    # pan east by a view's width: the tiles there come in, each decoded once
    width = views[0]["e"] - views[0]["w"]
    views.append(_go(page, centre.x + width, centre.y))
    want.append(_expected(parcels, views[1]))
    assert want[1]["strict"] <= views[1]["drawn"]["tax"] <= want[1]["loose"]
    both = _expected(
        parcels, {"w": views[0]["w"], "e": views[1]["e"], "s": views[0]["s"], "n": views[0]["n"]}
    )
    new = views[1]["decodes"] - views[0]["decodes"]
    assert new > 0
    assert views[1]["decodes"] <= both["tiles"] + 2  # the two views' tiles (a row may differ)
    assert views[1]["decoded"] == views[1]["decodes"]  # nothing evicted, nothing decoded twice
    print("tiles", first["tiles"], "decoded", views[0]["decodes"], "then", views[1]["decodes"])


def test_the_export_reads_every_parcel_without_drawing_it(page, sample):
    parcels = sample["parcels"].set_index("parcel_id")
    first = _open(page, sample["map"])
    assert first["decodes"] == 0
    doc = page.evaluate("() => mujunMap.geojson()")
    after = page.evaluate(STATE)
    assert after["decodes"] == first["tiles"]  # every tile, each once
    assert len(doc["features"]) == len(parcels)
    got = gpd.GeoDataFrame.from_features(doc["features"]).set_index("parcel_id")
    got = got.loc[parcels.index]
    hausdorff = shapely.hausdorff_distance(got.geometry.array, parcels.geometry.array)
    assert float(np.max(hausdorff)) < 1e-6  # degrees: the page's 6 decimals (0.1 m)


def test_a_search_hit_zooms_to_and_outlines_a_parcel_of_a_tile_never_drawn(page, sample):
    parcels = sample["parcels"]
    first = _open(page, sample["map"])
    far = parcels.iloc[len(parcels) - 1]
    pid = str(far["parcel_id"])
    page.fill(".mj-search", pid)
    page.locator(".mj-hit", has_text=pid).first.click()
    page.wait_for_function(f"mujunMap.map.getZoom() >= {ZOOM}")
    state = page.evaluate(STATE)
    b = far.geometry.bounds
    assert state["w"] <= b[0]
    assert state["s"] <= b[1]
    assert state["e"] >= b[2]
    assert state["n"] >= b[3]
    assert first["decodes"] == 0
    assert 1 <= state["decodes"] < first["tiles"]
    outline = page.evaluate("() => mujunMap.parcels.latlngs(mujunMap.keptIndex)[0].length")
    assert outline == len(far.geometry.exterior.coords) - 1


def test_filters_count_every_parcel_whatever_is_decoded(page, sample):
    parcels = sample["parcels"]
    first = _open(page, sample["map"])
    park = str(parcels["park"].mode().iloc[0])
    page.select_option(".mj-filter[data-field='park']", park)
    shown = page.evaluate("() => mujunMap.parcels.visible.reduce((a, v) => a + v, 0)")
    assert shown == int((parcels["park"] == park).sum())
    assert page.evaluate(STATE)["decodes"] == first["decodes"] == 0
    print(json.dumps({"park": park, "shown": shown}, ensure_ascii=False))
