"""The page's script (src/mujun/maps/js): Biome's lint and node's tests of the decoder.

The node tests (tests/js/) decode fixtures that the real encoder writes here, into
``tmp_path``, beside the values expected from them (computed in Python from the shapes and
columns, not from the encoding). Needs node and npm (scripts/setup-system.sh installs them);
Biome comes from npm (package.json, package-lock.json). Under CI=true a missing node fails
the run instead of skipping, like the browser tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from mujun.maps.assets import page_script
from mujun.maps.encode import encode_column, encode_shapes, encode_varints, pack
from mujun.maps.gcj02 import shift_geometries
from mujun.maps.payload import (
    SCHEMA_VERSION,
    Aggregate,
    FirmTable,
    Payload,
    Scale,
    ShapeSet,
    Theme,
)

ROOT = Path(__file__).resolve().parents[1]
PRECISION = 6


def require_node() -> str:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        message = "node or npm not found; run scripts/setup-system.sh (apt-get install nodejs npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return node


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env, check=False
    )


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``npm ci`` once if Biome is not installed (the registry must be reachable then)."""
    require_node()
    biome = ROOT / "node_modules" / ".bin" / "biome"
    if not biome.exists():
        done = _run("npm", "ci", "--no-audit", "--no-fund")
        assert done.returncode == 0, done.stdout + done.stderr
    return biome


def test_biome_lints_the_page_script_clean(node_modules: Path) -> None:
    done = _run(str(node_modules), "ci", "--colors=off", "src/mujun/maps/js", "tests/js")
    assert done.returncode == 0, done.stdout + done.stderr


# ---- fixtures for tests/js/decode.test.mjs ---------------------------------------------------


def _quantised(coords: Any) -> list[list[float]]:
    """Coordinates as the page gives them back: integers of 1e-6 degrees, divided."""
    q = np.round(np.asarray(coords, dtype=float) * 10**PRECISION).astype(np.int64)
    return [[int(x) / 10**PRECISION, int(y) / 10**PRECISION] for x, y in q]


def _polygons(geom: Any) -> list[Polygon]:
    return list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom]


def _geojson(geom: Any) -> dict[str, Any]:
    """RFC 7946 geometry with quantised coordinates (what decode.js's Shapes.geometry gives)."""
    polys = [
        [_quantised(p.exterior.coords), *(_quantised(r.coords) for r in p.interiors)]
        for p in _polygons(geom)
    ]
    if len(polys) == 1:
        return {"type": "Polygon", "coordinates": polys[0]}
    return {"type": "MultiPolygon", "coordinates": polys}


def _latlngs(geom: Any) -> list[list[list[float]]]:
    """Every ring, open, as [lat, lon] (what Shapes.latlngs gives for the highlight)."""
    rings = [r for p in _polygons(geom) for r in (p.exterior, *p.interiors)]
    return [[[y, x] for x, y in _quantised(r.coords)[:-1]] for r in rings]


def _oriented(geoms: list[Any]) -> np.ndarray:
    return np.asarray(shapely.orient_polygons(np.asarray(geoms, dtype=object), exterior_cw=False))


