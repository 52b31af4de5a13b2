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

from mujun.errors import CRSError, InputError, InputFileError
from mujun.io import postgis
from mujun.schema import (
    BUILDING_COLUMNS,
    FILING_COLUMNS,
    MU_M2,
    PARCEL_COLUMNS,
    PARK_COLUMNS,
    ColumnSpec,
    MappedColumn,
    as_text,
    drop_whitespace,
    from_arrow_text,
    map_columns,
    nfkc,
    normalize_header,
    parse_numbers,
    split_unit,
    to_arrow_text,
)
from mujun.schema import PY_WHITESPACE as _PY_WS

__all__ = [
    "Table",
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
]

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
    header_row: int = 1
    notes: tuple[str, ...] = ()
    provenance: Mapping[str, Any] | None = None
    """Where a table from a database came from (for run.json; files are hashed instead)."""

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
    if not path.exists():
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


def _dbf_encoding(path: Path) -> str | None:
    """Encoding of a Shapefile's DBF without a .cpg file: UTF-8 if it decodes, else GB18030.

    GDAL would otherwise read such a DBF as ISO-8859-1 and turn Chinese text into mojibake.
    """
    if path.suffix.lower() != ".shp" or path.with_suffix(".cpg").exists():
        return None
    dbf = next(
        (p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()), None
    )
    if dbf is None:
        return None
    data = dbf.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        logger.info("%s has no .cpg file and is not UTF-8: reading it as GB18030", dbf.name)
        return "GB18030"
    return "UTF-8"


