"""Shared fixtures: a tiny county built in code, in a projected CRS near Changxing.

Layout (EPSG:4549, metres; 1 mu = 10000/15 m²):

======  ==========  ======  =====================================
parcel  size (m)    mu      used by (2021)
======  ==========  ======  =====================================
P1      100 x 100   15      A (tax 30 万元)
P2      200 x 100   30      B (with P3; tax 90 万元)
P3      100 x 100   15      B
P4      100 x 200   30      C (tax 30 万元) and D (tax 60 万元)
P5      100 x 100   15      nobody (vacant)
======  ==========  ======  =====================================

E is a lessee (no parcel), F lists only P99, which does not exist (orphan).
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

X0, Y0 = 490_000.0, 3_430_000.0  # E/N in EPSG:4549, close to 119.9E 31.0N

CODES = {  # valid GB 32100-2015 codes (check characters from mujun.identifiers)
    "A": "91330522MA2B00000M",
    "B": "91330522MA2B00019J",
    "C": "91330522MA2B00027D",
    "D": "91330522MA2B000358",
    "E": "91330522MA2B000433",
    "F": "91330522MA2B00051X",
}


def tiny_parcels() -> gpd.GeoDataFrame:
    """Five parcels with declared areas (P2 declared 10 % too small)."""
    geoms = [
        box(X0, Y0, X0 + 100, Y0 + 100),
        box(X0 + 150, Y0, X0 + 350, Y0 + 100),
        box(X0 + 400, Y0, X0 + 500, Y0 + 100),
        box(X0, Y0 + 150, X0 + 100, Y0 + 350),
        box(X0 + 150, Y0 + 150, X0 + 250, Y0 + 250),
    ]
    return gpd.GeoDataFrame(
        {
            "宗地号": ["P1", "P2", "P3", "P4", "P5"],
            "园区": ["东区", "东区", "东区", "西区", None],
            "登记用地面积(亩)": [15.0, 27.0, 15.0, 30.0, 15.0],
        },
        geometry=geoms,
        crs="EPSG:4549",
    )


def tiny_filings() -> pd.DataFrame:
    """Filings for 2021 (and A in 2016), money in 万元."""
    return pd.DataFrame(
        {
            "统一社会信用代码": [CODES[k] for k in "ABCDEFA"],
            "企业名称": ["甲公司", "乙公司", "丙公司", "丁公司", "戊公司", "己公司", "甲公司"],
            "年份": [2021, 2021, 2021, 2021, 2021, 2021, 2016],
            "宗地号": ["P1", "P2、P3", "P4", "P4", "", "P99", "P1"],
            "实缴税金(万元)": [30, 90, 30, 60, 5, 7, 15],
            "工业增加值(万元)": [150, 450, 120, 240, 20, 30, 90],
            "营业收入(万元)": [600, 1800, 500, 900, 80, 100, 300],
        }
    )


@pytest.fixture
def tiny_files(tmp_path: Path) -> dict[str, Path]:
    """The tiny county written as a GeoPackage in EPSG:4490 and a UTF-8 CSV."""
    parcels = tmp_path / "parcels.gpkg"
    tiny_parcels().to_crs(4490).to_file(parcels, layer="parcels", engine="pyogrio")
    filings = tmp_path / "filings.csv"
    tiny_filings().to_csv(filings, index=False, encoding="utf-8-sig")
    return {"parcels": parcels, "filings": filings}


def write_tiny(tmp: Path, filings: pd.DataFrame | None = None) -> dict[str, Path]:
    """The tiny county in ``tmp`` as parcels.gpkg (EPSG:4549) and filings.csv (UTF-8 with a
    BOM), with ``filings`` instead of :func:`tiny_filings` if given."""
    files = {"parcels": tmp / "parcels.gpkg", "filings": tmp / "filings.csv"}
    tiny_parcels().to_file(files["parcels"], engine="pyogrio")
    (tiny_filings() if filings is None else filings).to_csv(
        files["filings"], index=False, encoding="utf-8-sig"
    )
    return files


def run_mujun(files: dict[str, Path], out: Path, *extra: str, quiet: bool = True) -> int:
    """``mujun run`` on ``files`` (parcels, filings) into ``out``, quietly unless ``quiet`` is
    false (the summary printed); the exit code."""
    from mujun.cli import main  # noqa: PLC0415 - keep conftest importable without the CLI

    return main(
        [
            "run",
            "--parcels",
            str(files["parcels"]),
            "--filings",
            str(files["filings"]),
            "--out",
            str(out),
            *(["-q"] if quiet else []),
            *extra,
        ]
    )


def page_data(page: str) -> dict:
    """The data a map page's script draws from (its ``mj-data`` and ``mj-data-rest``
    elements, unpacked and joined)."""
    import re  # noqa: PLC0415

    from mujun.maps.encode import unpack  # noqa: PLC0415
    from mujun.maps.payload import join  # noqa: PLC0415

    parts = []
    for name in ("mj-data", "mj-data-rest"):
        found = re.search(rf'<script [^>]*id="{name}"[^>]*>(.*?)</script>', page, re.S)
        assert found, f"no {name} element in the page"
        parts.append(unpack(found.group(1).strip()))
    return join(*parts)


def page_shapes(page: str, *, display: bool = False, name: str = "parcels") -> list:
    """Rings of each shape of a map page (``display``: as drawn, e.g. GCJ-02 shifted)."""
    from mujun.maps.encode import decode_shapes  # noqa: PLC0415

    enc = page_data(page)["sets"][name]["shapes"]
    return decode_shapes(enc, display=display and "xy_display" in enc)


# Under CI the property tests draw the same examples every run (a failure found locally at
# random is kept as a test of its own); locally they explore anew each time.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The browser for the browser tests: one headless Chromium per session (see tests/browser.py).
from browser import chromium  # noqa: E402, F401
from pg import postgis  # noqa: E402, F401 - a real PostgreSQL + PostGIS server (tests/pg.py)
