"""Assemble the planner's map: per-mu choropleths, classes, vacant and underused land, zones,
parks, legends, and the in-page search, filters and export.

folium gives the page (Leaflet, basemaps, the layer control); the parcels are not folium
layers. Each shape set (parcels, zones, parks) goes into the page once, compactly encoded
(:mod:`mujun.maps.encode`), with its table; every layer is a canvas that the page's script
(``maps/js/``) paints from that one copy. What the page reads is a typed, versioned
:class:`~mujun.maps.payload.Payload`; each legend block names its layer's id (``data-layer``).
Strings from input data reach the page only inside that JSON, which is escaped so that no
value can close its script element, and the script shows them with ``textContent``. The
legends and the title, written here as HTML, escape them with :func:`html.escape`.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from typing import Any, cast

import branca
import folium
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from mujun.config import MapConfig
from mujun.indicators import DisplayUnit
from mujun.maps.assets import CDN_CSS, CDN_JS, inline_assets
from mujun.maps.basemaps import Basemap, add_basemap, add_orthophoto
from mujun.maps.controls import ParcelScript, RawHTML
from mujun.maps.encode import (
    encode_column,
    encode_shapes,
    encode_varints,
    pack,
    simplify_coverage,
)
from mujun.maps.gcj02 import shift_geometries
from mujun.maps.payload import Aggregate, FirmTable, Payload, Scale, ShapeSet, Theme, ThemeKind
from mujun.maps.text import Texts
from mujun.underuse import REASONS
from mujun.vocabulary import CHINA, Vocabulary

__all__ = ["ClassLegend", "map_html", "render_map"]


class _PlannerMap(folium.Map):
    """folium.Map loading only what this map uses (Leaflet): see maps.assets."""

    default_js = list(CDN_JS.items())  # noqa: RUF012 (folium reads these class attributes)
    default_css = list(CDN_CSS.items())  # noqa: RUF012


# Red (low yield, candidates for redevelopment) to green (high yield): ColorBrewer RdYlGn.
_PALETTES = {
    3: ["#fc8d59", "#ffffbf", "#91cf60"],
    4: ["#d7191c", "#fdae61", "#a6d96a", "#1a9641"],
    5: ["#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"],
    6: ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"],
    7: ["#d73027", "#fc8d59", "#fee08b", "#ffffbf", "#d9ef8b", "#91cf60", "#1a9850"],
}
_VACANT = "#9e9e9e"
_FIGURES = ("tax", "value_added", "revenue", "assessed_value")
_CONFIDENTIAL_REASONS = ("low_tax", "below_benchmark", "class_d", "d_streak")
"""Reasons that reveal a firm's tax or score: left out of public maps."""


@dataclass(frozen=True)
class _Classes:
    bins: np.ndarray  # upper bounds
    colors: list[str]
    index: pd.Series  # class index per parcel, -1 for no value


def _classify(values: pd.Series, cfg: MapConfig) -> _Classes:
    valid = values.dropna()
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
    colors = _palette(len(bins))
    idx = pd.Series(-1, index=values.index, dtype="int64")
    ok = values.notna()
    idx[ok] = np.searchsorted(bins, values[ok].to_numpy(), side="left").clip(0, len(bins) - 1)
    return _Classes(bins=bins, colors=colors, index=idx)


def _palette(n: int) -> list[str]:
    if n in _PALETTES:
        return _PALETTES[n]
    if n < 3:
        return [_PALETTES[3][0], _PALETTES[3][-1]][-n:] if n == 2 else [_PALETTES[3][-1]]
    return _PALETTES[max(_PALETTES)][:n]


def _year(year: int, tx: Texts, sep: str = "") -> str:
    """The year for labels; nothing for a table without years (year 0)."""
    if not year:
        return ""
    return f"{sep}{tx('year_in', y=year)}" if sep else tx("title_year", y=year)


