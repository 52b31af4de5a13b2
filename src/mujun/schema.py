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

import dataclasses
import difflib
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
    "ColumnMap",
    "ColumnSpec",
    "MappedColumn",
    "map_columns",
    "map_headers",
    "normalize_header",
    "number_problem",
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


REPEAT = "\ue000"
"""Marks the second and later of repeated headers (``税收\ue0002``): a private-use character
no real header holds, so that both copies stay distinct and both still match their role."""

_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]")


def normalize_header(text: object) -> str:
    """Normalise a header or unit for matching: NFKC width folding, lower case, no spaces, no
    invisible characters (zero-width spaces and joiners, BOM, soft hyphen); NFKC turns NBSP
    and the ideographic space into spaces, which go too.

    Examples
    --------
    >>> normalize_header("营业收入（亿元）")
    '营业收入(亿元)'
    >>> normalize_header(" Tax (Yuan) ")
    'tax(yuan)'
    >>> normalize_header("\ufeff税\u200b收\xa0(万元)")
    '税收(万元)'
    """
    folded = unicodedata.normalize("NFKC", str(text).split(REPEAT)[0]).strip().lower()
    return re.sub(r"\s+", "", _INVISIBLE.sub("", folded)).replace("²", "2")


def shown(header: str) -> str:
    """A header as a message shows it: a repeated header as ``'税收' (2nd)``."""
    name, _, nth = header.partition(REPEAT)
    return f"{name!r} (repeated, copy {nth})" if nth else repr(name)


@dataclass(frozen=True)
class ColumnSpec:
    """A canonical column: its kind and the header aliases that name it."""

    name: str
    kind: str  # "id", "text", "int", "number" (no unit), or a unit family of _UNITS
    aliases: tuple[str, ...]
    required: bool = False
    help: str = ""


@dataclass(frozen=True)
class MappedColumn:
    """How one input header was mapped: canonical name, unit and factor to canonical units.

    ``alternatives``: other headers that also name this column by its aliases (e.g. both
    税收 and 实缴税金, or one header twice); the reader compares their values, and for the
    id columns the join decides (see :mod:`mujun.join`)."""

    header: str
    canonical: str
    unit: str | None
    factor: float
    alternatives: tuple[str, ...] = ()


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
        ["年份", "年度", "统计年度", "year", "fy", "fiscal_year", "tax_year"],
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
            "total_val",  # total_value cut to a DBF's 10 characters (MassGIS TOTAL_VAL)
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


def _base(header: str) -> str:
    """A header as written, without a bracketed unit or the repeat mark."""
    text = header.split(REPEAT, maxsplit=1)[0].strip()
    return re.sub(r"\s*[\(\[（［][^\)\]）］]*[\)\]）］]\s*$", "", text) or text


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
    headers: list[str], spec: ColumnSpec, explicit: str | None, source: str, table: str
) -> list[str]:
    """The headers naming ``spec``: the explicit one, else those matching its aliases, the
    most specific alias (listed first) first."""
    if explicit is not None:
        if explicit in headers:
            return [explicit]
        wanted = normalize_header(explicit)
        for header in headers:
            if normalize_header(header) == wanted or split_unit(header)[0] == wanted:
                return [header]
        raise SchemaError(
            f"{source}: [columns.{table}] {spec.name} = {explicit!r} names no column; "
            f"the columns are: {', '.join(shown(h) for h in headers)}"
        )
    hits = [h for h in headers if split_unit(h)[0] in spec.aliases]
    # the alias listed first (the most specific) first, e.g. 年平均职工人数 before 从业人员
    return sorted(hits, key=lambda h: spec.aliases.index(split_unit(h)[0]))


_PARCEL_ID = ["宗地号", "宗地编号", "地块编号", "地块号", "parcel_id", "parcel", "parcelid"]

