"""The words and units a run's outputs speak: 亩 and 万元 for a Chinese county, acres and USD
for a US city (``[output] display_unit = "USD/acre"``, the value-per-acre preset).

The pipeline computes in its own units (areas in ``*_mu`` columns, money in ``*_yuan`` and
``*_wan`` ones: yuan, or dollars with a USD display unit); a :class:`Vocabulary` turns the names
and values of the tables, the summary and the map into those of the run's preset, in one place.
Renaming follows the column conventions token by token: ``mu`` is an area (or, after ``per``,
a per-area figure in 万/亩), ``wan`` is 10,000 currency units, ``yuan`` one currency unit. The
Chinese vocabulary changes nothing. A table without a year column (:data:`NO_YEAR`) is shown
without a year: no ``year`` column, no year in keys or labels.

Examples
--------
>>> from mujun.vocabulary import US
>>> US.relabel("underused_mu")[0], round(US.relabel("underused_mu")[1], 6)
('underused_acre', 0.164737)
>>> US.relabel("zone_gain_wan")
('zone_gain_usd', 10000.0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from mujun.io.readers import NO_YEAR
from mujun.schema import ACRE_M2, MU_M2
from mujun.tables import NO_LAND, OUTSIDE_PARKS

if TYPE_CHECKING:
    from mujun.config import Config

__all__ = ["CHINA", "NO_YEAR", "US", "Vocabulary", "vocabulary"]

_Frame = TypeVar("_Frame", bound=pd.DataFrame)

_ENTERPRISE_ONLY = ("surcharge_per_kwh", "surcharge_yuan")
"""Columns of enterprises alone: 差别电价 is charged on a firm's electricity by its class."""
_CLASS_COLUMNS = ("classes", "borderline", "d_streak")
"""Columns (besides ``class`` and ``class_*``) that only classes give a meaning."""


