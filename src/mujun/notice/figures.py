"""The report's static maps and charts, drawn with matplotlib (Agg: no display, no tiles, no
network) as PNG files the typst document places.

Maps are drawn in the run's working (projected) CRS, so a metre on the ground is a metre in
the plot: the scale bar is a length in map units and north is up (a Gauss-Krüger zone's grid
north is within a degree or two of true north inside a county).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrow, Patch, Rectangle
from shapely.geometry import box

from mujun.notice.text import Texts

__all__ = ["CLASS_COLOURS", "change_chart", "class_mix_chart", "histogram", "parcel_map"]

TAX_COLOURS = ("#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850")
"""RdYlGn as on the HTML map: red low yield, green high."""
CLASS_COLOURS = ("#1a9850", "#91cf60", "#fc8d59", "#d73027", "#7b3294", "#999999")
NO_DATA = "#dddddd"
ZONE = "#7b3294"
DPI = 200


def _style(font: str) -> None:
    plt.switch_backend("Agg")  # files only: no display, whatever the environment says
    plt.rcParams.update(
        {
            "font.family": [font, "DejaVu Sans"],
            "font.size": 8,
            "axes.titlesize": 9,
            "axes.unicode_minus": False,
            "hatch.linewidth": 0.4,
            "hatch.color": "#333333",
        }
    )


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return path


def _nice_length(span_m: float) -> float:
    """A round scale-bar length near a fifth of the map's width."""
    target = span_m / 5
    power = 10 ** math.floor(math.log10(target))
    return max(n * power for n in (1, 2, 5) if n * power <= target)


def _scale_and_north(ax: plt.Axes, tx: Texts) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    length = _nice_length(w)
    bx, by = x0 + 0.04 * w, y0 + 0.05 * h
    for k in range(2):
        ax.add_patch(
            Rectangle(
                (bx + k * length / 2, by),
                length / 2,
                0.012 * h,
                facecolor="black" if k == 0 else "white",
                edgecolor="black",
                linewidth=0.5,
                zorder=10,
            )
        )
    label = f"{length / 1000:g} {tx('km')}" if length >= 1000 else f"{length:g} {tx('m')}"
    ax.text(bx, by + 0.025 * h, f"0    {label}", fontsize=6.5, zorder=10, va="bottom")
    nx, ny = x1 - 0.06 * w, y1 - 0.16 * h
    ax.add_patch(
        FancyArrow(
            nx,
            ny,
            0,
            0.08 * h,
            width=0.012 * w,
            head_width=0.035 * w,
            head_length=0.035 * h,
            color="black",
            zorder=10,
            length_includes_head=True,
        )
    )
    ax.text(nx, ny + 0.09 * h, tx("north"), ha="center", va="bottom", fontsize=8, zorder=10)


