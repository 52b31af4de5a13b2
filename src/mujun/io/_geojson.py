"""The machinery of :func:`mujun.io.writers.write_geojson`: RFC 7946 geometries and the text of
the features, byte for byte as the per-feature writer it replaced made them.

Kept over geopandas' ``to_file`` because it is measured faster: ``bench/geojson.py`` (4.4-4.9x
at 1,000,000 parcels, docs/benchmarks.md). Replace it only if that benchmark says otherwise.

That writer reprojected with ``GeoSeries.to_crs``, rounded, wrote each geometry with
``shapely.to_geojson`` and each feature's properties with ``json.dumps(..., ensure_ascii=False)``.
Here nothing loops over features in Python:

- geometries: the flat coordinate array is reprojected and rounded once and set back on the
  geometries in one call; repeated points and the orientation of hole-free polygons are found
  in that array, so ``remove_repeated_points`` and ``orient_polygons`` run only where they
  change something;
- geometry text: hole-free polygons (parcels) are written from their coordinate array as one
  block of bytes (see :func:`_write_numbers` for why the numbers match GEOS's text); anything
  else is left to ``shapely.to_geojson``;
- properties: each column becomes Arrow text at once (Arrow's shortest float text where it is
  ``repr``'s; strings quoted by Arrow, and escaped by :mod:`json` only where they hold a quote,
  a backslash or a control character), and Arrow joins the pieces of each feature into one
  buffer, written as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from json.encoder import encode_basestring
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
import shapely.errors

__all__ = ["property_columns", "rfc7946", "write_features"]

_TEXT = pa.large_string()  # 64-bit offsets: a block of large geometries may pass 2 GB
_NULL = "null"
_EMPTY = pa.scalar("", _TEXT)
_BOOLS = pa.array(["false", "true", _NULL], _TEXT)
_QUOTE = pa.scalar('"', _TEXT)
_DOT_ZERO = pa.scalar(".0", _TEXT)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # what json.dumps(...) uses
_WGS84 = pyproj.CRS.from_epsg(4326)
# floats whose repr is awkward (shortest digits, exponent switch at 1e-4 and 1e16, subnormal,
# negative zero, extremes, ties between two shortest texts), as float.__repr__ (and so
# json.dumps) prints them
_FLOAT_REPRS = (
    "0.1 1e-07 12.0 1e+16 9999999999999998.0 0.0001 1e-05 5e-324 -0.0 0.6666666666666666 "
    "1.7976931348623157e+308 2.2250738585072014e-308 123456789.125 1e+22 1.5e-300 -2.5e-05 "
    "64.00003051757812 562949953421312.2 99999999999999.98 1000000000000000.0 123456.0 "
    "10000000000.0 0.00012"
)


# -- geometries --------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _to_wgs84(crs: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(crs, _WGS84, always_xy=True)  # as GeoSeries.to_crs


def _repeated_points(xy: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Which of ``n`` geometries have a point equal to the one before it (``owner``: the
    geometry of each point)."""
    same = (xy[1:] == xy[:-1]).all(axis=1) & (owner[1:] == owner[:-1])
    found = np.zeros(n, dtype=bool)
    found[owner[1:][same]] = True
    return found


