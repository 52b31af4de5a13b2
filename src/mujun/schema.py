"""Canonical columns, header aliases (Chinese and English) and unit parsing.

Inside the pipeline every table uses canonical column names and canonical units: money in yuan,
area in m², energy in tonnes of standard coal equivalent (tce), electricity in kWh, emissions
in tonnes, people in persons. Input headers are matched to canonical names through built-in
aliases (``税收``, ``实缴税金``, ``tax`` ...) or an explicit ``[columns]`` table in the config,
and a unit in brackets of either width (``税收(万元)``, ``营业收入（亿元）``, ``land (m2)``)
declares the unit.
A quantity column whose unit cannot be known is an error that says how to declare it: a factor of
10,000 between 元 and 万元 is never guessed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.errors import SchemaError

__all__ = [
    "FILING_COLUMNS",
    "MU_M2",
    "PARCEL_COLUMNS",
    "PARK_COLUMNS",
    "ColumnSpec",
    "MappedColumn",
    "map_columns",
    "normalize_header",
    "parse_numbers",
    "unit_factor",
]

PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""The characters Python counts as white space (``str.isspace``, ``str.split()``, ``re``'s
``\\s``), so that Arrow kernels strip and split exactly as the Python code they replace."""

_WS_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE)  # for RE2 character classes


MU_M2 = 10000.0 / 15.0
"""One mu (亩) in square metres, exactly 10000/15."""

ACRE_M2 = 4046.8564224
"""One international acre in square metres, exactly."""

# Unit families: unit spelling (after normalize_header) -> factor to the canonical unit.
_UNITS: dict[str, dict[str, float]] = {
    "money": {
        "元": 1.0,
        "yuan": 1.0,
        "cny": 1.0,
        "rmb": 1.0,
        "千元": 1e3,
        "万元": 1e4,
        "万": 1e4,
        "10kyuan": 1e4,
        "百万元": 1e6,
        "亿元": 1e8,
        "亿": 1e8,
        "usd": 1.0,
        "$": 1.0,
    },
    "area": {
        "m2": 1.0,
        "平方米": 1.0,
        "平米": 1.0,
        "sqm": 1.0,
        "亩": MU_M2,
        "mu": MU_M2,
        "公顷": 1e4,
        "ha": 1e4,
        "hectare": 1e4,
        "hectares": 1e4,
        "acre": ACRE_M2,
        "acres": ACRE_M2,
        "ac": ACRE_M2,
        "km2": 1e6,
        "平方公里": 1e6,
        "平方千米": 1e6,
    },
    "energy": {
        "吨标煤": 1.0,
        "吨标准煤": 1.0,
        "tce": 1.0,
        "万吨标煤": 1e4,
        "万吨标准煤": 1e4,
        "千克标准煤": 1e-3,
        "kgce": 1e-3,
    },
    "electricity": {
        "kwh": 1.0,
        "千瓦时": 1.0,
        "度": 1.0,
        "万千瓦时": 1e4,
        "万kwh": 1e4,
        "万度": 1e4,
        "mwh": 1e3,
        "兆瓦时": 1e3,
        "亿千瓦时": 1e8,
        "gwh": 1e6,
    },
    "mass": {
        "吨": 1.0,
        "t": 1.0,
        "tonne": 1.0,
        "tonnes": 1.0,
        "kg": 1e-3,
        "千克": 1e-3,
        "公斤": 1e-3,
    },
    "count": {"人": 1.0, "persons": 1.0, "person": 1.0, "个": 1.0, "层": 1.0},
    "length": {
        "m": 1.0,
        "米": 1.0,
        "metre": 1.0,
        "meter": 1.0,
        "cm": 0.01,
        "厘米": 0.01,
        "ft": 0.3048,
        "feet": 0.3048,
    },
}

_CANONICAL_UNIT = {
    "money": "元",
    "length": "m",
    "area": "m2",
    "energy": "tce",
    "electricity": "kWh",
    "mass": "t",
    "count": "persons",
}


_BRACKETED = re.compile(r"^(?P<name>.*?)\s*[\(\[](?P<unit>[^\)\]]*)[\)\]]\s*$")


def normalize_header(text: object) -> str:
    """Normalise a header or unit for matching: NFKC width folding, lower case, no spaces.

    Examples
    --------
    >>> normalize_header("营业收入（亿元）")
    '营业收入(亿元)'
    >>> normalize_header(" Tax (Yuan) ")
    'tax(yuan)'
    """
    folded = unicodedata.normalize("NFKC", str(text)).strip().lower()
    return re.sub(r"\s+", "", folded).replace("²", "2")