COMMITMENT_COLUMNS: tuple[ColumnSpec, ...] = (
    _spec("parcel_id", "id", _PARCEL_ID, required=True, help="the parcel committed"),
    _spec(
        "investment_per_mu",
        "number",
        ["投资强度", "亩均投资", "固定资产投资强度", "investment_per_mu", "investment"],
        help="committed investment intensity, 万元/亩",
    ),
    _spec("far", "number", ["容积率", "far", "floor_area_ratio"], help="committed FAR"),
    _spec(
        "tax_per_mu",
        "number",
        ["亩均税收", "亩均税收承诺", "tax_per_mu"],
        help="committed tax per mu, 万元/亩",
    ),
    _spec(
        "output_per_mu",
        "number",
        ["亩均产出", "亩均营业收入", "亩均产值", "output_per_mu", "revenue_per_mu"],
        help="committed output (revenue) per mu, 万元/亩",
    ),
    _spec(
        "due",
        "int",
        ["达产年份", "考核年份", "到期年份", "due_year", "due"],
        required=True,
        help="the year the commitment falls due",
    ),
)
"""A land-grant commitment table (标准地 承诺): per parcel, the committed figures and the year
they fall due."""

REDEVELOPMENT_COLUMNS: tuple[ColumnSpec, ...] = (
    _spec("parcel_id", "id", _PARCEL_ID, required=True, help="the parcel in the register"),
    _spec(
        "status",
        "text",
        ["状态", "进展", "处置状态", "status"],
        required=True,
        help="identified, planned, in progress or done (已认定, 已计划, 实施中, 已完成)",
    ),
    _spec(
        "measure",
        "text",
        ["措施", "处置方式", "改造方式", "measure"],
        help="the measure: 收回, 腾笼换鸟, 兼并重组, 提升改造 ...",
    ),
    _spec("year", "int", ["年份", "年度", "启动年份", "year"], help="the year it was entered"),
)
"""A redevelopment register (低效用地再开发台账): per parcel, status, measure and year."""

CORRECTION_COLUMNS: tuple[ColumnSpec, ...] = (
    _spec(
        "uscc",
        "id",
        ["统一社会信用代码", "社会信用代码", "信用代码", "uscc", "credit_code"],
        required=True,
        help="the firm's unified social credit code",
    ),
    _spec("year", "int", ["年度", "年份", "统计年度", "year"], help="the year of the filing"),
    _spec(
        "field",
        "text",
        ["字段", "更正字段", "更正项目", "指标", "项目", "field"],
        required=True,
        help="the filings column corrected: tax, value_added, ... or its Chinese header",
    ),
    _spec(
        "value",
        "text",
        ["更正值", "更正后数值", "更正后", "正确值", "value", "corrected_value"],
        required=True,
        help="the right figure, in the unit the header, a unit column or [units.corrections] names",
    ),
    _spec("unit", "text", ["单位", "计量单位", "unit"], help="the unit of this row's value"),
    _spec(
        "reason",
        "text",
        ["理由", "更正理由", "异议理由", "原因", "reason"],
        help="why the figure was corrected",
    ),
    _spec(
        "document",
        "text",
        ["依据文件", "依据", "证明材料", "文件", "document"],
        help="the document the correction rests on",
    ),
)
"""Corrections after the objection period (公示异议更正): per firm, year and filings column, the
right value, why, and on what document."""

TABLES = ("filings", "parcels", "buildings", "parks", "commitments", "redevelopment", "corrections")
"""The tables of ``[columns.<table>]`` and ``[units.<table>]`` in a config file."""


def table_specs(table: str) -> tuple[ColumnSpec, ...]:
    """The canonical columns of a config table (``filings``, ``parcels``, ``buildings``,
    ``parks``)."""
    return {
        "filings": FILING_COLUMNS,
        "parcels": PARCEL_COLUMNS,
        "buildings": BUILDING_COLUMNS,
        "parks": PARK_COLUMNS,
        "commitments": COMMITMENT_COLUMNS,
        "redevelopment": REDEVELOPMENT_COLUMNS,
        "corrections": CORRECTION_COLUMNS,
    }[table]


def _table_name(specs: tuple[ColumnSpec, ...]) -> str:
    """The config table whose columns ``specs`` are (by their names)."""
    names = {s.name for s in specs}
    return next((t for t in TABLES if {s.name for s in table_specs(t)} == names), "filings")