def parcel_map(
    parcels: gpd.GeoDataFrame,
    path: Path,
    *,
    tx: Texts,
    font: str,
    values: pd.Series | None,
    breaks: Sequence[float],
    classes: pd.Series | None,
    labels: Sequence[str],
    zones: gpd.GeoDataFrame | None,
    outlines: gpd.GeoDataFrame | None,
    extent: gpd.GeoDataFrame | None = None,
    size: tuple[float, float] = (7.0, 6.0),
    detail: bool = True,
) -> Path:
    """A map of ``parcels`` (working CRS): filled by ``values`` in the classes of ``breaks``
    (tax per mu) or, if ``values`` is None, by ``classes`` (A/B/C/D); underused parcels
    hatched, ``zones`` outlined in purple dashes, park ``outlines`` in grey; a legend, a
    scale bar and a north arrow. ``extent``: the parcels the map is framed on."""
    _style(font)
    fig, ax = plt.subplots(figsize=size)
    ax.set_aspect("equal")
    ax.set_axis_off()
    frame = parcels if extent is None else extent
    minx, miny, maxx, maxy = frame.total_bounds
    pad = 0.04 * max(maxx - minx, maxy - miny, 200.0)
    if extent is not None:  # draw only what the frame shows (a park of a large county)
        seen = parcels.sindex.query(box(minx - pad, miny - pad, maxx + pad, maxy + pad))
        parcels = parcels.iloc[np.sort(seen)]
        if values is not None:
            values = values.iloc[np.sort(seen)]
        if classes is not None:
            classes = classes.iloc[np.sort(seen)]
    handles: list[Patch] = []
    if outlines is not None and len(outlines):
        outlines.boundary.plot(ax=ax, color="#888888", linewidth=0.6, zorder=1)
    if values is not None:
        colours = TAX_COLOURS[: len(breaks) + 1]
        edges = [-np.inf, *breaks, np.inf]
        idx = np.digitize(values.to_numpy(dtype=float, na_value=np.nan), list(breaks))
        colour = np.where(values.notna().to_numpy(), np.array(colours, dtype=object)[idx], NO_DATA)
        parcels.plot(ax=ax, color=list(colour), edgecolor="#555555", linewidth=0.1, zorder=2)
        for k, c in enumerate(colours):
            lo = f"{edges[k]:.1f}" if k else "<"
            hi = f"{edges[k + 1]:.1f}" if k + 1 < len(edges) - 1 else ""
            text = f"< {hi}" if k == 0 else (f"≥ {lo}" if not hi else f"{lo} – {hi}")
            handles.append(Patch(facecolor=c, edgecolor="#555555", label=text))
        title = tx("legend_tax")
    else:
        assert classes is not None
        palette = {lab: CLASS_COLOURS[k % len(CLASS_COLOURS)] for k, lab in enumerate(labels)}
        filled = classes.astype(object).map(palette).where(classes.notna(), NO_DATA)
        parcels.plot(ax=ax, color=list(filled), edgecolor="#555555", linewidth=0.1, zorder=2)
        handles += [Patch(facecolor=palette[lab], label=lab) for lab in labels]
        title = tx("legend_class")
    handles.append(Patch(facecolor=NO_DATA, edgecolor="#555555", label=tx("legend_none")))
    if not detail:  # a county map: hatching and zone outlines would hide the fill
        zones = None
    under = parcels[
        detail & parcels["underused"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    ]
    if len(under):
        under.plot(
            ax=ax, facecolor="none", edgecolor="#333333", hatch="////", linewidth=0, zorder=3
        )
        handles.append(
            Patch(facecolor="white", edgecolor="#333333", hatch="////", label=tx("legend_under"))
        )
    if zones is not None and len(zones):
        zones.boundary.plot(ax=ax, color=ZONE, linewidth=0.9, linestyle="--", zorder=4)
        handles.append(
            Patch(facecolor="none", edgecolor=ZONE, linestyle="--", label=tx("legend_zone"))
        )
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    _scale_and_north(ax, tx)
    ax.legend(
        handles=handles,
        title=title,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
        title_fontsize=7.5,
        frameon=False,
    )
    return _save(fig, path)


def histogram(
    tax: pd.Series,
    score: pd.Series,
    classes: pd.Series,
    path: Path,
    *,
    tx: Texts,
    font: str,
    labels: Sequence[str],
    floor: float,
) -> Path:
    """Tax per mu of one list stacked by class (with the underuse floor), and the scores with
    the class lines: the lowest score in each class but the last."""
    _style(font)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 2.7))
    palette = [CLASS_COLOURS[k % len(CLASS_COLOURS)] for k in range(len(labels))]
    top = float(np.nanpercentile(tax, 98)) if tax.notna().any() else 1.0
    bins = np.linspace(0, max(top, floor * 1.5, 1.0), 31)
    stacks = [tax[(classes == lab).to_numpy()].clip(upper=bins[-1]).dropna() for lab in labels]
    left.hist(stacks, bins=bins, stacked=True, color=palette, label=list(labels))
    if floor > 0:
        left.axvline(floor, color="black", linestyle=":", linewidth=1)
        left.text(floor, left.get_ylim()[1] * 0.95, f" {floor:g}", fontsize=7, va="top")
    left.set_xlabel(tx("chart_hist_x"))
    left.set_ylabel(tx("chart_hist_y"))
    left.legend(fontsize=7, frameon=False)
    sbins = np.linspace(float(np.nanmin(score)), float(np.nanpercentile(score, 99.5)), 31)
    right.hist(
        [score[(classes == lab).to_numpy()].clip(upper=sbins[-1]).dropna() for lab in labels],
        bins=sbins,
        stacked=True,
        color=palette,
    )
    for a, b in itertools.pairwise(labels):
        lowest = score[(classes == a).to_numpy()].min()
        if pd.notna(lowest):
            right.axvline(lowest, color="black", linewidth=0.8)
            right.text(lowest, right.get_ylim()[1] * 0.97, f" {a}/{b}", fontsize=6.5, va="top")
    right.set_xlabel(tx("score"))
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


def class_mix_chart(mix: pd.DataFrame, path: Path, *, tx: Texts, font: str) -> Path:
    """Share of firms in each class (columns) by park (rows), as stacked horizontal bars."""
    _style(font)
    shares = mix.div(mix.sum(axis=1).replace(0, np.nan), axis=0).fillna(0)
    fig, ax = plt.subplots(figsize=(7.0, 0.35 * len(shares) + 0.9))
    left = np.zeros(len(shares))
    for k, col in enumerate(shares.columns):
        ax.barh(range(len(shares)), shares[col], left=left, color=CLASS_COLOURS[k % 6], label=col)
        for i, (x, v) in enumerate(zip(left, shares[col], strict=True)):
            if v >= 0.06:
                ax.text(x + v / 2, i, f"{v:.0%}", ha="center", va="center", fontsize=6.5)
        left += shares[col].to_numpy()
    ax.set_yticks(range(len(shares)), list(shares.index))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.set_xlabel(tx("chart_mix_x"))
    ax.legend(
        ncols=len(shares.columns), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _save(fig, path)


def change_chart(
    table: pd.DataFrame, path: Path, *, font: str, first: str, last: str, unit: str
) -> Path:
    """Paired bars per row of ``table`` (index: names; columns ``first``, ``last``)."""
    _style(font)
    fig, ax = plt.subplots(figsize=(7.0, 0.4 * len(table) + 1.0))
    y = np.arange(len(table))
    ax.barh(y - 0.2, table[first], height=0.4, color="#bbbbbb", label=first)
    ax.barh(y + 0.2, table[last], height=0.4, color="#2c7bb6", label=last)
    for i, v in enumerate(table[last]):
        if pd.notna(v):
            ax.text(v, i + 0.2, f" {v:.2f}", va="center", fontsize=6.5)
    ax.set_yticks(y, list(table.index))
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.legend(frameon=False, fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return _save(fig, path)
