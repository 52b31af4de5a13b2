"""The map page's data: a typed, versioned schema for what the page's script reads.

:func:`mujun.maps.render.render_map` fills a :class:`Payload`; :meth:`Payload.to_json` gives
the JSON object that :func:`mujun.maps.encode.pack` compresses into the page, with the keys
the script (``maps/js/``) reads. The script refuses data whose ``schema_version`` is not the
one it was written for (``SCHEMA_VERSION`` in ``maps/js/decode.js``) and says so on the page.
Bump :data:`SCHEMA_VERSION` with the script whenever a key changes meaning or goes away.

Encoded shapes and columns are the dictionaries of :mod:`mujun.maps.encode` (their own small
formats: :func:`~mujun.maps.encode.encode_shapes`, :func:`~mujun.maps.encode.encode_column`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "SCHEMA_VERSION",
    "Aggregate",
    "FirmTable",
    "LesseeTable",
    "Payload",
    "Scale",
    "ShapeSet",
    "Theme",
    "ThemeKind",
]

SCHEMA_VERSION = 1
"""Version of the payload's keys and their meaning (the script checks it)."""

ThemeKind = Literal["outline", "num", "cat", "mask"]
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
class Theme:
    """One layer of the page: what it draws from which shape set, and how.

    ``kind`` is ``outline`` (every shape), ``mask`` (shapes where boolean ``col`` is true),
    ``num`` (``col`` classed by upper bounds ``bins`` into ``colors``) or ``cat`` (``col``'s
    value looked up in ``cats``, else ``other``). ``id`` is a plain name (letters, digits,
    ``_``, ``-``): the legend block of the layer, if any, carries it as ``data-layer``.
    ``label_html`` is the layer control's name, already escaped (Leaflet inserts it as HTML).
    Opacity and weights are Leaflet's; ``dash`` is a canvas line dash in pixels.
    """

    id: str
    label_html: str
    kind: ThemeKind
    set: str = "parcels"
    show: bool = False
    fill: str | None = None
    fill_opacity: float = 0.0
    stroke: str | None = None
    weight: float = 0
    dash: Sequence[float] | None = None
    col: str | None = None
    bins: Sequence[float] | None = None
    colors: Sequence[str] | None = None
    cats: Mapping[str, str] | None = None
    other: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "label_html": self.label_html,
            "kind": self.kind,
            "set": self.set,
            "show": self.show,
            "fill": self.fill,
            "fillOpacity": self.fill_opacity,
            "stroke": self.stroke,
            "weight": self.weight,
            "dash": None if self.dash is None else list(self.dash),
        }
        optional = {
            "col": self.col,
            "bins": None if self.bins is None else [float(b) for b in self.bins],
            "colors": None if self.colors is None else list(self.colors),
            "cats": None if self.cats is None else dict(self.cats),
            "other": self.other,
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
    no parcel of their own, found by the search.
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
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if "parcels" not in self.sets:
            raise ValueError("a map payload needs the parcels shape set")
        missing = {t.set for t in self.themes} - set(self.sets)
        if missing:
            raise ValueError(f"layers draw shape sets the payload lacks: {sorted(missing)}")

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
        return out
