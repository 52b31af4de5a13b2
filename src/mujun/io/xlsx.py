"""The evaluation result workbook: one sheet per list, laid out like a county's published table.

Kept over a library because its benchmark says so: ``bench/xlsx.py`` (docs/benchmarks.md),
20,000 firms on 2026-12-07: 0.39 s here, openpyxl's write-only mode 16x that, pandas
``to_excel`` 30x.

Each sheet has a title row (e.g. "2021年度 规上企业 亩均效益综合评价结果"), a header row in
Chinese or English, and one row per firm in rank order: identity, land, the indicators, the
sub-scores, score, rank, class, how solid the class is, and the surcharge. A list longer than
an Excel sheet holds (1,048,576 rows with the two heading rows) continues on further sheets,
"规上企业 (2)" and so on, each with the same two heading rows.

The workbook is written directly as SpreadsheetML: the cells of each column are built as XML
text in one vectorised pass (pyarrow compute) and compressed in a second thread, instead of
one Python object per cell (openpyxl took ~80 s for 95,000 firms). Numbers are rounded to 4
decimals exactly as Python's ``round(value, 4)`` does; strings are inline strings; missing
values are empty cells.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.io.writers import check_writable
from mujun.scoring import INDICATORS, LIST_NAMES_ZH
from mujun.takes import NOTES
from mujun.vocabulary import CHINA, Vocabulary

__all__ = ["write_enterprise_workbook", "write_sheets"]

MAX_SHEET_ROWS = 1_048_576
"""Rows in an Excel worksheet; a list with more firms (plus two heading rows) is split."""

_HEAD_ROWS = 2  # title row and header row
_CHUNK_ROWS = 50_000  # rows turned into XML at a time (bounded memory, overlapped compression)

_LIST_NAMES_EN = {
    "above_scale": "Above designated size",
    "below_scale": "Below size, own land",
    "below_scale_small": "Below size, small land",
    "lessee": "Lessees",
    "parcels": "Parcels",
}

_HEADERS: dict[str, tuple[str, str]] = {
    "rank": ("排名", "Rank"),
    "name": ("企业名称", "Enterprise"),
    "uscc": ("统一社会信用代码", "Credit code"),
    "industry": ("所属行业", "Industry"),
    "park": ("所属园区", "Park"),
    "land_status": ("用地情况", "Land"),
    "area_mu": ("用地面积(亩，实测)", "Land (mu, surveyed)"),
    "area_acre": ("用地面积(英亩，实测)", "Land (acres, surveyed)"),
    "score": ("综合得分", "Score"),
    "class": ("分类", "Class"),
    "class_name": ("分类名称", "Class name"),
    "class_stability": ("分类稳定度", "Class stability"),
    "tax_per_mu_to_next_class": (
        "升至上一类所需亩均税收(万元/亩)",
        "Tax per mu for the next class up (万元/亩)",
    ),
    "tax_per_mu_to_leave_d": ("脱离D类所需亩均税收(万元/亩)", "Tax per mu to leave D (万元/亩)"),
    "what_it_takes": ("所需税收说明", "Tax needed: note"),
    "borderline": ("临界", "Borderline"),
    "imputed": ("按平均得分的指标", "Indicators at list average"),
    "d_streak": ("连续D类年数", "Years in D running"),
    "surcharge_per_kwh": ("差别电价(元/千瓦时)", "Surcharge (yuan/kWh)"),
    "surcharge_yuan": ("差别电价金额(元)", "Surcharge (yuan)"),
    "data_flags": ("数据提示", "Data flags"),
}
_RECORD_HEADERS = {"name": ("名称", "Name"), "uscc": ("记录", "Record")}
"""Headers of a table of parcel records (value per acre): no enterprise, no credit code."""
_STATUS = {
    "own": ("自有", "own"),
    "shared": ("共用", "shared"),
    "lessee": ("租赁", "lessee"),
    "orphan": ("宗地号不存在", "parcels not found"),
}
_GROUPS = ("above_scale", "below_scale", "below_scale_small", "lessee", "parcels")


def _columns(frame: pd.DataFrame, group: str, weights: dict[str, float]) -> list[str]:
    lead = ["rank", "name", "uscc", "industry", "park", "land_status", "area_mu", "area_acre"]
    tail = [
        "score",
        "class",
        "class_name",
        "tax_per_mu_to_next_class",
        "tax_per_mu_to_leave_d",
        "what_it_takes",
        "class_stability",
        "borderline",
        "imputed",
        "d_streak",
        "surcharge_per_kwh",
        "surcharge_yuan",
        "data_flags",
    ]
    inds = list(weights)
    subs = [f"score_{n}" for n in inds]
    cols = lead + inds + subs + tail
    if group == "lessee":
        cols = [c for c in cols if c not in ("area_mu", "area_acre")]
    return [c for c in cols if c in frame]


def _header(col: str, lang: str, *, records: bool = False) -> str:
    i = 0 if lang == "zh" else 1
    if records and col in _RECORD_HEADERS:
        return _RECORD_HEADERS[col][i]
    if col in _HEADERS:
        return _HEADERS[col][i]
    name = col.removeprefix("score_")
    ind = INDICATORS.get(name)
    if ind is None:
        return col
    label = (ind.label_zh, ind.label_en)[i]
    if col.startswith("score_"):
        return f"{label}得分" if lang == "zh" else f"{label} score"
    return f"{label}({ind.unit})"


@dataclass(frozen=True)
class _Sheet:
    """One worksheet: name, title, headers, column widths and the rows in order."""

    name: str
    title: str
    headers: list[str]
    widths: list[float]
    rows: pd.DataFrame


def write_enterprise_workbook(
    enterprises: pd.DataFrame,
    path: Path,
    *,
    year: int | None,
    weights: dict[str, dict[str, float]],
    lang: str = "zh",
    overwrite: bool = False,
    vocab: Vocabulary = CHINA,
) -> Path:
    """Write ``enterprises.xlsx`` for ``year``: one sheet per list, in rank order.

    ``enterprises`` is in the words of ``vocab`` (:meth:`Vocabulary.export`: an area column
    ``area_mu`` or ``area_acre``); ``year`` None: a table without years, every row and no
    year in the titles. A list with more firms than a sheet holds continues on sheets named
    ``"<list> (2)"``, ``"<list> (3)"`` ..., each with the title and header rows.
    """
    check_writable(path, overwrite=overwrite)
    shown = {"group", "rank", "uscc"}.union(
        *(_columns(enterprises, g, dict(weights.get(g, {}))) for g in _GROUPS)
    )
    kept = [j for j, c in enumerate(enterprises.columns) if c in shown]
    this_year = (
        np.ones(len(enterprises), dtype=bool)
        if year is None
        else (enterprises["year"] == year).to_numpy(dtype=bool)
    )
    group_of = enterprises["group"]
    per_sheet = MAX_SHEET_ROWS - _HEAD_ROWS
    lists = []  # (list, its rows, sheet names): a list's sheets are made when written
    for group in _GROUPS:
        at = np.flatnonzero(this_year & (group_of == group).to_numpy(dtype=bool, na_value=False))
        if len(at):
            name = LIST_NAMES_ZH[group] if lang == "zh" else _LIST_NAMES_EN[group]
            parts = range(1, -(-len(at) // per_sheet) + 1)
            lists.append((group, at, name, [_sheet_name(name, part) for part in parts]))

    def sheets() -> Iterator[_Sheet]:
        """Each list sorted when its turn comes, so that one sorted copy is held at a time."""
        for group, at, name, names in lists:
            rows = enterprises.iloc[at, kept]
            cols = _columns(rows, group, dict(weights.get(group, {})))
            title = _title(name, year, lang, vocab)
            ordered = rows.sort_values(["rank", "uscc"], na_position="last")[cols]
            del rows
            headers = [_header(c, lang, records=not vocab.enterprises) for c in cols]
            widths = [30.0 if c == "name" else 14.0 for c in cols]
            for k, sheet_name in enumerate(names):
                chunk = ordered.iloc[k * per_sheet : (k + 1) * per_sheet]
                yield _Sheet(sheet_name, title, headers, widths, chunk)

    _write_xlsx(path, sheets(), lang, names=[n for *_, names in lists for n in names])
    return path


def _title(name: str, year: int | None, lang: str, vocab: Vocabulary) -> str:
    """The title row: "2021年度 规上企业 亩均效益综合评价结果", "Parcels: value per acre"."""
    per = vocab.area_words[lang][1]
    if lang == "zh":
        what = "亩均效益综合评价结果" if vocab.area == "mu" else f"每{per}效益评价结果"
        return f"{year}年度 {name} {what}" if year is not None else f"{name} {what}"
    what = "per-mu evaluation results" if vocab.area == "mu" else f"value per {per}"
    return f"{name}: {what}" + (f", {year}" if year is not None else "")


def _sheet_name(name: str, part: int) -> str:
    """A valid, at most 31-character sheet name; parts after the first get " (n)"."""
    clean = name.translate({ord(c): "-" for c in "/\\?*[]:"})
    suffix = f" ({part})" if part > 1 else ""
    return clean[: 31 - len(suffix)] + suffix


# ---------------------------------------------------------------------------------------------
# cell values as XML text, column by column


def _column_letter(j: int) -> str:
    """Excel column letters of the 1-based column ``j``: 1 -> A, 27 -> AA."""
    letters = ""
    while j:
        j, rem = divmod(j - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def round4(values: np.ndarray) -> np.ndarray:
    """``round(v, 4)`` of each float, exactly as Python rounds (correctly rounded, half even).

    numpy's ``round`` scales by 10**4 and can round the other way when the scaled value lands
    within an ulp of a half; those few values, and magnitudes of 2**52 / 10**4 or more, are
    rounded by Python itself.
    """
    x = np.asarray(values, dtype="float64")
    with np.errstate(invalid="ignore", over="ignore"):
        y = np.abs(x * 1e4)
        out = np.copysign(np.rint(y) / 1e4, x)
        frac = y - np.floor(y)
        unsure = ~(y < 2.0**52) | (np.abs(frac - 0.5) <= 2 * np.spacing(y))
    unsure &= np.isfinite(x)
    if unsure.any():
        out[unsure] = [round(float(v), 4) for v in x[unsure]]
    out[~np.isfinite(x)] = x[~np.isfinite(x)]
    return out


def _lit(text: str | None) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


_ILLEGAL_XML = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"  # not allowed in XML 1.0 text


def _string_bodies(text: pa.Array) -> pa.Array:
    """Inline-string cell bodies (``t="inlineStr"><is><t>...</t></is></c>``); null stays null.

    Characters XML cannot hold (control characters) are dropped; text with leading or trailing
    white space keeps it (``xml:space="preserve"``).
    """
    text = pc.cast(text, pa.large_string())
    if pc.any(pc.match_substring_regex(text, _ILLEGAL_XML)).as_py():
        text = pc.replace_substring_regex(text, _ILLEGAL_XML, "")
    if pc.any(pc.match_substring_regex(text, "[&<>]")).as_py():
        for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            text = pc.replace_substring(text, char, entity)
    empty = pc.equal(pc.binary_length(text), 0)
    text = pc.if_else(empty, _lit(None), text)
    spaced = pc.not_equal(pc.utf8_trim_whitespace(text), text)
    head = pc.if_else(
        spaced, _lit(' t="inlineStr"><is><t xml:space="preserve">'), _lit(' t="inlineStr"><is><t>')
    )
    return pc.binary_join_element_wise(head, text, _lit("</t></is></c>"), _lit(""))


def _number_bodies(text: pa.Array, kind: str = "") -> pa.Array:
    head = _lit(' t="b"><v>' if kind == "b" else "><v>")
    text = pc.cast(text, pa.large_string())
    return pc.binary_join_element_wise(head, text, _lit("</v></c>"), _lit(""))


def _float_bodies(series: pd.Series) -> pa.Array:
    """Text that reads back as ``round(x, 4)``: whole numbers without a decimal point (as
    openpyxl wrote them, so that readers give ints for them as before), the others as
    ``integer.fraction`` with at most 4 decimals, or (beyond 2**50 / 10**4) shortest text."""
    x = series.to_numpy(dtype="float64", na_value=np.nan)
    # numpy float scalars (from nullable Float columns) were rounded by numpy, floats by Python
    rounded = (
        np.round(x, 4) if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) else round4(x)
    )
    with np.errstate(invalid="ignore"):
        missing = ~np.isfinite(rounded)
        whole = ~missing & (np.abs(rounded) < 1e16) & (rounded == np.trunc(rounded))
        fixed = ~missing & ~whole & (np.abs(rounded) < 2.0**50 / 1e4)
        # the decimal digits of a 4-decimal double are those of the nearest integer to x * 10**4
        tenths = np.rint(np.abs(np.where(fixed, rounded, 0)) * 1e4).astype(np.int64)
    head, tail = _float_text_parts(rounded, missing, whole, fixed, tenths)
    return pc.binary_join_element_wise(_lit("><v>"), head, tail, _lit("</v></c>"), _lit(""))


_FRACTIONS = pa.array(
    ["" if i == 0 else f".{i:04d}".rstrip("0") for i in range(10_000)], type=pa.large_string()
)


def _float_text_parts(
    rounded: np.ndarray,
    missing: np.ndarray,
    whole: np.ndarray,
    fixed: np.ndarray,
    tenths: np.ndarray,
) -> tuple[pa.Array, pa.Array]:
    """The text of each value in two parts, null for a missing one: whole numbers as their
    integer text, fixed ones as the signed integer part and the fraction."""
    negative = fixed & (rounded < 0)
    units = np.where(fixed, tenths // 10_000, 0)
    integral = np.where(whole, rounded, 0).astype(np.int64) + np.where(negative, -units, units)
    head = pc.cast(pa.array(integral), pa.large_string())
    minus_zero = negative & (units == 0)  # -0.5: the sign is not in the integer part
    if minus_zero.any():
        head = pc.if_else(pa.array(minus_zero), _lit("-0"), head)
    tail = _FRACTIONS.take(pa.array(np.where(fixed, tenths % 10_000, 0)))
    other = ~(missing | whole | fixed)
    if other.any():  # huge values: shortest round-trip text
        shortest = pc.cast(pa.array(np.where(other, rounded, 0.0)), pa.large_string())
        head = pc.if_else(pa.array(other), shortest, head)
    return pc.if_else(pa.array(missing), _lit(None), head), tail


_Cells = Callable[[int, int], pa.Array]
"""One column's cell bodies for the rows ``start:stop``."""


