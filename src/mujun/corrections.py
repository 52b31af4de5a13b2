"""Corrections after the objection period (公示异议更正): the figures a firm showed wrong.

A county publishes its results for objection (3 to 7 days, docs/method.md); a firm that shows
a figure was wrong (a tax payment missed, a parcel not its own) gets it corrected, on a
document. A corrections table says, per row, which filing (credit code and year), which
filings column (``field``: ``tax``, ``employees``, ``parcel_ids`` ... or a Chinese header such
as 税收), the right value, the reason and the document. The run applies them over the filings
after the filings are checked and before the join, so every figure downstream (land units,
scores, classes, the money check) is the corrected one.

Nothing is guessed: a correction naming an unknown firm, a year the firm did not file, a
column the filings do not have, a value that is not a number, or a number without a unit
stops the run (exit 2) with the row and the fix. Each applied correction is a ledger record
of the corrections file ("used", with the old and the new value), and the filing it changes
gets a note saying so.

Units: a number is in the unit its row's ``unit`` cell names, or the unit written in the
``field`` cell (``税收(万元)``), or ``[units.corrections] <field>`` of the config, or the unit
in the value column's header (``更正值(万元)``) when that unit measures the field's kind. Two of
those naming different factors stop the run: which one the person meant is not for mujun to
choose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from mujun.config import Config
from mujun.errors import InputError, SchemaError
from mujun.io.readers import NO_YEAR, above_scale, normalize_ids, read_side_table, split_parcel_ids
from mujun.schema import (
    CORRECTION_COLUMNS,
    FILING_COLUMNS,
    ColumnSpec,
    canonical_unit,
    has_unit,
    number_problem,
    parse_numbers,
    split_unit,
    unit_factor,
    unit_kinds,
)
from mujun.validate import NEVER_NEGATIVE, Ledger, odd_figures

__all__ = ["CORRECTABLE", "apply_corrections"]

logger = logging.getLogger(__name__)

CORRECTABLE = tuple(s.name for s in FILING_COLUMNS if s.name not in ("uscc", "year"))
"""The filings columns a correction may change (the credit code and year name the filing)."""

_SPECS = {s.name: s for s in FILING_COLUMNS}
_MAX_LISTED = 10


@dataclass
class _Problems:
    """The problems found in the corrections, each naming its row; raised together."""

    source: str
    items: list[str]

    def add(self, row: int, column: str, text: str) -> None:
        self.items.append(f"{self.source} row {row}, column {column}: {text}")

    def raise_any(self) -> None:
        if self.items:
            more = (
                f"\n... {len(self.items)} problems in all" if len(self.items) > _MAX_LISTED else ""
            )
            raise InputError("\n".join(self.items[:_MAX_LISTED]) + more)


def _field_spec(text: str) -> tuple[ColumnSpec | None, str | None]:
    """The filings column a ``field`` cell names (its canonical name or a header alias), and
    the unit written in it (``税收(万元)``)."""
    name, unit = split_unit(text)
    for spec in FILING_COLUMNS:
        if name == spec.name or name in spec.aliases:
            return spec, unit
    return None, unit


def _factor(
    spec: ColumnSpec,
    candidates: list[tuple[str, str]],
    header_unit: str | None,
    problems: _Problems,
    row: int,
) -> float | None:
    """The factor to canonical units of a correction's value, from the units its row, field
    cell, config and value header name (``candidates``: (where, unit))."""
    if header_unit is not None and spec.kind in unit_kinds(header_unit):
        candidates = [*candidates, ("the value column's header", header_unit)]
    factors: dict[float, list[str]] = {}
    for where, unit in candidates:
        try:
            factors.setdefault(unit_factor(spec.kind, unit), []).append(f"{unit!r} ({where})")
        except SchemaError as err:
            problems.add(row, "unit", f"{err} (given in {where})")
            return None
    if len(factors) > 1:
        said = "; ".join(", ".join(v) for v in factors.values())
        problems.add(
            row, "unit", f"the units given for {spec.name} disagree: {said}; keep one of them"
        )
        return None
    if factors:
        return next(iter(factors))
    if spec.kind == "count":
        return 1.0
    example = {"money": "万元", "area": "亩", "energy": "吨标煤", "electricity": "万千瓦时"}.get(
        spec.kind, canonical_unit(spec.kind)
    )
    problems.add(
        row,
        "value",
        f"no unit for {spec.name} ({spec.help}); give it in a unit column ({example}), in the "
        f"field ({spec.name}({example})), in the header (更正值({example})) or as "
        f'[units.corrections] {spec.name} = "{example}"',
    )
    return None


class _Refused(Exception):  # noqa: N818 - a row refused, recorded, never raised out
    """One correction row that cannot be applied: the column and why."""

    def __init__(self, column: str, text: str) -> None:
        super().__init__(text)
        self.column, self.text = column, text


def _value(text: Any, spec: ColumnSpec, factor: float, *, decimal: str) -> Any:
    """The corrected value in the filings' canonical form (numbers in canonical units, a
    parcel list as a tuple, text as text)."""
    if text is None or pd.isna(text) or not str(text).strip():
        raise _Refused("value", "blank; a correction gives the right figure")
    if spec.name == "parcel_ids":
        ids = split_parcel_ids(text)
        if not ids:
            raise _Refused("value", f"{text!r} lists no parcel id")
        return ids
    if spec.kind in ("text", "id"):
        return str(text).strip()
    numbers, bad = parse_numbers(pd.Series([text], dtype=object), decimal=decimal)
    if bad.iloc[0] or pd.isna(numbers.iloc[0]):
        raise _Refused("value", number_problem(text, decimal=decimal))
    number = float(numbers.iloc[0])
    if spec.kind == "int" and number != int(number):
        raise _Refused("value", f"{text!r} is not a whole number ({spec.help})")
    if spec.name in NEVER_NEGATIVE and number < 0:
        raise _Refused("value", f"{text!r}: {spec.name} cannot be negative")
    return number * factor


def _shown(value: Any, factor: float, unit: str | None) -> str:
    """A value as the correction's author wrote it: in their unit."""
    if value is None or (not isinstance(value, tuple) and pd.isna(value)):
        return "(blank)"
    if isinstance(value, tuple):
        return "、".join(value)
    if isinstance(value, float | int | np.floating | np.integer):
        shown = float(value) / factor
        text = f"{shown:,.6f}".rstrip("0").rstrip(".")
        return f"{text} {unit}" if unit else text
    return str(value)


