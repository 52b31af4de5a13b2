from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
    assert "[units] tax" in message


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
    with pytest.raises(SchemaError, match="names no column; the columns are: a, b"):
        map_columns(["a", "b"], PARCEL_COLUMNS, source="p", columns={"parcel_id": "宗地"})


def test_parse_numbers_handles_separators_fullwidth_and_blanks():
    values = pd.Series(["1,234.5", "１２３", " 7 ", "", "-", "—", "-3.5", "abc"])
    numbers, bad = parse_numbers(values)
    np.testing.assert_array_equal(numbers.to_numpy()[[0, 1, 2, 6]], [1234.5, 123.0, 7.0, -3.5])
    assert numbers.iloc[3:6].isna().all()
    assert bad.tolist() == [False] * 7 + [True]
    assert numbers.index.equals(values.index)
