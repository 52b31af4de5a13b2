"""CSV exports: write_csv writes the bytes pandas' to_csv writes, through Arrow where it can."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mujun.io import _csv
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


def fast_bytes(frame: pd.DataFrame) -> bytes:
    assert _csv.encodable(frame)
    buf = io.BytesIO()
    _csv.write_frame(frame, buf)
    return buf.getvalue()


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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_bytes_as_pandas_writes_them(frame: pd.DataFrame) -> None:
    assert fast_bytes(frame) == pandas_bytes(frame)


def test_blocks_and_edges_across_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_csv, "ROWS", 7)
    rng = np.random.default_rng(5)
    n = 100
    floats = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 20, n)
    floats[::9] = np.nan
    frame = pd.DataFrame(
        {
            "score": floats,
            "edges": np.resize(np.array(FLOAT_EDGES), n),
            "rank": pd.array(np.where(np.arange(n) % 4, np.arange(n), -1), dtype="Int64"),
            "name": pd.Series(np.resize(np.array(TEXT_EDGES, dtype=object), n), dtype="string"),
            "graded": np.arange(n) % 3 == 0,
        }
    )
    frame.loc[frame["rank"] < 0, "rank"] = pd.NA
    assert fast_bytes(frame) == pandas_bytes(frame)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", "a", None]}),  # csv quotes a lone empty field
        pd.DataFrame({"when": pd.to_datetime(["2021-01-01", None]), "x": [1.5, 2.0]}),
        pd.DataFrame({"mixed": [1, "a"], "x": [1.5, 2.0]}),
        pd.DataFrame({"f32": np.array([0.1, 2.5], dtype=np.float32), "x": [1.5, 2.0]}),
        pd.DataFrame({"x": pd.array([0.1, None], dtype="Float64"), "y": ["a", "b"]}),
        pd.DataFrame({"c": pd.Categorical(["a", "b"]), "y": [1, 2]}),
        pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
        pd.DataFrame({0: [1.0], 1: [2.0]}),
    ],
)
def test_falls_back_to_pandas(frame: pd.DataFrame, tmp_path: Path) -> None:
    assert not _csv.encodable(frame)
    path = write_csv(frame, tmp_path / "t.csv")
    assert path.read_bytes() == pandas_bytes(frame)


def test_write_csv_writes_what_to_csv_writes(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"uscc": pd.Series(["91330100MA2XXXXX1A", None], dtype="string"), "tax": [1e-05, 1.0]}
    )
    path = write_csv(frame, tmp_path / "t.csv")
    assert path.read_bytes() == b"\xef\xbb\xbfuscc,tax\n91330100MA2XXXXX1A,1e-05\n,1.0\n"
    frame.to_csv(tmp_path / "p.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
    assert path.read_bytes() == (tmp_path / "p.csv").read_bytes()