def unit_keys(table: str) -> list[str]:
    """The keys ``[units.<table>]`` takes: the table's columns with a unit; for the
    corrections, the filings columns with one (a correction's value is in the unit of the
    column it corrects)."""
    specs = FILING_COLUMNS if table == "corrections" else table_specs(table)
    return sorted(s.name for s in specs if has_unit(s))


def canonical_unit(kind: str) -> str:
    """The canonical unit of a unit family (``'money'`` -> ``'元'``)."""
    return _CANONICAL_UNIT[kind]


def unit_kinds(unit: str) -> list[str]:
    """The unit families a unit spelling belongs to (``'万元'`` -> ``['money']``)."""
    key = normalize_header(unit)
    return [kind for kind, table in _UNITS.items() if key in table]


def has_unit(spec: ColumnSpec) -> bool:
    """Whether the column is a quantity whose unit ``[units.<table>]`` may declare."""
    return spec.kind in _UNITS


def close_headers(headers: list[str], spec: ColumnSpec) -> list[str]:
    """Headers that are not an alias of ``spec`` but close to one (a typo, an extra
    character, a word more or less): for messages, never used on their own."""
    found = []
    for header in headers:
        name = split_unit(header)[0]
        if not name or name in spec.aliases:
            continue
        for alias in spec.aliases:
            if len(alias) < 2:
                continue
            ratio = difflib.SequenceMatcher(None, name, alias).ratio()
            contained = len(alias) >= 3 and (alias in name or (len(name) >= 3 and name in alias))
            if ratio >= 0.8 or contained:
                found.append(header)
                break
    return found


@dataclass(frozen=True)
class ColumnMap:
    """:func:`map_headers`: the mapping and notes about headers near an alias."""

    mapping: list[MappedColumn]
    notes: tuple[str, ...] = ()


def map_headers(
    headers: list[str],
    specs: tuple[ColumnSpec, ...],
    *,
    source: str,
    table: str | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    optional: tuple[str, ...] = (),
    money_unit: str = "万元",
) -> ColumnMap:
    """Map input headers to canonical columns and units, collecting every problem first.

    ``columns`` maps canonical names to headers (the config's ``[columns.<table>]``) and wins
    over the built-in aliases; ``units`` maps canonical names to unit strings
    (``[units.<table>]``) for headers that carry none. A column named by several headers
    gets the first (most specific alias) with the others as ``alternatives``, for the caller
    to compare. ``optional``: required columns whose absence the caller settles itself;
    ``money_unit``: the unit a message suggests for money (万元, or USD for US data).
    Raises :class:`SchemaError` listing every missing column or unknown unit; a header that
    matches nothing but is close to an alias is named in the message, or in the notes.
    """
    table = table or _table_name(specs)
    columns = dict(columns or {})
    units = dict(units or {})
    mapped: list[MappedColumn] = []
    problems: list[str] = []
    missing: list[str] = []
    for spec in specs:
        try:
            hits = _match_header(headers, spec, columns.get(spec.name), source, table)
        except SchemaError as err:
            problems.append(str(err))
            continue
        if not hits:
            if spec.required and spec.name not in optional:
                problems.append(_missing(headers, spec, source, table))
                missing.append(spec.name)
            continue
        try:
            column = _with_unit(
                hits[0], spec, units.get(spec.name), source, table, money_unit=money_unit
            )
        except SchemaError as err:
            problems.append(str(err))
            continue
        mapped.append(dataclasses.replace(column, alternatives=tuple(hits[1:])))
    if problems:
        raise SchemaError("\n".join(problems), missing=tuple(missing))
    used = {h for m in mapped for h in (m.header, *m.alternatives)}
    notes = []
    for spec in specs:
        if any(m.canonical == spec.name for m in mapped) or spec.required:
            continue
        for header in close_headers([h for h in headers if h not in used], spec):
            notes.append(
                f"{source}: column {shown(header)} is not read, but looks like {spec.name} "
                f"({spec.help}); if it is, name it with [columns.{table}] {spec.name} = "
                f"{split_unit(header.split(REPEAT)[0])[0]!r}"
            )
    return ColumnMap(mapped, tuple(notes))


