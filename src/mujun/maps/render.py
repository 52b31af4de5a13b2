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

from mujun.config import MapConfig
from mujun.indicators import DisplayUnit
from mujun.maps.assets import CDN_CSS, CDN_JS, inline_assets

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
_FIGURES = {
    "tax": "亩均税收",
    "value_added": "亩均增加值",
    "revenue": "亩均营业收入",
    "assessed_value": "单位面积评估价值",
}


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


def _year(year: int, sep: str = "") -> str:
    """ " 2021 年" for the labels; nothing for a table without years (year 0)."""
    if not year:
        return ""
    return f"{sep}{year} 年" if sep else f"（{year} 年）"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def _tooltips(parcels: pd.DataFrame, unit: DisplayUnit) -> list[str]:
    esc = html.escape
    rows = []
    per = {f: unit.column(f) for f in _FIGURES if unit.column(f) in parcels}
    records = cast(
        list[dict[str, Any]], pd.DataFrame(parcels).drop(columns="geometry").to_dict("records")
    )
    for r in records:
        lines = [f"<b>宗地 {esc(str(r['parcel_id']))}</b>"]
        if isinstance(r.get("park"), str):
            lines.append(f"园区：{esc(r['park'])}")
        firms = r.get("enterprises")
        lines.append("企业：" + (esc(firms) if isinstance(firms, str) and firms else "（空置）"))
        lines.append(f"实测面积：{_fmt(r['area_mu'])} 亩")
        declared = r.get("declared_area_mu")
        if declared is not None and not pd.isna(declared):
            lines.append(f"登记面积：{_fmt(declared)} 亩（差 {_fmt(r.get('area_diff_pct'), 1)} %）")
        for figure, col in per.items():
            lines.append(f"{_FIGURES[figure]}：{_fmt(r[col])} {esc(unit.label)}")
        if isinstance(r.get("classes"), str):
            lines.append(f"综合评价分类：{esc(r['classes'])}")
        if r.get("coverage") is not None and not pd.isna(r.get("coverage")):
            far = r.get("far")
            lines.append(
                f"建筑系数：{_fmt(100 * r['coverage'], 1)} %"
                + ("" if far is None or pd.isna(far) else f"，容积率：{_fmt(far)}")
            )
        reasons = r.get("underuse_reasons")
        if isinstance(reasons, str) and reasons:
            text = "、".join(_REASON_ZH.get(c, c) for c in reasons.split("; "))
            lines.append(f"低效原因：{esc(text)}")
        if isinstance(r.get("zone_id"), str):
            lines.append(f"整合片区：{esc(r['zone_id'])}")
        rows.append("<br>".join(lines))
    return rows


def _display_frame(parcels: gpd.GeoDataFrame, unit: DisplayUnit) -> gpd.GeoDataFrame:
    geoms = parcels.geometry.to_crs(4326).array
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, 6))  # 6 decimals ≈ 0.1 m
    return gpd.GeoDataFrame(
        {"tip": _tooltips(parcels, unit)}, geometry=geoms, crs=4326, index=parcels.index
    )


def _choropleth(
    display: gpd.GeoDataFrame, classes: _Classes, *, name: str, show: bool
) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=name, show=show)
    has = classes.index >= 0
    data = display.loc[has.to_numpy()].assign(fill=[classes.colors[i] for i in classes.index[has]])
    folium.GeoJson(
        data,
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "color": "#555555",
            "weight": 0.6,
            "fillOpacity": 0.8,
        },
        highlight_function=lambda _f: {"weight": 2.5, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        zoom_on_click=False,
    ).add_to(group)
    return group


