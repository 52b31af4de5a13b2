"""The map page's data: a typed, versioned schema for what the page's script reads.

:func:`mujun.maps.render.render_map` fills a :class:`Payload`; :meth:`Payload.to_json` gives
the JSON object that :func:`mujun.maps.encode.pack` compresses into the page, with the keys
the script (``maps/js/``) reads. The script refuses data whose ``schema_version`` is not the
one it was written for (``SCHEMA_VERSION`` in ``maps/js/decode.js``) and says so on the page.
Bump :data:`SCHEMA_VERSION` with the script whenever a key changes meaning or goes away.

The page carries the object in two parts (:meth:`Payload.parts`, joined again by :func:`join`):
what its first view draws (the shapes, the layers' columns and the area), and the rest (the
parcels' other columns, the firms and the lessees: the text, most of the bytes). The script
draws the first view from the first part, then reads the second; at 1,000,000 parcels the first
part is about a third of the JSON.

Encoded shapes and columns are the dictionaries of :mod:`mujun.maps.encode` (their own small
formats: :func:`~mujun.maps.encode.encode_shapes`, :func:`~mujun.maps.encode.encode_column`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "SCHEMA_VERSION",
    "Aggregate",
    "FirmTable",
    "Legend",
    "LegendRow",
    "LesseeTable",
    "Payload",
    "Scale",
    "ShapeSet",
    "Theme",
    "ThemeKind",
    "join",
]

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_ID = re.compile(r"[A-Za-z0-9_-]+")

SCHEMA_VERSION = 4
"""Version of the payload's keys and their meaning (the script checks it)."""

ThemeKind = Literal["outline", "num", "cat", "mask"]
Role = Literal["theme", "overlay"]
Pattern = Literal["hatch", "backhatch", "cross", "dots"]
EncodedShapes = dict[str, Any]
"""A shape set of :func:`mujun.maps.encode.encode_shapes`."""
EncodedColumn = dict[str, Any]
"""A column of :func:`mujun.maps.encode.encode_column` (``k``: num, cat, str or bool)."""


@dataclass(frozen=True)
class ShapeSet:
    """Shapes drawn by one or more layers (parcels, zones, parks) and their table."""

    shapes: EncodedShapes
    cols: Mapping[str, EncodedColumn]

    def to_json(self) -> dict[str, Any]:
        return {"shapes": self.shapes, "cols": dict(self.cols)}


@dataclass(frozen=True)
class LegendRow:
    """One class of a theme's legend: its ``key`` (the class index of a ``num`` theme, the
    value of a ``cat`` theme), colour and words; the page adds the number of parcels shown."""

    key: str | int
    colour: str
    label: str

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "colour": self.colour, "label": self.label}


@dataclass(frozen=True)
class Legend:
    """A theme's legend: title, unit, how its classes were made (``scheme``, in words), the
    rows, and the words of the row of parcels without a value (``none``), if any."""

    title: str
    unit: str
    scheme: str
    rows: Sequence[LegendRow]
    none: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "unit": self.unit,
            "scheme": self.scheme,
            "rows": [r.to_json() for r in self.rows],
            "none": self.none,
        }


@dataclass(frozen=True)
class Theme:
    """One layer of the page: what it draws from which shape set, and how.

    ``role`` ``theme``: one of the themes, of which the page shows one at a time (radio
    buttons), drawn below every overlay; ``overlay``: drawn above the themes, in the order of
    the payload, however they are ticked. ``kind`` is ``outline`` (every shape), ``mask``
    (shapes where boolean ``col`` is true), ``num`` (``col`` classed by the bounds ``bins``
    into ``colors``: a value is in the first class whose bound is >= it, or > it with
    ``closed = "left"``; the last class for larger values) or ``cat`` (``col``'s value looked
    up in ``cats``, else ``other``). Shapes of a ``num`` or ``cat`` theme without a value are
    drawn as an outline in ``stroke``. ``id`` is a plain name (letters, digits, ``_``, ``-``);
    ``label`` is plain text. Opacity and weights are Leaflet's; ``dash`` is a canvas line dash
    in pixels; ``pattern`` fills the shapes with lines or dots of ``fill`` (overlays).
    """

    id: str
    label: str
    kind: ThemeKind
    role: Role = "overlay"
    set: str = "parcels"
    show: bool = False
    fill: str | None = None
    fill_opacity: float = 0.0
    stroke: str | None = None
    weight: float = 0
    dash: Sequence[float] | None = None
    pattern: Pattern | None = None
    col: str | None = None
    bins: Sequence[float] | None = None
    closed: Literal["right", "left"] = "right"
    colors: Sequence[str] | None = None
    cats: Mapping[str, str] | None = None
    other: str | None = None
    legend: Legend | None = None

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise ValueError(f"layer id {self.id!r} is not a plain name")
        colours = [self.fill, self.stroke, self.other, *(self.colors or ())]
        colours += list((self.cats or {}).values())
        colours += [r.colour for r in (self.legend.rows if self.legend else ())]
        bad = [c for c in colours if c is not None and not _COLOUR.fullmatch(c)]
        if bad:
            raise ValueError(f"layer {self.id}: colours must be #rrggbb, not {bad}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "kind": self.kind,
            "role": self.role,
            "set": self.set,
            "show": self.show,
            "fill": self.fill,
            "fillOpacity": self.fill_opacity,
            "stroke": self.stroke,
            "weight": self.weight,
            "dash": None if self.dash is None else list(self.dash),
            "closed": self.closed,
        }
        optional = {
            "pattern": self.pattern,
            "col": self.col,
            "bins": None if self.bins is None else [float(b) for b in self.bins],
            "colors": None if self.colors is None else list(self.colors),
            "cats": None if self.cats is None else dict(self.cats),
            "other": self.other,
            "legend": None if self.legend is None else self.legend.to_json(),
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out


@dataclass(frozen=True)
class FirmTable:
    """The enterprises for the popups: their columns, and per parcel (in the parcel set's
    order) how many firms it has (``count``) and which (``index``), both varints in base64."""

    n: int
    cols: Mapping[str, EncodedColumn]
    count: str
    index: str

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "cols": dict(self.cols), "count": self.count, "index": self.index}