def apply_corrections(
    path: Path,
    filings: pd.DataFrame,
    raw: pd.DataFrame,
    *,
    config: Config,
    ledger: Ledger,
    source: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the corrections in ``path`` over the checked ``filings`` (one row per credit
    code and year) and over ``raw`` (the filings as read, for the money check), in place of
    the values they correct. Returns the corrected filings and the table of corrections
    applied (for exports/corrections.csv): row, uscc, name, year, field, unit, old, new,
    reason, document. Raises :class:`InputError` naming every row that cannot be applied."""
    rows, units = read_side_table(
        path,
        CORRECTION_COLUMNS,
        table="corrections",
        columns=config.columns.get("corrections"),
        encoding=config.input.encoding,
    )
    src = path.name
    declared = dict(config.units.get("corrections", {}))
    header_unit = units.get("value")
    rows["uscc"] = normalize_ids(rows["uscc"])
    year_given = rows["year"].astype("Int64") if "year" in rows else pd.Series(pd.NA, rows.index)
    keys = (
        rows["uscc"].fillna("?").astype(str)
        + " "
        + year_given.astype("string").fillna("").astype(str)
        + " "
        + rows["field"].fillna("").astype(str)
    )
    ledger.register(src, rows["record"], keys)
    problems = _Problems(src, [])
    no_years = bool(len(filings)) and bool((filings["year"] == NO_YEAR).all())
    at = pd.Series(
        np.arange(len(filings)),
        index=pd.MultiIndex.from_arrays([filings["uscc"].astype(str), filings["year"]]),
    )
    at = at[~at.index.duplicated()]
    context = _Context(
        filings=filings,
        raw=raw,
        at=at,
        fates=ledger.fates(source),
        no_years=no_years,
        declared=declared,
        header_unit=header_unit,
        decimal=config.input.decimal,
        problems=problems,
    )
    planned = [
        item
        for i in range(len(rows))
        if (item := _plan_row(rows.iloc[i], year_given.iloc[i], context)) is not None
    ]
    problems.raise_any()
    planned = _without_repeats(planned, src, ledger, problems)
    problems.raise_any()
    corrected, table = _apply(planned, filings, raw, src=src, source=source, ledger=ledger)
    ledger.check({src: len(rows)})
    return corrected, table


@dataclass
class _Context:
    """What checking one correction row needs."""

    filings: pd.DataFrame
    raw: pd.DataFrame
    at: pd.Series
    """Position in ``filings`` by (credit code, year)."""
    fates: pd.Series
    no_years: bool
    declared: dict[str, str]
    header_unit: str | None
    decimal: str
    problems: _Problems


def _plan_row(r: pd.Series, year: Any, c: _Context) -> dict[str, Any] | None:
    """What one correction row changes, or None (its problem recorded)."""
    row = int(r["record"])
    try:
        return _plan(r, row, year, c)
    except _Refused as why:
        c.problems.add(row, why.column, why.text)
        return None


def _spec_of(field: str, c: _Context) -> tuple[ColumnSpec, str | None]:
    """The filings column a correction's ``field`` names, and the unit written in it."""
    spec, field_unit = _field_spec(field)
    if spec is None:
        raise _Refused(
            "field",
            f"{field!r} is not a filings column; use one of {', '.join(CORRECTABLE)} "
            "(or its Chinese header, e.g. 税收)",
        )
    if spec.name not in CORRECTABLE:
        raise _Refused(
            "field",
            f"{spec.name} names the filing and is not corrected here; correct it in the "
            "filings file",
        )
    if spec.name not in c.filings:
        raise _Refused(
            "field",
            f"the filings have no {spec.name} column; a correction changes a figure the "
            "filings give, it does not add a column",
        )
    return spec, field_unit


def _plan(r: pd.Series, row: int, year: Any, c: _Context) -> dict[str, Any] | None:
    code = r["uscc"]
    if pd.isna(code):
        raise _Refused("uscc", "blank; give the firm's credit code")
    spec, field_unit = _spec_of("" if pd.isna(r["field"]) else str(r["field"]), c)
    if pd.isna(year):
        if not c.no_years:
            raise _Refused("year", "blank; give the year of the filing corrected")
        year = NO_YEAR
    position = c.at.get((str(code), int(year)))
    if position is None:
        raise _Refused("uscc", _not_found(str(code), int(year), c.raw, c.fates))
    factor = 1.0
    unit = None
    if has_unit(spec):
        candidates = [
            (where, str(u).strip())
            for where, u in (
                ("the unit column", r.get("unit")),
                ("the field", field_unit),
                (f"[units.corrections] {spec.name}", c.declared.get(spec.name)),
            )
            if u is not None and not pd.isna(u) and str(u).strip()
        ]
        found = _factor(spec, candidates, c.header_unit, c.problems, row)
        if found is None:
            return None
        factor = found
        given = [u for _, u in candidates] or (
            [c.header_unit] if c.header_unit and spec.kind in unit_kinds(c.header_unit) else []
        )
        unit = given[0] if given else ("persons" if spec.kind == "count" else None)
    return {
        "row": row,
        "position": int(position),
        "field": spec.name,
        "new": _value(r["value"], spec, factor, decimal=c.decimal),
        "factor": factor,
        "unit": unit,
        "reason": None if pd.isna(r.get("reason")) else r.get("reason"),
        "document": None if pd.isna(r.get("document")) else r.get("document"),
    }


def _not_found(code: str, year: int, raw: pd.DataFrame, fates: pd.Series) -> str:
    """Why no checked filing is the one a correction names."""
    of_year = "" if year == NO_YEAR else f" of {year}"
    mine = raw.loc[normalize_ids(raw["uscc"]).astype(str).to_numpy() == code]
    if mine.empty:
        return (
            f"{code} is not a firm in the filings; check the credit code (a correction "
            "changes a filing, it does not add one)"
        )
    same = mine.loc[mine["year"] == year] if year != NO_YEAR else mine
    if same.empty:
        years = ", ".join(str(y) for y in sorted(set(mine["year"])))
        return f"{code} has no filing{of_year}; it filed for {years}"
    fate = ", ".join(sorted({str(fates.get(rec, "?")) for rec in same["record"]}))
    rec = ", ".join(str(r) for r in same["record"])
    return (
        f"the filing{of_year} of {code} (filings row {rec}) was {fate} when the filings were "
        "checked (see the ledger); correct the filings file itself"
    )


def _without_repeats(
    planned: list[dict[str, Any]], src: str, ledger: Ledger, problems: _Problems
) -> list[dict[str, Any]]:
    """One correction per filing and column: a repeat with the same value is a duplicate,
    with another value a problem (which one holds is not for mujun to decide)."""
    kept: dict[tuple[int, str], dict[str, Any]] = {}
    for item in planned:
        key = (item["position"], item["field"])
        first = kept.get(key)
        if first is None:
            kept[key] = item
        elif first["new"] == item["new"]:
            ledger.set_fate(
                src, [item["row"]], "duplicate", f"repeats row {first['row']} (the same value)"
            )
        else:
            problems.add(
                item["row"],
                "value",
                f"row {first['row']} corrects the same {item['field']} of the same filing to "
                "another value; keep the right one",
            )
    return list(kept.values())


def _apply(
    planned: list[dict[str, Any]],
    filings: pd.DataFrame,
    raw: pd.DataFrame,
    *,
    src: str,
    source: str,
    ledger: Ledger,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    filings = filings.copy()
    raw_at = pd.Index(raw["record"]).get_indexer(filings["record"])
    out = []
    for item in planned:
        label = filings.index[item["position"]]
        field = item["field"]
        old = filings.loc[label, field]
        filings.loc[label, field] = item["new"]
        raw_label = raw.index[raw_at[item["position"]]]
        raw.loc[raw_label, field] = item["new"]
        if field == "scale":
            for frame, at in ((filings, label), (raw, raw_label)):
                frame.loc[at, "above_scale"] = bool(
                    above_scale(pd.Series([item["new"]], dtype="string")).iloc[0]
                )
        numeric = _SPECS[field].kind not in ("text", "id")
        old_value = None if not isinstance(old, tuple) and pd.isna(old) else old
        why = "; ".join(str(v) for v in (item["reason"], item["document"]) if v)
        change = (
            f"{field} {_shown(old_value, item['factor'], item['unit'])} -> "
            f"{_shown(item['new'], item['factor'], item['unit'])}"
        )
        ledger.set_fate(
            src,
            [item["row"]],
            "used",
            f"applied to filings row {filings.loc[label, 'record']}: {change}"
            + (f" ({why})" if why else ""),
        )
        ledger.note(
            source,
            [int(cast(int, filings.loc[label, "record"]))],
            f"corrected by {src} row {item['row']}: {change}" + (f" ({why})" if why else ""),
            check="corrected after objection",
        )
        out.append(
            {
                "row": item["row"],
                "uscc": filings.loc[label, "uscc"],
                "name": filings.loc[label, "name"] if "name" in filings else None,
                "year": filings.loc[label, "year"],
                "field": field,
                "unit": item["unit"],
                "old": (old_value / item["factor"]) if numeric and old_value is not None else old,
                "new": item["new"] / item["factor"] if numeric else item["new"],
                "reason": item["reason"],
                "document": item["document"],
            }
        )
    changed = [filings.index[i["position"]] for i in planned]
    if changed and "data_flags" in filings:
        filings.loc[changed, "data_flags"] = odd_figures(filings.loc[changed]).to_numpy()
    table = pd.DataFrame(
        out,
        columns=[
            "row",
            "uscc",
            "name",
            "year",
            "field",
            "unit",
            "old",
            "new",
            "reason",
            "document",
        ],
    )
    for col in ("old", "new"):  # parcel lists as their text
        table[col] = table[col].map(lambda v: "、".join(v) if isinstance(v, tuple) else v)
    logger.info("corrections: %d applied", len(table))
    return filings, table
