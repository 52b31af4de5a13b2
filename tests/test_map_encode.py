"""The compact encoding of the map's shapes and table, decoded back."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from mujun.maps.encode import (
    decode_shapes,
    decode_varints,
    encode_column,
    encode_shapes,
    encode_varints,
    pack,
    simplify_coverage,
    unpack,
)


@given(st.lists(st.integers(min_value=0, max_value=2**53), max_size=200))
def test_varints_round_trip(values):
    assert decode_varints(encode_varints(np.array(values, dtype=np.uint64))).tolist() == values


def test_varint_bytes():
    # 0-127 take one byte, 128 two (0x80 0x01), 2**32 five
    assert encode_varints(np.array([0, 127, 128])) == "AH+AAQ=="
    assert len(np.frombuffer(__import__("base64").b64decode(encode_varints([2**32])), "u1")) == 5
    with pytest.raises(ValueError, match="non-negative"):
        encode_varints(np.array([-1]))


def _rings(geom) -> list[np.ndarray]:
    polys = geom.geoms if isinstance(geom, MultiPolygon) else [geom]
    out = []
    for p in polys:
        out.append(np.asarray(p.exterior.coords))
        out += [np.asarray(r.coords) for r in p.interiors]
    return out


lonlat = st.tuples(
    st.floats(min_value=73.0, max_value=135.0), st.floats(min_value=18.0, max_value=53.0)
)


@settings(max_examples=60)
@given(st.lists(st.tuples(lonlat, st.floats(1e-5, 0.01), st.booleans()), min_size=1, max_size=8))
def test_shapes_round_trip_to_the_precision(specs):
    geoms = []
    for (x, y), size, multi in specs:
        outer = box(x, y, x + size, y + size)
        hole = box(x + size / 4, y + size / 4, x + size / 2, y + size / 2)
        poly = Polygon(outer.exterior.coords, [hole.exterior.coords])
        far = box(x + 2 * size, y, x + 3 * size, y + size)
        geoms.append(MultiPolygon([poly, far]) if multi else poly)
    geoms = shapely.orient_polygons(np.array(geoms, dtype=object), exterior_cw=False)
    decoded = decode_shapes(encode_shapes(geoms, precision=6))
    assert len(decoded) == len(geoms)
    for geom, rings in zip(geoms, decoded, strict=True):
        want = _rings(geom)
        assert len(rings) == len(want)
        for got, ring in zip(rings, want, strict=True):
            np.testing.assert_allclose(got, ring, atol=0.5e-6 + 1e-12)


def test_display_shapes_must_match_the_exported_ones():
    a = np.array([box(120, 30, 120.01, 30.01)], dtype=object)
    b = np.array([Polygon([(120, 30), (120.01, 30), (120.01, 30.01)])], dtype=object)
    with pytest.raises(ValueError, match="same vertices"):
        encode_shapes(a, display=b)


def test_coverage_simplification_keeps_shared_edges():
    # two parcels sharing an edge surveyed with 41 vertices 5 m apart that wiggle by 2 cm:
    # triangles of at most 0.2 m², under the 1 m² of a 1 m tolerance
    ys = np.linspace(0, 200, 41)
    wiggle = np.c_[100 + 0.02 * np.sin(ys), ys]
    left = Polygon([(0, 0), *wiggle.tolist(), (0, 200)])
    right = Polygon([(200, 0), (200, 200), *wiggle[::-1].tolist()])
    gentle = shapely.get_num_coordinates(simplify_coverage([left, right], 0.1))
    assert (gentle > 20).all()  # 0.01 m²: only the flattest vertices go
    simple = simplify_coverage([left, right], 1.0)
    assert shapely.get_num_coordinates(simple).tolist() == [8, 8]  # was 44 and 44
    assert shapely.coverage_is_valid(simple)  # no gap, no overlap between them
    assert shapely.intersection(*simple).length == pytest.approx(200.0)
    assert sum(p.area for p in simple) == pytest.approx(40_000.0, abs=1.0)


def test_shapes_that_are_not_a_coverage_keep_their_outline():
    overlapping = [box(0, 0, 100, 100), box(50, 50, 150, 150)]
    simple = simplify_coverage(overlapping, 1.0)
    assert all(shapely.is_valid(simple))
    assert [p.area for p in simple] == [10_000.0, 10_000.0]


def test_columns_by_kind():
    assert encode_column(pd.Series([1.234, np.nan, np.inf]), digits=2) == {
        "k": "num",
        "v": [1.23, None, None],
    }
    assert encode_column(pd.Series([True, False, True])) == {"k": "bool", "bits": "BQ=="}
    cat = encode_column(pd.Series(["东区", "东区", None, "西区", "东区"], dtype=object))
    assert cat == {"k": "cat", "dict": ["东区", "西区"], "codes": [0, 0, -1, 1, 0]}
    names = encode_column(pd.Series(["甲", "乙", None], dtype=object))
    assert names == {"k": "str", "v": ["甲", "乙", None]}
    assert encode_column(pd.Series([None, None], dtype=object)) == {
        "k": "cat",
        "dict": [],
        "codes": [-1, -1],
    }


def test_packed_data_cannot_end_its_script_element():
    hostile = {"name": "</script><script>alert(1)</script>", "n": [1, 2]}
    packed = pack(hostile)
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", packed)
    assert unpack(packed) == hostile
    assert pack(hostile) == packed  # no timestamp: the same data, the same page
