"""Read parcel layers (GDAL vector formats through pyogrio, GeoParquet) and filing tables.

Readers return canonical columns in canonical units (see :mod:`mujun.schema`) plus ``record``:
the 1-based feature number for vector files, and for tables the row number a spreadsheet shows
(the header is row 1, so the first data row is row 2). The ledger uses these numbers so a
planner can find the record in the original file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from mujun.errors import CRSError, InputError, InputFileError
from mujun.schema import (
    FILING_COLUMNS,
    MU_M2,
    PARCEL_COLUMNS,
    PARK_COLUMNS,
    ColumnSpec,
    MappedColumn,
    as_text,
    map_columns,
    parse_numbers,
)

__all__ = ["Table", "read_filings", "read_parcels", "read_parks"]

logger = logging.getLogger(__name__)

_PARQUET = {".parquet", ".geoparquet"}
_MAX_LISTED = 20


@dataclass(frozen=True)
class Table:
    """A table read from one file, in canonical columns and units."""

    data: pd.DataFrame
    path: Path
    mapping: tuple[MappedColumn, ...]
    encoding: str | None = None

    @property
    def units(self) -> dict[str, str | None]:
        """Canonical column -> the unit the input declared (for run.json)."""
        return {m.canonical: m.unit for m in self.mapping}


def _require_file(path: Path) -> None:
    if not path.exists():
        raise InputFileError(f"{path} does not exist")
    if path.is_dir() and path.suffix.lower() not in {".gdb"}:
        raise InputFileError(f"{path} is a folder; give the file itself")


def _read_vector(path: Path, *, layer: str | None) -> gpd.GeoDataFrame:
    _require_file(path)
    try:
        if path.suffix.lower() in _PARQUET:
            return gpd.read_parquet(path)
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except (OSError, ValueError, RuntimeError) as err:
        raise InputFileError(f"{path} cannot be read as a vector layer: {err}") from err


def _assign_crs(gdf: gpd.GeoDataFrame, declared: str | None, path: Path) -> gpd.GeoDataFrame:
    if declared is None:
        return gdf
    crs = CRS.from_user_input(declared)
    if gdf.crs is None:
        logger.info("%s has no CRS; using the declared %s", path.name, crs.name)
        return gdf.set_crs(crs)
    if CRS.from_user_input(gdf.crs) != crs:
        raise CRSError(
            f"{path} declares its CRS as {gdf.crs.name} but the configuration says {crs.name}; "
            "drop the --parcels-crs option (the file's own CRS is used) or fix the file"
        )
    return gdf


def _canonical_frame(
    raw: pd.DataFrame,
    mapping: list[MappedColumn],
    specs: tuple[ColumnSpec, ...],
    *,
    source: str,
    first_record: int,
) -> pd.DataFrame:
    kinds = {s.name: s.kind for s in specs}
    out = pd.DataFrame(index=raw.index)
    out["record"] = pd.RangeIndex(first_record, first_record + len(raw)).to_numpy()
    problems: list[str] = []
    for col in mapping:
        kind = kinds[col.canonical]
        if kind in {"id", "text"}:
            out[col.canonical] = as_text(raw[col.header])
        else:
            numbers, bad = parse_numbers(raw[col.header])
            for idx in raw.index[bad.to_numpy()][:_MAX_LISTED]:
                problems.append(
                    f"{source} row {out.loc[idx, 'record']}, column {col.header!r}: "
                    f"{raw.loc[idx, col.header]!r} is not a number; correct the cell or leave "
                    "it blank (blank, - and — read as missing)"
                )
            if bad.sum() > _MAX_LISTED:
                problems.append(f"... and {int(bad.sum()) - _MAX_LISTED} more such cells")
            out[col.canonical] = numbers * col.factor if kind != "int" else numbers
    if problems:
        raise InputError("\n".join(problems))
    return out


def read_parcels(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
) -> tuple[gpd.GeoDataFrame, Table]:
    """Read a parcel layer.

    Returns the parcels with ``record``, ``parcel_id``, optional ``park``, ``land_use``,
    ``declared_area_m2``/``declared_area_mu`` and geometry in the file's CRS (or ``crs`` when the
    file has none), plus a :class:`Table` describing the mapping.
    """
    path = Path(path)
    gdf = _assign_crs(_read_vector(path, layer=layer), crs, path)
    headers = [c for c in gdf.columns if c != gdf.geometry.name]
    mapping = map_columns(headers, PARCEL_COLUMNS, source=path.name, columns=columns, units=units)
    frame = _canonical_frame(
        pd.DataFrame(gdf[headers]), mapping, PARCEL_COLUMNS, source=path.name, first_record=1
    )
    if "declared_area" in frame:
        frame["declared_area_mu"] = frame.pop("declared_area") / MU_M2
    out = gpd.GeoDataFrame(frame, geometry=gdf.geometry.array, crs=gdf.crs)
    out = out.rename_geometry("geometry") if out.geometry.name != "geometry" else out
    return out, Table(pd.DataFrame(), path, tuple(mapping))


def read_parks(
    path: str | Path, *, crs: str | None = None, columns: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Read park boundaries: ``park`` name, optional ``park_code``, polygon geometry."""
    path = Path(path)
    gdf = _assign_crs(_read_vector(path, layer=None), crs, path)
    headers = [c for c in gdf.columns if c != gdf.geometry.name]
    mapping = map_columns(headers, PARK_COLUMNS, source=path.name, columns=columns)
    frame = _canonical_frame(
        pd.DataFrame(gdf[headers]), mapping, PARK_COLUMNS, source=path.name, first_record=1
    )
    return gpd.GeoDataFrame(frame, geometry=gdf.geometry.array, crs=gdf.crs)