def _bodies(series: pd.Series, col: str, lang: str) -> _Cells:
    """The XML after ``<c r="A3"`` of each cell of one column (null for an empty cell), made
    a chunk of rows at a time. What decides how a value is written (the column's type, its
    distinct values) is decided over the whole column first, so that every chunk is written
    alike; only the bodies of one chunk are held at once (at 525,000 rows the whole sheet's
    took about 1 GB).

    A column with few distinct values (park, class, flags ...) is written once per value.
    """
    series = _labelled(series, col, lang)
    sample = series.iloc[:_SAMPLE]
    if len(series) > _SAMPLE and sample.nunique(dropna=False) * 4 > len(sample):
        return _typed_cells(series)  # mostly distinct values
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if len(uniques) * 4 > len(series):
        return _typed_cells(series)
    distinct = _typed_bodies(pd.Series(uniques))
    return lambda start, stop: distinct.take(
        pa.array(codes[start:stop], mask=codes[start:stop] < 0)
    )


def _typed_cells(series: pd.Series) -> _Cells:
    """:func:`_typed_bodies` a chunk at a time; text and object columns converted to Arrow
    (their type inferred) over the whole column first."""
    if (
        pd.api.types.is_bool_dtype(series.dtype)
        or pd.api.types.is_integer_dtype(series.dtype)
        or pd.api.types.is_float_dtype(series.dtype)
    ):
        return lambda start, stop: _typed_bodies(series.iloc[start:stop])
    arr = _as_arrow(series)
    return lambda start, stop: _arrow_bodies(arr.slice(start, stop - start))