@dataclass(frozen=True)
class LesseeTable:
    """The enterprises with no parcel of their own (lessees), for the search: ``n`` rows of
    ``cols`` (``name``, ``class``; internal maps also ``uscc`` and per-area figures)."""

    n: int
    cols: Mapping[str, EncodedColumn]

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "cols": dict(self.cols)}


@dataclass(frozen=True)
class Aggregate:
    """Above ``above`` parcels, zooms below ``zoom`` draw grid cells of ``cell_px`` pixels."""

    above: int
    zoom: int
    cell_px: int


@dataclass(frozen=True)
class Scale:
    """Which scale bars the page shows."""

    imperial: bool
    metric: bool


@dataclass(frozen=True)
class Payload:
    """Everything the page's script reads.

    ``sets`` must hold ``parcels``; ``export`` names the parcel columns the browser exports, in
    order; ``area_col`` the area column in the display unit; ``figures`` pairs of (label,
    column) for the tooltip's money lines; ``filters`` the parcel columns with a menu;
    ``texts`` the page's words (:meth:`mujun.maps.text.Texts.page_texts`); ``firm_columns``
    pairs of (heading, column) of the popup's firm table; ``lessees`` the enterprises with
    no parcel of their own, found by the search; ``made`` the run's date (ISO) and
    ``source`` what made the map (version, inputs) in words, for the print sheet;
    ``area_m2`` the square metres of the display area unit (the measuring tool).
    """

    sets: Mapping[str, ShapeSet]
    export: Sequence[str]
    area_col: str
    scale: Scale
    csv_formulas: str
    lang: str
    unit: str
    themes: Sequence[Theme]
    figures: Sequence[tuple[str, str]]
    change_col: str | None
    filters: Sequence[str]
    aggregate: Aggregate
    texts: Mapping[str, Any]
    firms: FirmTable | None = None
    firm_columns: Sequence[tuple[str, str]] = field(default_factory=tuple)
    lessees: LesseeTable | None = None
    made: str | None = None
    source: str | None = None
    area_m2: float | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if "parcels" not in self.sets:
            raise ValueError("a map payload needs the parcels shape set")
        missing = {t.set for t in self.themes} - set(self.sets)
        if missing:
            raise ValueError(f"layers draw shape sets the payload lacks: {sorted(missing)}")
        ids = [t.id for t in self.themes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"layer ids repeat: {ids}")
        if sum(t.show for t in self.themes if t.role == "theme") > 1:
            raise ValueError("at most one theme is shown at a time")

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the page (keys as the script reads them)."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "sets": {name: s.to_json() for name, s in self.sets.items()},
            "export": list(self.export),
            "area_col": self.area_col,
            "scale": {"imperial": self.scale.imperial, "metric": self.scale.metric},
            "csv_formulas": self.csv_formulas,
            "lang": self.lang,
            "unit": self.unit,
            "themes": [t.to_json() for t in self.themes],
            "figures": [list(f) for f in self.figures],
            "change_col": self.change_col,
            "filters": list(self.filters),
            "aggregate": {
                "above": self.aggregate.above,
                "zoom": self.aggregate.zoom,
                "cell_px": self.aggregate.cell_px,
            },
            "texts": dict(self.texts),
        }
        if self.firms is not None:
            out["firms"] = self.firms.to_json()
            out["firm_columns"] = [list(c) for c in self.firm_columns]
        if self.lessees is not None:
            out["lessees"] = self.lessees.to_json()
        optional = {"made": self.made, "source": self.source, "area_m2": self.area_m2}
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """:meth:`to_json` in two: the first view's part (every key but ``firms`` and
        ``lessees``, with only the parcel columns a layer draws and the area) and the rest
        (``sets.parcels.cols``: the other parcel columns; ``firms``, ``lessees``). Each has
        ``schema_version``; :func:`join` puts them back together."""
        first = self.to_json()
        drawn = {self.area_col} | {t.col for t in self.themes if t.set == "parcels" and t.col}
        cols = first["sets"]["parcels"]["cols"]
        first["sets"]["parcels"]["cols"] = {k: v for k, v in cols.items() if k in drawn}
        rest: dict[str, Any] = {
            "schema_version": self.schema_version,
            "sets": {"parcels": {"cols": {k: v for k, v in cols.items() if k not in drawn}}},
        }
        for key in ("firms", "lessees"):
            if key in first:
                rest[key] = first.pop(key)
        return first, rest


def join(first: Mapping[str, Any], rest: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of the two parts of :meth:`Payload.parts` (``decode.js`` joins them the
    same way): the rest's columns added to their sets' and its other keys to the first's."""
    out = {**first, "sets": {name: dict(s) for name, s in first["sets"].items()}}
    for name, s in rest.get("sets", {}).items():
        out["sets"][name]["cols"] = {**out["sets"][name]["cols"], **s["cols"]}
    out.update({k: v for k, v in rest.items() if k not in ("sets", "schema_version")})
    return out
