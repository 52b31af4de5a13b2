"""Assemble the planner's folium map: per-mu choropleths, vacant land, parks, legends.

Every string that came from input data (names, parcel ids, park names, the title) is escaped
with :func:`html.escape` before it reaches the page, and the tooltip is built here from escaped
parts, because folium's GeoJSON tooltips insert property values into the page as HTML.
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
from mujun.io.writers import rfc7946_geometries
from mujun.maps.assets import CDN_CSS, CDN_JS, inline_assets
from mujun.maps.basemaps import Basemap, add_basemap, add_orthophoto
from mujun.maps.controls import FilterControl
from mujun.maps.gcj02 import shift_geometries
from mujun.maps.text import Texts

__all__ = ["ClassLegend", "map_html", "render_map"]


class _PlannerMap(folium.Map):
    """folium.Map loading only what this map uses (Leaflet, jQuery): see maps.assets."""

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


def _tooltips(parcels: pd.DataFrame, unit: DisplayUnit, tx: Texts, *, public: bool) -> list[str]:
    esc = html.escape
    rows = []
    per = {} if public else {f: unit.column(f) for f in _FIGURES if unit.column(f) in parcels}
    records = cast(
        list[dict[str, Any]], pd.DataFrame(parcels).drop(columns="geometry").to_dict("records")
    )
    for r in records:
        lines = [f"<b>{tx('parcel', id=esc(str(r['parcel_id'])))}</b>"]
        if isinstance(r.get("park"), str):
            lines.append(tx("park", v=esc(r["park"])))
        firms = r.get("enterprises")
        names = esc(firms) if isinstance(firms, str) and firms else tx("no_firm")
        lines.append(tx("firms", v=names))
        lines.append(tx("surveyed", v=_fmt(r["area_mu"])))
        declared = r.get("declared_area_mu")
        if declared is not None and not pd.isna(declared):
            lines.append(tx("declared", v=_fmt(declared), d=_fmt(r.get("area_diff_pct"), 1)))
        for figure, col in per.items():
            lines.append(tx("figure", label=tx(figure), v=_fmt(r[col]), unit=esc(unit.label)))
        if isinstance(r.get("classes"), str):
            lines.append(tx("class", v=esc(r["classes"])))
        change = r.get(f"{unit.column('tax')}_change")
        if not public and change is not None and not pd.isna(change):
            lines.append(tx("change", v=f"{change:+,.2f}", unit=esc(unit.label)))
        if isinstance(r.get("class_change"), str):
            lines.append(tx("class_change", v=esc(r["class_change"])))
        lines += _land_lines(r, tx, public=public)
        if isinstance(r.get("zone_id"), str):
            lines.append(tx("zone", v=esc(r["zone_id"])))
        rows.append("<br>".join(lines))
    return rows


_DATA_COLUMNS = (
    "parcel_id",
    "park",
    "class",
    "industry2",
    "enterprises",
    "uscc",
    "area_mu",
    "vacant",
    "underused",
    "zone_id",
)
_INTERNAL_COLUMNS = ("tax_per_mu", "value_added_per_mu", "revenue_per_mu")


def _land_lines(r: dict[str, Any], tx: Texts, *, public: bool) -> list[str]:
    """Tooltip lines on buildings and underuse."""
    esc = html.escape
    lines = []
    if r.get("coverage") is not None and not pd.isna(r.get("coverage")):
        far = r.get("far")
        lines.append(
            tx("coverage", v=_fmt(100 * r["coverage"], 1))
            + ("" if far is None or pd.isna(far) else tx("far", v=_fmt(far)))
        )
    reasons = r.get("underuse_reasons")
    if isinstance(reasons, str) and reasons:
        codes = [c for c in reasons.split("; ") if not (public and c in _CONFIDENTIAL_REASONS)]
        if codes:
            lines.append(tx("reasons", v=esc(tx("sep").join(tx(c) for c in codes))))
    return lines


def _display_frame(
    parcels: gpd.GeoDataFrame, unit: DisplayUnit, tx: Texts, *, public: bool
) -> gpd.GeoDataFrame:
    """What the page draws: RFC 7946 geometry at 6 decimals (~0.1 m), the tooltip, and plain
    data properties for search, filters and export (no confidential figure when public)."""
    geoms = rfc7946_geometries(parcels.geometry, precision=6)
    data = pd.DataFrame(index=parcels.index)
    for col in (*_DATA_COLUMNS, *(() if public else _INTERNAL_COLUMNS)):
        if col in parcels:
            values = parcels[col]
            if pd.api.types.is_float_dtype(values):
                values = values.round(4)
            data[col] = values.astype(object).where(values.notna(), None)
    if "underuse_reasons" in parcels:
        drop = _CONFIDENTIAL_REASONS if public else ()
        data["reasons"] = [
            "; ".join(c for c in str(r).split("; ") if c and c not in drop)
            if isinstance(r, str)
            else ""
            for r in parcels["underuse_reasons"]
        ]
    data["tip"] = _tooltips(parcels, unit, tx, public=public)
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326, index=parcels.index)


def _filled_layer(
    display: gpd.GeoDataFrame, fills: pd.Series, *, name: str, show: bool, opacity: float = 0.8
) -> folium.FeatureGroup:
    """Parcels filled with the colour in ``fills`` (missing: not drawn); not interactive, so
    the base layer underneath shows the tooltip."""
    group = folium.FeatureGroup(name=name, show=show)
    has = fills.notna().to_numpy()
    data = display.loc[has].assign(fill=fills[has].to_numpy())
    if len(data):
        folium.GeoJson(
            data,
            style_function=lambda f: {
                "fillColor": f["properties"]["fill"],
                "color": "#555555",
                "weight": 0.6,
                "fillOpacity": opacity,
            },
            interactive=False,
            zoom_on_click=False,
        ).add_to(group)
    return group


def _choropleth(
    display: gpd.GeoDataFrame, classes: _Classes, *, name: str, show: bool
) -> folium.FeatureGroup:
    colours = np.asarray(classes.colors, dtype=object)
    fills = pd.Series(
        [colours[i] if i >= 0 else None for i in classes.index], index=classes.index, dtype=object
    )
    return _filled_layer(display, fills, name=name, show=show)


def _legend_html(
    title: str,
    classes: _Classes,
    values: pd.Series,
    unit: DisplayUnit,
    n_vacant: int,
    *,
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
        f'<div class="mj-legend-block"><b>{html.escape(title)}</b>'
        f'<div class="mj-unit">{html.escape(unit.label)}</div>{"".join(rows)}</div>'
    )


_LEGEND_CSS = """
<style>
.mj-legend{position:fixed;bottom:24px;left:12px;z-index:9999;background:#fff;padding:8px 10px;
 border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.35);font:12px/1.5 "Noto Sans CJK SC",
 "Microsoft YaHei",sans-serif;max-height:70vh;overflow:auto}