def _shape_cases() -> list[dict[str, Any]]:
    square_with_hole = Polygon(
        box(119.90, 31.00, 119.91, 31.01).exterior.coords,
        [box(119.903, 31.003, 119.907, 31.007).exterior.coords],
    )
    two_parts = MultiPolygon(
        [
            Polygon(
                box(-70.01, -33.01, -70.0, -33.0).exterior.coords,
                [box(-70.008, -33.008, -70.002, -33.002).exterior.coords],
            ),
            Polygon([(-70.05, -33.05), (-70.04, -33.05), (-70.045, -33.04)]),
        ]
    )
    far_east = box(179.98, 70.0, 179.99, 70.01)  # then a jump across the antimeridian
    far_west = box(-179.99, -70.01, -179.98, -70.0)
    round_lot = Point(120.0, 30.9).buffer(0.002, quad_segs=64)  # 256 vertices
    geoms = _oriented([square_with_hole, two_parts, far_east, far_west, round_lot])
    contains = [
        [0, 119.901, 31.005, True],
        [0, 119.905, 31.005, False],  # in the hole
        [0, 119.92, 31.005, False],
        [1, -70.005, -33.009, True],
        [1, -70.005, -33.005, False],  # in the first part's hole
        [1, -70.045, -33.047, True],  # in the second part
        [1, -70.03, -33.03, False],  # between the parts
        [2, 179.985, 70.005, True],
        [3, -179.985, -70.005, True],
        [3, 179.985, 70.005, False],
        [4, 120.0, 30.9, True],
        [4, 120.0019, 30.9019, False],  # inside the box, outside the circle
    ]
    display = shift_geometries(geoms[[0, 1, 4]])
    return [
        {
            "name": "holes, parts, antimeridian, many vertices",
            "enc": encode_shapes(geoms, precision=PRECISION),
            "geometries": [_geojson(g) for g in geoms],
            "contains": contains,
        },
        {
            "name": "a tile a shape (zoom 20)",
            "enc": encode_shapes(geoms, precision=PRECISION, tile_zoom=20),
            "geometries": [_geojson(g) for g in geoms],
            "contains": contains,
        },
        {
            "name": "GCJ-02 display shapes",
            "enc": encode_shapes(geoms[[0, 1, 4]], precision=PRECISION, display=display),
            "geometries": [_geojson(g) for g in geoms[[0, 1, 4]]],
            "latlngs": [_latlngs(g) for g in display],
            "contains": [],
        },
    ]


def _varint_cases() -> list[dict[str, Any]]:
    edges = [0, 1, 127, 128, 16_383, 16_384, 2**21 - 1, 2**21, 2**32 + 5, 2**40 + 12_345]
    big = [2**53 - 1, 2**52 + 1, 2**49 - 1, 2**49]
    rng = np.random.default_rng(15)
    many = rng.integers(0, 2**31, size=500).tolist()
    return [
        {"name": "byte boundaries", "b64": encode_varints(np.array(edges)), "values": edges},
        {"name": "up to 2**53 - 1", "b64": encode_varints(np.array(big)), "values": big},
        {"name": "500 random", "b64": encode_varints(np.array(many)), "values": many},
        {"name": "none", "b64": encode_varints(np.array([], dtype=np.int64)), "values": []},
    ]


def _coord_cases() -> list[dict[str, Any]]:
    """Zigzag deltas: the stream x0 y0 x1 y1 ... of quantised coordinates, via encode_shapes."""
    lots = _oriented([box(-179.9, -89.0, 179.9, 89.0), box(-0.5, -0.5, 0.5, 0.5)])
    enc = encode_shapes(lots, precision=PRECISION, tile_zoom=0)  # one tile: one stream
    exterior = [
        v
        for g in lots
        for xy in np.round(np.asarray(g.exterior.coords)[:-1] * 10**PRECISION).astype(np.int64)
        for v in xy.tolist()
    ]
    return [{"name": "signed deltas across the world", "b64": enc["xy"][0], "values": exterior}]


def _column_cases() -> list[dict[str, Any]]:
    def case(name: str, values: pd.Series, kind: str, expected: list[Any], **kw: Any) -> dict:
        col = encode_column(values, **kw)
        assert col["k"] == kind, (name, col["k"])  # the fixture covers the kind it says
        return {"name": name, "kind": kind, "col": col, "expected": expected}

    numbers = pd.Series([1.234, np.nan, None, -5.5, 1e12, np.inf, 0.0, -0.125])
    towns = pd.Series(["长兴", "长兴", None, "湖州", "长兴", "湖州", "长兴"], dtype=object)
    texts = pd.Series(["</script><b>x</b>", "=1+2", None, "😀 长兴县", "plain"], dtype=object)
    flags = [True, False, True, True, False, False, False, True, True, False, True]
    nullable = pd.array([True, None, False, True], dtype="boolean")
    return [
        case(
            "numbers with NaN, None and inf",
            numbers,
            "num",
            [1.23, None, None, -5.5, 1e12, None, 0.0, -0.12],
            digits=2,
        ),
        case("dictionary strings", towns, "cat", towns.where(towns.notna(), None).tolist()),
        case("text", texts, "str", texts.where(texts.notna(), None).tolist()),
        case("bit set of 11", pd.Series(flags), "bool", flags),
        case("bit set with NA", pd.Series(nullable), "bool", [True, False, False, True]),
    ]