_SAMPLE = 4096


def _labelled(series: pd.Series, col: str, lang: str) -> pd.Series:
    """Land status, the borderline flag and why a firm has no tax figure as the words the
    sheet shows."""
    i = 0 if lang == "zh" else 1
    if col == "land_status":
        labels = {k: v[i] for k, v in _STATUS.items()}
        mapped = series.astype(object).map(labels)
        series = mapped.where(mapped.notna(), series.astype(object))
    elif col == "what_it_takes":
        notes = {k: v[i] for k, v in NOTES.items()}
        series = series.astype(object).map(notes).where(series.astype(object) != "", None)
    elif col == "borderline":
        yes = "是" if lang == "zh" else "yes"
        truthy = series.astype(object).where(series.notna(), False).astype(bool).to_numpy()
        marks = np.full(len(truthy), None, dtype=object)
        marks[truthy] = yes
        series = pd.Series(marks)
    return series


def _typed_bodies(series: pd.Series) -> pa.Array:
    """Cell bodies by the column's type: booleans, numbers, text."""
    if pd.api.types.is_bool_dtype(series.dtype):
        flags = pa.array(series, from_pandas=True)
        return _number_bodies(pc.cast(pc.cast(flags, pa.int8()), pa.string()), "b")
    if pd.api.types.is_integer_dtype(series.dtype):
        return _number_bodies(pa.array(series, from_pandas=True))
    if pd.api.types.is_float_dtype(series.dtype):
        return _float_bodies(series)
    return _other_bodies(series)


