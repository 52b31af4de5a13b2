"""CSV text of a DataFrame, byte for byte as ``DataFrame.to_csv(index=False)`` writes it.

pandas turns every cell into a Python object and hands the rows to :mod:`csv` (85,000 firms ×
55 columns: about 3 s, 60 % of it numpy's float → str). Here each column of a block of rows
becomes Arrow text in a few vectorised steps and the rows are joined by Arrow; the result is
the same bytes for the dtypes handled:

- float64: ``repr``-style shortest text (``1.0``, ``1e-05``, ``-0.0``, ``inf``), NaN empty;
  Arrow prints the shortest digits in positional notation for most values, and where it does
  not (exponent notation, values outside [1e-4, 1e16)) numpy's text is used, as pandas does;
- integers and booleans of numpy, pandas' nullable ``Int*``/``UInt*`` and ``boolean``
  (``True``/``False``), ``<NA>`` empty;
- text: ``string`` and ``str`` dtypes, and object columns holding only strings and missing
  values; quoted where :mod:`csv` quotes (QUOTE_MINIMAL: a delimiter, a quote, a line end).

Anything else (datetimes, categoricals, nullable floats, mixed objects, non-string or
MultiIndex column labels, a single column) is left to pandas: :func:`encodable` says which.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["encodable", "write_frame"]

ROWS = 50_000
"""Rows turned into text at a time: bounds the memory held (tens of MB for 55 columns)."""
THREADS = 2

_DIALECT: dict[str, Any] = {
    "lineterminator": "\n",
    "delimiter": ",",
    "quoting": csv.QUOTE_MINIMAL,
    "quotechar": '"',
    "doublequote": True,
    "escapechar": None,
}  # what pandas' to_csv(lineterminator="\n") hands to csv.writer
# characters this module knows how to quote; :func:`_quoted_chars` checks csv agrees
_QUOTABLE = frozenset(',"\n\r')
# floats whose text is awkward (exponent switch at 1e-4 and 1e16, shortest digits, integral
# values, subnormals, negative zero, extremes); numpy's text of them must match ours
_PROBES = np.array(
    [0.1, 1e-07, 12.0, 1e16, 9999999999999998.0, 0.0001, 9.999999999999999e-05, 1e-05,
     5e-324, -0.0, 0.0, 2 / 3, 1.7976931348623157e308, 2.2250738585072014e-308,
     123456789.125, 1e22, 1.5e-300, -2.5e-05, 1e15, 123456.0, 1234567890123456.8,
     0.30000000000000004, -1.5, 100.0, 1e-4 * 3, np.inf, -np.inf, np.nan],
    dtype=np.float64,
)  # fmt: skip


def _csv_line(fields: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, **_DIALECT).writerow(fields)
    return buf.getvalue()


@cache
def _quoted_chars() -> frozenset[str] | None:
    """The ASCII characters that make :mod:`csv` quote a field, or None if its rules are not
    ones this module follows (a quote doubled, the field in quotes, nothing else)."""
    special = set()
    for code in range(128):
        char = chr(code)
        line = _csv_line([f"a{char}b", "x"])
        doubled = char * 2 if char == '"' else char
        if line == f'"a{doubled}b",x\n':
            special.add(char)
        elif line != f"a{char}b,x\n":
            return None
    for field in (" a", "a ", "", "ab"):
        if _csv_line([field, "x"]) != f"{field},x\n":
            return None
    if not special <= _QUOTABLE or not {",", '"', "\n"} <= special:
        return None
    return frozenset(special)


def _floats_match_numpy() -> bool:
    """Whether :func:`_float_text` prints like numpy's float64 → str cast (which pandas uses;
    numpy ≥ 2 prints like ``repr`` unless legacy print options are set)."""
    ours = _float_text(_PROBES).to_pylist()
    theirs = np.where(np.isnan(_PROBES), "", _PROBES.astype(str)).tolist()
    return bool(ours == theirs)


def encodable(frame: pd.DataFrame) -> bool:
    """Whether :func:`write_frame` writes ``frame`` as pandas would (else use ``to_csv``)."""
    columns = frame.columns
    return (
        frame.shape[1] > 1  # csv writes a row of one empty field as ""
        and not isinstance(columns, pd.MultiIndex)
        and all(isinstance(name, str) for name in columns)
        and _quoted_chars() is not None
        and _floats_match_numpy()
        and all(_encoder(frame.iloc[:, j]) is not None for j in range(frame.shape[1]))
    )


def _float_text(values: np.ndarray) -> pa.Array:
    """Text of float64 ``values`` as numpy (and so pandas) prints them; NaN empty."""
    values = np.ascontiguousarray(values)
    text = pc.cast(pa.array(values), pa.string())
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        positional = ((size >= 1e-4) & (size < 1e16)) | (values == 0)
        integral = values == np.trunc(values)
    plain = positional & ~pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    # Arrow writes integral values without ".0" ("12", "-0"): add it (were that to change,
    # "12.0.0" would fail the check against numpy and pandas would write the file)
    bare = plain & integral
    if bare.any():
        text = pc.if_else(bare, pc.binary_join_element_wise(text, ".0", ""), text)
    other = ~plain
    if other.any():  # NaN, ±inf, tiny or huge values, and Arrow's exponent notation
        rest = values[other]
        fill = np.full(len(rest), "", dtype=object)
        number = ~np.isnan(rest)
        if number.any():
            fill[number] = rest[number].astype(str)
        text = pc.replace_with_mask(text, pa.array(other), pa.array(fill, pa.string()))
    return text


def _single(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _text_of_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Text, quoted where csv quotes it; missing values empty."""
    special = _quoted_chars()
    assert special is not None  # checked by encodable()
    text = pc.fill_null(_single(values).cast(pa.string()), "")
    pattern = "[" + "".join(sorted(special)).replace("\\", "\\\\").replace("]", "\\]") + "]"
    quote = pc.match_substring_regex(text, pattern)
    if pc.any(quote).as_py():
        doubled = pc.replace_substring(text, '"', '""')
        text = pc.if_else(quote, pc.binary_join_element_wise('"', doubled, '"', ""), text)
    return text


