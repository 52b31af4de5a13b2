"""Basemaps: tiles by name, Tianditu keys, GCJ-02 display shift for AMap, orthophoto overlay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Geod

from conftest import X0, Y0, page_shapes, run_mujun
from mujun.maps.gcj02 import wgs84_to_gcj02


def _run(files: dict[str, Path], out: Path, *extra: str) -> int:
    return run_mujun(files, out, "--overwrite", *extra)


def test_gcj02_shift_in_changxing_is_about_510_m():
    lon, lat = wgs84_to_gcj02(np.array([119.9, 2.35]), np.array([31.0, 48.85]))
    geod = Geod(ellps="WGS84")
    east = geod.inv(119.9, 31.0, lon[0], 31.0)[2]
    north = geod.inv(119.9, 31.0, 119.9, lat[0])[2]
    assert east == pytest.approx(441, abs=2)  # METHOD.md 5.2: +440 m E, -260 m N
    assert north == pytest.approx(261, abs=2)
    assert lat[0] < 31.0
    assert (lon[1], lat[1]) == (2.35, 48.85)  # outside China: unchanged


def test_amap_shifts_the_drawing_not_the_export(tiny_files, tmp_path):
    assert _run(tiny_files, tmp_path / "osm") == 0
    assert _run(tiny_files, tmp_path / "amap", "--basemap", "amap") == 0
    exported = [
        (tmp_path / b / "exports" / "parcels.geojson").read_bytes() for b in ("osm", "amap")
    ]
    assert exported[0] == exported[1]
    ring = np.array(json.loads(exported[0])["features"][0]["geometry"]["coordinates"][0])
    osm = (tmp_path / "osm" / "maps" / "mujun.html").read_text(encoding="utf-8")
    amap = (tmp_path / "amap" / "maps" / "mujun.html").read_text(encoding="utf-8")
    assert "autonavi.com" in amap
    assert "autonavi.com" not in osm
    drawn_osm, drawn_amap = (page_shapes(p, display=True)[0][0] for p in (osm, amap))
    kept_amap = page_shapes(amap)[0][0]  # what the export button writes
    assert _same_ring(drawn_osm, ring)  # drawn where it is
    assert _same_ring(kept_amap, ring)  # exported unshifted
    slon, slat = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
    assert _same_ring(drawn_amap, np.c_[slon, slat])  # drawn in GCJ-02
    assert not _same_ring(drawn_amap, ring, tol=0.002)  # shifted ~500 m, not a rounding


def _same_ring(a: np.ndarray, b: np.ndarray, tol: float = 1e-6) -> bool:
    """The same ring to ``tol`` degrees, whichever vertex it starts at."""
    pa, pb = (shapely.Polygon(r).normalize() for r in (a, b))
    return bool(pa.equals_exact(pb, tolerance=tol))


def test_tianditu_needs_a_key(tiny_files, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    assert _run(tiny_files, tmp_path, "--basemap", "tianditu-img") == 2
    assert "TIANDITU_KEY" in capsys.readouterr().err
    monkeypatch.setenv("TIANDITU_KEY", "abc123")
    assert _run(tiny_files, tmp_path, "--basemap", "tianditu-img") == 0
    page = (tmp_path / "maps" / "mujun.html").read_text(encoding="utf-8")
    assert "img_w/wmts" in page
    assert "cia_w/wmts" in page
    assert "tk=abc123" in page


def test_no_basemap_and_unknown_basemap(tiny_files, tmp_path, capsys):
    assert _run(tiny_files, tmp_path, "--basemap", "none") == 0
    page = (tmp_path / "maps" / "mujun.html").read_text(encoding="utf-8")
    assert "L.tileLayer" not in page
    assert _run(tiny_files, tmp_path, "--basemap", "bing") == 2
    assert "unknown basemap 'bing'" in capsys.readouterr().err


def test_orthophoto_is_embedded(tiny_files, tmp_path):
    tif = tmp_path / "ortho.tif"
    data = np.zeros((3, 60, 80), dtype="uint8")
    data[0, :, :40] = 200
    with rasterio.open(
        tif,
        "w",
        driver="GTiff",
        width=80,
        height=60,
        count=3,
        dtype="uint8",
        crs="EPSG:4549",
        transform=Affine(10, 0, X0 - 100, 0, -10, Y0 + 500),
    ) as dst:
        dst.write(data)
    assert _run(tiny_files, tmp_path, "--orthophoto", str(tif), "--basemap", "none") == 0
    page = (tmp_path / "maps" / "mujun.html").read_text(encoding="utf-8")
    assert "L.imageOverlay" in page
    assert "data:image/png;base64" in page