def _other_bodies(series: pd.Series) -> pa.Array:
    """Text columns (and object columns holding one type) by their Arrow type."""
    return _arrow_bodies(_as_arrow(series))


def _as_arrow(series: pd.Series) -> pa.Array:
    """A text or object column as Arrow, its type inferred (mixed objects as text)."""
    try:
        arr = pa.array(series, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):  # mixed Python objects
        arr = pa.array([None if pd.isna(v) else str(v) for v in series], pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def _arrow_bodies(arr: pa.Array) -> pa.Array:
    """Cell bodies of an Arrow column by its type: booleans, integers, floats, text."""
    if pa.types.is_boolean(arr.type):
        return _typed_bodies(pd.Series(arr.to_pandas(), dtype="boolean"))
    if pa.types.is_integer(arr.type):
        return _number_bodies(arr)
    if pa.types.is_floating(arr.type):
        return _float_bodies(pd.Series(arr.to_numpy(zero_copy_only=False)))
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.large_string())
    return _string_bodies(pc.cast(arr, pa.large_string()))


# ---------------------------------------------------------------------------------------------
# the package parts


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"

_STYLES = (
    f"{_DECL}<styleSheet {_NS}>"
    '<fonts count="3">'
    '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="14"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    "</fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyAlignment="1"><alignment vertical="center" wrapText="1"/></xf>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_TITLE_STYLE, _HEADER_STYLE = 1, 2


def _content_types(n_sheets: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{k}.xml" ContentType="{_CT}.worksheet+xml"/>'
        for k in range(1, n_sheets + 1)
    )
    return (
        f'{_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
        f"{sheets}</Types>"
    )


def _package_rels() -> str:
    return (
        f'{_DECL}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships"><Relationship Id="rId1" Type="{_REL}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    )


def _workbook(names: list[str]) -> str:
    sheets = "".join(
        f'<sheet name={quoteattr(n)} sheetId="{k}" r:id="rId{k}"/>'
        for k, n in enumerate(names, start=1)
    )
    return (
        f"{_DECL}<workbook {_NS} {_NS_R}><bookViews><workbookView/></bookViews>"
        f"<sheets>{sheets}</sheets></workbook>"
    )


def _workbook_rels(n_sheets: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{k}" Type="{_REL}/worksheet" Target="worksheets/sheet{k}.xml"/>'
        for k in range(1, n_sheets + 1)
    )
    styles = f'<Relationship Id="rId{n_sheets + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
    return (
        f'{_DECL}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        f'relationships">{rels}{styles}</Relationships>'
    )


def _text_cell(ref: str, text: str, style: int) -> str:
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def _sheet_head(sheet: _Sheet) -> str:
    """Worksheet XML up to and including the header row (row 2)."""
    n = len(sheet.headers)
    last = _column_letter(n)
    cols = "".join(
        f'<col min="{j}" max="{j}" width="{w:g}" customWidth="1"/>'
        for j, w in enumerate(sheet.widths, start=1)
    )
    header = "".join(
        _text_cell(f"{_column_letter(j)}2", h, _HEADER_STYLE)
        for j, h in enumerate(sheet.headers, start=1)
    )
    pane = (
        '<pane xSplit="2" ySplit="2" topLeftCell="C3" activePane="bottomRight" state="frozen"/>'
        '<selection pane="topRight"/><selection pane="bottomLeft"/>'
        '<selection pane="bottomRight" activeCell="C3" sqref="C3"/>'
    )
    return (
        f"{_DECL}<worksheet {_NS} {_NS_R}>"
        f'<dimension ref="A1:{last}{len(sheet.rows) + _HEAD_ROWS}"/>'
        f'<sheetViews><sheetView workbookViewId="0">{pane}</sheetView></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
        f'<row r="1">{_text_cell("A1", sheet.title, _TITLE_STYLE)}</row>'
        f'<row r="2">{header}</row>'
    )


def _sheet_tail(sheet: _Sheet) -> str:
    n = len(sheet.headers)
    merge = (
        f'<mergeCells count="1"><mergeCell ref="A1:{_column_letter(n)}1"/></mergeCells>'
        if n > 1
        else ""
    )
    return f"</sheetData>{merge}</worksheet>"


def _row_chunks(sheet: _Sheet, lang: str) -> Iterator[memoryview]:
    """The ``<row>`` elements of the data rows, as UTF-8 bytes, a chunk of rows at a time.

    A cell is its head ``<c r="B17"`` and its body; an empty cell (a null body) has a null head
    too, and both are left out when the row is joined (a few columns at a time: Arrow's join is
    fastest with a handful of arguments).
    """
    cells = [
        _bodies(sheet.rows[c].reset_index(drop=True), str(c), lang) for c in sheet.rows.columns
    ]
    prefixes = [f'<c r="{_column_letter(j)}' for j in range(1, len(cells) + 1)]
    for start in range(0, len(sheet.rows), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, len(sheet.rows))
        numbers = pc.cast(pa.array(np.arange(start, stop) + _HEAD_ROWS + 1), pa.large_string())
        quoted = pc.binary_join_element_wise(numbers, _lit('"'), _lit(""))
        parts: list[pa.Array] = []
        for prefix, column in zip(prefixes, cells, strict=True):
            body = column(start, stop)
            parts += [_masked(pc.binary_replace_slice(quoted, 0, 0, prefix), body), body]
        groups = [
            pc.binary_join_element_wise(
                *parts[k : k + 8], _lit(""), null_handling="replace", null_replacement=""
            )
            for k in range(0, len(parts), 8)
        ]
        rows = pc.binary_join_element_wise(
            _lit('<row r="'), numbers, _lit('">'), *groups, _lit("</row>"), _lit("")
        )
        yield _string_bytes(rows)


def _masked(head: pa.Array, body: pa.Array) -> pa.Array:
    """``head`` with the nulls of ``body`` (sharing its validity bitmap, no copy of text)."""
    if not body.null_count:
        return head
    valid = body.is_valid()
    if valid.offset or head.offset:
        return pc.if_else(valid, head, _lit(None))
    return pa.Array.from_buffers(
        head.type, len(head), [valid.buffers()[1], *head.buffers()[1:]], null_count=body.null_count
    )


def _string_bytes(arr: pa.Array) -> memoryview:
    """The concatenated text of a (large) string array without nulls, as bytes."""
    _, offsets_buf, data = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    if data is None or len(offsets) < 2:
        return memoryview(b"")
    return memoryview(data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])))