def _paren(tx: Texts, text: str) -> str:
    """``（text）`` in Chinese, `` (text)`` in English."""
    return f"（{text}）" if tx.lang == "zh" else f" ({text})"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def _legend_html(
    title: str,
    classes: _Classes,
    values: pd.Series,
    unit: DisplayUnit,
    n_vacant: int,
    *,
    layer: str,
    tx: Texts,
) -> str:
    lo = values.min()
    rows = []
    lower = lo
    counts = classes.index.value_counts()
    for i, (upper, color) in enumerate(zip(classes.bins, classes.colors, strict=True)):
        rows.append(
            f'<div><span style="background:{color}" class="mj-sw"></span>'
            f"{_fmt(lower)} – {_fmt(upper)}"
            f"{_paren(tx, tx('parcels_n', n=int(counts.get(i, 0))))}</div>"
        )
        lower = upper
    rows.append(
        f'<div><span style="background:{_VACANT}" class="mj-sw"></span>'
        f"{tx('vacant_legend', n=n_vacant)}</div>"
    )
    return (
        f"{_legend_start(layer, title)}"
        f'<div class="mj-unit">{html.escape(unit.label)}</div>{"".join(rows)}</div>'
    )


def _legend_start(layer: str, title: str) -> str:
    """A legend block's opening and title; ``layer`` is the id of the layer it shows with."""
    return (
        f'<div class="mj-legend-block" data-layer="{html.escape(layer)}">'
        f"<b>{html.escape(title)}</b>"
    )


def _theme(tid: str, label: str, *, kind: ThemeKind, show: bool, **style: Any) -> Theme:
    """One layer of the page: what it draws (``kind``: outline, num, cat or mask) and how."""
    # Leaflet's layer control inserts names as HTML
    return Theme(id=tid, label_html=html.escape(label), kind=kind, show=show, **style)


def _num_theme(tid: str, label: str, col: str, classes: _Classes, *, show: bool) -> Theme:
    return _theme(
        tid,
        label,
        kind="num",
        show=show,
        col=col,
        bins=tuple(float(b) for b in classes.bins),
        colors=tuple(classes.colors),
        fill_opacity=0.8,
        stroke="#555555",
        weight=0.6,
    )


def _mask_theme(tid: str, label: str, col: str, colour: str) -> Theme:
    return _theme(
        tid,
        label,
        kind="mask",
        show=False,
        col=col,
        fill=colour,
        fill_opacity=0.35,
        stroke=colour,
        weight=2,
    )


def _figure_themes(
    parcels: gpd.GeoDataFrame, *, unit: DisplayUnit, cfg: MapConfig, year: int, tx: Texts
) -> tuple[list[Theme], list[str]]:
    """Choropleths of per-area money (internal maps only) and of its change between years,
    with their legends."""
    themes, legends = [], []
    n_vacant = int(parcels["vacant"].sum())
    first = next((f for f in ("tax", "assessed_value") if unit.column(f) in parcels), "tax")
    sep = "，" if cfg.lang == "zh" else ", "
    for figure, show in ((first, True), ("value_added", False)):
        col = unit.column(figure)
        if col not in parcels:
            continue
        values = parcels[col].where(~parcels["vacant"])
        bins = _classify(values, cfg)
        name = f"{tx(figure)}{_paren(tx, unit.label + _year(year, tx, sep))}"
        themes.append(_num_theme(figure, name, col, bins, show=show))
        legends.append(_legend_html(name, bins, values, unit, n_vacant, layer=figure, tx=tx))
    change_col = f"{unit.column('tax')}_change"
    if change_col in parcels and parcels[change_col].notna().any():
        values = parcels[change_col]
        bins = _classify(values, cfg)
        prefix = f"{unit.column('tax')}_"
        years = [
            c.removeprefix(prefix)
            for c in parcels.columns
            if c.startswith(prefix) and c.removeprefix(prefix).isdigit()
        ]
        name = tx("change_layer", a=min(years), b=max(years), unit=unit.label)
        themes.append(_num_theme("change", name, change_col, bins, show=False))
        legends.append(_legend_html(name, bins, values, unit, n_vacant, layer="change", tx=tx))
    return themes, legends