def map_columns(
    headers: list[str],
    specs: tuple[ColumnSpec, ...],
    *,
    source: str,
    table: str | None = None,
    columns: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
) -> list[MappedColumn]:
    """The mapping of :func:`map_headers`."""
    return map_headers(
        headers, specs, source=source, table=table, columns=columns, units=units
    ).mapping


def _missing(headers: list[str], spec: ColumnSpec, source: str, table: str) -> str:
    near = close_headers(headers, spec)
    hint = (
        f"; column {', '.join(shown(h) for h in near)} looks close: if it is {spec.name}, name "
        f"it with [columns.{table}] {spec.name} = {split_unit(near[0].split(REPEAT)[0])[0]!r}"
        if near
        else ""
    )
    return (
        f"{source}: no column for {spec.name} ({spec.help}); expected one of "
        f'{", ".join(spec.aliases)} or [columns.{table}] {spec.name} = "<header>"{hint}'
    )


def _with_unit(
    header: str,
    spec: ColumnSpec,
    declared: str | None,
    source: str,
    table: str,
    *,
    money_unit: str = "万元",
) -> MappedColumn:
    if spec.kind not in _UNITS:
        return MappedColumn(header, spec.name, None, 1.0)
    from_header = split_unit(header)[1]
    unit = declared if declared is not None else from_header
    if unit is None:
        if spec.kind == "count":
            return MappedColumn(header, spec.name, "persons", 1.0)
        examples = {
            "money": money_unit,
            "length": "米",
            "area": "亩",
            "energy": "吨标煤",
            "electricity": "万千瓦时",
            "mass": "吨",
        }[spec.kind]
        raise SchemaError(
            f"{source}: column {shown(header)} ({spec.name}, {spec.help}) has no unit; rename "
            f"the header to e.g. '{_base(header)}({examples})' or set "
            f'[units.{table}] {spec.name} = "{examples}" in the config (canonical unit: '
            f"{_CANONICAL_UNIT[spec.kind]})"
        )
    try:
        factor = unit_factor(spec.kind, unit)
    except SchemaError as err:
        raise SchemaError(f"{source}: column {shown(header)}: {err}") from err
    return MappedColumn(header, spec.name, unit, factor)


_BLANKS = frozenset({"", "-", "--", "—", "——", "–", "/", "none", "null", "n/a", "na"})
"""Cells read as missing (after NFKC, stripped, lower case). ``nan`` and ``inf`` are not among
them: they are refused, being what a program writes for a broken number."""


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


_GROUPED = {
    ".": r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$|^[+-]?[0-9]{1,3}( [0-9]{3})+(\.[0-9]*)?$",
    ",": r"^[+-]?[0-9]{1,3}(\.[0-9]{3})+(,[0-9]*)?$|^[+-]?[0-9]{1,3}( [0-9]{3})+(,[0-9]*)?$",
}
"""Numbers with thousands separators in their places (groups of three digits)."""
_SEPARATORS = {".": "[, ]", ",": "[., ]"}
_DECIMAL_COMMA = r"^[+-]?[0-9]*,[0-9]+$"
_COMMA_WRITTEN = re.compile(r"[+-]?[0-9]*,[0-9]+|[+-]?[0-9]{1,3}(\.[0-9]{3})+,[0-9]*")
"""``12,5`` and ``1.234,5``: numbers written with a decimal comma."""


def _separators(folded: pa.Array, decimal: str) -> tuple[pa.Array, np.ndarray]:
    """Thousands separators taken out where they are in their places, and with
    ``decimal=","`` the comma made a point; returns the text and the cells whose separators
    are not (``12,5`` with a decimal point, ``1,2,3``, ``12.5`` with a decimal comma)."""
    has = np.asarray(pc.fill_null(pc.match_substring_regex(folded, _SEPARATORS[decimal]), False))
    misplaced = np.zeros(len(folded), dtype=bool)
    if not has.any():
        return folded, misplaced
    sub = folded.filter(pa.array(has))
    ok = pc.match_substring_regex(sub, _GROUPED[decimal])
    if decimal == ".":
        cleaned = pc.replace_substring_regex(sub, "[, ]", "")
    else:
        ok = pc.or_(ok, pc.match_substring_regex(sub, _DECIMAL_COMMA))
        cleaned = pc.replace_substring(pc.replace_substring_regex(sub, "[. ]", ""), ",", ".")
    folded = pc.replace_with_mask(folded, pa.array(has), pc.if_else(ok, cleaned, sub))
    misplaced[has] = ~np.asarray(ok, dtype=bool)
    return folded, misplaced


