"""Checks of China's unified social credit code (统一社会信用代码, GB 32100-2015).

A code has 18 characters drawn from the 31-character set ``0-9`` and ``A-Y`` without
``I O Z S V``:

==========  ===========================================================================
position    meaning
==========  ===========================================================================
1           登记管理部门码, registration authority (1 机构编制, 5 民政, 9 工商/市场监管,
            Y 其他, ...)
2           机构类别码, organisation category
3-8         administrative division code (GB/T 2260), six digits
9-17        embedded organisation code (GB 11714); position 17 is its own check character
18          check character of the whole code
==========  ===========================================================================

The 18th character is ``31 - (sum(v_i * w_i) mod 31)`` (31 maps to 0) over positions 1-17,
with character values 0-30 in charset order and weights ``w_i = 3**(i-1) mod 31``. The GB 11714
organisation code check is ``11 - (sum(v_i * w_i) mod 11)`` over its eight body characters
(``0-9`` -> 0-9, ``A-Z`` -> 10-35; weights 3, 7, 9, 10, 5, 8, 4, 2), with 10 -> ``X`` and
11 -> ``0``.

Caveat: some legal codes issued during the early pilots (for example ``91350100M0001TGQXM``
from Fujian) fail these checks. A failed check is a reason to warn and verify with the
registry, never a reason to reject a row.

Examples
--------
>>> check_uscc(normalize_uscc(" 9133-0100 7996 5505 8b "))
'ok'
"""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mujun.schema import drop_whitespace, from_arrow_text, nfkc, to_arrow_text

