"""Writers: RFC 7946 GeoJSON, CSV for spreadsheets, JSON run records.

Nothing is overwritten unless ``overwrite`` is true; an existing file is an
:class:`~mujun.errors.OutputExistsError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    lonlat = geoms.to_crs(4326).array
    # snap-rounding to the grid keeps polygons valid, where rounding each coordinate alone can
    # make shared edges of a merged zone cross
    rounded = shapely.set_precision(lonlat, 10.0**-precision)
    return shapely.orient_polygons(rounded, exterior_cw=False)


def write_geojson(
    gdf: gpd.GeoDataFrame, path: str | Path, *, overwrite: bool = False, precision: int = 7
) -> Path:
    """Write ``gdf`` as an RFC 7946 FeatureCollection (no ``crs`` member, lon/lat WGS 84).

    Properties keep their column order; NaN and <NA> become null.
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    geoms = shapely.to_geojson(rfc7946_geometries(gdf.geometry, precision=precision))
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    columns = list(props.columns)
    rows = props.astype(object).to_numpy()
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        for i, (geom, row) in enumerate(zip(geoms, rows, strict=True)):
            properties = {c: _json_value(v) for c, v in zip(columns, row, strict=True)}
            fh.write(",\n" if i else "")
            fh.write('{"type":"Feature","properties":')
            fh.write(json.dumps(properties, ensure_ascii=False, allow_nan=False))
            fh.write(',"geometry":' + (geom if geom is not None else "null") + "}")
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
