"""Assemble the planner's map: the shape sets and tables of the page, its themes and
overlays (:mod:`mujun.maps.themes`), and the in-page search, filters and export.

folium gives the page (Leaflet, basemaps and their control); the parcels are not folium
layers. Each shape set (parcels, zones, parks) goes into the page once, compactly encoded
(:mod:`mujun.maps.encode`), with its table; every layer is a canvas that the page's script
(``maps/js/``) paints from that one copy, and the page lists the layers and draws their
legends itself. What the page reads is a typed, versioned :class:`~mujun.maps.payload.Payload`.
Strings from input data reach the page only inside that JSON, which is escaped so that no
value can close its script element, and the script shows them with ``textContent``. The
title, written here as HTML, is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date
from typing import Any, cast

import branca
import folium
import geopandas as gpd
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
    TILE_ZOOM,
    encode_column,
    encode_shapes,
    encode_varints,
    pack,
    simplify_coverage,
    tile_keys,
)
from mujun.maps.gcj02 import shift_geometries
from mujun.maps.payload import Aggregate, FirmTable, LesseeTable, Payload, Scale, ShapeSet
from mujun.maps.text import Texts
from mujun.maps.themes import (
    CONFIDENTIAL_REASONS,
    DIGITS,
    FIGURES,
    ClassLegend,
    overlays,
    parcel_scores,
    themes,
)
from mujun.underuse import REASONS
from mujun.vocabulary import CHINA, Vocabulary

__all__ = ["ClassLegend", "map_html", "render_map"]


class _PlannerMap(folium.Map):
    """folium.Map loading only what this map uses (Leaflet): see maps.assets."""

    default_js = list(CDN_JS.items())  # noqa: RUF012 (folium reads these class attributes)
    default_css = list(CDN_CSS.items())  # noqa: RUF012


def _lonlat(geoms: gpd.GeoSeries) -> np.ndarray:
    """Longitude/latitude, exterior rings counter-clockwise (RFC 7946)."""
    return cast(np.ndarray, shapely.orient_polygons(geoms.to_crs(4326).array, exterior_cw=False))


def _shape_set(
    geoms: gpd.GeoSeries,
    cols: dict[str, dict[str, Any]],
    *,
    gcj02: bool,
    simplify_m: float = 0,
    tile_zoom: int = TILE_ZOOM,
    keys: np.ndarray | None = None,
) -> tuple[ShapeSet, np.ndarray]:
    """A shape set for the page and its longitude/latitude bounds (as exported, unshifted)."""
    if simplify_m > 0 and geoms.crs is not None and geoms.crs.is_projected:
        geoms = gpd.GeoSeries(simplify_coverage(geoms.array, simplify_m), crs=geoms.crs)
    lonlat = _lonlat(geoms)
    display = shift_geometries(lonlat) if gcj02 else None
    bounds = shapely.total_bounds(lonlat)
    shapes = encode_shapes(lonlat, display=display, tile_zoom=tile_zoom, keys=keys)
    return ShapeSet(shapes=shapes, cols=cols), bounds


def _tiled(parcels: gpd.GeoDataFrame, *, zoom: int, gcj02: bool) -> tuple[gpd.GeoDataFrame, Any]:
    """The parcels in tile order (:func:`~mujun.maps.encode.tile_order`) and their tiles:
    the page decodes a tile's shapes only when it needs them. The tile of a parcel is that
    of its box centre as drawn, reprojected alone (a million parcels: no second reprojection
    of every vertex)."""
    b = parcels.geometry.bounds.to_numpy()
    centres = gpd.GeoSeries(
        gpd.points_from_xy((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2),
        crs=parcels.crs,
    ).to_crs(4326)
    points = shift_geometries(centres.array) if gcj02 else centres.array
    keys = tile_keys(points, zoom)
    order = np.argsort(keys, kind="stable")
    return parcels.iloc[order], keys[order]


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
    for col, digits in {**_num_digits(vocab), **dict.fromkeys(money, DIGITS)}.items():
        if col in parcels:
            cols[col] = encode_column(parcels[col], digits=digits)
    flags = ["vacant", "underused", "cold_spot"] + [
        f"flag_{c}" for c in _REASONS if not (public and c in CONFIDENTIAL_REASONS)
    ]
    for col in flags:
        if col in parcels and not (public and col == "cold_spot"):
            cols[col] = encode_column(_bool(parcels[col]))
    if "underuse_reasons" in parcels:
        drop = CONFIDENTIAL_REASONS if public else ()
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
        for col, key in (
            ("tax_per_mu_to_next_class", "firm_to_next"),
            ("tax_per_mu_to_leave_d", "firm_to_leave_d"),
        ):  # what it takes (takes.py), in 万元/亩
            if col in f and f[col].notna().any():
                columns.append((tx(key), col))
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


def _lessee_table(firms: pd.DataFrame, unit: DisplayUnit, *, public: bool) -> LesseeTable | None:
    """The enterprises with no parcel of their own (``land_status`` lessee), for the search:
    names and classes; internal maps also their credit codes and per-area figures."""
    if "land_status" not in firms or "name" not in firms:
        return None
    f = firms[firms["land_status"].astype(str) == "lessee"].reset_index(drop=True)
    if not len(f):
        return None
    text = ["name", "class"] if public else ["name", "uscc", "class"]
    money = [] if public else [unit.column(m) for m in ("tax", "value_added")]
    cols = {c: encode_column(f[c].astype(object)) for c in text if c in f}
    cols.update({c: encode_column(f[c], digits=2) for c in money if c in f})
    return LesseeTable(n=len(f), cols=cols)


_REASONS = tuple(REASONS)  # the underuse reason codes, in their order


def _base_map(cfg: MapConfig, tx: Texts) -> tuple[folium.Map, Basemap]:
    fmap = _PlannerMap(tiles=None, control_scale=False, prefer_canvas=False)
    label = tx.basemap(cfg.basemap)
    base = add_basemap(fmap, cfg.basemap, tianditu_key=cfg.tianditu_key, label=label)
    if cfg.orthophoto is not None:
        add_orthophoto(fmap, cfg.orthophoto, max_px=cfg.orthophoto_max_px, name=tx("orthophoto"))
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


def _cycle_columns(parcels: gpd.GeoDataFrame) -> dict[str, dict[str, Any]]:
    """The redevelopment register's status and measure, and the commitment state, per
    parcel, with the flags their overlays draw (internal maps only)."""
    cols: dict[str, dict[str, Any]] = {}
    if "redevelopment_status" in parcels:
        status = parcels["redevelopment_status"]
        cols["in_register"] = encode_column(status.notna().astype(bool))
        for col in ("redevelopment_status", "redevelopment_measure"):
            cols[col] = encode_column(parcels[col].astype(object))
    if "commitment" in parcels:
        state = parcels["commitment"]
        cols["commitment"] = encode_column(state.astype(object))
        cols["commitment_short"] = encode_column((state == "short").fillna(False).astype(bool))
    return cols


def _is_year_column(col: str, unit: DisplayUnit) -> bool:
    """A per-area figure of one year (``tax_per_mu_2016``): the first-year theme's."""
    head, _, year = str(col).rpartition("_")
    return year.isdigit() and head in {unit.column(f) for f in FIGURES}


