from __future__ import annotations

import re
import sys
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mujun import schema
from mujun.errors import SchemaError
from mujun.schema import FILING_COLUMNS, MU_M2, PARCEL_COLUMNS, map_columns, parse_numbers


def _by_name(mapped):
    return {m.canonical: m for m in mapped}


def test_mu_is_exactly_10000_over_15():
    assert MU_M2 * 15 == 10000.0


def test_chinese_headers_with_units_of_either_width():
    headers = [
        "统一社会信用代码",
        "企业名称",
        "税收(万元)",
        "营业收入（亿元）",
        "研发费用（元）",
        "年平均职工人数",
        "综合能耗(吨标煤)",
        "用电量(万千瓦时)",
        "用地面积(亩)",
    ]
    mapped = _by_name(map_columns(headers, FILING_COLUMNS, source="f.csv"))
    assert mapped["tax"].factor == 1e4
    assert mapped["revenue"].factor == 1e8
    assert mapped["revenue"].header == "营业收入（亿元）"
    assert mapped["rd_spend"].factor == 1.0
    assert mapped["employees"].unit == "persons"
    assert mapped["electricity_kwh"].factor == 1e4
    assert mapped["declared_area"].factor == pytest.approx(MU_M2)


def test_english_headers_and_units():
    headers = ["uscc", "name", "tax (yuan)", "land (m2)", "Revenue (USD)"]
    mapped = _by_name(map_columns(headers, FILING_COLUMNS, source="f.csv"))
    assert mapped["tax"].factor == 1.0
    assert mapped["declared_area"].factor == 1.0
    assert mapped["revenue"].header == "Revenue (USD)"


def test_money_column_without_unit_is_an_error_that_says_how_to_declare_it():
    with pytest.raises(SchemaError) as info:
        map_columns(["统一社会信用代码", "企业名称", "税收"], FILING_COLUMNS, source="f.csv")
    message = str(info.value)
    assert "f.csv" in message
    assert "'税收'" in message
    assert "税收(万元)" in message
    assert "[units.filings] tax" in message


def test_unit_declared_in_config_is_used():
    mapped = _by_name(
        map_columns(
            ["统一社会信用代码", "企业名称", "税收"],
            FILING_COLUMNS,
            source="f.csv",
            units={"tax": "万元"},
        )
    )
    assert mapped["tax"].factor == 1e4


def test_unknown_unit_names_column_and_known_units():
    with pytest.raises(SchemaError, match=r"'税收\(万美元\)'.*unknown money unit"):
        map_columns(["统一社会信用代码", "企业名称", "税收(万美元)"], FILING_COLUMNS, source="f")


def test_missing_required_columns_are_all_listed_at_once():
    with pytest.raises(SchemaError) as info:
        map_columns(["税收(万元)"], FILING_COLUMNS, source="f.csv")
    assert "uscc" in str(info.value)
    assert "name" in str(info.value)


def test_explicit_columns_table_wins_over_aliases():
    mapped = _by_name(
        map_columns(
            ["宗地", "税额(元)"],
            PARCEL_COLUMNS[:1] + FILING_COLUMNS[6:7],
            source="p",
            columns={"parcel_id": "宗地", "tax": "税额"},
        )
    )
    assert mapped["parcel_id"].header == "宗地"
    assert mapped["tax"].header == "税额(元)"


def test_explicit_column_that_does_not_exist_lists_the_columns():
    with pytest.raises(SchemaError) as info:
        map_columns(["a", "b"], PARCEL_COLUMNS, source="p", columns={"parcel_id": "宗地"})
    assert "p: [columns.parcels] parcel_id = '宗地' names no column; the columns are: 'a', 'b'" in (
        str(info.value)
    )


def test_parse_numbers_handles_separators_fullwidth_and_blanks():
    values = pd.Series(["1,234.5", "１２３", " 7 ", "", "-", "—", "-3.5", "abc"])
    numbers, bad = parse_numbers(values)
    np.testing.assert_array_equal(numbers.to_numpy()[[0, 1, 2, 6]], [1234.5, 123.0, 7.0, -3.5])
    assert numbers.iloc[3:6].isna().all()
    assert bad.tolist() == [False] * 7 + [True]
    assert numbers.index.equals(values.index)


@pytest.mark.parametrize(
    ("cell", "dot", "comma"),
    [
        ("1,234,567.8", 1234567.8, None),
        ("1 234 567", 1234567.0, 1234567.0),
        ("12,5", None, 12.5),  # never 125
        ("1.234,5", None, 1234.5),  # never 1.2345
        ("1,234", 1234.0, 1.234),
        ("1,2,3", None, None),
        ("12 5", None, None),
        ("12.5", 12.5, None),
        ("nan", None, None),
        ("inf", None, None),
        ("-1,000", -1000.0, -1.0),
    ],
)
def test_thousands_separators_only_in_their_places_and_decimal_commas(cell, dot, comma):
    for decimal, expected in ((".", dot), (",", comma)):
        numbers, bad = parse_numbers(pd.Series([cell]), decimal=decimal)
        if expected is None:
            assert bad.iloc[0], (cell, decimal)
            assert np.isnan(numbers.iloc[0])
        else:
            assert not bad.iloc[0], (cell, decimal)
            assert numbers.iloc[0] == expected