def _underuse_themes(parcels: gpd.GeoDataFrame, tx: Texts, *, public: bool) -> list[Theme]:
    """One layer of all underused parcels, and one per reason (a parcel may be in several)."""
    if "underused" not in parcels:
        return []
    n = int(parcels["underused"].fillna(False).astype(bool).sum())
    themes = [_mask_theme("underused", tx("under_all", n=n), "underused", "#b2182b")]
    for code in _REASONS:
        col = f"flag_{code}"
        if (public and code in _CONFIDENTIAL_REASONS) or col not in parcels:
            continue
        count = int(parcels[col].fillna(False).astype(bool).sum())
        if count:
            themes.append(
                _mask_theme(col, tx("under_one", label=tx(code), n=count), col, "#d6604d")
            )
    return themes


def _lonlat(geoms: gpd.GeoSeries) -> np.ndarray:
    """Longitude/latitude, exterior rings counter-clockwise (RFC 7946)."""
    return cast(np.ndarray, shapely.orient_polygons(geoms.to_crs(4326).array, exterior_cw=False))


def _shape_set(
    geoms: gpd.GeoSeries, cols: dict[str, dict[str, Any]], *, gcj02: bool, simplify_m: float = 0
) -> tuple[ShapeSet, np.ndarray]:
    """A shape set for the page and its longitude/latitude bounds (as exported, unshifted)."""
    if simplify_m > 0 and geoms.crs is not None and geoms.crs.is_projected:
        geoms = gpd.GeoSeries(simplify_coverage(geoms.array, simplify_m), crs=geoms.crs)
    lonlat = _lonlat(geoms)
    display = shift_geometries(lonlat) if gcj02 else None
    bounds = shapely.total_bounds(lonlat)
    return ShapeSet(shapes=encode_shapes(lonlat, display=display), cols=cols), bounds


_TEXT_COLUMNS = ("parcel_id", "enterprises", "uscc")
_CAT_COLUMNS = ("park", "class", "classes", "class_change", "industry2", "zone_id")


def _num_digits(vocab: Vocabulary) -> dict[str, int]:
    """The numeric columns of the page's parcel table and their decimals."""
    return {
        f"area_{vocab.area}": 4,
        f"declared_area_{vocab.area}": 2,
        "area_diff_pct": 1,
        "coverage": 3,
        "far": 2,
    }


def _bool(values: pd.Series) -> pd.Series:
    return values.astype("boolean").fillna(False).astype(bool)


