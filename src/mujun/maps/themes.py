"""The map's themes and overlays: what each layer colours, its classes, colours and legend.

A *theme* colours every parcel by one figure (tax per mu of the last year or the first, value
added per mu, the change between them, the class, the score); the page shows one theme at a
time. An *overlay* marks some shapes (underused land and each reason, consolidation zones,
cold spots, vacant land, parks) with an outline or hatching and is drawn above the theme, in
the fixed order :data:`OVERLAY_ORDER`, however the planner ticks them. Every layer has a
legend entry: a theme its classes (with the scheme that made them), an overlay its swatch.

Colours (ColorBrewer, Brewer & Harrower 2003, colorbrewer2.org):

- per-area money, last and first year: RdYlGn, red low; both years use the same classes (of
  the last year, or ``[map] breaks``), so that the two maps can be compared;
- the change between the years: a diverging RdBu centred on zero: decreases are red, increases
  blue, no class holds both, and an unchanged parcel (exactly 0) has its own neutral class;
- classes: green (first) to red (last).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd

from mujun.config import MapConfig
from mujun.indicators import DisplayUnit
from mujun.maps.payload import Legend, LegendRow, Pattern, Theme, ThemeKind
from mujun.maps.text import Texts
from mujun.sums import Grouped
from mujun.underuse import REASONS

__all__ = [
    "CONFIDENTIAL_REASONS",
    "FIGURES",
    "OVERLAY_ORDER",
    "ClassLegend",
    "Classes",
    "classify",
    "diverging",
    "overlays",
    "themes",
]

FIGURES = ("tax", "value_added", "revenue", "assessed_value")
DIGITS = 2
"""Decimals of the figures in the page: classes are made from the values as the page has them,
so that a value and its class agree (-0.003 is 0.00 on the page, and in the unchanged class)."""
CONFIDENTIAL_REASONS = ("low_tax", "below_benchmark", "class_d", "d_streak")
"""Reasons that reveal a firm's tax or score: left out of public maps."""

OVERLAY_ORDER = (
    "underused",
    *(f"flag_{code}" for code in REASONS),
    "cold_spot",
    "redevelopment",
    "commitment_short",
    "zones",
    "vacant",
    "parks",
)
"""The overlays from the bottom up: a zone's outline is drawn over the parcels' hatching, and
park boundaries over everything."""

# RdYlGn, red (low yield, candidates for redevelopment) to green (high yield)
_PALETTES = {
    1: ["#1a9641"],
    2: ["#d7191c", "#1a9641"],
    3: ["#fc8d59", "#ffffbf", "#91cf60"],
    4: ["#d7191c", "#fdae61", "#a6d96a", "#1a9641"],
    5: ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"],
    6: ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"],
    7: ["#d73027", "#fc8d59", "#fee08b", "#ffffbf", "#d9ef8b", "#91cf60", "#1a9850"],
}
# RdBu halves: decreases from the largest (darkest) up; increases from the smallest up
_DECREASE = {1: ["#ef8a62"], 2: ["#b2182b", "#ef8a62"], 3: ["#b2182b", "#ef8a62", "#fddbc7"]}
_INCREASE = {1: ["#67a9cf"], 2: ["#67a9cf", "#2166ac"], 3: ["#d1e5f0", "#67a9cf", "#2166ac"]}
_UNCHANGED = "#f7f7f7"
_NONE = "#9e9e9e"
"""Outline of parcels a theme has no value for (vacant land)."""
_CLASS_COLOURS = ["#1a9641", "#a6d96a", "#fdae61", "#d7191c", "#7b3294", "#008837"]