def _read_vector(path: Path, *, layer: str | None, encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer; unclosed rings are closed and listed in ``attrs["closed_rings"]``.

    GDAL accepts polygons whose rings are not closed (with a warning) but shapely cannot build
    them; such features are read again with pyogrio's ``on_invalid="fix"`` and their positions
    kept so that the ledger can say they were repaired.
    """
    _require_file(path)
    if path.suffix.lower() in _PARQUET or (path.is_dir() and parquet_parts(path)):
        parts = []
        for part in parquet_parts(path):
            try:
                parts.append(gpd.read_parquet(part))
            except Exception as err:
                raise InputFileError(f"{part} cannot be read as GeoParquet: {err}") from err
        if len(parts) == 1:
            return parts[0]
        return cast(gpd.GeoDataFrame, pd.concat(parts, ignore_index=True))
    encoding = encoding or _dbf_encoding(path)
    kwargs: dict[str, object] = {"layer": layer, "engine": "pyogrio"}
    if encoding:
        kwargs["encoding"] = encoding
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Non closed ring", category=RuntimeWarning)
        try:
            try:
                gdf = gpd.read_file(path, **kwargs)
                closed = np.zeros(len(gdf), dtype=bool)
            except shapely.errors.GEOSException:
                gdf = gpd.read_file(path, on_invalid="fix", **kwargs)
                raw = gpd.read_file(path, on_invalid="ignore", **kwargs)
                closed = (raw.geometry.isna() & gdf.geometry.notna()).to_numpy()
        except Exception as err:
            raise InputFileError(f"{path} cannot be read as a vector layer: {err}") from err
    _check_complete(path, layer, len(gdf))
    gdf.attrs["closed_rings"] = closed
    if gdf.crs is None and _is_topojson(path):
        gdf = _topojson_crs(gdf, path)
    return gdf


def _check_complete(path: Path, layer: str | None, n_read: int) -> None:
    """Refuse a file that declares more features than could be read (truncated, corrupt)."""
    try:
        declared = int(pyogrio.read_info(path, layer=layer).get("features", -1))
    except Exception:
        return
    if declared >= 0 and declared != n_read:
        raise InputFileError(
            f"{path} declares {declared} features but {n_read} could be read: "
            "the file is truncated or corrupt; export it again"
        )


def _is_topojson(path: Path) -> bool:
    try:
        return str(pyogrio.read_info(path).get("driver")) == "TopoJSON"
    except (OSError, ValueError, RuntimeError):
        return False


def _topojson_crs(gdf: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """TopoJSON has no CRS member; like GeoJSON (RFC 7946) its coordinates are lon/lat."""
    x0, y0, x1, y1 = gdf.total_bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        raise CRSError(
            f"{path} is TopoJSON whose coordinates are not longitude/latitude "
            "(projected or quantised without a transform); declare its CRS with "
            "--parcels-crs"
        )
    logger.info("%s is TopoJSON: coordinates read as longitude/latitude (EPSG:4326)", path.name)
    return gdf.set_crs(4326)


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


def _canonical_frame(
    raw: pd.DataFrame,
    mapping: list[MappedColumn],
    specs: tuple[ColumnSpec, ...],
    *,
    source: str,
    on_invalid: str = "raise",
) -> pd.DataFrame:
    """Canonical columns from ``raw``; ``record`` is ``raw``'s index (row or feature number)."""
    kinds = {s.name: s.kind for s in specs}
    out = pd.DataFrame(index=raw.index)
    out["record"] = raw.index.to_numpy(dtype="int64")
    problem = pd.Series("", index=raw.index, dtype="string")
    messages: list[str] = []
    for col in mapping:
        kind = kinds[col.canonical]
        if kind in {"id", "text"}:
            out[col.canonical] = as_text(raw[col.header])
            continue
        numbers, bad = parse_numbers(raw[col.header])
        rows = raw.index[bad.to_numpy()]
        if len(rows):  # the cells that are not numbers: a message for each
            texts = [
                f"column {col.header!r}: {value!r} is not a number"
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
        out[col.canonical] = numbers * col.factor if kind != "int" else numbers
    n_bad = int((problem != "").sum())
    if n_bad and on_invalid == "raise":
        more = f"\n... {n_bad} rows in all" if n_bad > len(messages) else ""
        raise InputError(
            "\n".join(messages) + more + "\n(or set [input] on_invalid = "
            '"reject" to set such rows aside in the ledger and go on)'
        )
    out["problem"] = problem
    return out


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
    gdf.index = pd.RangeIndex(first_record, first_record + len(gdf))
    headers = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    mapping = map_columns(headers, PARCEL_COLUMNS, source=path.name, columns=columns, units=units)
    raw = _raw_columns(pd.DataFrame(gdf[headers]), mapping, PARCEL_COLUMNS)
    frame = _canonical_frame(raw, mapping, PARCEL_COLUMNS, source=path.name)
    id_header = next(m.header for m in mapping if m.canonical == "parcel_id")
    frame["parcel_id_raw"] = raw[id_header].astype("string")
    frame["parcel_id"] = normalize_ids(frame["parcel_id"])
    if "declared_area" in frame:
        frame["declared_area_mu"] = frame.pop("declared_area") / MU_M2
    frame["read_fix"] = np.where(closed, "ring not closed: closed on reading", "")
    out = gpd.GeoDataFrame(frame, geometry=gdf.geometry.array, crs=gdf.crs)
    return out, Table(pd.DataFrame(), path, tuple(mapping))


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
    mapping = map_columns(headers, BUILDING_COLUMNS, source=path.name, columns=columns, units=units)
    frame = _canonical_frame(
        _raw_columns(pd.DataFrame(gdf[headers]), mapping, BUILDING_COLUMNS),
        mapping,
        BUILDING_COLUMNS,
        source=path.name,
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
    mapping = map_columns(headers, PARK_COLUMNS, source=path.name, columns=columns)
    frame = _canonical_frame(
        _raw_columns(pd.DataFrame(gdf[headers]), mapping, PARK_COLUMNS),
        mapping,
        PARK_COLUMNS,
        source=path.name,
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


def _read_csv_rows(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    data = path.read_bytes()
    text, used = _decode(path, encoding, data)
    # the UTF-8 bytes of the text, for Arrow: the file's own when it is UTF-8 (less the BOMs
    # taken off the text), rather than the text encoded again
    utf8: bytes | None = None
    codec = codecs.lookup(used).name
    if codec in {"utf-8", "utf-8-sig"}:
        boms = int(codec == "utf-8-sig" and data.startswith(codecs.BOM_UTF8))  # the codec's
        boms += text.startswith("\ufeff")  # and the one taken off below
        utf8 = data[len(codecs.BOM_UTF8) * boms :]
    text = text.removeprefix("\ufeff")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:8192], delimiters=",\t;|"
        )
    except csv.Error:
        dialect = csv.excel
    fast = _arrow_csv_rows(text, dialect, utf8=utf8)
    if fast is not None:
        return fast, used
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as err:
        raise InputFileError(f"{path} is not a readable CSV table: {err}") from err
    width = max((len(r) for r in rows), default=0)
    if width == 0:
        raise InputFileError(f"{path} is empty")
    return pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object), used


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


def _cells_text(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`_cell_text` of every cell, in bulk: an object frame of str, same labels."""
    return pd.DataFrame(
        {j: _column_text(frame.iloc[:, j]) for j in range(frame.shape[1])},
        index=frame.index,
        dtype=object,
    ).set_axis(frame.columns, axis=1)


def _column_text(column: pd.Series) -> np.ndarray:
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


def _read_xlsx_rows(path: Path, sheet: str | None) -> pd.DataFrame:
    try:
        frame = pd.read_excel(
            path, sheet_name=sheet or 0, header=None, dtype=object, engine="calamine"
        )
    except ValueError as err:
        raise InputFileError(f"{path}: {err}; choose the sheet with [input] sheet") from err
    except Exception as err:  # calamine raises its own error types for corrupt files
        raise InputFileError(f"{path} cannot be read as an XLSX workbook: {err}") from err
    return _cells_text(frame)


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
    for i, h in enumerate(headers):  # keep repeated headers distinct; map_columns reports them
        seen[h] = seen.get(h, 0) + 1
        if seen[h] > 1:
            headers[i] = f"{h} ({seen[h]})"
    return row, headers


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
) -> Table:
    """Read enterprise filings (CSV or XLSX) into canonical columns and units.

    Money becomes yuan, land m², energy tce, electricity kWh, emissions t. ``parcel_ids``
    becomes a tuple of normalised parcel ids (split on 、 , ; / and spaces; empty for lessees).
    ``year`` fills a file that has no year column. Title rows above the header and two-row
    (merged) headers are recognised; ``record`` is the spreadsheet row number. Cells that are
    not numbers raise :class:`InputError` listing them (``on_invalid="raise"``) or mark their
    rows in ``problem`` so that validation rejects them (``on_invalid="reject"``).
    """
    path = Path(path)
    _require_file(path)
    used_encoding: str | None = None
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}:
        rows = _read_xlsx_rows(path, sheet)
    else:
        rows, used_encoding = _read_csv_rows(path, encoding)
    header_row, headers = _locate_header(rows, FILING_COLUMNS, columns)
    raw = rows.iloc[header_row + 1 :].copy()
    raw.columns = headers
    raw.index = pd.RangeIndex(header_row + 2, header_row + 2 + len(raw))  # spreadsheet rows
    frame, mapping = _filings_from_raw(
        raw, path, year=year, columns=columns, units=units, on_invalid=on_invalid, mode=mode
    )
    notes = []
    if header_row:
        notes.append(f"header found on row {header_row + 1} (rows above it read as a title)")
    return Table(
        frame,
        path,
        tuple(mapping),
        used_encoding,
        header_row=header_row + 1,
        notes=tuple(notes),
    )


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
) -> Table:
    """Read filings from a database table or query, cell by cell as text like a CSV (see
    :func:`read_filings`); ``record`` is the row number of the result, from 1."""
    result = postgis.read_query(url, table=table, query=query, what="filings", spatial=False)
    raw = _cells_text(pd.DataFrame(result))
    raw.columns = [str(c) for c in raw.columns]
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    label = Path(f"postgis:{table or 'query'}")
    frame, mapping = _filings_from_raw(
        raw, label, year=year, columns=columns, units=units, on_invalid=on_invalid, mode=mode
    )
    origin = postgis.provenance(url, table=table, query=query, frame=result)
    return Table(frame, label, tuple(mapping), provenance=origin)


def _filings_from_raw(
    raw: pd.DataFrame,
    path: Path,
    *,
    year: int | None,
    columns: Mapping[str, str] | None,
    units: Mapping[str, str] | None,
    on_invalid: str,
    mode: str,
) -> tuple[pd.DataFrame, list[MappedColumn]]:
    headers = list(raw.columns)
    specs = FILING_COLUMNS
    if mode == "parcel_values":  # rows keyed by parcel, no enterprise: ids are made up
        specs = tuple(dataclasses.replace(s, required=s.name == "parcel_ids") for s in specs)
    mapping = map_columns(headers, specs, source=path.name, columns=columns, units=units)
    frame = _canonical_frame(raw, mapping, FILING_COLUMNS, source=path.name, on_invalid=on_invalid)
    if mode == "parcel_values":
        frame = _parcel_value_rows(frame, year=year)
    frame = _finish_filings(frame, year=year, path=path, raw=raw)
    return frame.reset_index(drop=True), mapping


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
    without a year column is one evaluation, labelled ``year`` or 0.
    """
    frame = frame.copy()
    frame["uscc"] = ("ROW" + frame["record"].astype(str)).astype("string")
    if "name" not in frame:
        frame["name"] = frame["parcel_ids"]
    if "year" not in frame:
        frame["year"] = float(year or 0)
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
                f"{path.name} has no year column (年份); add one or set [input] "
                "year = 2023 in the config"
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
        & (year_value != 0)  # 0: a value-per-acre table without years
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
        above = (
            frame["scale"]
            .fillna("")
            .str.lower()
            .isin(["规上", "规模以上", "above", "yes", "是", "1", "true", "y"])
        )
        frame["above_scale"] = above.astype(bool)
    return frame


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