.mj-legend-block+.mj-legend-block{margin-top:8px;border-top:1px solid #ddd;padding-top:6px}
.mj-sw{display:inline-block;width:14px;height:12px;margin-right:6px;vertical-align:middle;
 border:1px solid #777}
.mj-unit{color:#555;font-size:11px}
.mj-title{position:fixed;top:10px;left:54px;z-index:9999;background:#fff;padding:4px 10px;
 border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.35);font:bold 15px/1.5 "Noto Sans CJK SC",
 "Microsoft YaHei",sans-serif}
</style>
"""


def _figure_layers(
    fmap: folium.Map,
    display: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    *,
    unit: DisplayUnit,
    cfg: MapConfig,
    year: int,
    tx: Texts,
) -> list[str]:
    """Choropleths of per-area money (internal maps only) and of its change between years;
    returns their legends."""
    legends = []
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
        _choropleth(display, bins, name=name, show=show).add_to(fmap)
        legends.append(_legend_html(name, bins, values, unit, n_vacant, tx=tx))
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
        _choropleth(display, bins, name=name, show=False).add_to(fmap)
        legends.append(_legend_html(name, bins, values, unit, n_vacant, tx=tx))
    return legends


def _base_map(cfg: MapConfig) -> tuple[folium.Map, Basemap]:
    fmap = _PlannerMap(tiles=None, control_scale=False, prefer_canvas=False)
    base = add_basemap(fmap, cfg.basemap, tianditu_key=cfg.tianditu_key)
    if cfg.orthophoto is not None:
        add_orthophoto(fmap, cfg.orthophoto, max_px=cfg.orthophoto_max_px)
    return fmap, base


def _shifted(frame: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if frame is None or len(frame) == 0:
        return frame
    lonlat = frame.to_crs(4326)
    return lonlat.set_geometry(shift_geometries(lonlat.geometry.array))


def render_map(
    parcels: gpd.GeoDataFrame,
    *,
    unit: DisplayUnit,
    cfg: MapConfig,
    year: int,
    parks: gpd.GeoDataFrame | None = None,
    classes: ClassLegend | None = None,
    zones: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build the planner's map for ``year``.

    ``parcels`` is the parcel result (any CRS) with ``parcel_id``, ``area_mu``, ``vacant``,
    ``enterprises``, the per-area columns of ``unit`` and, for the class layer, ``class``.
    Returns a :class:`folium.Map`; save it with :func:`map_html`.
    """
    lonlat = parcels.geometry.to_crs(4326)
    west, south, east, north = lonlat.total_bounds
    fmap, base = _base_map(cfg)
    fmap.fit_bounds([[south, west], [north, east]])
    tx = Texts(cfg.lang)
    public = cfg.profile == "public"
    full = _display_frame(parcels, unit, tx, public=public)
    true_geometries = None
    if base.gcj02:  # AMap tiles are drawn in GCJ-02: shift what is drawn, never what is exported
        true_geometries = {
            str(pid): shapely.geometry.mapping(g)
            for pid, g in zip(full["parcel_id"], full.geometry.array, strict=True)
        }
        full = full.set_geometry(shift_geometries(full.geometry.array))
        parks = _shifted(parks)
        zones = _shifted(zones)
    # every parcel once with its data (search, filters, export); other layers carry the id only
    _base_layer(full, tx).add_to(fmap)
    display = full[["parcel_id", "geometry"]]
    legends = (
        []
        if public
        else _figure_layers(fmap, display, parcels, unit=unit, cfg=cfg, year=year, tx=tx)
    )
    if classes is not None and "class" in parcels:
        name = f"{tx('class_layer')}{_year(year, tx)}"
        _class_layer(display, parcels["class"], classes, name=name, show=public).add_to(fmap)
        legends.append(_class_legend_html(name, parcels["class"], classes, tx))
    _vacant_layer(display.loc[parcels["vacant"].to_numpy()], tx).add_to(fmap)
    if "underused" in parcels:
        for layer in _underuse_layers(display, parcels, tx, public=public):
            layer.add_to(fmap)
    if zones is not None and len(zones):
        _zone_layer(zones, tx, public=public).add_to(fmap)
    if not public and "cold_spot" in parcels and parcels["cold_spot"].any():
        cold = display.loc[parcels["cold_spot"].fillna(False).astype(bool).to_numpy()]
        _outline_layer(cold, name=tx("cold", n=len(cold)), colour="#2c7bb6").add_to(fmap)
    if parks is not None and len(parks):
        _park_layer(parks, tx).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    FilterControl(tx, true_geometries=true_geometries).add_to(fmap)
    root = cast(branca.element.Figure, fmap.get_root())
    root.header.add_child(branca.element.Element(_LEGEND_CSS))
    root.html.add_child(
        branca.element.Element(
            f'<div class="mj-title">{html.escape(cfg.title)}{_year(year, tx)}</div>'
            f'<div class="mj-legend">{"".join(legends)}</div>'
        )
    )
    return fmap


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


def _class_layer(
    display: gpd.GeoDataFrame,
    cls: pd.Series,
    legend: ClassLegend,
    *,
    name: str,
    show: bool = False,
) -> folium.FeatureGroup:
    colours = _class_colour(legend.labels)
    fills = cls.map(lambda c: colours.get(c, "#777777"), na_action="ignore").astype(object)
    return _filled_layer(display, fills, name=name, show=show, opacity=0.85)


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
        f'<div class="mj-legend-block"><b>{html.escape(title)}</b>'
        f'<div class="mj-unit">{tx("class_counts")}</div>{"".join(rows)}</div>'
    )


_REASONS = (
    "vacant",
    "unused_buildings",
    "low_coverage",
    "low_far",
    "low_tax",
    "below_benchmark",
    "class_d",
    "d_streak",
)


def _outline_layer(display: gpd.GeoDataFrame, *, name: str, colour: str) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=name, show=False)
    if len(display):
        folium.GeoJson(
            display,
            style_function=lambda _f, c=colour: {
                "fillColor": c,
                "color": c,
                "weight": 2,
                "fillOpacity": 0.35,
            },
            interactive=False,  # the base layer underneath shows the tooltip
        ).add_to(group)
    return group