def _payload(version: int = SCHEMA_VERSION) -> Payload:
    parcels = _oriented([box(119.90, 31.00, 119.91, 31.01), box(119.91, 31.00, 119.92, 31.01)])
    cols = {
        "parcel_id": encode_column(pd.Series(["330522-001", "330522-002"], dtype=object)),
        "park": encode_column(pd.Series(["长兴", "长兴"], dtype=object)),
        "area_mu": encode_column(pd.Series([15.0, 14.9876]), digits=4),
        "vacant": encode_column(pd.Series([False, True])),
    }
    return Payload(
        sets={"parcels": ShapeSet(shapes=encode_shapes(parcels), cols=cols)},
        export=["parcel_id", "park", "area_mu", "vacant"],
        area_col="area_mu",
        scale=Scale(imperial=False, metric=True),
        csv_formulas="neutralise",
        lang="zh",
        unit="万元/亩",
        themes=[
            Theme(id="all", label="全部地块（2 宗）", kind="outline", show=True, weight=0.5),
            Theme(id="vacant", label="空置", kind="mask", col="vacant", dash=(4, 3)),
        ],
        figures=[],
        change_col=None,
        filters=["park"],
        aggregate=Aggregate(above=50_000, zoom=14, cell_px=16),
        texts={"parcel": "地块 {id}", "reason": {}},
        firms=FirmTable(
            n=1,
            cols={"name": encode_column(pd.Series(["长兴 <科技> 有限公司"], dtype=object))},
            count=encode_varints(np.array([1, 0])),
            index=encode_varints(np.array([0])),
        ),
        firm_columns=[("企业", "name")],
        schema_version=version,
    )


def write_fixtures(folder: Path) -> None:
    """The node tests' inputs and expected values, from mujun's encoder."""

    def write(name: str, value: Any) -> None:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        (folder / f"{name}.json").write_text(text, encoding="utf-8")

    write("varints", _varint_cases())
    write("coords", _coord_cases())
    write("shapes", _shape_cases())
    write("columns", _column_cases())
    payload = _payload().to_json()
    write("packed", {"packed": pack(payload), "expected": payload})
    write("wrong_version", {"packed": pack(_payload(999).to_json()), "version": 999})
    first, rest = _payload().parts()
    write("parts", {"first": pack(first), "rest": pack(rest), "expected": payload})
    (folder / "page.js").write_text(page_script(), encoding="utf-8")


def test_node_decodes_what_python_encodes(tmp_path: Path, node_modules: Path) -> None:
    node = require_node()
    write_fixtures(tmp_path)
    env = {**os.environ, "MUJUN_JS_FIXTURES": str(tmp_path)}
    done = _run(node, "--test", "tests/js/", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout, done.stdout


def test_payload_and_script_agree_on_the_schema_version() -> None:
    decode_js = (ROOT / "src" / "mujun" / "maps" / "js" / "decode.js").read_text(encoding="utf-8")
    assert f"const SCHEMA_VERSION = {SCHEMA_VERSION};" in decode_js
    assert _payload().to_json()["schema_version"] == SCHEMA_VERSION


def test_payload_refuses_layers_of_a_missing_shape_set() -> None:
    good = _payload()
    with pytest.raises(ValueError, match="zones"):
        Payload(
            **{
                **good.__dict__,
                "themes": [Theme(id="z", label="z", kind="outline", set="zones")],
            }
        )