# an outline colour and a pattern per overlay: told apart by both
_OVERLAY_STYLE: dict[str, tuple[str, Pattern | None, float, tuple[float, ...] | None]] = {
    "underused": ("#b2182b", "hatch", 1.5, None),
    "flag_vacant": ("#6a51a3", "backhatch", 1.5, None),
    "flag_unused_buildings": ("#e7298a", "backhatch", 1.5, None),
    "flag_low_coverage": ("#d95f02", "backhatch", 1.5, None),
    "flag_low_far": ("#a6761d", "backhatch", 1.5, None),
    "flag_low_tax": ("#e41a1c", "backhatch", 1.5, None),
    "flag_below_benchmark": ("#984ea3", "backhatch", 1.5, None),
    "flag_class_d": ("#000000", "backhatch", 1.5, None),
    "flag_d_streak": ("#4d4d4d", "cross", 1.5, None),
    "cold_spot": ("#2c7bb6", "dots", 2.0, None),
    "redevelopment": ("#1b7837", "dots", 2.5, None),
    "commitment_short": ("#ff7f00", "cross", 2.5, None),
    "zones": ("#6a3d9a", None, 3.0, (6.0, 4.0)),
    "vacant": ("#616161", "cross", 1.0, (4.0, 3.0)),
    "parks": ("#1565c0", None, 2.5, (8.0, 4.0)),
}


@dataclass(frozen=True)
class Classes:
    """A numeric theme's classes: the bounds (``bins``), colours, which side of a bound is
    in (``closed``: right, ``v <= bound``; left, ``v < bound``), the rows' words and the
    scheme's."""

    bins: tuple[float, ...]
    colors: tuple[str, ...]
    labels: tuple[str, ...]
    scheme: str
    closed: Literal["right", "left"] = "right"

    def index(self, values: pd.Series) -> pd.Series:
        """The class of each value (-1 for none), as the page computes it."""
        out = pd.Series(-1, index=values.index, dtype="int64")
        ok = values.notna()
        side: Literal["left", "right"] = "left" if self.closed == "right" else "right"
        found = np.searchsorted(np.asarray(self.bins), values[ok].to_numpy(), side=side)
        out[ok] = found.clip(0, len(self.bins) - 1)
        return out


def _fmt(value: float) -> str:
    return f"{value:,.2f}"


def _range_labels(bins: Sequence[float], low: float) -> tuple[str, ...]:
    """``low – b0``, ``b0 – b1``, ...: each class from the bound below to its own."""
    labels, lower = [], low
    for upper in bins:
        labels.append(f"{_fmt(lower)} – {_fmt(upper)}")
        lower = upper
    return tuple(labels)


def classify(values: pd.Series, cfg: MapConfig, tx: Texts) -> Classes:
    """Classes of per-area money: ``[map] breaks`` (policy lines) if set, else the
    mapclassify ``scheme`` with ``k`` classes (fewer if the values have fewer distinct)."""
    valid = values.dropna()
    if cfg.breaks:
        lines = tuple(float(b) for b in cfg.breaks)
        upper = max(float(valid.max()) if len(valid) else lines[-1], lines[-1])
        labels = (
            tx("below", v=_fmt(lines[0])),
            *(f"{_fmt(a)} – {_fmt(b)}" for a, b in itertools.pairwise(lines)),
            tx("at_least", v=_fmt(lines[-1])),
        )
        scheme = tx("scheme_breaks", v=tx("sep").join(f"{b:g}" for b in lines))
        return Classes(
            bins=(*lines, upper),
            colors=tuple(_palette(len(lines) + 1)),
            labels=labels,
            scheme=scheme,
            closed="left",
        )
    k = max(1, min(cfg.k, valid.nunique(), max(_PALETTES)))
    if len(valid) == 0:
        bins = np.array([0.0])
    elif k < 3:
        bins = np.unique(valid.to_numpy())[-k:]
    else:
        with warnings.catch_warnings():
            # Quantiles with ties may form fewer classes than asked; the legend shows the bins.
            warnings.filterwarnings(
                "ignore", message="Not enough unique values", category=UserWarning
            )
            bins = np.unique(mapclassify.classify(valid.to_numpy(), scheme=cfg.scheme, k=k).bins)
    low = float(valid.min()) if len(valid) else 0.0
    return Classes(
        bins=tuple(float(b) for b in bins),
        colors=tuple(_palette(len(bins))),
        labels=_range_labels([float(b) for b in bins], low),
        scheme=tx("scheme_named", name=tx.scheme(cfg.scheme), k=len(bins)),
    )


