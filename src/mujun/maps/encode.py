"""Compact encoding of the map's shapes and table for the page's script.

A 100,000-parcel map cannot carry one GeoJSON feature (and one SVG path) per parcel per layer:
that is what makes a plain folium page 65 MB and 80 s to draw. The page instead carries each
shape set once, encoded here, and draws it on a canvas (``maps/js/``, decoded by ``decode.js``):

- **Shapes** are simplified without breaking shared edges (``shapely.coverage_simplify`` in the
  working CRS, metres), reprojected to longitude/latitude with RFC 7946 ring orientation, and
  quantised to integers of ``10**-precision`` degrees (6 decimals: about 0.1 m, below a pixel at
  any zoom Leaflet draws). Coordinates are delta-encoded along the stream, zigzag-mapped to
  unsigned integers and written as LEB128 varints in base64; ring, polygon and part counts the
  same way. Rings drop their closing vertex (the script closes them).
- **Columns** go as JSON arrays: numbers rounded, repeated strings as a dictionary and codes,
  booleans as base64 bit sets.
- The JSON, in its two parts (:meth:`mujun.maps.payload.Payload.parts`: what the first view
  draws, then the rest), is gzip-compressed and written in base64 (:func:`pack`, once per
  part): firm names and credit codes, most of the bytes, compress about threefold.

The JSON is made safe to embed in ``<script type="application/json">``: ``<``, ``>`` and ``&``
are written as ``\\u003c``, ``\\u003e`` and ``\\u0026``, so no value can close the element.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

__all__ = [
    "TILE_ZOOM",
    "decode_shapes",
    "decode_varints",
    "encode_bits",
    "encode_column",
    "encode_shapes",
    "encode_varints",
    "pack",
    "script_json",
    "simplify_coverage",
    "tile_keys",
    "tile_order",
    "unpack",
    "world_pixels",
]

_GROUPS = 10  # 7-bit groups in a uint64
_GZIP_LEVEL = 4
"""gzip level of the page's data: at 100,000 parcels, level 6 takes twice as long for a few
per cent less."""


def _varint_bytes(values: NDArray[np.integer[Any]]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Non-negative integers as LEB128 varints (7 bits a byte, low first), and each value's
    number of bytes."""
    v = np.asarray(values, dtype=np.uint64).ravel()
    if len(v) and (np.asarray(values) < 0).any():
        raise ValueError("varints must be non-negative; zigzag signed values first")
    top = int(v.max()) if len(v) else 0
    groups_needed = max(1, -(-top.bit_length() // 7))
    shifts = (7 * np.arange(groups_needed)).astype(np.uint64)
    groups = (v[:, None] >> shifts[None, :]) & np.uint64(0x7F)
    nbytes = 1 + (v[:, None] >> shifts[None, 1:] != 0).sum(axis=1)
    k = np.arange(groups_needed)
    keep = k[None, :] < nbytes[:, None]
    more = k[None, :] < (nbytes - 1)[:, None]
    data = (groups | (more * 0x80).astype(np.uint64)).astype(np.uint8)[keep]
    return data, nbytes.astype(np.int64)


def encode_varints(values: NDArray[np.integer[Any]]) -> str:
    """Non-negative integers as LEB128 varints (7 bits a byte, low first), in base64."""
    data, _ = _varint_bytes(values)
    return base64.b64encode(data.tobytes()).decode("ascii")


def _zigzag(values: NDArray[np.int64]) -> NDArray[np.uint64]:
    v = np.asarray(values, dtype=np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def encode_bits(mask: Any) -> str:
    """A boolean sequence as a base64 bit set, bit ``i % 8`` of byte ``i // 8`` for item i."""
    bits = np.asarray(mask, dtype=bool)
    return base64.b64encode(np.packbits(bits, bitorder="little").tobytes()).decode("ascii")


def simplify_coverage(geoms: Any, tolerance: float) -> NDArray[np.object_]:
    """Simplify polygons by ``tolerance`` (CRS units) keeping shared edges shared.

    ``shapely.coverage_simplify`` needs a valid coverage; parcels that overlap or are otherwise
    odd may come back invalid or empty, and those keep their original shape.
    """
    original = np.asarray(geoms, dtype=object)
    if tolerance <= 0 or len(original) == 0:
        return original
    simple = np.asarray(shapely.coverage_simplify(original, tolerance), dtype=object)
    bad = ~shapely.is_valid(simple) | shapely.is_empty(simple)
    simple[bad] = original[bad]
    return simple


def _ragged(geoms: NDArray[np.object_]) -> tuple[NDArray[np.float64], list[NDArray[np.int64]]]:
    """Coordinates and (ring, polygon, part) offsets of polygons and multipolygons."""
    kind, coords, raw = shapely.to_ragged_array(geoms)
    offsets: list[NDArray[np.int64]] = [np.asarray(o, dtype=np.int64) for o in raw]
    if kind == shapely.GeometryType.POLYGON:  # one polygon a shape
        offsets.append(np.arange(len(offsets[1]), dtype=np.int64))
    elif kind != shapely.GeometryType.MULTIPOLYGON:
        raise ValueError(f"map shapes must be polygons, not {kind.name}")
    return coords, offsets


TILE_ZOOM = 13
"""Default zoom of the shapes' tiles (256-pixel Web Mercator tiles): the zoom at which a
large map first draws single parcels, so that its first parcel view needs some 24 tiles."""


def world_pixels(lon: Any, lat: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Web Mercator pixels of a 256-pixel world at zoom 0 (as ``decode.js`` computes them)."""
    x = (np.asarray(lon, dtype=float) + 180) / 360 * 256
    s = np.sin(np.radians(np.asarray(lat, dtype=float)))
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)) * 256
    return x, y


def tile_keys(geoms: Any, zoom: int) -> NDArray[np.int64]:
    """The tile of each shape's box centre at ``zoom`` (longitude/latitude shapes), as
    ``row * 2**zoom + column``; empty shapes are in tile 0."""
    b = shapely.bounds(np.asarray(geoms, dtype=object)).reshape(-1, 4)
    x, y = world_pixels((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)
    side = 2**zoom
    col = np.clip(np.nan_to_num(np.floor(x * side / 256)), 0, side - 1).astype(np.int64)
    row = np.clip(np.nan_to_num(np.floor(y * side / 256)), 0, side - 1).astype(np.int64)
    return row * side + col


def tile_order(geoms: Any, zoom: int) -> NDArray[np.int64]:
    """Positions that put shapes in tile order (row, then column), in input order within a
    tile: :func:`encode_shapes` packs each run of shapes of one tile apart."""
    return np.argsort(tile_keys(geoms, zoom), kind="stable")


def _boxes(geoms: NDArray[np.object_], zoom: int) -> str:
    """Each shape's box in whole pixels of ``zoom`` (rounded outwards), as varints: the
    zigzag change of (x0, y0) from the shape before, then width and height."""
    b = np.nan_to_num(shapely.bounds(geoms).reshape(-1, 4))
    side = 2**zoom
    x0, y1 = world_pixels(b[:, 0], b[:, 1])
    x1, y0 = world_pixels(b[:, 2], b[:, 3])
    lo = np.floor(np.column_stack([x0, y0]) * side - 0.01).astype(np.int64)
    hi = np.ceil(np.column_stack([x1, y1]) * side + 0.01).astype(np.int64)
    start = np.diff(lo, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    out = np.column_stack([_zigzag(start[:, 0]), _zigzag(start[:, 1]), hi - lo]).astype(np.uint64)
    return encode_varints(out.ravel())


def encode_shapes(
    geoms: Any,
    *,
    precision: int = 6,
    display: Any | None = None,
    tile_zoom: int = TILE_ZOOM,
    keys: NDArray[np.int64] | None = None,
) -> dict[str, Any]:
    """Encode longitude/latitude polygons (RFC 7946 oriented) for the page.

    ``display``, if given, are the same shapes as drawn (e.g. shifted to GCJ-02 for AMap tiles):
    they are drawn, while ``geoms`` are what the page exports. Each run of shapes whose drawn
    box centre is in one tile of ``tile_zoom`` (:func:`tile_keys`; put the shapes in
    :func:`tile_order` first, so that a tile is one run) is a *tile*: its vertices are a
    stream of their own, which the page decodes only when it draws or reads a shape of it.
    Every shape's box (whole pixels of ``tile_zoom``) is read at once. ``keys``, if given,
    are the shapes' tiles instead (any integers: the page finds a tile's extent from the
    boxes of its shapes).
    """
    arr = np.asarray(geoms, dtype=object)
    coords, (rings, polys, parts) = _ragged(arr)
    ring_len = np.diff(rings)
    # drop each ring's closing vertex: the script closes rings
    last = rings[1:] - 1
    keep = np.ones(len(coords), dtype=bool)
    keep[last[ring_len > 0]] = False
    kept = np.maximum(ring_len - 1, 0)
    drawn = arr if display is None else np.asarray(display, dtype=object)
    keys = tile_keys(drawn, tile_zoom) if keys is None else np.asarray(keys, dtype=np.int64)
    first = np.flatnonzero(np.diff(keys, prepend=-1)) if len(arr) else np.zeros(0, np.int64)
    counts = np.diff(np.append(first, len(arr)))
    ring_start = np.concatenate(([0], np.cumsum(kept)))
    tile_verts = ring_start[polys[parts[first]]]  # first vertex of each tile
    out: dict[str, Any] = {
        "n": len(arr),
        "precision": precision,
        "parts": encode_varints(np.diff(parts)),
        "rings": encode_varints(np.diff(polys)),
        "verts": encode_varints(kept),
        "nverts": int(keep.sum()),
        "tile_zoom": tile_zoom,
        "tiles": encode_varints(counts),
        "box": _boxes(drawn, tile_zoom),
        "xy": _encode_coords(coords[keep], precision, tile_verts),
    }
    if display is not None:
        shown, _ = _ragged(drawn)
        if shown.shape != coords.shape:
            raise ValueError("display shapes must have the same vertices as the exported ones")
        out["xy_display"] = _encode_coords(shown[keep], precision, tile_verts)
    return out


def _encode_coords(
    coords: NDArray[np.float64], precision: int, starts: NDArray[np.int64]
) -> list[str]:
    """Per tile (vertices ``starts[k]`` to ``starts[k + 1]``), zigzag deltas of its vertices
    from the one before, the first from (0, 0), as varints in base64."""
    xy = np.round(coords * 10**precision).astype(np.int64).reshape(-1, 2)  # x0 y0 x1 y1 ...
    deltas = np.diff(xy, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    fresh = starts[starts < len(xy)]
    deltas[fresh] = xy[fresh]
    data, nbytes = _varint_bytes(_zigzag(deltas.ravel()))
    ends = np.concatenate(([0], np.cumsum(nbytes)))
    cut = ends[np.minimum(2 * np.append(starts, len(xy)), len(ends) - 1)]
    raw = data.tobytes()
    return [base64.b64encode(raw[cut[k] : cut[k + 1]]).decode("ascii") for k in range(len(starts))]


def encode_column(values: pd.Series, *, digits: int = 2) -> dict[str, Any]:
    """One column for the page: ``num`` (rounded, null for missing), ``bool`` (bit set),
    ``cat`` (dictionary and codes, -1 for missing) or ``str``."""
    if pd.api.types.is_bool_dtype(values):
        return {"k": "bool", "bits": encode_bits(values.fillna(False).to_numpy(dtype=bool))}
    if pd.api.types.is_numeric_dtype(values):
        num = values.astype("float64").round(digits)
        num = num.where(np.isfinite(num))
        return {"k": "num", "v": num.astype(object).where(num.notna(), None).tolist()}
    missing = values.isna().to_numpy()
    text = [None if m else str(x) for x, m in zip(values.tolist(), missing, strict=True)]
    codes, uniques = pd.factorize(pd.Series(text, dtype=object), use_na_sentinel=True)
    if len(uniques) <= max(1, len(values) // 2):
        return {"k": "cat", "dict": [str(u) for u in uniques], "codes": codes.tolist()}
    return {"k": "str", "v": text}


def pack(payload: Any) -> str:
    """The page's data: :func:`script_json`, gzip-compressed (no timestamp, so the same data
    gives the same page), in base64. The page inflates it with the browser's own
    ``DecompressionStream`` (Chrome and Edge 80+, Firefox 113+, Safari 16.4+)."""
    raw = gzip.compress(script_json(payload).encode("utf-8"), compresslevel=_GZIP_LEVEL, mtime=0)
    return base64.b64encode(raw).decode("ascii")


def unpack(text: str) -> Any:
    """The data of :func:`pack`."""
    return json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))


def script_json(payload: Any) -> str:
    """JSON for a ``<script type="application/json">`` element: no value can end it."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def decode_varints(text: str) -> NDArray[np.int64]:
    """The integers of :func:`encode_varints` (the page's script decodes them the same way)."""
    data = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    ends = np.flatnonzero(data < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    out = np.zeros(len(ends), dtype=np.int64)
    for k in range(_GROUPS):  # loop over the 10 byte positions, not over values
        pos = starts + k
        live = pos <= ends
        out[live] |= (data[pos[live]].astype(np.int64) & 0x7F) << (7 * k)
    return out


def decode_shapes(enc: dict[str, Any], *, display: bool = False) -> list[list[NDArray[np.float64]]]:
    """Rings (closed, as (n, 2) lon/lat arrays) of each shape of :func:`encode_shapes`:
    a reference decoder for tests and for reading a page's data back."""
    parts = decode_varints(enc["parts"])
    rings = decode_varints(enc["rings"])
    verts = decode_varints(enc["verts"])
    tiles = []
    for text in enc["xy_display" if display else "xy"]:
        z = decode_varints(text) if text else np.zeros(0, dtype=np.int64)
        z = (z >> 1) ^ -(z & 1)
        tiles.append(np.cumsum(z.reshape(-1, 2), axis=0))
    xy = np.concatenate([*tiles, np.zeros((0, 2))]) / 10 ** enc["precision"]
    ring_start = np.concatenate(([0], np.cumsum(verts)))
    poly_start = np.concatenate(([0], np.cumsum(rings)))
    shape_start = np.concatenate(([0], np.cumsum(parts)))
    shapes = []
    for i in range(enc["n"]):
        out = []
        for ring in range(poly_start[shape_start[i]], poly_start[shape_start[i + 1]]):
            pts = xy[ring_start[ring] : ring_start[ring + 1]]
            out.append(np.vstack([pts, pts[:1]]))
        shapes.append(out)
    return shapes