@dataclass(frozen=True)
class Vocabulary:
    """How outputs name and measure areas and money, and whether they speak of enterprises,
    classes and years. Build one with :func:`vocabulary`."""

    area: str
    """Token of area columns and keys: ``mu`` (``area_mu``) or ``acre`` (``area_acre``)."""
    area_m2: float
    """Square metres in one area unit."""
    area_digits: int
    """Decimals of the area column in the exports (an acre is 6 mu: 4 decimals, not 2)."""
    money: str
    """Token of money in currency units: ``yuan`` or ``usd``."""
    big_money: str
    """Token of money in the summary's large unit: ``wan`` (万元) or ``usd``."""
    big_money_factor: float
    """Currency units in one large unit (1e4 for 万元)."""
    big_money_label: str
    """The large unit as printed: 万元 or USD."""
    area_words: Mapping[str, tuple[str, str]]
    """Per language: the area unit after a quantity and after "per" (acres, acre)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Placeholder labels of tables (``（园区外）``) in this vocabulary."""
    enterprises: bool = True
    """False: the rows are parcel records (value per acre), not enterprises."""
    classes: bool = True
    """False: the method grades no classes (``[classes] method = "none"``)."""
    years: bool = True
    """False: the filings have no year column; nothing says a year."""
    imperial: bool = False
    """Scale bar of the map in feet and miles instead of metres."""

    @property
    def identity(self) -> bool:
        """Whether this vocabulary leaves the pipeline's tables as they are."""
        return self.area == "mu" and self.money == "yuan" and self.years and self.enterprises

    @property
    def area_label(self) -> str:
        """The area unit after a quantity in English: ``mu`` or ``acres``."""
        return self.area_words["en"][0]

    @property
    def firms(self) -> str:
        """What a row of the filings is: ``enterprises`` or ``records``."""
        return "enterprises" if self.enterprises else "records"

    def year_text(self, year: int | None) -> str:
        """``year 2021``, or ``no year column`` for a table without years."""
        return f"year {year}" if self.years and year is not None else "no year column"

    def relabel(self, name: str) -> tuple[str, float]:
        """``name`` (a column or summary key) in this vocabulary, and the factor its values
        are multiplied by."""
        if self.identity:
            return name, 1.0
        parts = name.split("_")
        out: list[str] = []
        factor = 1.0
        for i, part in enumerate(parts):
            if part == "mu" and self.area != "mu":
                per = i > 0 and parts[i - 1] == "per"  # 万/亩 -> currency units per area
                factor *= 1e4 * self.area_m2 / MU_M2 if per else MU_M2 / self.area_m2
                out.append(self.area)
            elif part == "wan" and self.big_money != "wan":
                factor *= 1e4 / self.big_money_factor
                out.append(self.big_money)
            elif part == "yuan":
                out.append(self.money)
            elif not (part == str(NO_YEAR) and not self.years):
                out.append(part)
        return "_".join(out), factor

    def _dropped(self, frame: pd.DataFrame, col: str, new: str) -> bool:
        """Whether ``col`` (``new`` in this vocabulary) is left out of ``frame``'s export."""
        if not self.enterprises and col in _ENTERPRISE_ONLY:
            return True
        if not self.classes and (col == "class" or col.startswith("class_")):
            return True
        if not self.classes and col in _CLASS_COLUMNS:
            return True
        if new != col and new in frame.columns:  # the figure in these units is there already
            return True
        # the pipeline's own 亩均 figure of money these rows do not have
        return "per_mu" in col and len(frame) > 0 and bool(frame[col].isna().all())

    def frame(self, frame: _Frame) -> _Frame:
        """``frame`` with its columns in this vocabulary: renamed and converted, columns that
        make no sense here left out (a column whose new name exists already is left out too),
        placeholder labels translated. The ``year`` column stays."""
        if self.identity:
            return frame
        drop: list[str] = []
        renames: dict[str, str] = {}
        factors: dict[str, float] = {}
        for col in (str(c) for c in frame.columns if c != "geometry"):
            new, factor = self.relabel(col)
            if self._dropped(frame, col, new) or new in renames.values():
                drop.append(col)
            elif new != col:
                renames[col] = new
                if factor != 1.0 and pd.api.types.is_numeric_dtype(frame[col]):
                    factors[new] = factor
        out = frame.drop(columns=drop).rename(columns=renames)
        changed: dict[str, pd.Series] = {c: out[c] * f for c, f in factors.items()}
        for col in ("park", "industry2"):
            if self.labels and col in out and not pd.api.types.is_numeric_dtype(out[col]):
                changed[col] = out[col].replace(dict(self.labels))
        return out.assign(**changed) if changed else out

    def export(self, frame: _Frame) -> _Frame:
        """:meth:`frame`, and without the ``year`` column in a table without years."""
        out = self.frame(frame)
        if not self.years and "year" in out:
            out = out.drop(columns="year")
        return out

    def summary(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """The run's summary (run.json, the console) in this vocabulary: keys renamed and
        values converted as :meth:`relabel` says; without years, ``year`` is None, ``years``
        empty and a mapping keyed by the one year is that year's entry."""
        if self.identity:
            return dict(summary)
        return self._mapping(summary, 1.0)

    def _mapping(self, value: Mapping[str, Any], factor: float) -> Any:
        if not self.years and list(value) == [str(NO_YEAR)]:
            inner = value[str(NO_YEAR)]
            return self._mapping(inner, factor) if isinstance(inner, Mapping) else inner
        out: dict[str, Any] = {}
        for k, v in value.items():
            new, f = self.relabel(str(k))
            if new not in out:  # a converted key never replaces one already there
                out[new] = self._value(v, factor * f, new)
        return out

    def _value(self, value: Any, factor: float, key: str) -> Any:
        if isinstance(value, Mapping):
            return self._mapping(value, factor)
        if not self.years and key in ("year", "years"):
            if key == "years":
                return [y for y in value if y != NO_YEAR]
            return None if value == NO_YEAR else value
        if isinstance(value, list):
            return [self._value(v, factor, "") for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool) and factor != 1.0:
            return value * factor
        return value

    def units(self, per_area: str) -> dict[str, str]:
        """The units block of run.json."""
        if self.area == "mu":
            return {
                "money": f"{self.money} (inputs converted by their declared units)",
                "area": "m2; mu = 10000/15 m2",
                "per_area": per_area,
            }
        return {
            "money": f"{self.big_money_label} (inputs converted by their declared units)",
            "area": f"m2; {self.area} = {self.area_m2} m2",
            "per_area": per_area,
        }


CHINA = Vocabulary(
    area="mu",
    area_m2=MU_M2,
    area_digits=2,
    money="yuan",
    big_money="wan",
    big_money_factor=1e4,
    big_money_label="万元",
    area_words={"zh": ("亩", "亩"), "en": ("mu", "mu")},
)
"""亩, 万元 and enterprises: the pipeline's own units (changes nothing)."""

US = Vocabulary(
    area="acre",
    area_m2=ACRE_M2,
    area_digits=4,
    money="usd",
    big_money="usd",
    big_money_factor=1.0,
    big_money_label="USD",
    area_words={"zh": ("英亩", "英亩"), "en": ("acres", "acre")},
    labels={OUTSIDE_PARKS: "(outside parks)", NO_LAND: "(no land)", "（无）": "(none)"},
    imperial=True,
)
"""Acres, US dollars and a scale bar in feet and miles (``display_unit = "USD/acre"``)."""


def vocabulary(config: Config, *, year: int | None = None) -> Vocabulary:
    """The vocabulary of a run: :data:`US` with ``[output] display_unit = "USD/acre"``, else
    :data:`CHINA`; no enterprises with ``[input] mode = "parcel_values"``, no classes with
    ``[classes] method = "none"`` (both only outside China's units, which stay as they are),
    no years when ``year`` is :data:`NO_YEAR`."""
    base = US if config.output.display_unit == "USD/acre" else CHINA
    return dataclasses.replace(
        base,
        enterprises=base is CHINA or config.input.mode != "parcel_values",
        classes=base is CHINA or config.classes.method != "none",
        years=year != NO_YEAR,
    )