def diverging(values: pd.Series, k: int, tx: Texts) -> Classes:
    """Classes of a change centred on zero: quantiles of the decreases and of the increases
    (up to three each, in proportion to their numbers), and a class of its own for exactly
    0. No class holds both a decrease and an increase."""
    valid = values.dropna().to_numpy(dtype=float)
    neg, pos = valid[valid < 0], valid[valid > 0]
    zero = bool((valid == 0).any())
    sides = int(len(neg) > 0) + int(len(pos) > 0)
    room = max(sides, k - int(zero))
    kn = 0 if len(neg) == 0 else max(1, round(room * len(neg) / max(1, len(neg) + len(pos))))
    kn = min(kn, 3, len(np.unique(neg)))
    kp = 0 if len(pos) == 0 else min(3, max(1, room - kn), len(np.unique(pos)))

    def bounds(side: np.ndarray, n: int) -> list[float]:
        if n == 0:
            return []
        if n == 1:
            return [float(side.max())]
        return [float(b) for b in np.unique(mapclassify.Quantiles(side, k=n).bins)]

    lower, upper = bounds(neg, kn), bounds(pos, kp)
    bins: list[float] = [*lower, *([0.0] if zero else []), *upper]
    colors = [
        *_DECREASE.get(len(lower), []),
        *([_UNCHANGED] if zero else []),
        *_INCREASE.get(len(upper), []),
    ]
    labels = []
    low = float(valid.min()) if len(valid) else 0.0
    for b in lower:
        labels.append(f"{_fmt(low)} – {_fmt(b)}")
        low = b
    if zero:
        labels.append(tx("unchanged"))
    low = 0.0
    for b in upper:
        labels.append(f"+{_fmt(low)} – +{_fmt(b)}")
        low = b
    if not bins:
        bins, colors, labels = [0.0], [_UNCHANGED], [tx("unchanged")]
    return Classes(
        bins=tuple(bins), colors=tuple(colors), labels=tuple(labels), scheme=tx("scheme_zero")
    )


def _palette(n: int) -> list[str]:
    if n in _PALETTES:
        return _PALETTES[n]
    return _PALETTES[max(_PALETTES)][:n]


@dataclass(frozen=True)
class ClassLegend:
    """Class labels, names and the number of graded enterprises in each (evaluation year)."""

    labels: tuple[str, ...]
    names: tuple[str, ...]
    firms: dict[str, int]


def class_colours(labels: tuple[str, ...]) -> dict[str, str]:
    if len(labels) == 4:
        return dict(zip(labels, _CLASS_COLOURS[:4], strict=True))
    return dict(zip(labels, _PALETTES.get(len(labels), _CLASS_COLOURS)[::-1], strict=False))


def _bool(values: pd.Series) -> pd.Series:
    return values.astype("boolean").fillna(False).astype(bool)


def _year_words(year: int | str, tx: Texts) -> str:
    return tx("year_in", y=year) if year else ""


def _title(tx: Texts, name: str, *details: str) -> str:
    """``name（a，b）`` in Chinese, ``name (a, b)`` in English; empty details left out."""
    inside = tx("sep_list").join(d for d in details if d)
    return f"{name}{tx('paren', v=inside)}" if inside else name


def _num_theme(
    tid: str,
    title: str,
    col: str,
    classes: Classes,
    *,
    unit: str,
    show: bool,
    none: str | None,
) -> Theme:
    legend = Legend(
        title=title,
        unit=unit,
        scheme=classes.scheme,
        rows=[
            LegendRow(key=i, colour=c, label=label)
            for i, (c, label) in enumerate(zip(classes.colors, classes.labels, strict=True))
        ],
        none=none,
    )
    return Theme(
        id=tid,
        label=title,
        kind="num",
        role="theme",
        show=show,
        col=col,
        bins=classes.bins,
        closed=classes.closed,
        colors=classes.colors,
        fill_opacity=0.8,
        stroke="#555555",
        weight=0.6,
        legend=legend,
    )


def _years(parcels: pd.DataFrame, prefix: str) -> list[str]:
    return sorted(
        c.removeprefix(prefix)
        for c in parcels.columns
        if c.startswith(prefix) and c.removeprefix(prefix).isdigit()
    )