def _underuse_layers(
    display: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame, tx: Texts, *, public: bool
) -> list[folium.FeatureGroup]:
    """One layer of all underused parcels, and one per reason (a parcel may be in several)."""
    under = parcels["underused"].fillna(False).astype(bool).to_numpy()
    layers = [
        _outline_layer(
            display.loc[under], name=tx("under_all", n=int(under.sum())), colour="#b2182b"
        )
    ]
    for code in _REASONS:
        if public and code in _CONFIDENTIAL_REASONS:
            continue
        col = f"flag_{code}"
        if col in parcels and parcels[col].any():
            mask = parcels[col].fillna(False).astype(bool).to_numpy()
            layers.append(
                _outline_layer(
                    display.loc[mask],
                    name=tx("under_one", label=tx(code), n=int(mask.sum())),
                    colour="#d6604d",
                )
            )
    return layers


def _zone_tip(z: Any, tx: Texts, *, public: bool) -> str:
    esc = html.escape
    lines = [
        f"<b>{tx('zone_tip_head', id=esc(str(z.zone_id)), rank=int(z.rank))}</b>",
        tx("park", v=esc(str(z.park))),
        tx("zone_tip_land", n=int(z.n_parcels), mu=_fmt(z.area_mu)),
        tx("zone_tip_firms", n=int(z.n_enterprises)),
    ]
    if not public:
        lines += [tx("zone_tip_tax", v=_fmt(z.tax_wan)), tx("zone_tip_gain", v=_fmt(z.gain_wan))]
    lines.append(tx("zone_tip_ids", v=esc(str(z.parcel_ids))))
    return "<br>".join(lines)