# --------------------------------------------------------------------------------------------
# the bulk (Arrow) text helpers agree with the Python string methods they replace


def test_python_whitespace_is_what_str_isspace_says():
    spaces = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert spaces == schema.PY_WHITESPACE


_TEXT = st.one_of(
    st.none(),
    st.text(max_size=10),
    st.text(alphabet=" \t\u3000\xa0\x1c\u2028\u0301Åａ１，ｸﾞ㍿ß\ufb01İK", max_size=10),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, max_size=12))
def test_nfkc_strip_and_whitespace_match_python(values):
    arr = pa.array(values, type=pa.large_string())
    expected = [None if v is None else unicodedata.normalize("NFKC", v) for v in values]
    assert schema.nfkc(arr).to_pylist() == expected
    assert schema.strip_py(arr).to_pylist() == [None if v is None else v.strip() for v in values]
    assert schema.drop_whitespace(arr).to_pylist() == [
        None if v is None else "".join(v.split()) for v in values
    ]


_GROUPED = {
    ".": re.compile(r"[+-]?[0-9]{1,3}((,[0-9]{3})+|( [0-9]{3})+)(\.[0-9]*)?"),
    ",": re.compile(r"[+-]?[0-9]{1,3}((\.[0-9]{3})+|( [0-9]{3})+)(,[0-9]*)?|[+-]?[0-9]*,[0-9]+"),
}


def _fold_one(cell: str, decimal: str) -> str | None:
    """A cell as it should reach the number parser, None if its separators are misplaced."""
    text = unicodedata.normalize("NFKC", cell).strip()
    marks = ", " if decimal == "." else "., "
    if not any(m in text for m in marks):
        return text
    if not _GROUPED[decimal].fullmatch(text):
        return None
    if decimal == ".":
        return text.replace(",", "").replace(" ", "")
    return text.replace(".", "").replace(" ", "").replace(",", ".")


def _parse_numbers_one_by_one(values: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """parse_numbers written plainly: each cell folded in Python (thousands separators only
    in groups of three), the column to pd.to_numeric."""
    cells = values.astype("string").fillna("").astype(object)
    folded = [_fold_one(s, decimal) for s in cells]
    misplaced = np.array([f is None for f in folded], dtype=bool)
    kept = [unicodedata.normalize("NFKC", c).strip() for c in cells]  # misplaced: as they are
    text = pd.Series(
        [k if f is None else f for f, k in zip(folded, kept, strict=True)],
        index=values.index,
        dtype="string",
    )
    text.name = values.name
    blank = text.str.lower().isin(schema._BLANKS) & ~misplaced
    numbers = pd.to_numeric(text.where(~blank, None), errors="coerce").astype("float64")
    infinite = pd.Series(np.isinf(numbers.to_numpy()) | misplaced, index=numbers.index)
    numbers = numbers.mask(infinite)
    return numbers, ((numbers.isna() & ~blank) | infinite).astype(bool)


_CELLS = st.one_of(
    _TEXT,
    st.text(alphabet=" ,.-+e0123456789１２，．\u3000\xa0kinfa", max_size=8),
    st.from_regex(r"\A-?0*[0-9]{0,20}(\.[0-9]{0,20})?\Z"),
    st.sampled_from(["-0", "-00", "+0", "-0.0", "1e400", "１２３４５６７８９０１２３４５６", "—"]),
    st.floats(),
    st.integers(-(10**20), 10**20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CELLS, max_size=12), st.sampled_from([".", ","]))
def test_parse_numbers_matches_the_cell_by_cell_version(values, decimal):
    cells = pd.Series(values, dtype=object, index=np.arange(len(values)) * 3, name="x")
    numbers, bad = parse_numbers(cells, decimal=decimal)
    expected_numbers, expected_bad = _parse_numbers_one_by_one(cells, decimal)
    pd.testing.assert_series_equal(numbers, expected_numbers)
    pd.testing.assert_series_equal(bad, expected_bad)
    assert np.array_equal(np.signbit(numbers), np.signbit(expected_numbers))


@settings(max_examples=200, deadline=None)
@given(st.lists(_CELLS, max_size=12))
def test_as_text_matches_the_cell_by_cell_version(values):
    cells = pd.Series(values, dtype=object)
    text = cells.astype("string").str.strip()
    text = text.map(lambda s: unicodedata.normalize("NFKC", s), na_action="ignore")
    pd.testing.assert_series_equal(schema.as_text(cells), text.mask(text == "").astype("string"))
