"""Writers: RFC 7946 GeoJSON, CSV for spreadsheets, JSON run records.

Nothing is overwritten unless ``overwrite`` is true; an existing file is an
:class:`~mujun.errors.OutputExistsError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mujun.errors import CRSError, OutputExistsError

__all__ = ["check_writable", "write_csv", "write_geojson", "write_json"]


def check_writable(path: Path, *, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is false."""
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)


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


def rfc7946_geometries(geoms: gpd.GeoSeries, *, precision: int = 7) -> np.ndarray:
    """Geometries as RFC 7946 wants them: EPSG:4326 lon/lat, exterior rings counter-clockwise,
    holes clockwise, coordinates rounded to ``precision`` decimals (7 ≈ 1 cm)."""
    if geoms.crs is None:
        raise CRSError("cannot export geometries without a CRS")
    lonlat = np.asarray(geoms.to_crs(4326).array, dtype=object)
    # round every coordinate (vectorised); where the result is not valid (shared edges of a
    # merged zone may cross), snap-round that one to the grid instead, which makes it valid.
    # Snap rounding everything costs 4-5 times as much (1M parcels: 18 s).
    rounded = shapely.remove_repeated_points(
        shapely.transform(lonlat, lambda xy: np.round(xy, precision)), 0.0
    )
    broken = ~shapely.is_valid(rounded)
    if broken.any():
        rounded[broken] = shapely.set_precision(lonlat[broken], 10.0**-precision)
    return cast(np.ndarray, shapely.orient_polygons(rounded, exterior_cw=False))


# Features per write: bounds the text held at once (tens of MB for the real export's columns)
CHUNK = 50_000
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)  # what json.dumps(...) uses
_NULL = "null"
# numbers to text: numpy ≥ 2's variable-width strings are faster to make than fixed-width ones
_TEXT: Any = getattr(np.dtypes, "StringDType", np.str_)
# floats whose repr is awkward (shortest digits, exponent switch at 1e-4 and 1e16, subnormal,
# negative zero, extremes), as float.__repr__ (and so json.dumps) prints them
_FLOAT_REPRS = (
    "0.1 1e-07 12.0 1e+16 9999999999999998.0 0.0001 1e-05 5e-324 -0.0 0.6666666666666666 "
    "1.7976931348623157e+308 2.2250738585072014e-308 123456789.125 1e+22 1.5e-300 -2.5e-05"
)


def _floats_match_repr() -> bool:
    """Whether numpy's float64 → str cast prints like ``float.__repr__`` (numpy ≥ 2 does,
    unless legacy print options are set); checked on each call, print options can change."""
    expected = _FLOAT_REPRS.split()
    return np.array(expected, dtype=np.float64).astype(_TEXT).tolist() == expected


def _fill_nulls(text: np.ndarray, null: np.ndarray | None) -> np.ndarray:
    """``text`` (numpy strings) as an object array of ``str``, ``null`` where ``null`` is set."""
    out = text.astype(object)
    if null is not None and null.any():
        out[null] = _NULL
    return out


def _encode_numbers(values: np.ndarray, null: np.ndarray | None) -> np.ndarray:
    """JSON for a numpy bool, integer or float array (``null`` marks missing values)."""
    if values.dtype.kind == "b":
        out = np.array(["false", "true"], dtype=object)[values.astype(np.intp)]
        if null is not None:
            out[null] = _NULL
        return out
    if values.dtype.kind in "iu":
        return _fill_nulls(values.astype(_TEXT), null)
    floats = values.astype(np.float64)
    finite = np.isfinite(floats)
    null = ~finite if null is None else null | ~finite
    if _floats_match_repr():
        return _fill_nulls(floats.astype(_TEXT), null)
    # numpy's text differs (old numpy, legacy print options): Python's repr of each value
    out = np.array(list(map(float.__repr__, floats.tolist())), dtype=object)
    out[null] = _NULL
    return out


def _encode_strings(values: pd.Series | np.ndarray) -> np.ndarray:
    """JSON for text with missing values: each distinct string escaped once."""
    codes, uniques = pd.factorize(values)
    table = np.array(
        [*map(encode_basestring, np.asarray(uniques, dtype=object)), _NULL], dtype=object
    )
    return table[codes]  # code -1 (missing) picks the trailing null


def _encode_per_value(values: np.ndarray) -> np.ndarray:
    """JSON of each value as ``json.dumps`` writes it (lists, mixed objects; slow)."""
    out = np.empty(len(values), dtype=object)
    out[:] = [_ENCODER.encode(_json_value(v)) for v in values]
    return out


def _encode_objects(values: np.ndarray) -> np.ndarray:
    kind = pd.api.types.infer_dtype(values, skipna=True)  # skips None, NaN and <NA> only
    if kind in ("string", "empty"):
        return _encode_strings(values)
    if kind == "boolean":
        null = pd.isna(values)
        return _encode_numbers(np.where(null, False, values).astype(bool), null)
    return _encode_per_value(values)


def _encode_column(column: pd.Series) -> np.ndarray:
    """JSON text of each value of ``column``, as ``json.dumps(..., ensure_ascii=False)`` writes
    it after :func:`_json_value`, in an object array."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        used = column.cat.remove_unused_categories()
        table = _encode_column(pd.Series(used.cat.categories))
        return np.append(table, _NULL)[used.cat.codes.to_numpy()]
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


def _property_columns(gdf: gpd.GeoDataFrame) -> list[tuple[str, int]]:
    """(JSON key, column position) of each property, as a dict of the row would hold them: in
    column order, the last of duplicate names winning."""
    positions: dict[Any, int] = {}
    for j, name in enumerate(gdf.columns):
        if name != gdf.geometry.name:
            positions[name] = j
    # the key as json.dumps writes it (str, or a number, bool or None as json turns them)
    return [(_ENCODER.encode({name: None})[1:-7], j) for name, j in positions.items()]


def write_geojson(
    gdf: gpd.GeoDataFrame, path: str | Path, *, overwrite: bool = False, precision: int = 7
) -> Path:
    """Write ``gdf`` as an RFC 7946 FeatureCollection (no ``crs`` member, lon/lat WGS 84).

    Properties keep their column order; NaN, inf and <NA> become null. Each column is turned
    into JSON text at once (no loop over features, except for object columns holding lists or
    other non-text values), then the features are joined and written ``CHUNK`` at a time.
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    geoms = rfc7946_geometries(gdf.geometry, precision=precision)
    n = len(geoms)
    props = _property_columns(gdf) if n else []
    heads = ['{"type":"Feature","properties":{']
    for i, (key, _) in enumerate(props):
        heads[-1] += (", " if i else "") + key + ": "
        heads.append("")
    heads[-1] += '},"geometry":'
    width = 2 * len(props) + 3
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            pieces = np.empty((stop - start, width), dtype=object)
            pieces[:, 0 : width - 2 : 2] = heads
            for i, (_, j) in enumerate(props):
                pieces[:, 2 * i + 1] = _encode_column(gdf.iloc[start:stop, j])
            chunk = geoms[start:stop]
            text = shapely.to_geojson(chunk)
            text[shapely.is_missing(chunk)] = _NULL
            pieces[:, -2] = text
            pieces[:, -1] = "},\n"
            if stop == n:
                pieces[-1, -1] = "}"
            fh.write("".join(pieces.ravel().tolist()))
        fh.write("\n]}\n")
    return path


def write_csv(frame: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a CSV that Excel opens with Chinese intact (UTF-8 with BOM)."""
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return path


def write_json(data: Mapping[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a JSON document (UTF-8, indented)."""
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    path.write_text(
        json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
    )
    return path