__all__ = [
    "STATUS_TEXT",
    "USCC_CHARSET",
    "check_uscc",
    "normalize_uscc",
    "org_code_check_char",
    "uscc_check_char",
    "uscc_status",
]

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of GB 32100-2015 in value order (0-30); no I, O, Z, S or V."""

_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, ...
_USCC_PATTERN = "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
_USCC_RE = re.compile(_USCC_PATTERN)  # [0-9], not \d: other scripts' digits are no format

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUE = {c: i for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")  # spaces, hyphens and dashes

# per byte: its value in the GB 32100-2015 charset / in 0-9A-Z (GB 11714), -1 if none
_USCC_TABLE = np.full(256, -1, dtype=np.int64)
_USCC_TABLE[np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)] = np.arange(31)
_ORG_TABLE = np.full(256, -1, dtype=np.int64)
_ORG_TABLE[np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)] = np.arange(36)
_USCC_BYTES = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)
_ORG_CHECK_BYTES = np.frombuffer(b"?123456789X0", dtype=np.uint8)  # by 11 - sum mod 11

STATUS_TEXT: dict[str, str] = {
    "ok": "the code has the GB 32100-2015 format and both check characters match",
    "bad_format": (
        "not 18 characters of the GB 32100-2015 set (digits and capital letters without "
        "I, O, Z, S, V; positions 3-8 digits): check for typos or a different identifier"
    ),
    "bad_check": (
        "the 18th character is not the GB 32100-2015 check character; early pilot codes can "
        "fail this and still be legal: verify with the registry"
    ),
    "bad_org_check": (
        "the 18th character matches but the embedded organisation code (positions 9-17) fails "
        "its GB 11714 check; early pilot codes can fail this and still be legal: verify with "
        "the registry"
    ),
    "missing": "no credit code given",
}
"""Short English explanation of each status returned by :func:`check_uscc` / :func:`uscc_status`."""


def normalize_uscc(text: object) -> str | None:
    """Normalise a credit code as typed: width-fold, drop spaces and hyphens, upper-case.

    Parameters
    ----------
    text
        Anything; ``None``, NA values and blank strings give ``None``. Other objects are
        converted with ``str``.

    Returns
    -------
    str or None
        The normalised text (not validated), or ``None`` when nothing is left.

    Examples
    --------
    >>> normalize_uscc("９１３３０１００７９９６５５０５８Ｂ")
    '91330100799655058B'
    >>> normalize_uscc(" 91330100-7996 5505 8b ")
    '91330100799655058B'
    >>> normalize_uscc("   ") is None, normalize_uscc(None) is None
    (True, True)
    """
    if text is None or text is pd.NA or text is pd.NaT:
        return None
    if isinstance(text, float | np.floating) and math.isnan(text):
        return None
    if not isinstance(text, str):
        text = str(text)
    folded = unicodedata.normalize("NFKC", text)
    cleaned = _SEPARATORS.sub("", folded.strip()).upper()
    return cleaned or None


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character (18th) for the first 17 characters of a code.

    Parameters
    ----------
    first17
        Exactly 17 characters of :data:`USCC_CHARSET`.

    Returns
    -------
    str
        One character of :data:`USCC_CHARSET`.

    Raises
    ------
    ValueError
        If ``first17`` is not 17 characters long or has characters outside the charset.

    Examples
    --------
    >>> uscc_check_char("91330100799655058")
    'B'
    >>> uscc_check_char("91440300192203821")
    '6'
    """
    if len(first17) != 17:
        raise ValueError(f"need 17 characters, got {len(first17)}: {first17!r}")
    total = 0
    for ch, weight in zip(first17, _USCC_WEIGHTS, strict=True):
        value = _USCC_VALUE.get(ch)
        if value is None:
            raise ValueError(f"{ch!r} is not a GB 32100-2015 character (in {first17!r})")
        total += value * weight
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """The GB 11714 organisation code check character for its first 8 characters.

    Parameters
    ----------
    first8
        Exactly 8 characters from ``0-9`` and ``A-Z``.

    Returns
    -------
    str
        A digit or ``X``.

    Raises
    ------
    ValueError
        If ``first8`` is not 8 characters long or has characters outside ``0-9A-Z``.

    Examples
    --------
    >>> org_code_check_char("79965505")
    '8'
    >>> org_code_check_char("19220382")
    '1'
    """
    if len(first8) != 8:
        raise ValueError(f"need 8 characters, got {len(first8)}: {first8!r}")
    total = 0
    for ch, weight in zip(first8, _ORG_WEIGHTS, strict=True):
        value = _ORG_VALUE.get(ch)
        if value is None:
            raise ValueError(f"{ch!r} is not a GB 11714 character (in {first8!r})")
        total += value * weight
    check = 11 - total % 11
    if check == 10:
        return "X"
    return "0" if check == 11 else str(check)


def check_uscc(code: str) -> str:
    """Status of one (already normalised) credit code.

    The format is checked first, then the 18th character, then the embedded organisation code.

    Parameters
    ----------
    code
        The code, e.g. from :func:`normalize_uscc`; it is not normalised here.

    Returns
    -------
    str
        ``"ok"``, ``"bad_format"``, ``"bad_check"`` or ``"bad_org_check"``; see
        :data:`STATUS_TEXT`.

    Examples
    --------
    >>> check_uscc("91330100799655058B")
    'ok'
    >>> check_uscc("91330100799655058C")
    'bad_check'
    >>> check_uscc("91330100799655058b")
    'bad_format'
    """
    if not isinstance(code, str) or _USCC_RE.fullmatch(code) is None:
        return "bad_format"
    if uscc_check_char(code[:17]) != code[17]:
        return "bad_check"
    if org_code_check_char(code[8:16]) != code[16]:
        return "bad_org_check"
    return "ok"


