"""Read parcel layers (GDAL vector formats through pyogrio, GeoParquet) and filing tables.

Readers return canonical columns in canonical units (see :mod:`mujun.schema`) plus ``record``:
the 1-based feature number for vector files, and for tables the row number a spreadsheet shows
(the header is row 1, so the first data row is row 2). The ledger uses these numbers so a
planner can find the record in the original file.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import logging
import re
import unicodedata
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyogrio
import shapely
import shapely.errors
from pyproj import CRS

from mujun.errors import CRSError, InputError, InputFileError, SchemaError
from mujun.io import postgis, sources
from mujun.schema import (
    BUILDING_COLUMNS,
    FILING_COLUMNS,
    MU_M2,
    PARCEL_COLUMNS,
    PARK_COLUMNS,
    REPEAT,
    ColumnSpec,
    MappedColumn,
    as_text,
    drop_whitespace,
    from_arrow_text,
    has_unit,
    map_columns,
    map_headers,
    nfkc,
    normalize_header,
    number_problem,
    parse_numbers,
    shown,
    split_unit,
    to_arrow_text,
    unit_factor,
)
from mujun.schema import PY_WHITESPACE as _PY_WS

__all__ = [
    "NO_YEAR",
    "Cells",
    "Table",
    "layer_id_columns",
    "normalize_id",
    "normalize_ids",
    "parcels_from_frame",
    "parquet_parts",
    "read_buildings",
    "read_filings",
    "read_filings_db",
    "read_parcels",
    "read_parcels_db",
    "read_parks",
    "split_parcel_ids",
    "table_id_columns",
]

logger = logging.getLogger(__name__)

NO_YEAR = 0
"""The year of a value-per-acre table without a year column (and no ``--year``): one
evaluation that outputs show without a year."""

_PARQUET = {".parquet", ".geoparquet"}
_MAX_LISTED = 20


@dataclass(frozen=True)
class Table:
    """A table read from one file, in canonical columns and units."""

    data: pd.DataFrame
    path: Path
    mapping: tuple[MappedColumn, ...]
    encoding: str | None = None
    header_row: int = 1
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, Any] | None = None
    """Where a table from a database came from (for run.json; files are hashed instead)."""
    headers: tuple[str, ...] = ()
    """Every header of the table as read (for messages naming the columns not read)."""
    crs_notes: tuple[str, ...] = ()
    """How the CRS was settled on reading (a GeoJSON without a crs member is WGS 84, ...)."""
    id_alternatives: Mapping[str, pd.Series] = dataclasses.field(default_factory=dict)
    """Other headers that name the id column too (parcels: ``parcel_id``; filings:
    ``parcel_ids``), by header: their ids (parcels: the text as read; filings: tuples of
    normalised ids), for the join to choose between (see
    :func:`mujun.join.choose_id_columns`)."""

    @property
    def units(self) -> dict[str, str | None]:
        """Canonical column -> the unit the input declared (for run.json)."""
        return {m.canonical: m.unit for m in self.mapping}


def normalize_id(value: object) -> str | None:
    """Normalise an identifier: full-width to ASCII (NFKC), no spaces, upper case.

    Examples
    --------
    >>> normalize_id(" ｃｘ－０００１ "), normalize_id("cx 0001"), normalize_id("")
    ('CX-0001', 'CX0001', None)
    """
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = "".join(unicodedata.normalize("NFKC", str(value)).split()).upper()
    return text.replace("－", "-") or None


_ASCII_OR_HAN = r"^[\x{0}-\x{7f}\p{Han}]*$"  # str.upper() is ASCII upper-casing on these


def _normalize_id_text(text: pa.Array) -> pa.Array:
    """:func:`normalize_id` of each string of an Arrow array (null for nothing left).

    Width folding and white space are exact (see :func:`mujun.schema.nfkc`); upper-casing is
    Arrow's ASCII upper-casing where the text has only ASCII and Han characters, and
    :func:`normalize_id` itself elsewhere (``str.upper`` maps ß to SS, Arrow does not).
    """
    folded = drop_whitespace(nfkc(text))
    out = pc.ascii_upper(folded)
    odd = pc.fill_null(pc.invert(pc.match_substring_regex(folded, _ASCII_OR_HAN)), False)
    if pc.any(odd).as_py():
        fixed = [normalize_id(v) or "" for v in text.filter(odd).to_pylist()]
        out = pc.replace_with_mask(out, odd, pa.array(fixed, type=out.type))
    return pc.if_else(pc.equal(pc.binary_length(out), 0), pa.scalar(None, out.type), out)


def normalize_ids(values: pd.Series) -> pd.Series:
    """:func:`normalize_id` of each value, in bulk; a ``"string"`` Series, missing stays missing.

    Examples
    --------
    >>> normalize_ids(pd.Series([" ｃｘ－０００１ ", "cx 0001", "", None])).tolist()
    ['CX-0001', 'CX0001', <NA>, <NA>]
    """
    return from_arrow_text(
        _normalize_id_text(to_arrow_text(values)), values.index, values.name
    ).astype("string")


def _require_file(path: Path) -> None:
    if not sources.exists(path):
        inside = sources.member(path)
        if inside is not None and inside[0].is_file():
            raise InputFileError(
                f"{inside[0]} holds no member {inside[1]!r}; its members: "
                + ", ".join(_members(inside[0])[:_MAX_LISTED])
            )
        raise InputFileError(f"{path} does not exist")
    if path.is_dir() and path.suffix.lower() not in {".gdb"} and not parquet_parts(path):
        raise InputFileError(
            f"{path} is a folder; give the file itself (or a folder of GeoParquet files)"
        )


def _natural(name: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def parquet_parts(path: str | Path) -> list[Path]:
    """The files of a GeoParquet data set: ``path`` itself if it is a file, else the
    ``*.parquet`` files in the folder in natural order (part.2 before part.10), which is the
    order of the data set's records. Empty if ``path`` is a folder without any."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    return sorted(
        (p for p in path.iterdir() if p.suffix.lower() in _PARQUET and p.is_file()),
        key=lambda p: _natural(p.name),
    )


def _members(archive: Path) -> list[str]:
    import zipfile  # noqa: PLC0415

    with zipfile.ZipFile(archive) as zf:
        return [n for n in zf.namelist() if not n.endswith("/")]


def _dbf_encoding(path: Path) -> str | None:
    """Encoding of a Shapefile's (or a lone DBF table's) DBF without a .cpg file: UTF-8 if
    its records decode as UTF-8, else GB18030.

    GDAL would otherwise read such a DBF as ISO-8859-1 and turn Chinese text into mojibake.
    """
    if path.suffix.lower() not in {".shp", ".dbf"} or sources.sibling(path, ".cpg"):
        return None
    dbf = path if path.suffix.lower() == ".dbf" else sources.sibling(path, ".dbf")
    if dbf is None:
        return None
    data = sources.read_bytes(dbf)
    start = int.from_bytes(data[8:10], "little") if len(data) >= 32 else 0  # header length
    try:
        data[start:].decode("utf-8")
    except UnicodeDecodeError:
        logger.info("%s has no .cpg file and is not UTF-8: reading it as GB18030", dbf.name)
        return "GB18030"
    return "UTF-8"


def captures_warnings(path: Path) -> bool:
    """Whether reading the parcel layer at ``path`` collects GDAL's warnings with
    ``warnings.catch_warnings``, which changes the warning state of the whole process: such a
    read must not run beside another thread's work. GeoParquet is read by Arrow, without it."""
    return not (path.suffix.lower() in _PARQUET or (path.is_dir() and bool(parquet_parts(path))))