_ENCODINGS = ("utf-8-sig", "gb18030")


def _read_csv(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    tried = (encoding,) if encoding else _ENCODINGS
    for enc in tried:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=enc)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise InputFileError(f"{path} is not a readable CSV table: {err}") from err
        return frame, enc
    raise InputFileError(
        f"{path} is not valid {' or '.join(tried)} text; save it as UTF-8 or declare its "
        "encoding with --encoding (e.g. --encoding gbk)"
    )


def _read_xlsx(path: Path, sheet: str | None) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=object, engine="calamine")
    except ValueError as err:
        raise InputFileError(f"{path}: {err}; choose the sheet with [input] sheet") from err
    except Exception as err:  # calamine raises its own error types for corrupt files
        raise InputFileError(f"{path} cannot be read as an XLSX workbook: {err}") from err
    return frame.astype(object).where(frame.notna(), "")


def read_filings(
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    year: int | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
) -> Table:
    """Read enterprise filings (CSV or XLSX) into canonical columns and units.

    Money becomes yuan, land m², energy tce, electricity kWh, emissions t. ``parcel_ids``
    becomes a tuple of parcel ids (split on 、 , ; / and spaces; empty for lessees). ``year``
    fills a file that has no year column.
    """
    path = Path(path)
    _require_file(path)
    used_encoding: str | None = None
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls", ".ods"}:
        raw = _read_xlsx(path, sheet)
    else:
        raw, used_encoding = _read_csv(path, encoding)
    raw.columns = [str(c) for c in raw.columns]
    mapping = map_columns(
        list(raw.columns), FILING_COLUMNS, source=path.name, columns=columns, units=units
    )
    frame = _canonical_frame(raw, mapping, FILING_COLUMNS, source=path.name, first_record=2)
    frame = _finish_filings(frame, year=year, path=path)
    return Table(frame.reset_index(drop=True), path, tuple(mapping), used_encoding)


_SEPARATORS = r"[、,，;；/\s]+"


def split_parcel_ids(cell: object) -> tuple[str, ...]:
    """Split a cell listing parcel ids: ``'CX-1、CX-2'`` -> ``('CX-1', 'CX-2')``.

    Examples
    --------
    >>> split_parcel_ids("CX-0001、CX-0002; CX-0003")
    ('CX-0001', 'CX-0002', 'CX-0003')
    >>> split_parcel_ids(None)
    ()
    """
    if cell is None or cell is pd.NA or (isinstance(cell, float) and pd.isna(cell)):
        return ()
    parts = pd.Series([str(cell)]).str.split(_SEPARATORS, regex=True).iloc[0]
    return tuple(dict.fromkeys(p for p in parts if p))


def _finish_filings(frame: pd.DataFrame, *, year: int | None, path: Path) -> pd.DataFrame:
    if "year" not in frame:
        if year is None:
            raise InputError(
                f"{path.name} has no year column (年份); add one or set [input] "
                "year = 2023 in the config"
            )
        frame["year"] = float(year)
    missing_year = frame["year"].isna()
    if missing_year.any():
        rows = frame.loc[missing_year, "record"].head(_MAX_LISTED).tolist()
        raise InputError(f"{path.name} rows {rows}: column year (年份) is blank; fill it in")
    frame["year"] = frame["year"].astype("int64")
    if "uscc" in frame:
        frame["uscc"] = frame["uscc"].str.upper()
    if "parcel_ids" in frame:
        cells = frame["parcel_ids"].to_numpy(dtype=object)
    else:
        cells = np.full(len(frame), None, dtype=object)
    # object dtype on purpose: pandas would infer an Arrow list type from tuples
    frame["parcel_ids"] = pd.Series(
        [split_parcel_ids(c) for c in cells], index=frame.index, dtype=object
    )
    if "scale" in frame:
        above = (
            frame["scale"]
            .fillna("")
            .str.lower()
            .isin(["规上", "规模以上", "above", "yes", "是", "1", "true"])
        )
        frame["above_scale"] = above.astype(bool)
    return frame