def _overlay_sets(
    *,
    parks: gpd.GeoDataFrame | None,
    zones: gpd.GeoDataFrame | None,
    gcj02: bool,
    area: str,
    public: bool = False,
) -> dict[str, ShapeSet]:
    """The shapes of the consolidation zones and of the park boundaries."""
    sets: dict[str, ShapeSet] = {}
    if zones is not None and len(zones):
        sets["zones"] = _zone_set(zones, gcj02=gcj02, area=area, public=public)
    if parks is not None and len(parks):
        cols = {"park": encode_column(parks["park"].astype(object))}
        sets["parks"] = _shape_set(parks.geometry, cols, gcj02=gcj02)[0]
    return sets


def _source(inputs: Sequence[str], tx: Texts) -> str:
    """What made the map, for the print sheet: mujun's version and the inputs' names."""
    from mujun import __version__ as version  # noqa: PLC0415 (mujun imports this module)

    if not inputs:
        return tx("source_version", version=version)
    return tx("source_inputs", version=version, files=tx("sep").join(inputs))


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
    made: date | None = None,
    inputs: Sequence[str] = (),
) -> folium.Map:
    """Build the planner's map for ``year``.

    ``parcels`` is the parcel result (a projected CRS: display shapes are simplified in metres)
    in the words of ``vocab`` (:meth:`~mujun.vocabulary.Vocabulary.frame`), with
    ``parcel_id``, ``area_mu`` (``area_acre``, ...), ``vacant``, ``enterprises``, the
    per-area columns of ``unit`` and, for the class layer, ``class``; ``zones`` likewise.
    ``firms`` (the enterprise table of ``year``, with ``parcel_ids``) fills each parcel's
    popup; ``csv_formulas`` is how the page's CSV export treats text that would run as a
    formula; ``vocab`` also gives the words of the area and the scale bar (metres, or feet
    and miles). ``made`` (the run's date) and ``inputs`` (the input files' names) go on the
    printed sheet. Returns a :class:`folium.Map`; save it with :func:`map_html`.
    """
    tx = Texts(cfg.lang, vocab=vocab, money=unit.money_label)
    fmap, base = _base_map(cfg, tx)
    parcels, keys = _tiled(parcels, zoom=cfg.aggregate_zoom, gcj02=base.gcj02)
    public = cfg.profile == "public"
    money = (
        []
        if public
        else [unit.column(f) for f in FIGURES if unit.column(f) in parcels]
        + [c for c in parcels.columns if _is_year_column(c, unit)]
        + [c for c in (f"{unit.column('tax')}_change",) if c in parcels]
    )
    cols, export = _parcel_columns(parcels, money, public=public, vocab=vocab)
    if not public:
        cols.update(_cycle_columns(parcels))
    scores = None if public else parcel_scores(parcels, firms)
    if scores is not None and scores.notna().any():
        cols["score"] = encode_column(scores, digits=DIGITS)
    shapes, (west, south, east, north) = _shape_set(
        parcels.geometry,
        cols,
        gcj02=base.gcj02,
        simplify_m=cfg.simplify_m,
        tile_zoom=cfg.aggregate_zoom,
        keys=keys,
    )
    fmap.fit_bounds([[south, west], [north, east]])
    area_col = f"area_{vocab.area}"
    more_sets = _overlay_sets(
        parks=parks, zones=zones, gcj02=base.gcj02, area=area_col, public=public
    )
    layers = [
        *themes(
            parcels,
            unit=unit,
            cfg=cfg,
            year=year,
            classes=classes,
            scores=scores,
            tx=tx,
            public=public,
        ),
        *overlays(
            parcels,
            zones=len(zones) if "zones" in more_sets and zones is not None else 0,
            parks="parks" in more_sets,
            tx=tx,
            public=public,
        ),
    ]
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
        unit=tx.unit(unit.label),
        themes=layers,
        figures=[(tx(f), unit.column(f)) for f in FIGURES if unit.column(f) in money],
        change_col=next((c for c in money if c.endswith("_change")), None),
        filters=[f for f in ("class", "park", "industry2", "reasons", "zone_id") if f in cols],
        aggregate=Aggregate(
            above=cfg.aggregate_above, zoom=cfg.aggregate_zoom, cell_px=cfg.aggregate_cell_px
        ),
        texts=tx.page_texts(public=public),
        firms=firm_table,
        firm_columns=firm_columns,
        lessees=None if firms is None else _lessee_table(firms, unit, public=public),
        made=None if made is None else made.isoformat(),
        source=_source(inputs, tx),
        area_m2=vocab.area_m2,
    )
    control = folium.LayerControl(collapsed=True)  # the basemaps; the page lists the layers
    control.add_to(fmap)
    first, rest = payload.parts()
    ParcelScript(control, pack(first), pack(rest)).add_to(fmap)
    title = (cfg.title or tx("default_title")) + (tx("title_year", y=year) if year else "")
    root = cast(branca.element.Figure, fmap.get_root())
    # as text, never as templates: a title or class name holding "{{ }}" or "{% %}" is shown
    root.html.add_child(RawHTML(f'<div class="mj-title">{html.escape(title)}</div>'))
    return fmap


def map_html(fmap: folium.Map, *, offline: bool) -> str:
    """The page of ``fmap``; with ``offline`` every script and stylesheet is embedded."""
    page = fmap.get_root().render()
    return inline_assets(page) if offline else page