def _counter_clockwise(xy: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Which geometries' points (``counts`` each, one ring) surely run counter-clockwise: twice
    their signed area (shoelace) is positive by more than its rounding error can be. Only
    meaningful for non-empty rings."""
    forward = xy[:-1, 0] * xy[1:, 1]
    backward = xy[1:, 0] * xy[:-1, 1]
    starts = np.cumsum(counts) - counts
    last = np.minimum(starts + counts - 1, len(forward))  # the step into the next ring
    cross = np.append(forward - backward, 0.0)
    cross[last] = 0.0
    size = np.append(np.abs(forward) + np.abs(backward), 0.0)
    size[last] = 0.0
    first = np.minimum(starts, len(cross) - 1)
    twice_area = np.add.reduceat(cross, first)
    bound = 2 * (counts + 2) * np.finfo(np.float64).eps * np.add.reduceat(size, first)
    return (counts > 0) & (twice_area > bound)


def rfc7946(geoms: gpd.GeoSeries, precision: int, *, with_z: bool | None = None) -> np.ndarray:
    """Reproject to EPSG:4326, round, snap-round where rounding broke validity, orient.

    The same geometries as ``geoms.to_crs(4326)``, then ``shapely.transform`` with
    ``np.round``, ``remove_repeated_points(..., 0.0)``, ``set_precision`` of the unrounded
    geometry where the rounded one is invalid, and ``orient_polygons(exterior_cw=False)``.
    Each geometry on its own: a layer can be done in slices (``with_z``: whether some
    geometry of the whole layer has z, which picks the way; None: of these).
    """
    data = np.asarray(geoms.array, dtype=object)
    if shapely.has_z(data).any() if with_z is None else with_z:
        return _rfc7946_3d(geoms, precision)
    xy = shapely.get_coordinates(data)
    if not geoms.crs.is_exact_same(_WGS84):
        xy = np.column_stack(_to_wgs84(geoms.crs).transform(xy[:, 0], xy[:, 1]))
    rounded_xy = np.round(xy, precision)
    rounded = shapely.set_coordinates(data.copy(), rounded_xy)
    counts = shapely.get_num_coordinates(data)
    owner = np.repeat(np.arange(len(data)), counts)
    repeated = _repeated_points(rounded_xy, owner, len(data))

    def unrounded(which: np.ndarray) -> np.ndarray:
        return shapely.set_coordinates(data[which].copy(), xy[np.repeat(which, counts)])

    if repeated.any():
        rounded[repeated] = _without_repeats(rounded[repeated], unrounded(repeated))

    broken = _fix_invalid(rounded, unrounded, precision)
    # orienting a valid polygon whose only ring runs counter-clockwise changes nothing
    done = _plain_polygons(data) & ~repeated & ~broken
    done[done] = _counter_clockwise(rounded_xy, counts)[done]
    rounded[~done] = shapely.orient_polygons(rounded[~done], exterior_cw=False)
    return rounded


def _without_repeats(rounded: np.ndarray, unrounded: np.ndarray) -> np.ndarray:
    """``remove_repeated_points`` of the rounded shapes; a shape smaller than the precision
    (a ring of a parcel a few millimetres across collapses to one or two points) keeps its
    unrounded coordinates instead of failing the export."""
    try:
        return np.asarray(shapely.remove_repeated_points(rounded, 0.0), dtype=object)
    except shapely.errors.GEOSException:
        out = np.empty(len(rounded), dtype=object)
        for i, (g, keep) in enumerate(zip(rounded, unrounded, strict=True)):
            try:
                out[i] = shapely.remove_repeated_points(g, 0.0)
            except shapely.errors.GEOSException:
                out[i] = keep
        return out


def _rfc7946_3d(geoms: gpd.GeoSeries, precision: int) -> np.ndarray:
    """:func:`rfc7946` where some geometries have z: geopandas and shapely do it all."""
    lonlat = np.asarray(geoms.to_crs(_WGS84).array, dtype=object)
    rounded = _without_repeats(
        np.asarray(shapely.transform(lonlat, lambda xy: np.round(xy, precision)), dtype=object),
        lonlat,
    )
    _fix_invalid(rounded, lambda which: lonlat[which], precision)
    return np.asarray(shapely.orient_polygons(rounded, exterior_cw=False), dtype=object)


def _fix_invalid(
    rounded: np.ndarray, lonlat: Callable[[np.ndarray], np.ndarray], precision: int
) -> np.ndarray:
    """Where rounding made a geometry invalid (shared edges of a merged zone may cross),
    snap-round it to the grid instead, which makes it valid (in place); which were."""
    # snap rounding everything costs 4-5 times as much as rounding and checking
    broken = ~shapely.is_valid(rounded)
    if broken.any():
        rounded[broken] = shapely.set_precision(lonlat(broken), 10.0**-precision)
    return broken


# -- geometry text -----------------------------------------------------------------------------

_POLYGON = pa.scalar('{"type":"Polygon","coordinates":[[', _TEXT)
_SPLITTER = 2.0**27 + 1  # Veltkamp: splits a double into two halves whose products are exact
_MANTISSA = (1 << 52) - 1
# GEOS prints the shortest decimal where it is this far inside the value's rounding interval
_SURE = 1 - 1 / 32
# a number's field: sign and three digits (4 bytes), then the point and seven decimals (8 bytes)
_FIELD = 12
_MAX_DECIMALS = 7


@cache
def _ascii_table(width: int) -> np.ndarray:
    """ASCII digits of 0 to 10**width - 1 (width ≤ 8), zero-padded, packed little-endian."""
    values = np.arange(10**width, dtype=np.uint64)
    packed = np.zeros(len(values), dtype=np.uint64)
    for i in range(width):  # digit i from the left goes to byte i
        digit = values // np.uint64(10 ** (width - 1 - i)) % np.uint64(10) + np.uint64(48)
        packed |= digit << np.uint64(8 * i)
    return packed


@cache
def _zeros_table(width: int) -> np.ndarray:
    """Trailing zeros of 0 to 10**width - 1 written with ``width`` digits."""
    values = np.arange(10**width)
    zeros = np.zeros(len(values), dtype=np.intp)
    for i in range(1, width + 1):
        zeros += values % 10**i == 0
    return zeros


# which bytes of a field are printed: [negative, integer digits] for the first four (sign,
# then the last digits of three), [decimals] for the last eight (point, then the decimals)
_INT_KEEP = np.array(
    [[neg + sum(1 << 8 * i for i in range(4 - n, 4)) for n in range(4)] for neg in (0, 1)],
    dtype=np.uint32,
)
_FRAC_KEEP = np.array([sum(1 << 8 * i for i in range(n + 1)) for n in range(8)], dtype=np.uint64)


def _columns(rows: np.ndarray, start: int, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """The bytes from column ``start`` of each row of a C-ordered (n, m) byte array as one
    (unaligned) integer per row."""
    return np.ndarray((rows.shape[0],), dtype, rows.view(np.uint8), start, (rows.shape[1],))


def _product_error(a: np.ndarray, b: float, product: np.ndarray) -> np.ndarray:
    """``a * b - product`` exactly, for ``product = a * b`` rounded (Dekker's two-product)."""
    big = a * _SPLITTER
    a_hi = big - (big - a)
    a_lo = a - a_hi
    b_hi = b * _SPLITTER - (b * _SPLITTER - b)
    b_lo = b - b_hi
    return ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _write_numbers(
    values: np.ndarray, precision: int, chars: np.ndarray, keep: np.ndarray, at: int
) -> tuple[np.ndarray, np.ndarray]:
    """Write coordinates rounded to ``precision`` (1 to 7) decimals as GEOS's GeoJSON writer
    prints them into the ``_FIELD`` columns of ``chars`` from ``at`` (sign, three integer
    digits, point, decimals; ``keep`` marks those printed). Returns the length of each text
    and where it is GEOS's (elsewhere the caller must not use it).

    GEOS prints numbers with nlohmann/json's Grisu2, which finds the shortest decimal in the
    value's rounding interval narrowed by a few units of its 64-bit arithmetic (a half-interval
    is at least 512 of them, away from powers of two). For a value rounded to ``precision``
    decimals (below 1000) that decimal is ``d = k / 10**precision``, the only one of so few
    digits near it, and Grisu2 prints it unless it lies in the outer few units of the
    interval; there it prints 16 or 17 digits (121.17986929999999 for 121.1798693; 0.16 % of
    rounded coordinates, none found deeper than 0.002 of the half-interval). ``d``'s text is
    used where ``d`` is at least 1/32 of a half-interval inside; for the rest (about 3 %) GEOS
    prints the values, and the length of each says whether it printed ``d``.
    """
    scale = 10.0**precision
    magnitude = np.abs(values)
    v = np.where((magnitude >= 1e-3) & (magnitude < 1000), values, 1.0)
    scaled = v * scale
    k = np.rint(scaled)
    off = (scaled - k) + _product_error(v, scale, scaled)  # (v - d) * scale, d = k / scale
    k = np.abs(k, out=k)
    # GEOS writes these positionally with 1 to 3 digits before the point
    usable = (v == values) & (k < 1000 * scale)
    k[~usable] = 0
    # within _SURE of the half gap to the next double (below a power of two that gap halves)
    sure = usable & (np.abs(off) <= np.spacing(np.abs(v)) * (0.5 * _SURE * scale))
    sure &= (v.view(np.int64) & _MANTISSA) != 0

    whole = np.floor(k / scale)  # exact: k < 2**53 and k / scale is 1e-7 or more off a whole
    frac = (k - whole * scale).astype(np.int64)
    whole_i = whole.astype(np.intp)
    negative = values < 0
    digits = 1 + (whole_i >= 10) + (whole_i >= 100)
    # sign and integer digits, right-aligned in 4 bytes
    _columns(chars, at, np.uint32)[:] = (
        _ascii_table(3)[whole_i].astype(np.uint32) << np.uint32(8)
    ) | np.uint32(ord("-"))
    _columns(keep, at, np.uint32)[:] = _INT_KEEP[negative.view(np.int8), digits]
    # point and decimals, left-aligned in 8 bytes; 5 looked up at once
    low_width = min(precision, 5)
    high, low = np.divmod(frac, 10**low_width)
    text = np.uint64(ord(".")) | _ascii_table(low_width)[low] << np.uint64(
        8 * (1 + precision - low_width)
    )
    zeros = _zeros_table(low_width)[low]
    if precision > low_width:
        text |= _ascii_table(precision - low_width)[high] << np.uint64(8)
        zeros += np.where(low == 0, _zeros_table(precision - low_width)[high], 0)
    decimals = np.maximum(precision - zeros, 1)
    _columns(chars, at + 4, np.uint64)[:] = text
    _columns(keep, at + 4, np.uint64)[:] = _FRAC_KEEP[decimals]
    lengths = negative + digits + 1 + decimals

    exact = sure
    check = np.flatnonzero(usable & ~sure)
    if len(check):
        exact[check] = _geos_lengths(values[check]) == lengths[check]
    return lengths, exact


def _geos_lengths(values: np.ndarray) -> np.ndarray:
    """Length of each of ``values`` (finite) as GEOS's GeoJSON writer prints it."""
    pairs = np.repeat(values, 2).reshape(-1, 2)
    text = shapely.to_geojson(shapely.linestrings(np.concatenate([pairs, pairs[:1]])))
    ascii_ = np.frombuffer(str(text).encode("ascii"), dtype=np.uint8)
    # [[x,x],[y,y],...]: the text of each point "v,v" lies between its brackets
    opens = np.flatnonzero(ascii_ == ord("["))[1:]
    closes = np.flatnonzero(ascii_ == ord("]"))[:-1]
    return np.asarray((closes - opens - 2) // 2)[: len(values)]


def _polygon_text(polys: np.ndarray, precision: int) -> tuple[pa.Array, np.ndarray]:
    """GeoJSON of non-empty 2D polygons without holes, and where it is ``to_geojson``'s."""
    xy = shapely.get_coordinates(polys)
    counts = shapely.get_num_coordinates(polys)
    starts = np.cumsum(counts) - counts
    ends = starts + counts - 1
    # one row of bytes per point: [x,y] then "," or, after the last one, "]]}"; then the
    # bytes kept, row by row, are the text
    field = b"-000." + b"0" * _MAX_DECIMALS
    template = np.frombuffer(b"[" + field + b"," + field + b"],]}", dtype=np.uint8)
    chars = np.empty((len(xy), len(template)), dtype=np.uint8)
    chars[:] = template
    keep = np.ones(chars.shape, dtype=bool)
    keep[:, -2:] = False
    x_len, x_exact = _write_numbers(xy[:, 0], precision, chars, keep, 1)
    y_len, y_exact = _write_numbers(xy[:, 1], precision, chars, keep, _FIELD + 2)
    chars[ends, -3] = ord("]")
    keep[ends, -2:] = True
    row_len = x_len + y_len + 4
    row_len[ends] += 2
    offsets = np.zeros(len(polys) + 1, dtype=np.int64)
    np.cumsum(np.add.reduceat(row_len, starts), out=offsets[1:])
    body = pa.LargeStringArray.from_buffers(
        len(polys), pa.py_buffer(offsets), pa.py_buffer(chars[keep])
    )
    exact = np.logical_and.reduceat(x_exact & y_exact, starts)
    return pc.binary_join_element_wise(_POLYGON, body, _EMPTY), exact


def _plain_polygons(geoms: np.ndarray) -> np.ndarray:
    return (
        (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON)
        & (shapely.get_num_interior_rings(geoms) == 0)
        & ~shapely.is_empty(geoms)
        & ~shapely.has_z(geoms)
    )


@cache
def _polygon_text_is_geos() -> bool:
    """Whether :func:`_polygon_text` writes what this GEOS writes (checked once)."""
    ring = [(120.1234567, 30.5), (-33.0000001, 0.001), (999.9999999, -12.25), (100.0, -0.25)]
    polys = np.array([shapely.Polygon(ring), shapely.Polygon([(0.002, 1), (2, 3), (4, 5.5)])])
    text, exact = _polygon_text(polys, 7)
    expected = shapely.to_geojson(polys[exact]).tolist()
    return bool(exact.any()) and text.filter(pa.array(exact)).to_pylist() == expected


def _geometry_text(geoms: np.ndarray, precision: int) -> pa.Array:
    """``shapely.to_geojson`` of each geometry, ``null`` where it is missing."""
    fast = np.zeros(len(geoms), dtype=bool)
    if 1 <= precision <= _MAX_DECIMALS and _polygon_text_is_geos():
        fast = _plain_polygons(geoms)
    if fast.any():
        fast_text, exact = _polygon_text(geoms[fast], precision)
        if exact.all() and fast.all():
            return fast_text
        fast[fast] = exact
        fast_text = fast_text.filter(pa.array(exact))
    text = np.full(len(geoms), _NULL, dtype=object)
    slow = ~fast & ~shapely.is_missing(geoms)
    text[slow] = shapely.to_geojson(geoms[slow])
    out = pa.array(text, _TEXT)
    return pc.replace_with_mask(out, pa.array(fast), fast_text) if fast.any() else out


# -- property text -----------------------------------------------------------------------------


def _text(values: Sequence[str] | np.ndarray) -> pa.Array:
    return pa.array(values, _TEXT)


def _fill_nulls(text: pa.Array, null: np.ndarray | None) -> pa.Array:
    if null is None or not null.any():
        return text
    return pc.if_else(pa.array(null), pa.scalar(_NULL, _TEXT), text)


def _float_text_arrow(floats: np.ndarray) -> pa.Array:
    """``float.__repr__`` of each finite value (anything for the others): Arrow's shortest
    digits where it writes them positionally (whole numbers need a ".0"), ``repr`` elsewhere."""
    text = pa.array(floats).cast(_TEXT)
    magnitude = np.abs(floats)
    positional = (magnitude >= 1e-4) & (magnitude < 1e15) & ~_holding(text, _is_e)
    whole = positional & (floats == np.floor(floats))
    if whole.any():
        mask = pa.array(whole)
        dot_zero = pc.binary_join_element_wise(text.filter(mask), _DOT_ZERO, _EMPTY)
        text = pc.replace_with_mask(text, mask, dot_zero)
    other = ~positional & np.isfinite(floats)
    if other.any():
        reprs = _text(list(map(float.__repr__, floats[other].tolist())))
        text = pc.replace_with_mask(text, pa.array(other), reprs)
    return text


def _is_e(utf8: np.ndarray) -> np.ndarray:
    return utf8 == ord("e")


@cache
def _arrow_floats_match_repr() -> bool:
    """Whether :func:`_float_text_arrow` prints like ``float.__repr__`` (checked once)."""
    expected = _FLOAT_REPRS.split()
    return bool(_float_text_arrow(np.array(expected, dtype=np.float64)).to_pylist() == expected)


def _encode_numbers(values: np.ndarray, null: np.ndarray | None) -> pa.Array:
    """JSON for a numpy bool, integer or float array (``null`` marks missing values)."""
    if values.dtype.kind == "b":
        index = values.astype(np.int8)
        if null is not None:
            index[null] = 2
        return _BOOLS.take(pa.array(index))
    if values.dtype.kind in "iu":
        return _fill_nulls(pa.array(values).cast(_TEXT), null)
    floats = values.astype(np.float64)
    finite = np.isfinite(floats)
    if _arrow_floats_match_repr():
        text = _float_text_arrow(floats)
    else:  # a pyarrow that prints differently: Python's repr of each value
        text = _text(list(map(float.__repr__, floats.tolist())))
    return _fill_nulls(text, ~finite if null is None else null | ~finite)


def _holding(strings: pa.Array, test: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Which of ``strings`` hold a byte of their UTF-8 for which ``test`` is true (the bytes of
    all the strings are tested at once); false where missing."""
    _, offsets, data = strings.buffers()
    start = strings.offset
    bounds = np.frombuffer(offsets, dtype=np.int64)[start : start + len(strings) + 1]
    utf8 = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]] if data else np.empty(0)
    found = np.zeros(len(strings), dtype=bool)
    found[np.searchsorted(bounds, np.flatnonzero(test(utf8)) + bounds[0], side="right") - 1] = True
    return found & np.asarray(strings.is_valid().to_numpy(zero_copy_only=False))


def _to_escape(utf8: np.ndarray) -> np.ndarray:
    """The bytes json escapes (ensure_ascii=False): quote, backslash, controls below U+0020;
    they never occur inside the multi-byte UTF-8 sequence of another character."""
    return (utf8 < 0x20) | (utf8 == ord('"')) | (utf8 == ord("\\"))


def _encode_strings(values: pd.Series | np.ndarray) -> pa.Array:
    """JSON for text with missing values (None, NaN, <NA>)."""
    strings = pa.array(values, _TEXT, from_pandas=True)
    if isinstance(strings, pa.ChunkedArray):  # Arrow-backed columns, e.g. after pd.concat
        strings = strings.combine_chunks()
    text = pc.binary_join_element_wise(_QUOTE, strings, _QUOTE, _EMPTY)
    escape = _holding(strings, _to_escape)
    if escape.any():
        mask = pa.array(escape)
        escaped = map(encode_basestring, strings.filter(mask).to_pylist())
        text = pc.replace_with_mask(text, mask, _text(list(escaped)))
    return pc.fill_null(text, pa.scalar(_NULL, _TEXT))


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return value


def _encode_per_value(values: np.ndarray) -> pa.Array:
    """JSON of each value as ``json.dumps`` writes it (lists, mixed objects; slow)."""
    return _text([_ENCODER.encode(_json_value(v)) for v in values])


def _encode_objects(values: np.ndarray) -> pa.Array:
    kind = pd.api.types.infer_dtype(values, skipna=True)  # skips None, NaN and <NA> only
    if kind in ("string", "empty"):
        return _encode_strings(values)
    if kind == "boolean":
        null = pd.isna(values)
        return _encode_numbers(np.where(null, False, values).astype(bool), null)
    return _encode_per_value(values)


def _encode_column(column: pd.Series) -> pa.Array:
    """JSON text of each value of ``column``, as ``json.dumps(..., ensure_ascii=False)`` writes
    it after :func:`_json_value`."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        used = column.cat.remove_unused_categories()
        table = pa.concat_arrays([_encode_column(pd.Series(used.cat.categories)), _text([_NULL])])
        codes = used.cat.codes.to_numpy()
        return table.take(pa.array(np.where(codes < 0, len(table) - 1, codes)))
    if isinstance(dtype, pd.StringDtype):
        return _encode_strings(column)
    if isinstance(dtype, np.dtype) and dtype.kind in "iufb":
        return _encode_numbers(column.to_numpy(), None)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)  # nullable and pyarrow numbers
    if isinstance(numpy_dtype, np.dtype) and numpy_dtype.kind in "iufb":
        fill = np.nan if numpy_dtype.kind == "f" else numpy_dtype.type(0)
        values = column.to_numpy(dtype=numpy_dtype, na_value=fill)
        return _encode_numbers(values, column.isna().to_numpy(dtype=bool))
    return _encode_objects(column.astype(object).to_numpy())


def property_columns(gdf: gpd.GeoDataFrame) -> list[tuple[str, int]]:
    """(JSON key, column position) of each property, as a dict of the row would hold them: in
    column order, the last of duplicate names winning."""
    positions: dict[Any, int] = {}
    for j, name in enumerate(gdf.columns):
        if name != gdf.geometry.name:
            positions[name] = j
    # the key as json.dumps writes it (str, or a number, bool or None as json turns them)
    return [(_ENCODER.encode({name: None})[1:-7], j) for name, j in positions.items()]


# -- features ----------------------------------------------------------------------------------


def _write_text(fh: IO[bytes], text: pa.Array, *, drop: int) -> None:
    """Write the bytes of an Arrow text array as one block, less its last ``drop`` bytes."""
    _, offsets, data = text.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[[text.offset, text.offset + len(text)]]
    fh.write(memoryview(data)[bounds[0] : bounds[1] - drop])


def write_features(
    fh: IO[bytes],
    gdf: gpd.GeoDataFrame,
    geoms: Callable[[int, int], np.ndarray],
    *,
    precision: int,
    chunk: int,
) -> None:
    """Write the FeatureCollection of ``gdf``'s properties and geometries (``geoms(start,
    stop)``: the RFC 7946 geometries of those rows, see :func:`rfc7946`) to a binary file,
    ``chunk`` features at a time: only one chunk's geometries and text are held at once."""
    n = len(gdf)
    props = property_columns(gdf) if n else []
    heads = ['{"type":"Feature","properties":{']
    for i, (key, _) in enumerate(props):
        heads[-1] += (", " if i else "") + key + ": "
        heads.append("")
    heads[-1] += '},"geometry":'
    between = [pa.scalar(head, _TEXT) for head in heads]
    fh.write(b'{"type":"FeatureCollection","features":[\n')
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        pieces = [between[0]]
        for head, (_, j) in zip(between[1:], props, strict=True):
            pieces += [_encode_column(gdf.iloc[start:stop, j]), head]
        pieces += [_geometry_text(geoms(start, stop), precision), pa.scalar("},\n", _TEXT)]
        text = pc.binary_join_element_wise(*pieces, _EMPTY)
        if text.null_count:  # every piece above is filled; a null would drop a feature
            raise AssertionError("GeoJSON feature text has nulls")
        _write_text(fh, text, drop=len(",\n") if stop == n else 0)
    fh.write(b"\n]}\n")
