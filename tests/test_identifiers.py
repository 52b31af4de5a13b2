from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mujun import identifiers
from mujun.identifiers import (
    STATUS_TEXT,
    USCC_CHARSET,
    check_uscc,
    normalize_uscc,
    org_code_check_char,
    uscc_check_char,
    uscc_status,
)

GOOD = ("91330100799655058B", "914403001922038216")
PILOT = "91350100M0001TGQXM"  # legal early Fujian pilot code that fails the 18th-char check


def test_charset_and_weights():
    assert len(USCC_CHARSET) == 31
    assert not set("IOZSV") & set(USCC_CHARSET)
    assert identifiers._USCC_WEIGHTS == (
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
    )  # fmt: skip


@pytest.mark.parametrize("code", GOOD)
def test_known_good_codes_are_ok(code):
    assert check_uscc(code) == "ok"
    assert uscc_check_char(code[:17]) == code[17]
    assert org_code_check_char(code[8:16]) == code[16]


def test_check_chars_of_known_codes():
    assert uscc_check_char("91330100799655058") == "B"
    assert uscc_check_char("91440300192203821") == "6"
    assert org_code_check_char("79965505") == "8"
    assert org_code_check_char("19220382") == "1"


def test_org_code_check_maps_10_to_x_and_11_to_0():
    assert org_code_check_char("M0001TGQ") == "X"
    assert org_code_check_char("00000000") == "0"  # 11 - 0 = 11 -> '0'


def test_pilot_code_fails_the_18th_char_check():
    assert uscc_check_char(PILOT[:17]) == "1"
    assert check_uscc(PILOT) == "bad_check"


def test_changed_18th_char_is_bad_check():
    assert check_uscc("91330100799655058C") == "bad_check"
    assert check_uscc("914403001922038217") == "bad_check"


def test_bad_org_check_with_recomputed_18th():
    first16 = GOOD[0][:16]
    assert GOOD[0][16] == "8"
    first17 = first16 + "7"
    code = first17 + uscc_check_char(first17)
    assert code == "913301007996550578"
    assert check_uscc(code) == "bad_org_check"


@pytest.mark.parametrize(
    "code",
    [
        "91330100799655058",  # 17 characters
        "91330100799655058BB",  # 19 characters
        "",
        "91330100799655058b",  # lower case is not normalised by check_uscc
        "9133010079965505IB",  # I not in the charset
        "9133010079965505OB",  # O not in the charset
        "913301A0799655058B",  # letter in the division code
    ],
)
def test_bad_format(code):
    assert check_uscc(code) == "bad_format"


def test_normalize_upper_cases_and_strips():
    assert normalize_uscc(" 91330100-7996 5505 8b\t") == "91330100799655058B"
    assert check_uscc(normalize_uscc("91330100799655058b") or "") == "ok"
    assert normalize_uscc("9133010079965505ib") == "9133010079965505IB"
    assert check_uscc("9133010079965505IB") == "bad_format"


def test_normalize_blank_and_none():
    assert normalize_uscc(None) is None
    assert normalize_uscc("") is None
    assert normalize_uscc(" \u3000 ") is None  # ideographic space folds to a space
    assert normalize_uscc(float("nan")) is None
    assert normalize_uscc(pd.NA) is None


def test_full_width_input_normalizes_and_passes():
    code = normalize_uscc("９１３３０１００７９９６５５０５８Ｂ")
    assert code == "91330100799655058B"
    assert check_uscc(code) == "ok"


def test_uscc_check_char_rejects_bad_input():
    with pytest.raises(ValueError, match="not a GB 32100-2015 character"):
        uscc_check_char("9133010079965505I")
    with pytest.raises(ValueError, match="need 17 characters"):
        uscc_check_char("9133")
    with pytest.raises(ValueError, match="need 8 characters"):
        org_code_check_char("7996550")