def _money_themes(
    parcels: gpd.GeoDataFrame, *, unit: DisplayUnit, cfg: MapConfig, year: int, tx: Texts
) -> list[Theme]:
    """Per-area money of the last year (and the first, on the same classes), value added per
    area, and the change of tax per area between the first year and the last."""
    out: list[Theme] = []
    vacant = _bool(parcels["vacant"])
    none = tx("none_vacant")
    unit_words = tx.unit(unit.label)
    first = next((f for f in ("tax", "assessed_value") if unit.column(f) in parcels), "tax")
    col = unit.column(first)
    if col in parcels:
        values = parcels[col].where(~vacant).round(DIGITS)
        classes = classify(values, cfg, tx)
        title = _title(tx, tx(first), unit_words, _year_words(year, tx))
        out.append(_num_theme(first, title, col, classes, unit=unit_words, show=True, none=none))
        years = _years(parcels, f"{col}_")
        if len(years) > 1 and years[0] != str(year):
            first_col = f"{col}_{years[0]}"
            same = Classes(
                bins=classes.bins,
                colors=classes.colors,
                labels=classes.labels,
                scheme=tx("scheme_same", scheme=classes.scheme, y=year),
                closed=classes.closed,
            )
            title = _title(tx, tx(first), unit_words, _year_words(years[0], tx))
            out.append(
                _num_theme(
                    f"{first}_first", title, first_col, same, unit=unit_words, show=False, none=none
                )
            )
    col = unit.column("value_added")
    if col in parcels:
        values = parcels[col].where(~vacant).round(DIGITS)
        title = _title(tx, tx("value_added"), unit_words, _year_words(year, tx))
        out.append(
            _num_theme(
                "value_added",
                title,
                col,
                classify(values, cfg, tx),
                unit=unit_words,
                show=False,
                none=none,
            )
        )
    change_col = f"{unit.column('tax')}_change"
    if change_col in parcels and parcels[change_col].notna().any():
        years = _years(parcels, f"{unit.column('tax')}_")
        title = tx("change_layer", a=years[0], b=years[-1], unit=unit_words)
        classes = diverging(parcels[change_col].round(DIGITS), cfg.k, tx)
        out.append(
            _num_theme("change", title, change_col, classes, unit=unit_words, show=False, none=none)
        )
    return out


def _class_theme(classes: ClassLegend, *, year: int, tx: Texts, show: bool) -> Theme:
    colours = class_colours(classes.labels)
    title = f"{tx('class_layer')}{tx('title_year', y=year) if year else ''}"
    rows = [
        LegendRow(
            key=label,
            colour=colours[label],
            label=tx(
                "class_row",
                label=label,
                name=tx.class_name(name),
                firms=classes.firms.get(label, 0),
                n="{n}",  # the parcels shown: filled in by the page
            ),
        )
        for label, name in zip(classes.labels, classes.names, strict=False)
    ]
    legend = Legend(
        title=title, unit=tx("class_counts"), scheme="", rows=rows, none=tx("none_class")
    )
    return Theme(
        id="class",
        label=title,
        kind="cat",
        role="theme",
        show=show,
        col="class",
        cats=colours,
        other="#777777",
        fill_opacity=0.85,
        stroke="#555555",
        weight=0.6,
        legend=legend,
    )


def parcel_scores(parcels: pd.DataFrame, firms: pd.DataFrame | None) -> pd.Series | None:
    """Each parcel's score: the scores of the graded firms on it, weighted by the land they
    hold (``land_share_mu``, split evenly over a firm's parcels); None without scores."""
    if firms is None or "score" not in firms or "parcel_ids" not in firms:
        return None
    f = firms.loc[firms["score"].notna(), ["score", "parcel_ids"]].copy()
    share = firms.get("land_share_mu")
    f["land"] = 1.0 if share is None else share.loc[f.index].fillna(0).to_numpy()
    ids = f["parcel_ids"].astype(str).str.split("、")
    f["land"] = f["land"] / ids.map(len).clip(lower=1)
    pairs = f.assign(parcel=ids).explode("parcel")
    pairs = pairs[pairs["parcel"].notna() & (pairs["parcel"] != "")]
    pairs = pairs.assign(w=pairs["land"].where(pairs["land"] > 0, 1e-9))
    pairs = pairs.assign(ws=pairs["w"] * pairs["score"])
    grouped = pairs.groupby("parcel")
    sums = Grouped(grouped)
    score = sums.sum(pairs["ws"]) / sums.sum(pairs["w"])
    return parcels["parcel_id"].astype(str).map(score).astype(float)