def _text_of_numbers(column: pd.Series) -> pa.Array:
    """Integers and booleans, numpy or nullable; <NA> empty."""
    values = _single(pa.array(column, from_pandas=True))
    if pa.types.is_boolean(values.type):
        values = pc.if_else(values, "True", "False")
    return pc.fill_null(values.cast(pa.string()), "")


def _text_of_objects(column: pd.Series) -> pa.Array:
    values = column.to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = None
    return _text_of_strings(pa.array(values, type=pa.string()))


def _text_of_floats(column: pd.Series) -> pa.Array:
    return _float_text(column.to_numpy())


def _text_of_string_dtype(column: pd.Series) -> pa.Array:
    return _text_of_strings(pa.array(column, from_pandas=True))


def _encoder(column: pd.Series) -> Callable[[pd.Series], pa.Array] | None:
    """The function turning a block of ``column`` into CSV text, None if pandas must."""
    dtype = column.dtype
    encoder: Callable[[pd.Series], pa.Array] | None = None
    if isinstance(dtype, pd.StringDtype):
        encoder = _text_of_string_dtype
    elif isinstance(column.array, pd.arrays.IntegerArray | pd.arrays.BooleanArray):
        encoder = _text_of_numbers  # nullable Int64, UInt8, ..., boolean
    elif isinstance(dtype, np.dtype):
        if dtype == np.float64:
            encoder = _text_of_floats
        elif dtype.kind in "iub":
            encoder = _text_of_numbers
        elif dtype.kind == "O" and pd.api.types.infer_dtype(column, skipna=True) in (
            "string",
            "empty",
        ):
            encoder = _text_of_objects
    return encoder


def _rows(parts: list[pa.Array]) -> pa.Array:
    """The CSV lines (each ending in a newline) of columns of text."""
    line = pc.binary_join_element_wise(*parts, ",")
    return pc.binary_join_element_wise(line, "", "\n")  # line + "\n" + ""


def _data(text: pa.Array) -> memoryview:
    """The UTF-8 bytes of all strings of ``text`` (no nulls), end to end."""
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    start, stop = offsets[text.offset], offsets[text.offset + len(text)]
    return memoryview(text.buffers()[2])[start:stop]


def write_frame(frame: pd.DataFrame, fh: IO[bytes]) -> None:
    """Write ``frame`` (:func:`encodable`) to binary ``fh`` as UTF-8 with BOM, no index.

    Arrow's kernels release the GIL, so the columns of a block are encoded on two threads.
    """
    found = [_encoder(frame.iloc[:, j]) for j in range(frame.shape[1])]
    encoders = [encoder for encoder in found if encoder is not None]
    if len(encoders) < len(found):
        raise ValueError("write_frame: a column pandas must write; check encodable() first")
    fh.write(_csv_line(list(frame.columns)).encode("utf-8-sig"))
    with ThreadPoolExecutor(THREADS) as pool:
        for start in range(0, len(frame), ROWS):
            block = frame.iloc[start : start + ROWS]
            columns = [block.iloc[:, j] for j in range(block.shape[1])]
            parts = list(pool.map(lambda encode, column: encode(column), encoders, columns))
            fh.write(_data(_rows(parts)))