def parse_numbers(values: pd.Series, *, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """Parse a column of numbers as people type them.

    Handles thousands separators in their places (``1,234,567.8``, ``1 234 567``; with
    ``decimal=","``: ``1.234.567,8``, ``1 234,5``), full-width digits, surrounding spaces and
    the blanks ``''``, ``-``, ``—`` (read as missing). Returns ``(numbers, bad)``: float values
    with NaN for blanks, and a boolean mask of cells that were not blank but are not numbers
    either: text, ``nan`` and ``inf``, separators out of place, and a decimal mark other than
    ``decimal`` (``12,5`` is never 125). :func:`number_problem` says what is wrong with one.

    Examples
    --------
    >>> nums, bad = parse_numbers(pd.Series(["1,234.5", "１２", "—", "abc", 7, "12,5"]))
    >>> nums.tolist()[:3], bad.tolist()
    ([1234.5, 12.0, nan], [False, False, False, True, False, True])
    >>> parse_numbers(pd.Series(["1.234,5", "12,5"]), decimal=",")[0].tolist()
    [1234.5, 12.5]
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
        infinite = pd.Series(np.isinf(numbers.to_numpy()), index=values.index)
        return numbers.mask(infinite), infinite
    folded = strip_py(nfkc(pc.fill_null(to_arrow_text(values), "")))
    folded, misplaced = _separators(folded, decimal)
    text = from_arrow_text(folded, values.index, values.name)
    blank = text.str.lower().isin(_BLANKS)
    numbers = _to_numbers(folded, text, blank.to_numpy(dtype=bool))
    infinite = pd.Series(np.isinf(numbers.to_numpy()) | misplaced, index=numbers.index)
    numbers = numbers.mask(infinite)  # "inf", "1e400", separators out of place
    bad = (numbers.isna() & ~blank) | infinite
    return numbers, bad.astype(bool)


def number_problem(cell: object, *, decimal: str = ".") -> str:
    """What is wrong with a cell :func:`parse_numbers` refused, as a message ends it.

    Examples
    --------
    >>> number_problem("1.234,5")[:49]
    "'1.234,5' has a decimal comma: write 1234.5, or s"
    """
    text = unicodedata.normalize("NFKC", str(cell)).strip()
    lower = text.lower().lstrip("+-")
    if lower in {"nan", "inf", "infinity"}:
        return f"{text!r} is not a number (a broken figure); leave the cell blank if missing"
    if decimal == "." and _COMMA_WRITTEN.fullmatch(text):
        return (
            f"{text!r} has a decimal comma: write {text.replace('.', '').replace(',', '.')}, "
            'or set [input] decimal = "," if the file writes every decimal so'
        )
    if decimal == "," and re.fullmatch(r"[+-]?[0-9]*\.[0-9]+", text):
        return (
            f'{text!r} has a decimal point but [input] decimal = ",": write '
            f"{text.replace('.', ',')}"
        )
    if re.search(_SEPARATORS[decimal], text) and re.fullmatch(r"[+-]?[0-9., ]+", text):
        return f"{text!r} has a thousands separator out of place (groups of three digits: " + (
            "1,234,567.8)" if decimal == "." else "1.234.567,8)"
        )
    return f"{text!r} is not a number"


def as_text(values: pd.Series) -> pd.Series:
    """Strings with NFKC width folding and stripped spaces; missing stays missing (``<NA>``)."""
    try:
        arrow = to_arrow_text(values.astype("string").str.strip())
        arrow.validate(full=True)
    except pa.ArrowInvalid:  # bytes in a Parquet or Arrow file that are not UTF-8
        raise SchemaError(
            f"column {values.name!r} holds text that is not valid UTF-8; re-export the file "
            "with its text encoded as UTF-8"
        ) from None
    text = from_arrow_text(nfkc(arrow), values.index, values.name)
    return text.mask(text == "").astype("string")