def _parcel_columns(
    parcels: gpd.GeoDataFrame, money: list[str], *, public: bool, vocab: Vocabulary
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The parcels' table for the page and the columns a browser export writes."""
    cols: dict[str, dict[str, Any]] = {}
    for col in (*_TEXT_COLUMNS, *_CAT_COLUMNS):
        if col in parcels:
            cols[col] = encode_column(parcels[col].astype(object))
    for col, digits in {**_num_digits(vocab), **dict.fromkeys(money, 2)}.items():
        if col in parcels:
            cols[col] = encode_column(parcels[col], digits=digits)
    flags = ["vacant", "underused", "cold_spot"] + [
        f"flag_{c}" for c in _REASONS if not (public and c in _CONFIDENTIAL_REASONS)
    ]
    for col in flags:
        if col in parcels and not (public and col == "cold_spot"):
            cols[col] = encode_column(_bool(parcels[col]))
    if "underuse_reasons" in parcels:
        drop = _CONFIDENTIAL_REASONS if public else ()
        reasons = (
            parcels["underuse_reasons"]
            .astype(object)
            .where(parcels["underuse_reasons"].notna(), "")
        )
        kept = reasons.map(
            lambda r: "; ".join(c for c in str(r).split("; ") if c and c not in drop)
        )
        cols["reasons"] = encode_column(kept.where(kept != "", None))
    export = [
        c
        for c in (
            "parcel_id",
            "park",
            "class",
            "industry2",
            "enterprises",
            "uscc",
            f"area_{vocab.area}",
            "vacant",
            "underused",
            "zone_id",
            *(m for m in money if not m.endswith("_change")),
            "reasons",
        )
        if c in cols
    ]
    return cols, export


def _firm_table(
    firms: pd.DataFrame, parcel_ids: pd.Series, unit: DisplayUnit, tx: Texts, *, public: bool
) -> tuple[FirmTable, list[tuple[str, str]]]:
    """Each parcel's enterprises (for its popup): a firm table and per-parcel firm indices."""
    f = firms.reset_index(drop=True)
    position = pd.Series(np.arange(len(parcel_ids)), index=parcel_ids.astype(str).to_numpy())
    position = position[~position.index.duplicated()]
    pairs = f["parcel_ids"].astype(str).str.split("、").explode().dropna()
    links = pd.DataFrame(
        {
            "parcel": pairs.map(position).to_numpy(),
            "firm": pairs.index,
            "name": f.loc[pairs.index, "name"].to_numpy(),
        }
    ).dropna(subset=["parcel"])
    links = links.astype({"parcel": "int64"}).sort_values(["parcel", "name", "firm"], kind="stable")
    count = np.bincount(links["parcel"].to_numpy(), minlength=len(parcel_ids))
    columns = [(tx("firm_name"), "name"), (tx("firm_class"), "class")]
    if not public:
        for figure in ("tax", "value_added"):
            if unit.column(figure) in f:
                columns.append((tx(figure), unit.column(figure)))
        if "score" in f:
            columns.append((tx("firm_score"), "score"))
    cols = {
        c: encode_column(f[c].astype(object) if c in ("name", "class") else f[c], digits=2)
        for _, c in columns
        if c in f
    }
    table = FirmTable(
        n=len(f),
        cols=cols,
        count=encode_varints(count),
        index=encode_varints(links["firm"].to_numpy()),
    )
    return table, [c for c in columns if c[1] in cols]


@dataclass(frozen=True)
class ClassLegend:
    """Class labels, names and the number of graded enterprises in each (evaluation year)."""

    labels: tuple[str, ...]
    names: tuple[str, ...]
    firms: dict[str, int]


_CLASS_COLOURS = ["#1a9641", "#a6d96a", "#fdae61", "#d7191c", "#7b3294", "#008837"]


def _class_colour(labels: tuple[str, ...]) -> dict[str, str]:
    if len(labels) == 4:
        return dict(zip(labels, _CLASS_COLOURS[:4], strict=True))
    return dict(zip(labels, _PALETTES.get(len(labels), _CLASS_COLOURS)[::-1], strict=False))


def _class_legend_html(title: str, cls: pd.Series, legend: ClassLegend, tx: Texts) -> str:
    colours = _class_colour(legend.labels)
    parcels = cls.value_counts()
    rows = []
    for label, cname in zip(legend.labels, legend.names, strict=False):
        rows.append(
            f'<div><span style="background:{colours[label]}" class="mj-sw"></span>'
            + tx(
                "class_row",
                label=html.escape(label),
                name=html.escape(cname),
                firms=legend.firms.get(label, 0),
                parcels=int(parcels.get(label, 0)),
            )
            + "</div>"
        )
    return (
        f"{_legend_start('class', title)}"
        f'<div class="mj-unit">{tx("class_counts")}</div>{"".join(rows)}</div>'
    )


_REASONS = tuple(REASONS)  # the underuse reason codes, in their order


def _base_map(cfg: MapConfig) -> tuple[folium.Map, Basemap]:
    fmap = _PlannerMap(tiles=None, control_scale=False, prefer_canvas=False)
    base = add_basemap(fmap, cfg.basemap, tianditu_key=cfg.tianditu_key)
    if cfg.orthophoto is not None:
        add_orthophoto(fmap, cfg.orthophoto, max_px=cfg.orthophoto_max_px)
    return fmap, base


_ZONE_MONEY = ("tax_wan", "tax_per_mu", "park_median_tax_per_mu", "potential_tax_wan", "gain_wan")
"""Zone columns of money (万元, 万元/亩): left out of public maps."""


def _zone_set(zones: gpd.GeoDataFrame, *, gcj02: bool, area: str, public: bool = False) -> ShapeSet:
    """The zones for the page: their outlines and what their tooltip and popup say (rank,
    park, parcels, firms, land; on internal maps also today's tax and the gain at the park's
    median). Each zone's parcels, their reasons and its firms come from the parcel set and the
    firm table (parcels carry ``zone_id``)."""
    digits = {
        "rank": 0,
        "n_parcels": 0,
        "n_enterprises": 0,
        area: 2,
        area.replace("area_", "vacant_", 1): 2,
        "share_of_park_land": 4,
        **({} if public else dict.fromkeys(_ZONE_MONEY, 2)),
    }
    cols = {
        "zone_id": encode_column(zones["zone_id"].astype(object)),
        **({"park": encode_column(zones["park"].astype(object))} if "park" in zones else {}),
        **{c: encode_column(zones[c], digits=d) for c, d in digits.items() if c in zones},
    }
    return _shape_set(zones.geometry, cols, gcj02=gcj02)[0]


def _overlay_sets(
    *,
    parks: gpd.GeoDataFrame | None,
    zones: gpd.GeoDataFrame | None,
    gcj02: bool,
    area: str,
    tx: Texts,
    public: bool = False,
) -> tuple[dict[str, ShapeSet], list[Theme]]:
    """Consolidation zones and park boundaries: their shapes and layers."""
    sets: dict[str, ShapeSet] = {}
    themes: list[Theme] = []
    if zones is not None and len(zones):
        sets["zones"] = _zone_set(zones, gcj02=gcj02, area=area, public=public)
        themes.append(
            _theme(
                "zones",
                tx("zones", n=len(zones)),
                kind="outline",
                show=False,
                set="zones",
                fill="#6a3d9a",
                fill_opacity=0.1,
                stroke="#6a3d9a",
                weight=3,
                dash=(6, 4),
            )
        )
    if parks is not None and len(parks):
        cols = {"park": encode_column(parks["park"].astype(object))}
        sets["parks"] = _shape_set(parks.geometry, cols, gcj02=gcj02)[0]
        themes.append(
            _theme(
                "parks",
                tx("parks"),
                kind="outline",
                show=True,
                set="parks",
                stroke="#1565c0",
                weight=2.5,
                dash=(8, 4),
            )
        )
    return sets, themes


def _parcel_themes(
    parcels: gpd.GeoDataFrame,
    *,
    unit: DisplayUnit,
    cfg: MapConfig,
    year: int,
    classes: ClassLegend | None,
    tx: Texts,
    public: bool,
) -> tuple[list[Theme], list[str]]:
    """The layers drawn from the parcels, and the legends of those that have one."""
    themes = [
        _theme(
            "all",
            tx("all_parcels", n=len(parcels)),
            kind="outline",
            show=True,
            stroke="#757575",
            weight=0.5,
        )
    ]
    legends: list[str] = []
    if not public:
        more, legends = _figure_themes(parcels, unit=unit, cfg=cfg, year=year, tx=tx)
        themes += more
    if classes is not None and "class" in parcels:
        name = f"{tx('class_layer')}{_year(year, tx)}"
        themes.append(
            _theme(
                "class",
                name,
                kind="cat",
                show=public,
                col="class",
                cats=_class_colour(classes.labels),
                other="#777777",
                fill_opacity=0.85,
                stroke="#555555",
                weight=0.6,
            )
        )
        legends.append(_class_legend_html(name, parcels["class"], classes, tx))
    n_vacant = int(_bool(parcels["vacant"]).sum())
    themes.append(
        _theme(
            "vacant",
            tx("vacant_layer", n=n_vacant),
            kind="mask",
            show=True,
            col="vacant",
            fill=_VACANT,
            fill_opacity=0.55,
            stroke="#424242",
            weight=1,
            dash=(4, 3),
        )
    )
    themes += _underuse_themes(parcels, tx, public=public)
    if not public and "cold_spot" in parcels and _bool(parcels["cold_spot"]).any():
        n_cold = int(_bool(parcels["cold_spot"]).sum())
        themes.append(_mask_theme("cold_spot", tx("cold", n=n_cold), "cold_spot", "#2c7bb6"))
    return themes, legends


def render_map(
    parcels: gpd.GeoDataFrame,
    *,
    unit: DisplayUnit,
    cfg: MapConfig,
    year: int,
    parks: gpd.GeoDataFrame | None = None,
    classes: ClassLegend | None = None,
    zones: gpd.GeoDataFrame | None = None,
    firms: pd.DataFrame | None = None,
    csv_formulas: str = "neutralise",
    vocab: Vocabulary = CHINA,
) -> folium.Map:
    """Build the planner's map for ``year``.

    ``parcels`` is the parcel result (a projected CRS: display shapes are simplified in metres)
    in the words of ``vocab`` (:meth:`~mujun.vocabulary.Vocabulary.frame`), with
    ``parcel_id``, ``area_mu`` (``area_acre``, ...), ``vacant``, ``enterprises``, the
    per-area columns of ``unit`` and, for the class layer, ``class``; ``zones`` likewise.
    ``firms`` (the enterprise table of ``year``, with ``parcel_ids``) fills each parcel's
    popup; ``csv_formulas`` is how the page's CSV export treats text that would run as a
    formula; ``vocab`` also gives the words of the area and the scale bar (metres, or feet
    and miles). Returns a :class:`folium.Map`; save it with :func:`map_html`.
    """
    fmap, base = _base_map(cfg)
    tx = Texts(cfg.lang, vocab=vocab)
    public = cfg.profile == "public"
    money = (
        []
        if public
        else [unit.column(f) for f in _FIGURES if unit.column(f) in parcels]
        + [c for c in (f"{unit.column('tax')}_change",) if c in parcels]
    )
    cols, export = _parcel_columns(parcels, money, public=public, vocab=vocab)
    shapes, (west, south, east, north) = _shape_set(
        parcels.geometry, cols, gcj02=base.gcj02, simplify_m=cfg.simplify_m
    )
    fmap.fit_bounds([[south, west], [north, east]])
    themes, legends = _parcel_themes(
        parcels, unit=unit, cfg=cfg, year=year, classes=classes, tx=tx, public=public
    )
    area_col = f"area_{vocab.area}"
    more_sets, more_themes = _overlay_sets(
        parks=parks, zones=zones, gcj02=base.gcj02, area=area_col, tx=tx, public=public
    )
    firm_table, firm_columns = (
        _firm_table(firms, parcels["parcel_id"], unit, tx, public=public)
        if firms is not None and len(firms) and "parcel_ids" in firms
        else (None, [])
    )
    payload = Payload(
        sets={"parcels": shapes, **more_sets},
        export=export,
        area_col=area_col,
        scale=Scale(imperial=vocab.imperial, metric=not vocab.imperial),
        csv_formulas=csv_formulas,
        lang=cfg.lang,
        unit=unit.label,
        themes=[*themes, *more_themes],
        figures=[(tx(f), unit.column(f)) for f in _FIGURES if unit.column(f) in money],
        change_col=next((c for c in money if c.endswith("_change")), None),
        filters=[f for f in ("class", "park", "industry2", "reasons", "zone_id") if f in cols],
        aggregate=Aggregate(
            above=cfg.aggregate_above, zoom=cfg.aggregate_zoom, cell_px=cfg.aggregate_cell_px
        ),
        texts=tx.page_texts(public=public),
        firms=firm_table,
        firm_columns=firm_columns,
    )
    control = folium.LayerControl(collapsed=False)
    control.add_to(fmap)
    ParcelScript(control, pack(payload.to_json())).add_to(fmap)
    root = cast(branca.element.Figure, fmap.get_root())
    # as text, never as templates: a title or class name holding "{{ }}" or "{% %}" is shown
    root.html.add_child(
        RawHTML(
            f'<div class="mj-title">{html.escape(cfg.title)}{html.escape(_year(year, tx))}</div>'
            f'<div class="mj-legend">{"".join(legends)}</div>'
        )
    )
    return fmap


def map_html(fmap: folium.Map, *, offline: bool) -> str:
    """The page of ``fmap``; with ``offline`` every script and stylesheet is embedded."""
    page = fmap.get_root().render()
    return inline_assets(page) if offline else page