def themes(
    parcels: gpd.GeoDataFrame,
    *,
    unit: DisplayUnit,
    cfg: MapConfig,
    year: int,
    classes: ClassLegend | None,
    scores: pd.Series | None,
    tx: Texts,
    public: bool,
) -> list[Theme]:
    """The themes, in the order of their radio buttons; the first money theme is shown (the
    class theme on a public map), and the parcels' outlines are a theme of their own."""
    out: list[Theme] = []
    if not public:
        out += _money_themes(parcels, unit=unit, cfg=cfg, year=year, tx=tx)
    if classes is not None and "class" in parcels:
        out.append(_class_theme(classes, year=year, tx=tx, show=not out))
    if not public and scores is not None and scores.notna().any():
        title = _title(tx, tx("score_layer"), _year_words(year, tx))
        scored = classify(scores.round(DIGITS), MapConfig(scheme=cfg.scheme, k=cfg.k), tx)
        out.append(
            _num_theme(
                "score", title, "score", scored, unit=tx("score_unit"), show=False, none=None
            )
        )
    outline = Theme(
        id="all",
        label=tx("all_parcels", n=len(parcels)),
        kind="outline",
        role="theme",
        show=not out,
        stroke="#757575",
        weight=0.5,
        legend=Legend(
            title=tx("all_parcels", n=len(parcels)),
            unit="",
            scheme="",
            rows=[LegendRow(key=0, colour="#757575", label=tx("outline_row"))],
        ),
    )
    return [*out, outline]


def _overlay(tid: str, label: str, *, kind: ThemeKind, col: str | None, **more: Any) -> Theme:
    colour, pattern, weight, dash = _OVERLAY_STYLE[tid]
    return Theme(
        id=tid,
        label=label,
        kind=kind,
        role="overlay",
        col=col,
        fill=colour,
        fill_opacity=1.0 if pattern else 0.0,
        stroke=colour,
        weight=weight,
        dash=dash,
        pattern=pattern,
        **more,
    )


def overlays(
    parcels: gpd.GeoDataFrame,
    *,
    zones: int,
    parks: bool,
    tx: Texts,
    public: bool,
) -> list[Theme]:
    """The overlays in :data:`OVERLAY_ORDER`: underused land and each of its reasons, cold
    spots, consolidation zones (``zones`` of them), vacant land and the parks' boundaries."""
    found: dict[str, Theme] = {}
    if "underused" in parcels:
        n = int(_bool(parcels["underused"]).sum())
        found["underused"] = _overlay(
            "underused", tx("under_all", n=n), kind="mask", col="underused"
        )
        for code in REASONS:
            col = f"flag_{code}"
            if (public and code in CONFIDENTIAL_REASONS) or col not in parcels:
                continue
            count = int(_bool(parcels[col]).sum())
            if count:
                found[col] = _overlay(
                    col, tx("under_one", label=tx(code), n=count), kind="mask", col=col
                )
    if not public and "cold_spot" in parcels and _bool(parcels["cold_spot"]).any():
        n = int(_bool(parcels["cold_spot"]).sum())
        found["cold_spot"] = _overlay("cold_spot", tx("cold", n=n), kind="mask", col="cold_spot")
    if not public and "redevelopment_status" in parcels:
        n = int(parcels["redevelopment_status"].notna().sum())
        found["redevelopment"] = _overlay(
            "redevelopment", tx("register_layer", n=n), kind="mask", col="in_register"
        )
    if not public and "commitment" in parcels:
        n = int((parcels["commitment"] == "short").sum())
        found["commitment_short"] = _overlay(
            "commitment_short", tx("commitment_layer", n=n), kind="mask", col="commitment_short"
        )
    if zones:
        found["zones"] = _overlay(
            "zones", tx("zones", n=zones), kind="outline", col=None, set="zones"
        )
    n_vacant = int(_bool(parcels["vacant"]).sum())
    found["vacant"] = _overlay(
        "vacant", tx("vacant_layer", n=n_vacant), kind="mask", col="vacant", show=True
    )
    if parks:
        found["parks"] = _overlay(
            "parks", tx("parks"), kind="outline", col=None, set="parks", show=True
        )
    return [found[k] for k in OVERLAY_ORDER if k in found]