def _legend_html(
    title: str, classes: _Classes, values: pd.Series, unit: DisplayUnit, n_vacant: int
) -> str:
    lo = values.min()
    rows = []
    lower = lo
    counts = classes.index.value_counts()
    for i, (upper, color) in enumerate(zip(classes.bins, classes.colors, strict=True)):
        rows.append(
            f'<div><span style="background:{color}" class="mj-sw"></span>'
            f"{_fmt(lower)} – {_fmt(upper)}（{int(counts.get(i, 0))} 宗）</div>"
        )
        lower = upper
    rows.append(
        f'<div><span style="background:{_VACANT}" class="mj-sw"></span>'
        f"空置地块（{n_vacant} 宗）</div>"
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
    tiles = None if cfg.basemap.lower() == "none" else cfg.basemap
    fmap = _PlannerMap(tiles=tiles, control_scale=True, prefer_canvas=False)
    fmap.fit_bounds([[south, west], [north, east]])
    display = _display_frame(parcels, unit)
    legends: list[str] = []
    n_vacant = int(parcels["vacant"].sum())
    first = next((f for f in ("tax", "assessed_value") if unit.column(f) in parcels), "tax")
    for figure, show in ((first, True), ("value_added", False)):
        col = unit.column(figure)
        if col not in parcels:
            continue
        values = parcels[col].where(~parcels["vacant"])
        bins = _classify(values, cfg)
        name = f"{_FIGURES[figure]}（{unit.label}{_year(year, '，')}）"
        _choropleth(display, bins, name=name, show=show).add_to(fmap)
        legends.append(_legend_html(name, bins, values, unit, n_vacant))
    if classes is not None and "class" in parcels:
        name = f"综合评价分类{_year(year)}"
        _class_layer(display, parcels["class"], classes, name=name).add_to(fmap)
        legends.append(_class_legend_html(name, parcels["class"], classes))
    _vacant_layer(display.loc[parcels["vacant"].to_numpy()]).add_to(fmap)
    if "underused" in parcels:
        for layer in _underuse_layers(display, parcels):
            layer.add_to(fmap)
    if zones is not None and len(zones):
        _zone_layer(zones).add_to(fmap)
    if "cold_spot" in parcels and parcels["cold_spot"].any():
        cold = display.loc[parcels["cold_spot"].fillna(False).astype(bool).to_numpy()]
        _outline_layer(cold, name=f"低产出集聚（冷点，{len(cold)} 宗）", colour="#2c7bb6").add_to(
            fmap
        )
    if parks is not None and len(parks):
        _park_layer(parks).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    root = cast(branca.element.Figure, fmap.get_root())
    root.header.add_child(branca.element.Element(_LEGEND_CSS))
    root.html.add_child(
        branca.element.Element(
            f'<div class="mj-title">{html.escape(cfg.title)}{_year(year)}</div>'
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
    display: gpd.GeoDataFrame, cls: pd.Series, legend: ClassLegend, *, name: str
) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=name, show=False)
    colours = _class_colour(legend.labels)
    has = cls.notna().to_numpy()
    data = display.loc[has].assign(fill=[colours.get(c, "#777777") for c in cls[has]])
    if len(data):
        folium.GeoJson(
            data,
            style_function=lambda f: {
                "fillColor": f["properties"]["fill"],
                "color": "#555555",
                "weight": 0.6,
                "fillOpacity": 0.85,
            },
            highlight_function=lambda _f: {"weight": 2.5, "color": "#000000"},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(group)
    return group


def _class_legend_html(title: str, cls: pd.Series, legend: ClassLegend) -> str:
    colours = _class_colour(legend.labels)
    parcels = cls.value_counts()
    rows = []
    for label, cname in zip(legend.labels, legend.names, strict=False):
        rows.append(
            f'<div><span style="background:{colours[label]}" class="mj-sw"></span>'
            f"{html.escape(label)} {html.escape(cname)}（{legend.firms.get(label, 0)} 家，"
            f"{int(parcels.get(label, 0))} 宗）</div>"
        )
    return (
        f'<div class="mj-legend-block"><b>{html.escape(title)}</b>'
        f'<div class="mj-unit">企业数，地块数</div>{"".join(rows)}</div>'
    )


_REASON_ZH = {
    "vacant": "空置",
    "unused_buildings": "闲置建筑",
    "low_coverage": "建筑系数<标准",
    "low_far": "容积率<行业标准",
    "low_tax": "亩均税收<底线",
    "below_benchmark": "亩均税收<基准",
    "class_d": "末档企业",
    "d_streak": "连续末档",
}


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
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(group)
    return group


def _underuse_layers(
    display: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame
) -> list[folium.FeatureGroup]:
    """One layer of all underused parcels, and one per reason (a parcel may be in several)."""
    under = parcels["underused"].fillna(False).astype(bool).to_numpy()
    layers = [
        _outline_layer(
            display.loc[under], name=f"低效用地（全部，{int(under.sum())} 宗）", colour="#b2182b"
        )
    ]
    for code, label in _REASON_ZH.items():
        col = f"flag_{code}"
        if col in parcels and parcels[col].any():
            mask = parcels[col].fillna(False).astype(bool).to_numpy()
            layers.append(
                _outline_layer(
                    display.loc[mask],
                    name=f"低效：{label}（{int(mask.sum())} 宗）",
                    colour="#d6604d",
                )
            )
    return layers


def _zone_layer(zones: gpd.GeoDataFrame) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=f"整合提升片区（{len(zones)} 个）", show=False)
    esc = html.escape
    tips = [
        f"<b>片区 {esc(str(z.zone_id))}（第 {int(z.rank)} 位）</b><br>园区：{esc(str(z.park))}"
        f"<br>地块：{int(z.n_parcels)} 宗，{_fmt(z.area_mu)} 亩<br>企业：{int(z.n_enterprises)} 家"
        f"<br>现状税收：{_fmt(z.tax_wan)} 万元<br>达到园区中位亩均税收可增："
        f"{_fmt(z.gain_wan)} 万元<br>宗地：{esc(str(z.parcel_ids))}"
        for z in zones.itertuples(index=False)
    ]
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


def _vacant_layer(display: gpd.GeoDataFrame) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=f"空置地块（{len(display)} 宗）", show=True)
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
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(group)
    return group


def _park_layer(parks: gpd.GeoDataFrame) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name="园区边界", show=True)
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