@dataclass(frozen=True)
class ColumnSpec:
    """A canonical column: its kind and the header aliases that name it."""

    name: str
    kind: str  # "id", "text", "int", or a unit family of _UNITS
    aliases: tuple[str, ...]
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class MappedColumn:
    """How one input header was mapped: canonical name, unit and factor to canonical units."""

    header: str
    canonical: str
    unit: str | None
    factor: float


def _spec(
    name: str, kind: str, aliases: Iterable[str], *, required: bool = False, help: str = ""
) -> ColumnSpec:
    return ColumnSpec(name, kind, tuple(normalize_header(a) for a in aliases), required, help)


FILING_COLUMNS: tuple[ColumnSpec, ...] = (
    _spec(
        "uscc",
        "id",
        [
            "统一社会信用代码",
            "社会信用代码",
            "信用代码",
            "统一代码",
            "uscc",
            "credit_code",
            "creditcode",
        ],
        required=True,
        help="unified social credit code (统一社会信用代码)",
    ),
    _spec(
        "name",
        "text",
        ["企业名称", "单位名称", "纳税人名称", "名称", "name", "enterprise", "company"],
        required=True,
        help="enterprise name",
    ),
    _spec(
        "year",
        "int",
        ["年份", "年度", "统计年度", "year"],
        help="evaluation year; a file without it is one year, set [input] year",
    ),
    _spec(
        "industry",
        "text",
        ["所属行业", "行业代码", "国民经济行业代码", "行业", "industry", "industry_code"],
        help="GB/T 4754 industry code",
    ),
    _spec(
        "scale",
        "text",
        ["规模", "企业规模", "规上规下", "是否规上", "scale"],
        help="规上 (above designated size) or 规下",
    ),
    _spec(
        "parcel_ids",
        "text",
        [
            "宗地号",
            "宗地编号",
            "地块编号",
            "地块号",
            "宗地代码",
            "parcel_id",
            "parcel_ids",
            "parcels",
            "parcel",
            "pin",
        ],
        help="parcel ids the enterprise uses, separated by 、 , ; / or spaces; blank = lessee",
    ),
    _spec(
        "tax",
        "money",
        ["税收", "实缴税金", "实缴税收", "税收总额", "税收实际贡献", "tax", "taxes"],
        help="tax paid",
    ),
    _spec(
        "value_added",
        "money",
        ["工业增加值", "增加值", "value_added", "va"],
        help="industrial value added",
    ),
    _spec(
        "revenue",
        "money",
        ["营业收入", "主营业务收入", "销售收入", "revenue", "sales"],
        help="operating revenue",
    ),
    _spec(
        "assessed_value",
        "money",
        [
            "评估价值",
            "评估值",
            "assessed_value",
            "assessedvalue",
            "total_value",
            "totalvalue",
            "value",
        ],
        help="assessed (taxable) value, for value-per-acre analyses",
    ),
    _spec(
        "rd_spend",
        "money",
        ["研发经费支出", "研发经费", "研发费用", "研发投入", "r&d", "rd_spend", "rd"],
        help="R&D spending",
    ),
    _spec(
        "employees",
        "count",
        ["年平均职工人数", "从业人员", "年末从业人员", "从业人员数", "职工人数", "employees"],
        help="average employees",
    ),
    _spec(
        "energy_tce",
        "energy",
        ["综合能耗", "能耗", "energy", "energy_tce"],
        help="total energy use (equivalent value)",
    ),
    _spec(
        "electricity_kwh",
        "electricity",
        ["用电量", "总用电量", "工业用电量", "electricity", "electricity_kwh"],
        help="electricity use",
    ),
    _spec(
        "emissions",
        "mass",
        ["主要污染物排放量", "污染物排放量", "排放量", "emissions"],
        help="main pollutant emissions",
    ),
    _spec(
        "declared_area",
        "area",
        ["用地面积", "登记用地面积", "土地面积", "declared_area", "land_area", "land"],
        help="declared land area",
    ),
)