def _write_sheet(zf: zipfile.ZipFile, index: int, sheet: _Sheet, lang: str) -> None:
    """Stream one worksheet into the archive; compression runs beside the XML building."""
    big = len(sheet.rows) * max(len(sheet.headers), 1) > 4_000_000
    with (
        zf.open(f"xl/worksheets/sheet{index}.xml", "w", force_zip64=big) as out,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        pending: Future[int] = pool.submit(out.write, _sheet_head(sheet).encode("utf-8"))
        for chunk in _row_chunks(sheet, lang):
            pending.result()
            pending = pool.submit(out.write, chunk)
        pending.result()
        out.write(_sheet_tail(sheet).encode("utf-8"))


def _write_xlsx(path: Path, sheets: Iterable[_Sheet], lang: str, *, names: list[str]) -> None:
    """Write the workbook; ``sheets`` (named ``names``) may be made one by one as written."""
    if not names:  # a workbook needs a sheet: an empty one
        sheets, names = [_Sheet("Sheet1", "", [""], [14.0], pd.DataFrame())], ["Sheet1"]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", _content_types(len(names)))
        zf.writestr("_rels/.rels", _package_rels())
        zf.writestr("xl/workbook.xml", _workbook(names))
        zf.writestr("xl/_rels/workbook.xml.rels", _workbook_rels(len(names)))
        zf.writestr("xl/styles.xml", _STYLES)
        for k, sheet in enumerate(sheets, start=1):
            if sheet.name != names[k - 1]:
                raise ValueError(f"sheet {k} is {sheet.name!r}, not {names[k - 1]!r}")
            _write_sheet(zf, k, sheet, lang)


def write_sheets(
    sheets: Iterable[tuple[str, str, list[str], pd.DataFrame]], path: Path, *, lang: str = "zh"
) -> Path:
    """Write a workbook of ``(sheet name, title, headers, rows)`` sheets, laid out like the
    result workbook (title row, header row, rows as given); the notice package's lists."""
    made = [
        _Sheet(
            _sheet_name(name, 1),
            title,
            headers,
            [30.0 if "名称" in h or h == "Firm" else 14.0 for h in headers],
            rows,
        )
        for name, title, headers, rows in sheets
    ]
    _write_xlsx(path, made, lang, names=[s.name for s in made])
    return path