def _read_vector(path: Path, *, layer: str | None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer; unclosed rings are closed and listed in ``attrs["closed_rings"]``,
    and how its CRS was settled in ``attrs["crs_notes"]``.

    GDAL accepts polygons whose rings are not closed (with a warning) but shapely cannot build
    them; such features are read again with pyogrio's ``on_invalid="fix"`` and their positions
    kept so that the ledger can say they were repaired.
    """
    _require_file(path)
    if not captures_warnings(path):
        return _read_geoparquet(path)
    if path.suffix.lower() == ".shp":
        check_shapefile(path)
    encoding = encoding or _dbf_encoding(path)
    kwargs: dict[str, object] = {"layer": layer, "engine": "pyogrio"}
    if encoding:
        kwargs["encoding"] = encoding
    where = sources.gdal_path(path)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")  # GDAL's warnings: said once, as log lines, below
        try:
            try:
                gdf = gpd.read_file(where, **kwargs)
                closed = np.zeros(len(gdf), dtype=bool)
            except shapely.errors.GEOSException:
                gdf = gpd.read_file(where, on_invalid="fix", **kwargs)
                raw = gpd.read_file(where, on_invalid="ignore", **kwargs)
                closed = (raw.geometry.isna() & gdf.geometry.notna()).to_numpy()
        except Exception as err:
            raise InputFileError(f"{path} cannot be read as a vector layer: {err}") from err
    for text in dict.fromkeys(
        str(w.message) for w in said if "Non closed ring" not in str(w.message)
    ):
        logger.warning("%s: GDAL says: %s", path.name, text)
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise InputFileError(
            f"{path} has no geometry: it is a table, not a layer of polygons. Give the parcel "
            "layer (GeoPackage, Shapefile, GeoJSON, GeoParquet ...) here, and a table of "
            "filings as --filings"
        )
    info = _info(path, layer)
    _check_complete(path, info, len(gdf))
    gdf.attrs["closed_rings"] = closed
    return _lonlat_by_format(gdf, path, str(info.get("driver", "")))


def _read_geoparquet(path: Path) -> gpd.GeoDataFrame:
    """A GeoParquet file, or a folder of them as one layer (in natural file order)."""
    parts = []
    for part in parquet_parts(path):
        try:
            parts.append(gpd.read_parquet(part))
        except Exception as err:
            raise InputFileError(f"{part} cannot be read as GeoParquet: {err}") from err
    if len(parts) == 1:
        return parts[0]
    return cast(gpd.GeoDataFrame, pd.concat(parts, ignore_index=True))


def _lonlat_by_format(gdf: gpd.GeoDataFrame, path: Path, driver: str) -> gpd.GeoDataFrame:
    """TopoJSON and GeoJSON without a crs member are lon/lat by their specifications: say so."""
    if gdf.crs is None and driver == "TopoJSON":
        return _topojson_crs(gdf, path)
    if driver == "GeoJSON" and not _has_crs_member(path):
        note = (
            f"{path.name} is GeoJSON without a crs member: longitude/latitude on WGS 84 "
            "(EPSG:4326), as RFC 7946 specifies"
        )
        logger.info("%s", note)
        gdf.attrs["crs_notes"] = (note,)
    return gdf


def _info(path: Path, layer: str | None) -> dict[str, Any]:
    """The layer's metadata (driver, feature count); its warnings were said on reading."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(pyogrio.read_info(sources.gdal_path(path), layer=layer))
    except Exception:
        return {}


def _check_complete(path: Path, info: Mapping[str, Any], n_read: int) -> None:
    """Refuse a file that declares more features than could be read (truncated, corrupt)."""
    declared = int(info.get("features", -1))
    if declared >= 0 and declared != n_read:
        raise InputFileError(
            f"{path} declares {declared} features but {n_read} could be read: "
            "the file is truncated or corrupt; export it again"
        )


def _has_crs_member(path: Path) -> bool:
    """Whether a GeoJSON file names a CRS (a ``"crs"`` member, GeoJSON 2008)."""
    return b'"crs"' in sources.read_bytes(path)


def check_shapefile(path: Path) -> None:
    """Refuse a shapefile whose .shp, .shx and .dbf are cut or disagree in count.

    GDAL reads the features of a cut .shp as empty geometries and a short .dbf as fewer
    records, without an error; half a county would then be "empty geometry". The three
    headers say how long each file must be: this compares them with the files.
    """
    shp = sources.read_bytes(path)
    if len(shp) < 100:
        raise InputFileError(f"{path} is not a shapefile (shorter than its 100-byte header)")
    declared = int.from_bytes(shp[24:28], "big") * 2
    problems = []
    if declared != len(shp):
        problems.append(f"{path.name} has {len(shp):,} bytes but its header says {declared:,}")
    shx, dbf = sources.sibling(path, ".shx"), sources.sibling(path, ".dbf")
    n_shx = None if shx is None else _shx_problems(shx, path.name, len(shp), problems)
    if dbf is not None:
        _dbf_problems(dbf, None if shx is None else (shx.name, n_shx), problems)
    if problems:
        raise InputFileError(
            f"{path}: the shapefile is truncated or its files disagree ("
            + "; ".join(problems)
            + "); copy or export it again, with its .shp, .shx and .dbf together"
        )


def _shx_problems(shx: Path, shp_name: str, shp_size: int, problems: list[str]) -> int:
    """What is wrong with the index file (appended to ``problems``); its number of records."""
    index = sources.read_bytes(shx)
    n = max((len(index) - 100) // 8, 0)
    if len(index) < 100 or int.from_bytes(index[24:28], "big") * 2 != len(index):
        problems.append(f"{shx.name} is cut ({len(index):,} bytes)")
        return n
    entries = np.frombuffer(index[100 : 100 + 8 * n], dtype=">i4").reshape(-1, 2)
    ends = (entries[:, 0].astype(np.int64) + entries[:, 1]) * 2 + 8
    cut = int((ends > shp_size).sum())
    if cut:
        problems.append(
            f"{cut:,} of the {n:,} shapes {shx.name} indexes lie beyond the end of {shp_name}"
        )
    return n


def _dbf_problems(dbf: Path, shx: tuple[str, int | None] | None, problems: list[str]) -> None:
    """What is wrong with the attribute table, against the index's count if known."""
    table = sources.read_bytes(dbf)
    if len(table) < 12:
        problems.append(f"{dbf.name} is cut ({len(table)} bytes)")
        return
    n = int.from_bytes(table[4:8], "little")
    header, record = (int.from_bytes(table[a : a + 2], "little") for a in (8, 10))
    if len(table) < header + n * record:
        problems.append(
            f"{dbf.name} is cut: {n:,} records need {header + n * record:,} bytes, "
            f"it has {len(table):,}"
        )
    if shx is not None and shx[1] is not None and n != shx[1]:
        problems.append(f"{dbf.name} holds {n:,} records but {shx[0]} {shx[1]:,}")


def _topojson_crs(gdf: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """TopoJSON has no CRS member; like GeoJSON (RFC 7946) its coordinates are lon/lat."""
    x0, y0, x1, y1 = gdf.total_bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise CRSError(
            f"{path} is TopoJSON whose coordinates are not longitude/latitude "
            "(projected or quantised without a transform); declare its CRS with "
            "--parcels-crs"
        )
    note = f"{path.name} is TopoJSON: coordinates read as longitude/latitude (EPSG:4326)"
    logger.info("%s", note)
    out = gdf.set_crs(4326)
    out.attrs["crs_notes"] = (note,)
    return out


def _assign_crs(gdf: gpd.GeoDataFrame, declared: str | None, path: Path) -> gpd.GeoDataFrame:
    if declared is None:
        return gdf
    try:
        crs = CRS.from_user_input(declared)
    except Exception as err:  # pyproj raises CRSError (not a ValueError) for unknown input
        raise CRSError(f"--parcels-crs {declared!r} is not a CRS pyproj knows: {err}") from err
    if gdf.crs is None:
        logger.info("%s has no CRS; using the declared %s", path.name, crs.name)
        return gdf.set_crs(crs)
    if CRS.from_user_input(gdf.crs) != crs:
        raise CRSError(
            f"{path} declares its CRS as {gdf.crs.name} but the configuration says {crs.name}; "
            "drop the --parcels-crs option (the file's own CRS is used) or fix the file"
        )
    return gdf


@dataclass(frozen=True)
class Cells:
    """How number cells are read: the decimal mark and the codes that mean "not reported"."""

    decimal: str = "."
    missing_values: tuple[float, ...] = ()
    money_unit: str = "万元"
    """The money unit messages suggest declaring (USD for US-style data)."""


def _canonical_frame(
    raw: pd.DataFrame,
    mapping: list[MappedColumn],
    specs: tuple[ColumnSpec, ...],
    *,
    source: str,
    table: str,
    on_invalid: str = "raise",
    cells: Cells | None = None,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """Canonical columns from ``raw``; ``record`` is ``raw``'s index (row or feature number).

    A column named by several headers (``alternatives``) is read from the first when every
    header holds the same values (noted in ``notes``), else refused listing where they differ;
    the id columns are left to the join (see :func:`mujun.join.choose_id_columns`).
    """
    cells = cells or Cells()
    kinds = {s.name: s.kind for s in specs}
    out = pd.DataFrame(index=raw.index)
    out["record"] = raw.index.to_numpy(dtype="int64")
    problem = pd.Series("", index=raw.index, dtype="string")
    messages: list[str] = []
    for col in mapping:
        kind = kinds[col.canonical]
        if kind in {"id", "text"}:
            out[col.canonical] = as_text(raw[col.header])
        else:
            numbers, bad = _numbers(raw, col, kind, cells=cells, notes=notes, source=source)
            rows = raw.index[bad.to_numpy()]
            if len(rows):  # the cells that are not numbers: a message for each
                texts = [
                    f"column {shown(col.header)}: " + _number_text(value, col, cells.decimal)
                    for value in raw.loc[rows, col.header].astype(object)
                ]
                old = problem.loc[rows]
                problem.loc[rows] = old.where(old == "", old + "; ") + pd.Series(
                    texts, index=rows, dtype="string"
                )
                messages += [
                    f"{source} row {idx}, {text}; correct the cell or leave it "
                    "blank (blank, - and — read as missing)"
                    for idx, text in zip(rows, texts, strict=True)
                ][: max(_MAX_LISTED - len(messages), 0)]
            out[col.canonical] = numbers
        if col.alternatives and kind != "id" and col.canonical != "parcel_ids":
            _same_in_every_header(
                raw,
                col,
                kind,
                out[col.canonical],
                source=source,
                table=table,
                cells=cells,
                notes=notes,
            )
    n_bad = int((problem != "").sum())
    if n_bad and on_invalid == "raise":
        more = f"\n... {n_bad} rows in all" if n_bad > len(messages) else ""
        raise InputError(
            "\n".join(messages) + more + "\n(or set [input] on_invalid = "
            '"reject" to set such rows aside in the ledger and go on)'
        )
    out["problem"] = problem
    return out


def _numbers(
    raw: pd.DataFrame,
    col: MappedColumn,
    kind: str,
    *,
    cells: Cells,
    notes: list[str] | None,
    source: str,
) -> tuple[pd.Series, pd.Series]:
    """A number column in canonical units, and its bad cells: not numbers, or beyond what a
    float holds once converted (``1e308`` 万元)."""
    numbers, bad = parse_numbers(raw[col.header], decimal=cells.decimal)
    if cells.missing_values:
        coded = numbers.isin(cells.missing_values).to_numpy()
        if coded.any() and notes is not None:
            notes.append(
                f"{source}: {int(coded.sum())} cells of column {shown(col.header)} hold a "
                f"missing-value code ({', '.join(f'{v:g}' for v in cells.missing_values)}) "
                "and read as missing"
            )
        numbers = numbers.mask(coded)
    if kind != "int":
        with np.errstate(over="ignore", invalid="ignore"):
            numbers = numbers * col.factor
        overflow = np.isinf(numbers.to_numpy())
        if overflow.any():
            numbers = numbers.mask(overflow)
            bad = bad | overflow
    return numbers, bad


def _number_text(value: object, col: MappedColumn, decimal: str) -> str:
    """Why a cell is refused: not a number, or too large once converted."""
    _, bad = parse_numbers(pd.Series([value], dtype=object), decimal=decimal)
    if not bad.iloc[0]:  # a number, but infinite in canonical units
        return (
            f"{value!r} {col.unit or ''} is too large (beyond any float once converted to "
            "canonical units); check the cell and the unit"
        )
    return number_problem(value, decimal=decimal)


def _same_in_every_header(
    raw: pd.DataFrame,
    col: MappedColumn,
    kind: str,
    values: pd.Series,
    *,
    source: str,
    table: str,
    cells: Cells,
    notes: list[str] | None,
) -> None:
    """Several headers name one column: fine (noted) if they hold the same values, else
    stop with where they differ and how to choose."""
    for other in col.alternatives:
        if kind == "text":
            theirs = as_text(raw[other])
            differ = ~((theirs == values) | (theirs.isna() & values.isna())).fillna(False)
        else:
            theirs, _ = _numbers(
                raw, _with_unit_of(other, col), kind, cells=cells, notes=None, source=source
            )
            a, b = values.to_numpy(dtype="float64"), theirs.to_numpy(dtype="float64")
            differ = pd.Series(~(np.isclose(a, b, rtol=1e-9) | (np.isnan(a) & np.isnan(b))))
        rows = raw.index[np.asarray(differ, dtype=bool)]
        if not len(rows):
            if notes is not None:
                notes.append(
                    f"{source}: columns {shown(col.header)} and {shown(other)} both name "
                    f"{col.canonical} and hold the same values; {shown(col.header)} is read"
                )
            continue
        first = rows[0]
        raise SchemaError(
            f"{source}: columns {shown(col.header)} and {shown(other)} both look like "
            f"{col.canonical} and differ on {len(rows)} row(s) (row {first}: "
            f"{raw.loc[first, col.header]!r} against {raw.loc[first, other]!r}); name the one "
            f'to use with [columns.{table}] {col.canonical} = "{_plain_header(col.header)}" '
            f'(or "{_plain_header(other)}") in the config'
        )


def _plain_header(header: str) -> str:
    return header.split(REPEAT, maxsplit=1)[0]


def _with_unit_of(header: str, col: MappedColumn) -> MappedColumn:
    """The mapping of another header of ``col``'s column, with its own unit if it has one."""
    unit = split_unit(header)[1]
    spec = next(s for s in (*FILING_COLUMNS, *PARCEL_COLUMNS) if s.name == col.canonical)
    if unit is None or not has_unit(spec):
        return MappedColumn(header, col.canonical, col.unit, col.factor)
    try:
        return MappedColumn(header, col.canonical, unit, unit_factor(spec.kind, unit))
    except SchemaError:  # not a unit mujun knows: compared as the first column is read
        return MappedColumn(header, col.canonical, col.unit, col.factor)


def _raw_columns(
    frame: pd.DataFrame, mapping: list[MappedColumn], specs: tuple[ColumnSpec, ...]
) -> pd.DataFrame:
    """The attribute columns as the canonical frame reads them: Python objects (as text), but
    strings and the plain NumPy numbers of numeric columns as they are (the same values,
    parsed without going through text)."""
    kinds = {m.header: next(s.kind for s in specs if s.name == m.canonical) for m in mapping}
    out = {}
    for header in frame.columns:
        column = frame[header]
        kind = kinds.get(str(header))
        numeric = kind not in {None, "id", "text"}
        if (
            kind is None  # not read
            or isinstance(column.dtype, pd.StringDtype)
            or (numeric and isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiu")
        ):
            out[header] = column
        else:
            out[header] = column.astype(object)
    return pd.DataFrame(out, index=frame.index)


def read_parcels(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
) -> tuple[gpd.GeoDataFrame, Table]:
    """Read a parcel layer.

    Returns the parcels with ``record`` (1-based feature number), ``parcel_id`` (normalised,
    with the original in ``parcel_id_raw``), optional ``park``, ``land_use``,
    ``declared_area_mu`` and geometry in the file's CRS (or ``crs`` when the file has none),
    plus a :class:`Table` describing the mapping. ``encoding`` is for Shapefile DBFs; without it
    a DBF that has no .cpg file is read as UTF-8 if it decodes as such, else as GB18030.
    """
    path = Path(path)
    gdf = _assign_crs(_read_vector(path, layer=layer, encoding=encoding), crs, path)
    return parcels_from_frame(gdf, path, columns=columns, units=units)


def read_parcels_db(
    url: str,
    *,
    table: str | None,
    query: str | None,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
) -> tuple[gpd.GeoDataFrame, Table]:
    """Read parcels from a PostGIS table or query (see :func:`read_parcels`); the source is
    named ``postgis:<table>`` (or ``postgis:query``) in the ledger."""
    gdf = cast(
        gpd.GeoDataFrame,
        postgis.read_query(url, table=table, query=query, what="parcels", spatial=True),
    )
    label = Path(f"postgis:{table or 'query'}")
    gdf = _assign_crs(gdf, crs, label)
    out, info = parcels_from_frame(gdf, label, columns=columns, units=units)
    origin = postgis.provenance(url, table=table, query=query, frame=gdf)
    return out, dataclasses.replace(info, provenance=origin)


def parcels_from_frame(
    gdf: gpd.GeoDataFrame,
    path: Path,
    *,
    columns: Mapping[str, str] | None,
    units: Mapping[str, str] | None,
    first_record: int = 1,
) -> tuple[gpd.GeoDataFrame, Table]:
    """The parcels of :func:`read_parcels` from a layer already read; ``first_record`` is the
    record number of its first row (when it is a part of a larger data set)."""
    closed = gdf.attrs.get("closed_rings", np.zeros(len(gdf), dtype=bool))
    crs_notes = tuple(gdf.attrs.get("crs_notes", ()))
    gdf.index = pd.RangeIndex(first_record, first_record + len(gdf))
    headers = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    found = map_headers(
        headers, PARCEL_COLUMNS, source=path.name, table="parcels", columns=columns, units=units
    )
    mapping, notes = found.mapping, list(found.notes)
    raw = _raw_columns(pd.DataFrame(gdf[headers]), mapping, PARCEL_COLUMNS)
    frame = _canonical_frame(
        raw, mapping, PARCEL_COLUMNS, source=path.name, table="parcels", notes=notes
    )
    id_column = next(m for m in mapping if m.canonical == "parcel_id")
    frame["parcel_id_raw"] = raw[id_column.header].astype("string")
    frame["parcel_id"] = normalize_ids(frame["parcel_id"])
    if "declared_area" in frame:
        frame["declared_area_mu"] = frame.pop("declared_area") / MU_M2
    frame["read_fix"] = np.where(closed, "ring not closed: closed on reading", "")
    out = gpd.GeoDataFrame(frame, geometry=gdf.geometry.array, crs=gdf.crs)
    others = {h: as_text(raw[h]) for h in id_column.alternatives}
    table = Table(
        pd.DataFrame(),
        path,
        tuple(mapping),
        notes=tuple(notes),
        crs_notes=crs_notes,
        id_alternatives=others,
    )
    return out, table


def read_buildings(
    path: str | Path,
    *,
    crs: str | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Read building footprints: ``record``, optional ``floors`` and ``height`` (m), polygons."""
    path = Path(path)
    gdf = _assign_crs(_read_vector(path, layer=None), crs, path)
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    headers = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    mapping = map_columns(
        headers, BUILDING_COLUMNS, source=path.name, table="buildings", columns=columns, units=units
    )
    frame = _canonical_frame(
        _raw_columns(pd.DataFrame(gdf[headers]), mapping, BUILDING_COLUMNS),
        mapping,
        BUILDING_COLUMNS,
        source=path.name,
        table="buildings",
    )
    return gpd.GeoDataFrame(frame, geometry=gdf.geometry.array, crs=gdf.crs)


def read_parks(
    path: str | Path, *, crs: str | None = None, columns: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Read park boundaries: ``park`` name, optional ``park_code``, polygon geometry."""
    path = Path(path)
    gdf = _assign_crs(_read_vector(path, layer=None), crs, path)
    gdf.index = pd.RangeIndex(1, len(gdf) + 1)
    headers = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    mapping = map_columns(headers, PARK_COLUMNS, source=path.name, table="parks", columns=columns)
    frame = _canonical_frame(
        _raw_columns(pd.DataFrame(gdf[headers]), mapping, PARK_COLUMNS),
        mapping,
        PARK_COLUMNS,
        source=path.name,
        table="parks",
    )
    return gpd.GeoDataFrame(frame, geometry=gdf.geometry.array, crs=gdf.crs)


_ENCODINGS = ("utf-8-sig", "gb18030")
_HEADER_SCAN = 15  # rows searched for the header (title rows above it are common)
_TOTAL_WORDS = frozenset({"合计", "总计", "小计", "total", "sum", "合 计", "总 计"})


def _decode(path: Path, encoding: str | None, data: bytes | None = None) -> tuple[str, str]:
    data = path.read_bytes() if data is None else data
    tried = (encoding,) if encoding else _ENCODINGS
    for enc in tried:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
        except LookupError as err:
            raise InputFileError(f"unknown encoding {enc!r} for {path}") from err
    raise InputFileError(
        f"{path} is not valid {' or '.join(tried)} text; save it as UTF-8 or declare its "
        "encoding with --encoding (e.g. --encoding gbk)"
    )


class _Rfc4180(csv.Dialect):
    """RFC 4180 quoting: fields in double quotes, a quote inside one doubled. Only the
    delimiter is sniffed: the sniffer guesses quoting from the first 8 KB, and a guess of "no
    doubled quotes" there would shift every later row that has one."""

    delimiter = ","
    quotechar = '"'
    doublequote = True
    escapechar = None
    skipinitialspace = False
    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL


def _dialect(sample: str) -> type[csv.Dialect]:
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        sniffed = ","
    return type("_Sniffed", (_Rfc4180,), {"delimiter": sniffed})


def _read_csv_rows(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    """The cells of a CSV file as text, a row per record (quoted line breaks stay in their
    cell); ``attrs["widths"]`` holds each row's number of cells (rows are padded to the
    widest). Trailing rows with no text are no records and are dropped."""
    data = sources.read_bytes(path)
    text, used = _decode(path, encoding, data)
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InputFileError(
            f"{path} holds NUL bytes (the first on line {line}): it is not a text table. "
            "If it is a spreadsheet, give the .xlsx file; if it was saved as 'Unicode text', "
            "save it again as 'CSV UTF-8'"
        )
    # the UTF-8 bytes of the text, for Arrow: the file's own when it is UTF-8 (less the BOMs
    # taken off the text), rather than the text encoded again
    utf8: bytes | None = None
    codec = codecs.lookup(used).name
    if codec in {"utf-8", "utf-8-sig"}:
        boms = int(codec == "utf-8-sig" and data.startswith(codecs.BOM_UTF8))  # the codec's
        boms += text.startswith("\ufeff")  # and the one taken off below
        utf8 = data[len(codecs.BOM_UTF8) * boms :]
    text = text.removeprefix("\ufeff")
    trimmed = text.rstrip("\r\n")
    if trimmed != text:  # blank lines at the end are no records
        ending = "\r\n" if text.endswith("\r\n") else "\n"
        text = trimmed + ending if trimmed else ""
        utf8 = None if utf8 is None else text.encode("utf-8")
    dialect = _dialect(text[:8192])
    fast = _arrow_csv_rows(text, dialect, utf8=utf8)
    if fast is not None:
        fast.attrs["widths"] = np.full(len(fast), fast.shape[1], dtype=np.int64)
        return _without_trailing_blanks(fast), used
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as err:
        raise InputFileError(f"{path} is not a readable CSV table: {err}") from err
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        raise InputFileError(f"{path} is empty")
    frame = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)
    frame.attrs["widths"] = np.array([len(r) for r in rows], dtype=np.int64)
    return _without_trailing_blanks(frame), used


def _without_trailing_blanks(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` less the rows at the end whose cells are all empty (``,,,`` lines)."""
    if rows.empty:
        return rows
    filled = np.zeros(len(rows), dtype=bool)
    for j in range(rows.shape[1]):
        filled |= np.asarray(pc.fill_null(pc.not_equal(_cells_as_text(rows, j), ""), True))
    last = int(np.flatnonzero(filled)[-1]) + 1 if filled.any() else 0
    if last == len(rows):
        return rows
    widths = rows.attrs.get("widths")
    out = rows.iloc[:last]
    out.attrs["widths"] = None if widths is None else widths[:last]
    return out


def _arrow_declines(data: bytes) -> bool:
    """What Arrow's CSV parser does not read as the csv module does: a lone CR ending a line,
    empty lines (the csv module yields an empty row for them) and NUL characters."""
    if b"\x00" in data or b"\n\n" in data or data.startswith((b"\n", b"\r\n")):
        return True
    cr = data.count(b"\r")  # the rest concerns CR only
    return bool(cr) and (cr != data.count(b"\r\n") or b"\n\r\n" in data)


def _arrow_csv_rows(
    text: str, dialect: type[csv.Dialect] | csv.Dialect, *, utf8: bytes | None = None
) -> pd.DataFrame | None:
    """The rows as :mod:`csv` reads them, parsed by Arrow; ``None`` when Arrow could differ.

    Arrow splits the same fields as the csv module for a rectangular table (every row the
    same number of fields) without the cases of :func:`_arrow_declines` and without
    ``skipinitialspace``; anything else (or a parse error) is left to the csv module.
    ``utf8``: ``text`` encoded as UTF-8, if at hand.
    """
    if not text or dialect.skipinitialspace:
        return None
    data = text.encode("utf-8") if utf8 is None else utf8
    if _arrow_declines(data):
        return None
    parse = pacsv.ParseOptions(
        delimiter=dialect.delimiter,
        quote_char=dialect.quotechar or False,
        double_quote=dialect.doublequote,
        escape_char=dialect.escapechar or False,
        newlines_in_values=True,
        ignore_empty_lines=False,
    )
    first_line = text[: text.find("\n")] if "\n" in text else text
    names = [f"f{i}" for i in range(first_line.count(dialect.delimiter) + 1)]
    for _ in range(2):  # a quoted line break in the first row hides columns: read again
        table = _arrow_csv_table(data, parse, names)
        if table is None:
            return None
        if all(pa.types.is_string(t) for t in table.schema.types):
            return pd.DataFrame(
                {
                    j: from_arrow_text(table.column(j), pd.RangeIndex(table.num_rows))
                    for j in range(table.num_columns)
                }
            )
        names = table.column_names
    return None


def _arrow_csv_table(data: bytes, parse: pacsv.ParseOptions, names: list[str]) -> pa.Table | None:
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        check_utf8=False,
    )
    read = pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24)
    try:
        return pacsv.read_csv(
            io.BytesIO(data), read_options=read, parse_options=parse, convert_options=convert
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


_type_of = np.frompyfunc(type, 1, 1)
_STR_TYPES = np.array([str], dtype=object)
_FLOAT_TYPES = np.array([float, np.float64], dtype=object)
_INT_TYPES = np.array([int, np.int64], dtype=object)


def _cells_text(frame: pd.DataFrame, *, decimal: str = ".") -> pd.DataFrame:
    """:func:`_cell_text` of every cell, in bulk: an object frame of str, same labels.
    ``decimal=","``: typed fractions are written with a decimal comma, as the file's text
    cells are (so that one rule reads both)."""
    return pd.DataFrame(
        {j: _column_text(frame.iloc[:, j], decimal=decimal) for j in range(frame.shape[1])},
        index=frame.index,
        dtype=object,
    ).set_axis(frame.columns, axis=1)


def _column_text(column: pd.Series, *, decimal: str = ".") -> np.ndarray:
    """:func:`_cell_text` of each cell of a column, by the type of the cell.

    Strings stay; floats and ints are formatted in bulk (Arrow writes the same digits as
    ``str`` for whole numbers and for fractions between 1e-4 and 1e10); anything else (dates,
    bools, huge or tiny floats) goes through :func:`_cell_text`.
    """
    values = column.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    if not len(values):
        return out
    kinds = _type_of(values)
    done = np.isin(kinds, _STR_TYPES)
    out[done] = values[done]
    floats = np.isin(kinds, _FLOAT_TYPES)
    out[floats], done[floats] = _floats_text(values[floats].astype(np.float64))
    ints = np.isin(kinds, _INT_TYPES) & ~floats
    if ints.any():
        out[ints], done[ints] = _ints_text(values[ints])
    out[~done] = [_cell_text(v) for v in values[~done]]
    if decimal != "." and floats.any():
        out[floats] = [v.replace(".", decimal) for v in out[floats]]
    return out


def _ints_text(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """``str`` of ints in bulk, or ``False`` (left for later) if one is beyond int64."""
    try:
        ints = pa.array(values, type=pa.int64())
    except (OverflowError, pa.ArrowException):
        return np.full(len(values), "", dtype=object), False
    return pc.cast(ints, pa.string()).to_numpy(zero_copy_only=False), True


def _floats_text(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_cell_text`` of floats (text and whether it was made here; the rest: ``False``)."""
    out = np.full(len(x), "", dtype=object)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(x)
        whole = finite & (x == np.trunc(x)) & (np.abs(x) < 1e15)
        plain = finite & ~whole & (np.abs(x) >= 1e-4) & (np.abs(x) < 1e10)
    if whole.any():
        ints = pa.array(x[whole].astype(np.int64))
        out[whole] = pc.cast(ints, pa.string()).to_numpy(zero_copy_only=False)
    if plain.any():
        out[plain] = pc.cast(pa.array(x[plain]), pa.string()).to_numpy(zero_copy_only=False)
    return out, np.isnan(x) | whole | plain


def _read_xlsx_rows(path: Path, sheet: str | None, decimal: str = ".") -> pd.DataFrame:
    data = sources.read_bytes(path)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        _refuse_uncomputed_formulas(data, path, sheet)
    try:
        frame = pd.read_excel(
            io.BytesIO(data), sheet_name=sheet or 0, header=None, dtype=object, engine="calamine"
        )
    except ValueError as err:
        raise InputFileError(f"{path}: {err}; choose the sheet with [input] sheet") from err
    except Exception as err:  # calamine raises its own error types for corrupt files
        raise InputFileError(f"{path} cannot be read as an XLSX workbook: {err}") from err
    rows = _cells_text(frame, decimal=decimal)
    rows.attrs["widths"] = None  # a sheet is rectangular
    return rows


_SHEET_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def _sheet_member(zf: Any, sheet: str | None) -> tuple[str, str]:
    """The name and the zip member of the worksheet ``sheet`` (default: the first)."""
    from xml.etree import ElementTree as ET  # noqa: PLC0415 - the workbook's own XML

    book = ET.fromstring(zf.read("xl/workbook.xml"))  # noqa: S314
    sheets = [(e.get("name"), e.get(f"{_REL_NS}id")) for e in book.iter(f"{_SHEET_NS}sheet")]
    rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))  # noqa: S314
    targets = {r.get("Id"): r.get("Target") for r in rels}
    name, rel = next(((n, r) for n, r in sheets if sheet is None or n == sheet), (None, None))
    if name is None or rel not in targets:
        return "", ""
    target = str(targets[rel]).lstrip("/")
    return str(name), target if target.startswith("xl/") else f"xl/{target}"


def _refuse_uncomputed_formulas(data: bytes, path: Path, sheet: str | None) -> None:
    """Stop on formula cells that carry no computed value.

    Workbooks written by programs (openpyxl, scripts) store formulas without their results;
    Excel computes them when it opens the file, but a reader sees empty cells, so a column of
    =B2*1.13 would be read as blanks and its money would vanish.
    """
    import zipfile  # noqa: PLC0415
    from xml.etree import ElementTree as ET  # noqa: PLC0415 - the workbook's XML

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            name, member = _sheet_member(zf, sheet)
            if not member or member not in zf.namelist():
                return
            xml = zf.read(member)
    except Exception:
        return
    if b"<f" not in xml and b":f" not in xml:
        return
    empty: list[str] = []
    try:
        for _, cell in ET.iterparse(io.BytesIO(xml)):  # noqa: S314
            if cell.tag != f"{_SHEET_NS}c":
                continue
            formula = cell.find(f"{_SHEET_NS}f")
            value = cell.find(f"{_SHEET_NS}v")
            if formula is not None and (value is None or not (value.text or "")):
                empty.append(str(cell.get("r")))
            cell.clear()
    except ET.ParseError:
        return
    if empty:
        listed = ", ".join(empty[:_MAX_LISTED]) + (" ..." if len(empty) > _MAX_LISTED else "")
        raise InputFileError(
            f"{path}, sheet {name!r}: {len(empty)} formula cell(s) hold no computed value "
            f"({listed}): the workbook was written by a program that does not compute "
            "formulas, so their values are unknown (they would read as blank). Open it in "
            "Excel, WPS or LibreOffice and save it once (or run `libreoffice --headless "
            "--convert-to xlsx` on it), or write the values instead of formulas"
        )


def _header_score(cells: list[str], specs: tuple[ColumnSpec, ...]) -> int:
    names = {split_unit(c)[0] for c in cells if c}
    return sum(1 for spec in specs if names & set(spec.aliases))


def _locate_header(
    rows: pd.DataFrame, specs: tuple[ColumnSpec, ...], columns: Mapping[str, str] | None
) -> tuple[int, list[str]]:
    """Find the header row below any title rows; merge a two-row header (merged cells).

    The header is the row (among the first 15) naming the most canonical columns. If the row
    above it has text where the header row is blank (a cell merged down over two rows) the two
    are combined, e.g. 统一社会信用代码 merged over rows 2-3 beside 税收(万元) in row 3.
    """
    explicit = {normalize_header(v) for v in (columns or {}).values()}
    best = (-1, 0, [""])
    for r in range(min(_HEADER_SCAN, len(rows))):
        cells = [str(c).strip() for c in rows.iloc[r]]
        score = _header_score(cells, specs) + sum(
            1
            for c in cells
            if c and (normalize_header(c) in explicit or split_unit(c)[0] in explicit)
        )
        if r > 0:
            above = [str(c).strip() for c in rows.iloc[r - 1]]
            merged = [c or a for c, a in zip(cells, above, strict=True)]
            merged_score = _header_score(merged, specs)
            if merged_score > score:
                cells, score = merged, merged_score
        if score > best[0]:
            best = (score, r, cells)
    _, row, cells = best
    headers = [c if c else f"column {i + 1}" for i, c in enumerate(cells)]
    seen: dict[str, int] = {}
    for i, h in enumerate(headers):  # repeated headers stay distinct and still name their role
        seen[h] = seen.get(h, 0) + 1
        if seen[h] > 1:
            headers[i] = f"{h}{REPEAT}{seen[h]}"
    return row, headers


_SPREADSHEETS = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
_TEXT_TABLES = {".csv", ".txt", ".tsv", ""}


def read_filings(
    path: str | Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    year: int | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    on_invalid: str = "raise",
    mode: str = "filings",
    cells: Cells | None = None,
) -> Table:
    """Read enterprise filings into canonical columns and units: CSV, XLSX, or any attribute
    table GDAL reads (a DBF, a GeoPackage or FlatGeobuf layer, Parquet/GeoParquet), also
    inside a zip archive (``archive.zip!folder/table.dbf``).

    Money becomes yuan, land m², energy tce, electricity kWh, emissions t. ``parcel_ids``
    becomes a tuple of normalised parcel ids (split on 、 , ; / and spaces; empty for lessees).
    ``year`` fills a file that has no year column. In CSV and XLSX, title rows above the
    header and two-row (merged) headers are recognised and ``record`` is the spreadsheet row
    number; in other tables ``record`` is the row number from 1 and ``sheet`` names the layer.
    Cells that are not numbers, and CSV rows with more or fewer cells than the header, raise
    :class:`InputError` listing them (``on_invalid="raise"``) or mark their rows in
    ``problem`` so that validation rejects them (``on_invalid="reject"``).
    """
    path = Path(path)
    _require_file(path)
    cells = cells or Cells()
    suffix = path.suffix.lower()
    options: dict[str, Any] = {
        "year": year,
        "columns": columns,
        "units": units,
        "on_invalid": on_invalid,
        "mode": mode,
        "cells": cells,
    }
    if suffix not in _SPREADSHEETS | _TEXT_TABLES:
        raw, table_encoding = _read_gdal_table(path, layer=sheet, encoding=encoding)
        read = _filings_from_raw(raw, path, **options)
        return Table(
            read.frame,
            path,
            tuple(read.mapping),
            table_encoding,
            notes=tuple(read.notes),
            headers=tuple(raw.columns),
            id_alternatives=read.alternatives,
        )
    used_encoding: str | None = None
    if suffix in _SPREADSHEETS:
        rows = _read_xlsx_rows(path, sheet, cells.decimal)
    else:
        rows, used_encoding = _read_csv_rows(path, encoding)
    header_row, headers = _locate_header(rows, FILING_COLUMNS, columns)
    raw = rows.iloc[header_row + 1 :].copy()
    raw.columns = headers
    raw.index = pd.RangeIndex(header_row + 2, header_row + 2 + len(raw))  # spreadsheet rows
    shape = _row_shapes(rows, header_row, raw, path.name)
    if len(shape) and on_invalid == "raise":  # every problem at once: shapes and cells
        rejecting = {**options, "on_invalid": "reject"}
        _refuse_rows(
            _filings_from_raw(raw, path, row_problems=shape, **rejecting).frame, shape, path.name
        )
    read = _filings_from_raw(raw, path, row_problems=shape, **options)
    notes = []
    if header_row:
        notes.append(f"header found on row {header_row + 1} (rows above it read as a title)")
    return Table(
        read.frame,
        path,
        tuple(read.mapping),
        used_encoding,
        header_row=header_row + 1,
        notes=tuple(notes + read.notes),
        headers=tuple(h.split(REPEAT)[0] for h in headers),
        id_alternatives=read.alternatives,
    )


def _refuse_rows(frame: pd.DataFrame, shape: pd.Series, source: str) -> None:
    """One error listing the rows with too few or too many cells and the cells that are not
    numbers, by row."""
    problem = frame.set_index("record")["problem"].astype("string").fillna("")
    cells = problem.loc[problem.str.startswith("column ")]
    listed = pd.concat([shape.rename("p"), cells.rename("p")]).groupby(level=0).agg("; ".join)
    lines = [f"{source} row {r}, {t}" for r, t in listed.head(_MAX_LISTED).items()]
    more = f"\n... {len(listed)} rows in all" if len(listed) > _MAX_LISTED else ""
    raise InputError(
        "\n".join(lines) + more + "\n(a row with too few or too many cells lost or gained a "
        "quote or a separator; correct the rows and cells, or set [input] on_invalid = "
        '"reject" to set such rows aside in the ledger and go on)'
    )


def _row_shapes(rows: pd.DataFrame, header_row: int, raw: pd.DataFrame, source: str) -> pd.Series:
    """CSV rows below the header with fewer cells than it, or with text beyond its last
    column, by spreadsheet row: what the csv module would pad or shift silently."""
    widths = rows.attrs.get("widths")
    if widths is None:
        return pd.Series([], dtype="string")
    expected = int(widths[header_row])
    data_widths = np.asarray(widths[header_row + 1 :])
    short = data_widths < expected
    beyond = np.zeros(len(raw), dtype=bool)
    for j in range(expected, raw.shape[1]):
        beyond |= np.asarray(pc.fill_null(pc.not_equal(_cells_as_text(raw, j), ""), True))
    bad = short | beyond
    text = np.where(
        short,
        pd.Series(data_widths).astype(str).to_numpy(dtype=object)
        + f" cells where the header has {expected}",
        f"text beyond the header's {expected} columns",
    )
    del source
    return pd.Series(text[bad], index=raw.index[bad], dtype="string")


def _read_gdal_table(
    path: Path, *, layer: str | None, encoding: str | None
) -> tuple[pd.DataFrame, str | None]:
    """An attribute table through GDAL (DBF, GeoPackage, FlatGeobuf, ...) or Arrow (Parquet):
    text columns as text, number columns as numbers; rows numbered from 1."""
    if path.suffix.lower() in _PARQUET:
        import pyarrow.parquet as pq  # noqa: PLC0415

        try:
            table = pq.read_table(io.BytesIO(sources.read_bytes(path)))
        except Exception as err:
            raise InputFileError(f"{path} cannot be read as Parquet: {err}") from err
        geo = (table.schema.metadata or {}).get(b"geo")
        if geo:
            import json  # noqa: PLC0415

            geometry = json.loads(geo).get("columns", {})
            table = table.drop([c for c in geometry if c in table.column_names])
        frame = table.to_pandas()
        used = None
    else:
        used = encoding or _dbf_encoding(path)
        kwargs: dict[str, Any] = {"layer": layer, "read_geometry": False}
        if used:
            kwargs["encoding"] = used
        try:
            frame = pyogrio.read_dataframe(sources.gdal_path(path), **kwargs)
        except Exception as err:
            raise InputFileError(
                f"{path} cannot be read as a table (CSV, XLSX, or a format GDAL reads: DBF, "
                f"GeoPackage, FlatGeobuf, Parquet): {err}"
            ) from err
        frame = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.columns = [str(c) for c in frame.columns]
    out = {}
    for header in frame.columns:
        column = frame[header]
        numeric = pd.api.types.is_numeric_dtype(column.dtype)
        if numeric and not pd.api.types.is_bool_dtype(column.dtype):
            out[header] = column.astype("float64") if column.dtype.kind in "iuf" else column
        else:
            out[header] = pd.Series(_column_text(column), index=frame.index, dtype=object)
    return pd.DataFrame(out, index=frame.index), used


def read_filings_db(
    url: str,
    *,
    table: str | None,
    query: str | None,
    year: int | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    on_invalid: str = "raise",
    mode: str = "filings",
    cells: Cells | None = None,
) -> Table:
    """Read filings from a database table or query, cell by cell as text like a CSV (see
    :func:`read_filings`); ``record`` is the row number of the result, from 1."""
    result = postgis.read_query(url, table=table, query=query, what="filings", spatial=False)
    raw = _cells_text(pd.DataFrame(result))
    raw.columns = [str(c) for c in raw.columns]
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    label = Path(f"postgis:{table or 'query'}")
    read = _filings_from_raw(
        raw,
        label,
        year=year,
        columns=columns,
        units=units,
        on_invalid=on_invalid,
        mode=mode,
        cells=cells,
    )
    origin = postgis.provenance(url, table=table, query=query, frame=result)
    return Table(
        read.frame,
        label,
        tuple(read.mapping),
        notes=tuple(read.notes),
        headers=tuple(raw.columns),
        provenance=origin,
        id_alternatives=read.alternatives,
    )


@dataclass(frozen=True)
class _Filings:
    frame: pd.DataFrame
    mapping: list[MappedColumn]
    notes: list[str]
    alternatives: dict[str, pd.Series]


def _filings_from_raw(
    raw: pd.DataFrame,
    path: Path,
    *,
    year: int | None,
    columns: Mapping[str, str] | None,
    units: Mapping[str, str] | None,
    on_invalid: str,
    mode: str,
    cells: Cells | None = None,
    row_problems: pd.Series | None = None,
) -> _Filings:
    headers = list(raw.columns)
    specs = FILING_COLUMNS
    if mode == "parcel_values":  # rows keyed by parcel, no enterprise: ids are made up
        specs = tuple(dataclasses.replace(s, required=s.name == "parcel_ids") for s in specs)
    found = map_headers(
        headers,
        specs,
        source=path.name,
        table="filings",
        columns=columns,
        units=units,
        money_unit=(cells or Cells()).money_unit,
    )
    notes = list(found.notes)
    frame = _canonical_frame(
        raw,
        found.mapping,
        FILING_COLUMNS,
        source=path.name,
        table="filings",
        on_invalid=on_invalid,
        cells=cells,
        notes=notes,
    )
    if row_problems is not None and len(row_problems):
        frame.loc[row_problems.index, "problem"] = row_problems
    if mode == "parcel_values":
        frame = _parcel_value_rows(frame, year=year)
    frame = _finish_filings(frame, year=year, path=path, raw=raw)
    listed = next((m for m in found.mapping if m.canonical == "parcel_ids"), None)
    frame = frame.reset_index(drop=True)
    others = {  # on the frame's rows as returned, so that a chosen column aligns with them
        h: pd.Series(split_parcel_ids_bulk(as_text(raw[h])), dtype=object).set_axis(frame.index)
        for h in (listed.alternatives if listed else ())
    }
    return _Filings(frame, found.mapping, notes, others)


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
    text = unicodedata.normalize("NFKC", str(cell))
    parts = (normalize_id(p) for p in re.split(_SEPARATORS, text))
    return tuple(dict.fromkeys(p for p in parts if p))


_SEPARATORS_RE2 = "[、,，;；/" + "".join(f"\\x{{{ord(c):x}}}" for c in _PY_WS) + "]+"


def split_parcel_ids_bulk(cells: pd.Series) -> np.ndarray:
    """:func:`split_parcel_ids` of each cell, in bulk (splitting and normalising in Arrow)."""
    parts = pc.split_pattern_regex(nfkc(to_arrow_text(cells)), pattern=_SEPARATORS_RE2)
    ids = _normalize_id_text(pc.list_flatten(parts))
    found = pd.DataFrame(
        {
            "row": np.asarray(pc.list_parent_indices(parts)),
            "id": from_arrow_text(ids, pd.RangeIndex(len(ids))),
        }
    )
    found = found.loc[found["id"].notna()]
    several = found["row"].duplicated(keep=False).to_numpy()  # rows with two ids or more
    repeated = np.zeros(len(found), dtype=bool)
    repeated[several] = found.loc[several].duplicated().to_numpy()
    found = found.loc[~repeated]  # the first of repeated ids, in order
    return _tuples(found["row"].to_numpy(), found["id"].to_numpy(dtype=object), len(cells))


def _tuples(rows: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """An object array of ``n`` tuples: row ``i`` holds the ``ids`` whose ``rows`` is ``i``
    (``rows`` ascending). Rows of the same length are zipped together, in C."""
    counts = np.bincount(rows, minlength=n)
    starts = np.cumsum(counts) - counts
    out = np.fromiter(repeat((), n), dtype=object, count=n)
    for k in np.unique(counts[counts > 0]):
        members = np.flatnonzero(counts == k)
        columns = [ids[starts[members] + j] for j in range(k)]
        out[members] = np.fromiter(zip(*columns, strict=True), dtype=object, count=len(members))
    return out


def _parcel_value_rows(frame: pd.DataFrame, *, year: int | None) -> pd.DataFrame:
    """Value-per-acre tables: each row is a record on one parcel (no enterprise).

    The row number stands in for the credit code and the parcel id for the name; a table
    without a year column is one evaluation, labelled ``year`` or :data:`NO_YEAR`.
    """
    frame = frame.copy()
    frame["uscc"] = ("ROW" + frame["record"].astype(str)).astype("string")
    if "name" not in frame:
        frame["name"] = frame["parcel_ids"]
    if "year" not in frame:
        frame["year"] = float(year or NO_YEAR)
    frame.loc[frame["parcel_ids"].isna() & (frame["problem"] == ""), "problem"] = (
        "no parcel id: a value-per-acre row must name its parcel"
    )
    return frame


def _finish_filings(
    frame: pd.DataFrame, *, year: int | None, path: Path, raw: pd.DataFrame
) -> pd.DataFrame:
    if "year" not in frame:
        if year is None:
            raise InputError(
                f"{path.name} has no year column (年份); add one, give the year with "
                "--year 2023, or set [input] year = 2023 in the config"
            )
        frame["year"] = float(year)
    blank = _blank_rows(raw)
    totals = _total_rows(raw) & ~blank
    frame.loc[blank, "problem"] = "blank row"
    frame.loc[totals, "problem"] = "a totals row (合计/总计), not an enterprise"
    no_year = frame["year"].isna() & (frame["problem"] == "")
    frame.loc[no_year, "problem"] = "column year (年份) is blank; fill it in"
    year_value = frame["year"].fillna(-1)
    odd = (
        ~no_year
        & frame["year"].notna()
        & ((year_value % 1 != 0) | (year_value < 1900) | (year_value > 2200))
        & (frame["problem"] == "")
        & (year_value != NO_YEAR)  # a value-per-acre table without years
    )
    frame.loc[odd, "problem"] = "column year (年份) is not a year such as 2023"
    frame["year"] = year_value.where(~odd, -1).astype("int64")
    if "uscc" in frame:
        frame["uscc"] = normalize_ids(frame["uscc"])
    cells = (
        frame["parcel_ids"]
        if "parcel_ids" in frame
        else pd.Series(None, index=frame.index, dtype="string")
    )
    # object dtype on purpose: pandas would infer an Arrow list type from tuples
    frame["parcel_ids"] = pd.Series(split_parcel_ids_bulk(cells), index=frame.index, dtype=object)
    if "scale" in frame:
        frame["above_scale"] = above_scale(frame["scale"])
    return frame


ABOVE_SCALE = ("规上", "规模以上", "above", "yes", "是", "1", "true", "y")
"""Words of a scale column that mean above designated size (规模以上)."""


def above_scale(scale: pd.Series) -> pd.Series:
    """Whether each firm's scale cell says above designated size (:data:`ABOVE_SCALE`)."""
    return scale.fillna("").str.lower().isin(ABOVE_SCALE).astype(bool)


_BLANK_CELL = "^[" + "".join(f"\\x{{{ord(c):x}}}" for c in _PY_WS + "\x00") + "]*$"


def _cells_as_text(raw: pd.DataFrame, j: int) -> pa.Array:
    """Column ``j`` of ``raw`` as ``str(value)`` text in Arrow."""
    column = raw.iloc[:, j]
    if isinstance(column.dtype, pd.StringDtype) and not column.hasnans:
        return to_arrow_text(column)  # already str values
    return to_arrow_text(column.astype(str))


def _blank_rows(raw: pd.DataFrame) -> pd.Series:
    """Rows whose cells hold only white space (and NULs, which NumPy's strings dropped)."""
    rows = np.arange(len(raw))  # the rows still blank so far: only those are looked at
    for j in range(raw.shape[1] if len(raw) else 0):
        cells = _cells_as_text(raw.iloc[rows, [j]], 0)
        rows = rows[np.asarray(pc.match_substring_regex(cells, _BLANK_CELL))]
    blank = np.zeros(len(raw), dtype=bool)
    blank[rows] = True
    return pd.Series(blank if len(raw) else [], index=raw.index, dtype=bool)


def _total_rows(raw: pd.DataFrame) -> pd.Series:
    """Rows whose first three cells include 合计, 总计, total ... (width-folded, no spaces, any
    case). Outside ASCII, ``str.lower`` can only reach a total word from the caseless Chinese
    words themselves, so only ASCII text is lower-cased."""
    total = np.zeros(len(raw), dtype=bool)
    words = pa.array(sorted(_TOTAL_WORDS), type=pa.large_string())
    for j in range(min(raw.shape[1], 3)):
        text = pc.utf8_rtrim(_cells_as_text(raw, j), characters="\x00")  # as NumPy stored them
        folded = pc.utf8_rtrim(drop_whitespace(nfkc(text)), characters="\x00")
        ascii_text = pc.string_is_ascii(folded)
        folded = pc.if_else(ascii_text, pc.ascii_lower(folded), folded)
        total |= np.asarray(pc.fill_null(pc.is_in(folded, value_set=words), False))
    return pd.Series(total, index=raw.index)


# --- columns that could be ids, for suggestions when the configured ones do not join ---

_SAMPLE_ROWS = 20_000
_CANDIDATE_COLUMNS = 40


def _id_like(column: pd.Series) -> bool:
    """Text, or whole numbers: a column that could hold parcel ids."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return False
    if pd.api.types.is_float_dtype(dtype):
        values = column.dropna().to_numpy()
        return bool(len(values)) and bool(np.all(values == np.trunc(values)))
    return True


def _as_id_text(column: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(column.dtype):
        column = column.astype("Int64")
    return as_text(column.astype("string"))


def layer_id_columns(
    path: Path, *, layer: str | None = None, encoding: str | None = None
) -> dict[str, pd.Series]:
    """Every column of a parcel layer that could hold its ids, normalised like parcel ids
    (for suggestions: read again, attributes only)."""
    try:
        if path.suffix.lower() in _PARQUET or path.is_dir():
            import pyarrow.parquet as pq  # noqa: PLC0415

            frame = pd.concat(
                [pq.read_table(p).to_pandas() for p in parquet_parts(path)], ignore_index=True
            )
        else:
            kwargs: dict[str, Any] = {"layer": layer, "read_geometry": False}
            enc = encoding or _dbf_encoding(path)
            if enc:
                kwargs["encoding"] = enc
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # read for the second time: said the first
                frame = pyogrio.read_dataframe(sources.gdal_path(path), **kwargs)
    except Exception:
        return {}
    out = {}
    for header in [c for c in frame.columns if c != "geometry"][:_CANDIDATE_COLUMNS]:
        column = frame[header]
        if isinstance(column.iloc[0] if len(column) else None, bytes) or not _id_like(column):
            continue
        out[str(header)] = normalize_ids(_as_id_text(column))
    return out


def table_id_columns(
    path: Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> dict[str, pd.Series]:
    """Every column of a filings table as parcel-id lists (tuples), on up to 20,000 rows
    spread over the table (for suggestions)."""
    try:
        suffix = path.suffix.lower()
        if suffix not in _SPREADSHEETS | _TEXT_TABLES:
            raw, _ = _read_gdal_table(path, layer=sheet, encoding=encoding)
        else:
            rows = (
                _read_xlsx_rows(path, sheet)
                if suffix in _SPREADSHEETS
                else _read_csv_rows(path, encoding)[0]
            )
            header_row, headers = _locate_header(rows, FILING_COLUMNS, columns)
            raw = rows.iloc[header_row + 1 :]
            raw.columns = headers
    except Exception:
        return {}
    if len(raw) > _SAMPLE_ROWS:
        raw = raw.iloc[:: -(-len(raw) // _SAMPLE_ROWS)]
    out = {}
    for header in list(raw.columns)[:_CANDIDATE_COLUMNS]:
        column = raw[header]
        if not _id_like(column):
            continue
        lists = split_parcel_ids_bulk(_as_id_text(column))
        out[str(header).split(REPEAT)[0]] = pd.Series(lists, dtype=object)
    return out


def read_side_table(
    path: str | Path,
    specs: tuple[ColumnSpec, ...],
    *,
    table: str,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    sheet: str | None = None,
    encoding: str | None = None,
) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """A small table that goes beside the filings (commitments, a redevelopment register):
    CSV or XLSX, title rows above the header allowed, headers by the aliases of ``specs`` or
    ``[columns.<table>]``; canonical columns plus ``record`` (the spreadsheet row). A cell that
    is not a number, or a missing column, raises :class:`InputError` / :class:`SchemaError`
    naming the file, row and column. Returns the table and the unit each column's header (or
    ``[units.<table>]``) names, for columns without a unit family to check."""
    path = Path(path)
    _require_file(path)
    if path.suffix.lower() in _SPREADSHEETS:
        rows = _read_xlsx_rows(path, sheet)
    elif path.suffix.lower() in _TEXT_TABLES:
        rows, _ = _read_csv_rows(path, encoding)
    else:
        raise InputFileError(f"{path.name}: give the {table} as CSV or XLSX")
    header_row, headers = _locate_header(rows, specs, columns)
    raw = rows.iloc[header_row + 1 :].copy()
    raw.columns = headers
    raw.index = pd.RangeIndex(header_row + 2, header_row + 2 + len(raw))  # spreadsheet rows
    cells = np.array([[str(v).strip() for v in row] for row in raw.itertuples(index=False)])
    raw = raw.loc[(cells != "").any(axis=1)] if len(raw) else raw  # blank rows at the end
    found = map_headers(headers, specs, source=path.name, table=table, columns=columns, units=units)
    frame = _canonical_frame(raw, found.mapping, specs, source=path.name, table=table)
    declared = dict(units or {})
    named = {
        m.canonical: declared.get(m.canonical) or split_unit(m.header)[1] for m in found.mapping
    }
    return frame.drop(columns="problem").reset_index(drop=True), named