def uscc_status(codes: pd.Series) -> pd.Series:
    """Status of each credit code in a Series, normalising each with :func:`normalize_uscc`.

    Parameters
    ----------
    codes
        Credit codes as typed; the Series is not modified.

    Returns
    -------
    pandas.Series
        Dtype ``"string"``, same index and name as ``codes``; one of the statuses of
        :func:`check_uscc`, or ``"missing"`` where the value is missing or blank.

    Examples
    --------
    >>> typed = ["91330100799655058B", None, "９１３３０１００７９９６５５０５８Ｃ"]
    >>> s = pd.Series(typed, index=[7, 8, 9])
    >>> uscc_status(s).tolist()
    ['ok', 'missing', 'bad_check']
    """
    text = codes
    if not isinstance(codes.dtype, pd.StringDtype):
        values = codes.astype(object).to_numpy()
        if pd.api.types.infer_dtype(values, skipna=True) not in {"string", "empty"}:
            # numbers and other objects: normalize_uscc converts them with str()
            values, present = values.copy(), ~pd.isna(values)
            values[present] = [str(v) for v in values[present]]
            values[~present] = None
        text = pd.Series(values, dtype=object)
    normalized = normalize_uscc_array(to_arrow_text(text))
    status = _status_codes(normalized)
    status[np.asarray(normalized.is_null())] = _STATUSES.index("missing")
    names = _STATUS_NAMES.take(pa.array(status))
    return from_arrow_text(names, codes.index, codes.name)


def normalize_uscc_array(codes: pa.Array) -> pa.Array:
    """:func:`normalize_uscc` of each string of an Arrow array, in bulk (null for nothing left).

    Text that is ASCII once width-folded and without white space is upper-cased and stripped of
    hyphens by Arrow; the rest (rare in credit codes) goes through :func:`normalize_uscc`, as
    ``str.upper`` differs from Arrow's simple case mapping outside ASCII (ß -> SS).
    """
    folded = drop_whitespace(nfkc(codes))
    text = pc.replace_substring(pc.ascii_upper(folded), "-", "")
    odd = pc.fill_null(pc.invert(pc.string_is_ascii(folded)), False)
    if pc.any(odd).as_py():
        fixed = [normalize_uscc(v) or "" for v in codes.filter(odd).to_pylist()]
        text = pc.replace_with_mask(text, odd, pa.array(fixed, type=text.type))
    return pc.if_else(pc.equal(pc.binary_length(text), 0), pa.scalar(None, text.type), text)


_STATUSES = ("ok", "bad_format", "bad_check", "bad_org_check", "missing")
_STATUS_NAMES = pa.array(_STATUSES, type=pa.large_string())


def _status_codes(codes: pa.Array) -> np.ndarray:
    """The status of each code as its position in ``_STATUSES``.

    Codes in the GB 32100-2015 format are 18 ASCII bytes; their check characters are computed
    for all of them at once as weighted sums over an (n, 18) array of character values.
    """
    well_formed = pc.fill_null(pc.match_substring_regex(codes, _USCC_PATTERN), False)
    status = np.full(len(codes), _STATUSES.index("bad_format"), dtype=np.int8)
    rows = np.flatnonzero(np.asarray(well_formed))
    if len(rows) == 0:
        return status
    chars = _byte_matrix(codes.filter(well_formed), 18)
    values = _USCC_TABLE[chars]
    check = (31 - (values[:, :17] @ np.asarray(_USCC_WEIGHTS)) % 31) % 31
    org = 11 - (_ORG_TABLE[chars[:, 8:16]] @ np.asarray(_ORG_WEIGHTS)) % 11
    bad_check = _USCC_BYTES[check] != chars[:, 17]
    bad_org = _ORG_CHECK_BYTES[org] != chars[:, 16]
    status[rows] = np.where(bad_check, 2, np.where(bad_org, 3, 0))
    return status


def _byte_matrix(text: pa.Array, width: int) -> np.ndarray:
    """The bytes of strings that are all ``width`` bytes long, as an (n, width) uint8 array."""
    text = pc.cast(text, pa.large_string())
    _, offsets, data = text.buffers()
    start = int(np.frombuffer(offsets, dtype=np.int64)[text.offset])
    flat = np.frombuffer(data, dtype=np.uint8)[start : start + width * len(text)]
    return flat.reshape(len(text), width)