def _zone_layer(zones: gpd.GeoDataFrame, tx: Texts, *, public: bool) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=tx("zones", n=len(zones)), show=False)
    tips = [_zone_tip(z, tx, public=public) for z in zones.itertuples(index=False)]
    frame = gpd.GeoDataFrame(
        {"tip": tips},
        geometry=shapely.transform(zones.geometry.to_crs(4326).array, lambda xy: np.round(xy, 6)),
        crs=4326,
    )
    folium.GeoJson(
        frame,
        style_function=lambda _f: {
            "fill": True,
            "fillOpacity": 0.1,
            "color": "#6a3d9a",
            "weight": 3,
            "dashArray": "6 4",
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(group)
    return group


def _base_layer(full: gpd.GeoDataFrame, tx: Texts) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=tx("all_parcels", n=len(full)), show=True)
    folium.GeoJson(
        full.assign(_d=1),
        style_function=lambda _f: {
            "color": "#757575",
            "weight": 0.5,
            "fill": True,
            "fillOpacity": 0.0,
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(group)
    return group


def _vacant_layer(display: gpd.GeoDataFrame, tx: Texts) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=tx("vacant_layer", n=len(display)), show=True)
    if len(display):
        folium.GeoJson(
            display,
            style_function=lambda _f: {
                "fillColor": _VACANT,
                "color": "#424242",
                "weight": 1,
                "dashArray": "4 3",
                "fillOpacity": 0.55,
            },
            interactive=False,  # the base layer underneath shows the tooltip
        ).add_to(group)
    return group


def _park_layer(parks: gpd.GeoDataFrame, tx: Texts) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=tx("parks"), show=True)
    frame = gpd.GeoDataFrame(
        {"tip": ["<b>" + html.escape(str(p)) + "</b>" for p in parks["park"]]},
        geometry=shapely.transform(parks.geometry.to_crs(4326).array, lambda xy: np.round(xy, 6)),
        crs=4326,
    )
    folium.GeoJson(
        frame,
        style_function=lambda _f: {
            "fill": False,
            "color": "#1565c0",
            "weight": 2.5,
            "dashArray": "8 4",
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        interactive=True,
    ).add_to(group)
    return group


def map_html(fmap: folium.Map, *, offline: bool) -> str:
    """The page of ``fmap``; with ``offline`` every script and stylesheet is embedded."""
    page = fmap.get_root().render()
    return inline_assets(page) if offline else page