def test_uscc_status_keeps_index_and_maps_missing():
    codes = pd.Series(
        [GOOD[0], None, PILOT, "９１３３０１００７９９６５５０５８Ｂ", "abc", GOOD[0], "  "],
        index=[10, 3, 99, 4, 5, 6, 7],
        name="uscc",
    )
    before = codes.copy()
    got = uscc_status(codes)
    expected = pd.Series(
        ["ok", "missing", "bad_check", "ok", "bad_format", "ok", "missing"],
        index=[10, 3, 99, 4, 5, 6, 7],
        name="uscc",
        dtype="string",
    )
    pd.testing.assert_series_equal(got, expected)
    pd.testing.assert_series_equal(codes, before)


def test_uscc_status_string_dtype_input_and_empty():
    codes = pd.Series([GOOD[1], pd.NA], dtype="string")
    pd.testing.assert_series_equal(uscc_status(codes), pd.Series(["ok", "missing"], dtype="string"))
    empty = uscc_status(pd.Series([], dtype=object))
    assert len(empty) == 0
    assert empty.dtype == "string"


def test_status_text_covers_every_status():
    assert set(STATUS_TEXT) == {"ok", "bad_format", "bad_check", "bad_org_check", "missing"}
    assert "verify with the registry" in STATUS_TEXT["bad_check"]


_FIRST17 = st.builds(
    lambda head, division, body: head + division + body,
    st.text(alphabet=USCC_CHARSET, min_size=2, max_size=2),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=USCC_CHARSET, min_size=9, max_size=9),
)


@given(_FIRST17)
def test_appended_check_char_is_never_bad_check(first17):
    last = uscc_check_char(first17)
    assert check_uscc(first17 + last) in {"ok", "bad_org_check"}
    for other in USCC_CHARSET:
        if other != last:
            assert check_uscc(first17 + other) == "bad_check"


@given(st.text(alphabet=USCC_CHARSET, min_size=17, max_size=17))
def test_any_charset_string_with_its_check_char_is_not_bad_check(first17):
    status = check_uscc(first17 + uscc_check_char(first17))
    expected = {"ok", "bad_org_check"} if first17[2:8].isdigit() else {"bad_format"}
    assert status in expected


def _one_by_one(values: list[object]) -> list[str]:
    out = []
    for v in values:
        code = None if pd.isna(v) else normalize_uscc(v)
        out.append("missing" if code is None else check_uscc(code))
    return out


_NOISY_CODES = st.builds(
    lambda first17, check, noise: noise(first17 + check),
    _FIRST17,
    st.sampled_from([*USCC_CHARSET, "I", "O", "Z", "x", "-"]),
    st.sampled_from(
        [
            lambda c: c,
            str.lower,
            lambda c: f" {c[:6]}-{c[6:]}\t",
            lambda c: c.translate({i: i + 0xFEE0 for i in range(0x21, 0x7F)}),  # full width
            lambda c: c[:17],
            lambda c: c + "ß",
            lambda c: c[:8] + "\u0663" + c[9:],  # an Arabic-Indic digit in the division code
            lambda c: c.replace("1", "\u2212", 1),
        ]
    ),
)


@given(
    st.lists(
        st.one_of(
            _NOISY_CODES,
            _FIRST17.map(lambda f: f + uscc_check_char(f)),
            st.text(max_size=20),
            st.none(),
            st.just(float("nan")),
            st.integers(),
        ),
        max_size=30,
    )
)
def test_bulk_status_is_the_status_of_each_code(values):
    codes = pd.Series(values, dtype=object)
    assert uscc_status(codes).tolist() == _one_by_one(values)


def test_bulk_status_of_valid_and_pilot_codes_and_string_dtype():
    codes = pd.Series([*GOOD, PILOT, "913301007996550578", None] * 3, dtype="string")
    assert (
        uscc_status(codes).tolist()
        == _one_by_one(list(codes.astype(object)))
        == [
            "ok",
            "ok",
            "bad_check",
            "bad_org_check",
            "missing",
        ]
        * 3
    )


def test_other_scripts_digits_are_a_bad_format_not_an_error():
    code = "91\u0663\u0663" + GOOD[0][4:]
    assert check_uscc(code) == "bad_format"
    assert uscc_status(pd.Series([code])).tolist() == ["bad_format"]