PARCEL_COLUMNS: tuple[ColumnSpec, ...] = (
    _spec(
        "parcel_id",
        "id",
        [
            "宗地号",
            "宗地编号",
            "地块编号",
            "地块号",
            "宗地代码",
            "parcel_id",
            "parcel",
            "pin",
            "id",
        ],
        required=True,
        help="unique parcel id",
    ),
    _spec("park", "text", ["园区", "园区名称", "所属园区", "park"], help="industrial park name"),
    _spec(
        "land_use",
        "text",
        ["用地性质", "土地用途", "用途", "地类", "land_use", "landuse"],
        help="land use class such as M1/M2/M3",
    ),
    _spec(
        "declared_area",
        "area",
        [
            "登记用地面积",
            "登记面积",
            "用地面积",
            "证载面积",
            "declared_area",
            "land_area",
            "land",
            "area",
        ],
        help="declared (certificate) area",
    ),
)

BUILDING_COLUMNS: tuple[ColumnSpec, ...] = (
    _spec(
        "floors",
        "count",
        ["楼层", "层数", "地上层数", "floors", "storeys", "stories"],
        help="number of storeys above ground",
    ),
    _spec("height", "length", ["高度", "建筑高度", "height"], help="building height"),
)

PARK_COLUMNS: tuple[ColumnSpec, ...] = (
    _spec(
        "park",
        "text",
        ["园区名称", "园区", "名称", "park", "name"],
        required=True,
        help="park name",
    ),
    _spec("park_code", "text", ["园区代码", "代码", "park_code", "code"], help="park code"),
)


def split_unit(header: str) -> tuple[str, str | None]:
    """Split ``'税收(万元)'`` into ``('税收', '万元')``; headers without brackets get ``None``."""
    norm = normalize_header(header)
    match = _BRACKETED.match(norm)
    if match and match.group("name"):
        return match.group("name"), match.group("unit") or None
    return norm, None


def unit_factor(kind: str, unit: str) -> float:
    """Factor converting a value in ``unit`` to the canonical unit of ``kind``.

    Examples
    --------
    >>> unit_factor("money", "万元")
    10000.0
    >>> round(unit_factor("area", "亩"), 4)
    666.6667
    """
    table = _UNITS[kind]
    key = normalize_header(unit)
    if key not in table:
        known = ", ".join(sorted(table))
        raise SchemaError(f"unknown {kind} unit {unit!r}; known units: {known}")
    return table[key]


def _match_header(
    headers: list[str], spec: ColumnSpec, explicit: str | None, source: str
) -> str | None:
    if explicit is not None:
        if explicit in headers:
            return explicit
        wanted = normalize_header(explicit)
        for header in headers:
            if normalize_header(header) == wanted or split_unit(header)[0] == wanted:
                return header
        raise SchemaError(
            f"{source}: [columns] {spec.name} = {explicit!r} names no column; "
            f"the columns are: {', '.join(headers)}"
        )
    hits = [h for h in headers if split_unit(h)[0] in spec.aliases]
    if len(hits) > 1:
        # prefer the alias listed first (the most specific), e.g. 年平均职工人数 over 从业人员
        ranked = sorted(hits, key=lambda h: spec.aliases.index(split_unit(h)[0]))
        first = split_unit(ranked[0])[0]
        if split_unit(ranked[1])[0] == first:
            raise SchemaError(
                f"{source}: columns {ranked[0]!r} and {ranked[1]!r} both look like "
                f"{spec.name} ({spec.help}); name the one to use with [columns] "
                f'{spec.name} = "..." in the config'
            )
        return ranked[0]
    return hits[0] if hits else None


def map_columns(
    headers: list[str],
    specs: tuple[ColumnSpec, ...],
    *,
    source: str,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
) -> list[MappedColumn]:
    """Map input headers to canonical columns and units, collecting every problem first.

    ``columns`` maps canonical names to headers (the config's ``[columns]`` table) and wins over
    the built-in aliases; ``units`` maps canonical names to unit strings (``[units]``) for headers
    that carry none. Raises :class:`SchemaError` listing every missing column or unknown unit.
    """
    columns = dict(columns or {})
    units = dict(units or {})
    mapped: list[MappedColumn] = []
    problems: list[str] = []
    for spec in specs:
        try:
            header = _match_header(headers, spec, columns.get(spec.name), source)
        except SchemaError as err:
            problems.append(str(err))
            continue
        if header is None:
            if spec.required:
                problems.append(
                    f"{source}: no column for {spec.name} ({spec.help}); expected one of "
                    f'{", ".join(spec.aliases)} or [columns] {spec.name} = "<header>"'
                )
            continue
        try:
            mapped.append(_with_unit(header, spec, units.get(spec.name), source))
        except SchemaError as err:
            problems.append(str(err))
    if problems:
        raise SchemaError("\n".join(problems))
    return mapped


