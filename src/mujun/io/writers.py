"""Writers: RFC 7946 GeoJSON, CSV for spreadsheets, JSON run records.

Nothing is overwritten unless ``overwrite`` is true; an existing file is an
:class:`~mujun.errors.OutputExistsError`.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely

from mujun.errors import CRSError, OutputExistsError
from mujun.io import _geojson

__all__ = ["check_writable", "neutralise_formulas", "write_csv", "write_geojson", "write_json"]


def check_writable(path: Path, *, overwrite: bool, create: bool = True) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is false; with
    ``create``, make its folder."""
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite to replace it")
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)


def rfc7946_geometries(geoms: gpd.GeoSeries, *, precision: int = 7) -> np.ndarray:
    """Geometries as RFC 7946 wants them: EPSG:4326 lon/lat, exterior rings counter-clockwise,
    holes clockwise, coordinates rounded to ``precision`` decimals (7 ≈ 1 cm).

    Each coordinate is rounded (vectorised); where the result is not valid (shared edges of a
    merged zone may cross), that geometry is snap-rounded to the grid instead, which makes it
    valid.
    """
    if geoms.crs is None:
        raise CRSError("cannot export geometries without a CRS")
    return _geojson.rfc7946(geoms, precision)


# Features per write: bounds the text held at once (tens of MB for the real export's columns)
CHUNK = 50_000


def write_geojson(
    gdf: gpd.GeoDataFrame, path: str | Path, *, overwrite: bool = False, precision: int = 7
) -> Path:
    """Write ``gdf`` as an RFC 7946 FeatureCollection (no ``crs`` member, lon/lat WGS 84).

    Properties keep their column order and are written as ``json.dumps(...,
    ensure_ascii=False)`` writes a dict of the row; NaN, inf and <NA> become null. Geometries
    are those of :func:`rfc7946_geometries`, written as ``shapely.to_geojson`` writes them.
    ``CHUNK`` features at a time, the geometries are reprojected and rounded, each column and
    the geometries turned into text (no loop over features, except for object columns holding
    lists or other non-text values), and the features joined and written. Lines end with
    ``\\n`` on every platform.
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    if gdf.geometry.crs is None:
        raise CRSError("cannot export geometries without a CRS")
    geometry = gdf.geometry
    with_z = bool(shapely.has_z(np.asarray(geometry.array, dtype=object)).any())

    def geoms(start: int, stop: int) -> np.ndarray:
        return _geojson.rfc7946(geometry.iloc[start:stop], precision, with_z=with_z)

    with path.open("wb") as fh:
        _geojson.write_features(fh, gdf, geoms, precision=precision, chunk=CHUNK)
    return path


_FORMULA_START = "^[=+\\-@\t\r]"


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell that a spreadsheet would run as a formula (starting
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) prefixed with ``'``, as OWASP
    advises against CSV injection; number columns and other cells are left as they are.

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"a": ["=1+2", "ok", "-x"], "n": [-1, 2, 3]}))
           a  n
    0  '=1+2 -1
    1     ok  2
    2    '-x  3
    """
    out = frame
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values):
            continue
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
            continue
        text = values.astype("string")
        risky = text.str.contains(_FORMULA_START, regex=True).fillna(False).to_numpy(bool)
        if risky.any():
            if out is frame:
                out = frame.copy()
            fixed = values.astype(object).copy()
            fixed[risky] = "'" + text[risky].astype(str)
            out[column] = fixed.astype(values.dtype) if values.dtype != object else fixed
    return out


def write_csv(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    overwrite: bool = False,
    formulas: str = "neutralise",
) -> Path:
    """Write a CSV that Excel opens with Chinese intact (UTF-8 with BOM), text that would run
    as a formula neutralised (:func:`neutralise_formulas`) unless ``formulas="raw"``.

    The rows are written by Arrow's CSV writer (``pyarrow.csv``, ``bench/csv_writer.py``):
    lines end with ``\n``; column names and text are in double quotes (a quote doubled);
    numbers and booleans are bare: integers, floats in their shortest round-trip digits
    (``6348000``, ``0.1``, ``1e+16``; NaN empty), ``true``/``false``; missing values empty.
    ``pandas.read_csv`` reads back the same values. Columns Arrow cannot print as they are
    (datetimes, categoricals, mixed objects) are written as the text pandas gives them. (In a
    one-column table a missing value is an empty line, which readers skip; mujun's tables all
    have more columns.)
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    if formulas != "raw":
        frame = neutralise_formulas(frame)
    table = pa.Table.from_arrays(
        [_arrow_column(frame.iloc[:, j]) for j in range(frame.shape[1])],
        names=[str(name) for name in frame.columns],
    )
    with path.open("wb") as fh:
        fh.write(codecs.BOM_UTF8)
        pacsv.write_csv(table, fh)
    return path


def _arrow_column(column: pd.Series) -> pa.Array:
    """``column`` as an Arrow array its CSV writer prints; other types as pandas' text."""
    try:
        values = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        values = None
    kind = None if values is None else values.type
    if kind is not None and (
        pa.types.is_boolean(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_null(kind)
    ):
        return values
    text = column.astype(str).astype(object).where(column.notna().to_numpy(), None)
    return pa.array(text, type=pa.string(), from_pandas=True)


def write_json(data: Mapping[str, Any], path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a JSON document (UTF-8, indented)."""
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    path.write_text(
        json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
    )
    return path
