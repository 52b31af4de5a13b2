"""CSV exports: write_csv writes with Arrow, and pandas reads back the values pandas wrote."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mujun.io.writers import write_csv

FLOAT_EDGES = [
    0.0, -0.0, 1.0, -1.0, 0.1, 1e-05, 1e-4, 9.999999999999999e-05, 1e16, 9999999999999998.0,
    1e15, 1e22, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 2 / 3,
    123456789.125, np.nan, np.inf, -np.inf,
]  # fmt: skip
TEXT_EDGES = ["", " ", "a,b", 'say "hi"', "two\nlines", "cr\rlf\r\n", "亩均效益", "—", '"', ","]


def pandas_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_csv(buf, index=False, encoding="utf-8-sig", lineterminator="\n")
    return buf.getvalue()


def written(frame: pd.DataFrame, tmp: Path) -> bytes:
    return write_csv(frame, tmp / "t.csv", overwrite=True, formulas="raw").read_bytes()


def read_back(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", header=0)


def assert_same_values(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal frames, numbers compared as floats where one side reads back as integers (Arrow
    writes 2.0 as ``2``, pandas as ``2.0``)."""
    assert list(got.columns) == list(expected.columns)
    for j in range(got.shape[1]):
        x, y = got.iloc[:, j], expected.iloc[:, j]
        if x.dtype != y.dtype and x.dtype.kind in "iuf" and y.dtype.kind in "iuf":
            x, y = x.astype("float64"), y.astype("float64")
        pd.testing.assert_series_equal(x, y, check_exact=True)


TEXT = st.one_of(st.sampled_from(TEXT_EDGES), st.text(st.characters(codec="utf-8"), max_size=8))
FLOATS = st.one_of(
    st.sampled_from(FLOAT_EDGES),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.integers(-(10**12), 10**12).map(lambda k: k / 100),  # money in yuan and fen
    st.integers(-(2**53), 2**53).map(float),
)


def _column(kind: str, n: int) -> st.SearchStrategy[pd.Series]:
    ints = st.integers(-(2**63), 2**63 - 1)
    maybe = st.booleans()
    match kind:
        case "float64":
            return st.lists(FLOATS, min_size=n, max_size=n).map(
                lambda v: pd.Series(v, dtype="float64")
            )
        case "int64":
            return st.lists(ints, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="int64"))
        case "Int64":
            return st.lists(st.none() | ints, min_size=n, max_size=n).map(
                lambda v: pd.Series(v, dtype="Int64")
            )
        case "bool":
            return st.lists(maybe, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype="bool"))
        case "boolean":
            return st.lists(st.none() | maybe, min_size=n, max_size=n).map(
                lambda v: pd.Series(v, dtype="boolean")
            )
        case "object":
            return st.lists(st.none() | st.just(np.nan) | TEXT, min_size=n, max_size=n).map(
                lambda v: pd.Series(v, dtype=object)
            )
        case _:  # "string", "str"
            return st.lists(st.none() | TEXT, min_size=n, max_size=n).map(
                lambda v: pd.Series(v, dtype=kind)
            )


KINDS = ["float64", "int64", "Int64", "bool", "boolean", "object", "string", "str"]


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 12))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=2, max_size=7))
    names = draw(st.lists(TEXT, min_size=len(kinds), max_size=len(kinds)))
    columns = [draw(_column(kind, n)) for kind in kinds]
    frame = pd.concat(columns, axis=1, ignore_index=True)
    frame.columns = pd.Index(names, dtype=object)
    return frame


def as_text(data: bytes) -> list[list[str]]:
    """The rows of a CSV as text, as :mod:`csv` parses them (no type inference, no NA)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def expected_cell(value: object) -> object:
    """What a cell of ``value`` must read back as: a float or int equal to it, the text."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return value


def cell_value(text: str, like: object) -> object:
    if isinstance(like, float | np.floating) and text:
        return float(text)
    if isinstance(like, int | np.integer) and not isinstance(like, bool | np.bool_) and text:
        return int(text)
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_every_cell_reads_back(frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = written(frame, Path(tmp))
    assert data.startswith(b"\xef\xbb\xbf")
    header, *rows = as_text(data)
    assert header == list(frame.columns)
    assert len(rows) == len(frame)
    for row, record in zip(rows, frame.astype(object).itertuples(index=False), strict=True):
        for text, value in zip(row, record, strict=True):
            expected = expected_cell(value)
            assert cell_value(text, expected) == expected


def test_the_format(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "uscc": pd.Series(["91330100MA2XXXXX1A", None], dtype="string"),
            "名称": ['浙江"宏达", 长兴', "两行\n备注"],
            "tax": [1e-05, 6348000.0],
            "delta": [-1.5, np.nan],
            "rank": pd.array([3, None], dtype="Int64"),
            "graded": [True, False],
        }
    )
    assert written(frame, tmp_path).decode("utf-8") == (
        '\ufeff"uscc","名称","tax","delta","rank","graded"\n'
        '"91330100MA2XXXXX1A","浙江""宏达"", 长兴",0.00001,-1.5,3,true\n'
        ',"两行\n备注",6348000,,,false\n'
    )


def test_formulas_are_neutralised_and_numbers_stay_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["=1+2", "-x", "ok"], "delta": [-1.0, -2.5, 3.0]})
    data = write_csv(frame, tmp_path / "t.csv").read_bytes().decode("utf-8-sig")
    assert data.splitlines()[1:] == ['"\'=1+2",-1', '"\'-x",-2.5', '"ok",3']
    back = read_back(data.encode("utf-8-sig"))
    assert back["name"].tolist() == ["'=1+2", "'-x", "ok"]
    np.testing.assert_array_equal(back["delta"].to_numpy(), [-1.0, -2.5, 3.0])


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"when": pd.to_datetime(["2021-01-01", None]), "x": [1.5, 2.0]}),
        pd.DataFrame({"mixed": [1, "a"], "x": [1.5, 2.0]}),
        pd.DataFrame({"f32": np.array([0.1, 2.5], dtype=np.float32), "x": [1.5, 2.0]}),
        pd.DataFrame({"x": pd.array([0.1, None], dtype="Float64"), "y": ["a", "b"]}),
        pd.DataFrame({"c": pd.Categorical(["a", None]), "y": [1, 2]}),
        pd.DataFrame({"l": [["a", "b"], None], "y": [1, 2]}),
        pd.DataFrame({0: [1.0], 1: [2.0]}),
    ],
)
def test_other_dtypes_read_back_as_pandas_writes_them(frame: pd.DataFrame, tmp_path: Path):
    assert_same_values(read_back(written(frame, tmp_path)), read_back(pandas_bytes(frame)))