def _with_unit(header: str, spec: ColumnSpec, declared: str | None, source: str) -> MappedColumn:
    if spec.kind not in _UNITS:
        return MappedColumn(header, spec.name, None, 1.0)
    from_header = split_unit(header)[1]
    unit = declared if declared is not None else from_header
    if unit is None:
        if spec.kind == "count":
            return MappedColumn(header, spec.name, "persons", 1.0)
        examples = {
            "money": "万元",
            "length": "米",
            "area": "亩",
            "energy": "吨标煤",
            "electricity": "万千瓦时",
            "mass": "吨",
        }[spec.kind]
        raise SchemaError(
            f"{source}: column {header!r} ({spec.name}, {spec.help}) has no unit; rename the "
            f"header to e.g. '{split_unit(header)[0]}({examples})' or set [units] "
            f'{spec.name} = "{examples}" in the config (canonical unit: '
            f"{_CANONICAL_UNIT[spec.kind]})"
        )
    try:
        factor = unit_factor(spec.kind, unit)
    except SchemaError as err:
        raise SchemaError(f"{source}: column {header!r}: {err}") from err
    return MappedColumn(header, spec.name, unit, factor)


_BLANKS = frozenset({"", "-", "--", "—", "——", "–", "/", "nan", "none", "null", "n/a", "na"})


def to_arrow_text(values: pd.Series) -> pa.Array:
    """The values as an Arrow ``large_string`` array, converted like ``astype("string")``."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("string")
    arr = pa.array(text.array, type=pa.large_string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def from_arrow_text(text: pa.Array, index: pd.Index, name: object = None) -> pd.Series:
    """A ``"string"`` Series (Arrow-backed, like ``astype("string")`` gives) from Arrow text."""
    if pa.types.is_large_string(text.type):
        chunked = text if isinstance(text, pa.ChunkedArray) else pa.chunked_array([text])
        return pd.Series(pd.arrays.ArrowStringArray(chunked), index=index, name=name)
    return pd.Series(pd.array(text, dtype="string"), index=index, name=name)


def _python_where(text: pa.Array, mask: np.ndarray, func: object) -> pa.Array:
    """``text`` with the values under ``mask`` replaced by ``func(value)`` computed in Python."""
    picked = text.filter(pa.array(mask)).to_pylist()
    fixed = pa.array([func(v) for v in picked], type=text.type)  # type: ignore[operator]
    return pc.replace_with_mask(text, pa.array(mask), fixed)


# ASCII, CJK ideographs (unified, extension A) and 、。〃: no decomposition, no composition
_NFKC_STABLE = r"^[\x{0}-\x{7f}\x{3001}-\x{3003}\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}]*$"


def nfkc(text: pa.Array) -> pa.Array:
    """NFKC of each string, identical to ``unicodedata.normalize("NFKC", s)``; null stays null.

    ASCII text and Chinese characters are left as they are (NFKC does not change them). Arrow
    normalizes the rest; its normalizer may know a newer Unicode version than Python's
    ``unicodedata``, but text it leaves unchanged is unchanged by Python too (Unicode's
    normalization stability policy), so only the strings it changes, usually few (full-width
    forms), are normalized again, in Python.
    """
    todo = np.asarray(pc.fill_null(pc.invert(pc.string_is_ascii(text)), False))
    if not todo.any():
        return text
    rows = np.flatnonzero(todo)
    rows = rows[~np.asarray(pc.match_substring_regex(text.take(rows), _NFKC_STABLE))]
    if not len(rows):
        return text
    some = text.take(rows)
    rows = rows[np.asarray(pc.not_equal(pc.utf8_normalize(some, "NFKC"), some))]
    if not len(rows):
        return text
    changed = np.zeros(len(text), dtype=bool)
    changed[rows] = True
    return _python_where(text, changed, lambda v: unicodedata.normalize("NFKC", v))


def strip_py(text: pa.Array) -> pa.Array:
    """``str.strip()`` of each string: Python's white space at both ends removed."""
    return pc.utf8_trim(text, characters=PY_WHITESPACE)


def drop_whitespace(text: pa.Array) -> pa.Array:
    """``"".join(s.split())`` of each string: every Python white-space character removed.

    Printable text without a space has none (every other white-space character is a control
    or separator character, not printable): only the other strings are searched.
    """
    ascii_only = pc.all(pc.string_is_ascii(text)).as_py() is not False
    printable = pc.ascii_is_printable(text) if ascii_only else pc.utf8_is_printable(text)
    plain = pc.and_(printable, pc.invert(pc.match_substring(text, " ")))
    rows = np.flatnonzero(~np.asarray(pc.fill_null(plain, True)))
    if not len(rows):
        return text
    dropped = pc.replace_substring_regex(text.take(rows), f"[{_WS_CLASS}]+", "")
    mask = np.zeros(len(text), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(text, pa.array(mask), dropped)


_INTEGER = r"^[+-]?[0-9]+$"


def _plain_decimal(text: pa.Array) -> pa.Array:
    """Matches of ``^-?[0-9]+(\\.[0-9]+)?$``, without a regular expression."""
    negative = pc.starts_with(text, "-")
    body = pc.if_else(negative, pc.utf8_slice_codeunits(text, 1), text)
    digits = pc.replace_substring(body, ".", "", max_replacements=1)
    dot_inside = pc.invert(pc.or_(pc.starts_with(body, "."), pc.ends_with(body, ".")))
    return pc.and_(pc.ascii_is_decimal(digits), dot_inside)


def _to_numbers(folded: pa.Array, text: pd.Series, blank: np.ndarray) -> pd.Series:
    """``pd.to_numeric(text.where(~blank, None), errors="coerce")`` as float64, faster.

    Plain decimals of at most 15 digits (``-12``, ``634.80``) are parsed by Arrow: every
    correctly rounded parser gives the same double for them (pandas reads the integers exactly
    and the rest correctly rounded). The other cells go to pandas as before, unless one of them
    is an integer (``-0``, or 16 digits and more), whose value can depend on the other cells
    (-0.0 or 0.0; int or float parsing): then the whole column does, as before.
    """
    digits = pc.subtract(
        pc.binary_length(folded), pc.cast(pc.match_substring(folded, "."), pa.int64())
    )
    plain = pc.and_(_plain_decimal(folded), pc.less_equal(digits, 15))
    plain = np.asarray(pc.fill_null(plain, False)) & ~blank
    minus_zero = np.asarray(pc.fill_null(pc.starts_with(folded, "-0"), False))
    if minus_zero.any():
        zero = np.asarray(pc.match_substring_regex(folded.filter(pa.array(minus_zero)), "^-0+$"))
        plain[np.flatnonzero(minus_zero)[zero]] = False
    rest = ~plain & ~blank
    if np.asarray(pc.match_substring_regex(folded.filter(pa.array(rest)), _INTEGER)).any():
        return pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
    numbers = np.full(len(text), np.nan)
    numbers[plain] = pc.cast(folded.filter(pa.array(plain)), pa.float64()).to_numpy()
    if rest.any():
        numbers[rest] = pd.to_numeric(text[rest], errors="coerce").astype("float64").to_numpy()
    return pd.Series(numbers, index=text.index, name=text.name)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse a column of numbers as people type them.

    Handles thousands separators, full-width digits, surrounding spaces and the blanks
    ``''``, ``-``, ``—`` (read as missing). Returns ``(numbers, bad)``: float values with NaN for
    blanks, and a boolean mask of cells that were not blank but are not numbers either.

    Examples
    --------
    >>> nums, bad = parse_numbers(pd.Series(["1,234.5", "１２", "—", "abc", 7]))
    >>> nums.tolist()[:3], bad.tolist()
    ([1234.5, 12.0, nan], [False, False, False, True, False])
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
        infinite = pd.Series(np.isinf(numbers.to_numpy()), index=values.index)
        return numbers.mask(infinite), infinite
    folded = strip_py(nfkc(pc.fill_null(to_arrow_text(values), "")))
    folded = pc.replace_substring(pc.replace_substring(folded, ",", ""), " ", "")
    text = from_arrow_text(folded, values.index, values.name)
    blank = text.str.lower().isin(_BLANKS)
    numbers = _to_numbers(folded, text, blank.to_numpy(dtype=bool))
    infinite = pd.Series(np.isinf(numbers.to_numpy()), index=numbers.index)  # "inf", "1e400"
    numbers = numbers.mask(infinite)
    bad = (numbers.isna() & ~blank) | infinite
    return numbers, bad.astype(bool)


def as_text(values: pd.Series) -> pd.Series:
    """Strings with NFKC width folding and stripped spaces; missing stays missing (``<NA>``)."""
    stripped = values.astype("string").str.strip()
    text = from_arrow_text(nfkc(to_arrow_text(stripped)), values.index, values.name)
    return text.mask(text == "").astype("string")
