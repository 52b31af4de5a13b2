"""Build the notice package of a finished run: ``OUT/reports/<name>.pdf`` and ``.xlsx``.

The content is assembled here as plain data (blocks of headings, paragraphs, tables and
figures, every word from :mod:`mujun.notice.text`), written as JSON beside the typst layout
(``report.typ``) in a temporary folder, and compiled by typst with the Noto CJK fonts given
by path (embedded in the PDF). typst reads the data with ``json()``: a firm named
``#set page(...)`` prints as those characters.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd

from mujun import __version__
from mujun.errors import MujunError, OutputError
from mujun.finished import FinishedRun, read_run
from mujun.io.writers import check_writable
from mujun.io.xlsx import write_sheets
from mujun.maps.text import CLASS_NAMES
from mujun.notice import figures
from mujun.notice.text import Texts
from mujun.schema import FILING_COLUMNS
from mujun.scoring import INDICATORS
from mujun.sums import exact_nansum, grouped_sums
from mujun.tables import aggregate
from mujun.underuse import REASONS
from mujun.zones import PUBLIC_REASONS, public_underuse

__all__ = ["LISTS", "Report", "write_report"]

logger = logging.getLogger(__name__)

LISTS = ("above_scale", "below_scale", "below_scale_small", "lessee")
"""The firm lists in the order a county publishes them (Cixi's four lists)."""
_ZONES_SHOWN = 15
_FONT_FAMILY = "Noto Sans CJK SC"


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote and how long it took."""

    pdf: Path
    xlsx: Path
    pages: int
    seconds: float
    public: bool


class FontError(MujunError, OSError):
    """The CJK font the report needs is not installed."""


def font_dir() -> Path:
    """The folder holding Noto Sans CJK (Debian ``fonts-noto-cjk``), found by fontconfig."""
    try:
        found = subprocess.run(  # noqa: S603 - a fixed command, no shell
            ["fc-match", "-f", "%{file}", f"{_FONT_FAMILY}:style=Regular"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=20,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        found = ""
    candidates = [Path(found)] if found else []
    candidates.append(Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"))
    for path in candidates:
        if path.is_file() and "NotoSansCJK" in path.name:
            return path.parent
    raise FontError(
        "the report needs the Noto CJK fonts (Debian package fonts-noto-cjk); install them "
        "with scripts/setup-system.sh or 'apt-get install fonts-noto-cjk'"
    )


# ---------------------------------------------------------------------------------------------
# numbers as the report prints them


def _n(v: Any, digits: int = 2) -> str | None:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v):
        return None
    return f"{float(v):,.{digits}f}"


def _i(v: Any) -> str | None:
    return None if v is None or pd.isna(v) else f"{int(v):,}"


def _y(v: Any) -> str | None:
    """A year as written (2021, not 2,021)."""
    return None if v is None or pd.isna(v) else str(int(v))


def _missed(v: Any) -> bool:
    """A commitment's ``<indicator>_met`` read back from CSV: False is missed, blank is not
    checked."""
    return v is not None and not pd.isna(v) and not bool(v)


def _table(
    header: list[str],
    rows: Sequence[Sequence[str | None]],
    widths: list[float],
    align: str,
    size: float = 7.5,
) -> dict[str, Any]:
    return {
        "kind": "table",
        "header": header,
        "rows": rows,
        "widths": widths,
        "align": list(align),
        "size": size,
    }


def _columns(
    cols: Sequence[tuple[str, str, float, str]],
    frame: pd.DataFrame,
    cell: Callable[[str, Any], str | None],
    *,
    size: float,
) -> dict[str, Any]:
    """A table of ``frame``'s rows by column specs (column, heading, width, alignment), each
    value written by ``cell(column, value)``."""
    return _table(
        [h for _, h, _, _ in cols],
        [[cell(c, getattr(r, c, None)) for c, *_ in cols] for r in frame.itertuples()],
        [w for *_, w, _ in cols],
        "".join(a for *_, a in cols),
        size=size,
    )


# ---------------------------------------------------------------------------------------------
# the content


class _Content:
    """The blocks of the report for one run, language and profile."""

    def __init__(self, run: FinishedRun, tx: Texts, *, public: bool, folder: Path) -> None:
        self.run, self.tx, self.public, self.folder = run, tx, public, folder
        cfg = run.config
        self.labels = list(cfg.classes.labels) if cfg.classes.method != "none" else []
        e = run.enterprises
        self.firms = e[e["year"] == run.year] if "year" in e else e
        self.parcels = self._parcels()
        self.zones = self._zones()
        self.blocks: list[dict[str, Any]] = []
        self.contents: list[str] = []
        self.mu = f"{cfg.scoring.below_scale_min_mu:g}"

    # -- derived tables ----------------------------------------------------------------------

    def _parcels(self) -> gpd.GeoDataFrame:
        """The parcels of the year; on a public report underuse from the public reasons only
        (as on the public map), zones rebuilt from them."""
        parcels = self.run.parcels
        if not self.public:
            return parcels
        reasons = (
            parcels["underuse_reasons"]
            .astype(object)
            .where(parcels["underuse_reasons"].notna(), "")
        )
        flagged = parcels.assign(
            **{f"flag_{r}": reasons.map(lambda s, r=r: r in str(s).split("; ")) for r in REASONS}
        )
        out, zones = public_underuse(flagged, cfg=self.run.config.underuse)
        self._public_zones = zones
        return out

    def _zones(self) -> gpd.GeoDataFrame | None:
        if self.public:
            return getattr(self, "_public_zones", None)
        return self.run.zones

    def list_name(self, group: str) -> str:
        return self.tx(group, mu=self.mu) if group != "parcels" else self.tx("parcels")

    # -- sections ----------------------------------------------------------------------------

    def h1(self, text: str) -> None:
        if self.blocks:
            self.blocks.append({"kind": "pagebreak"})
        self.blocks.append({"kind": "h1", "text": text})
        self.contents.append(text)

    def add(self, kind: str, text: str) -> None:
        self.blocks.append({"kind": kind, "text": text})

    def summary(self) -> None:
        tx, s, _run = self.tx, self.run.summary, self.run
        self.h1(tx("summary"))
        p = s.get("parcels", {})
        above = int((self.firms["group"] == "above_scale").sum())
        self.add(
            "p",
            tx(
                "summary_text",
                parcels=f"{p.get('count', 0):,}",
                land=f"{p.get('area_mu', 0):,.1f}",
                vacant=f"{p.get('vacant', 0):,}",
                firms=f"{len(self.firms):,}",
                above=f"{above:,}",
            ),
        )
        if not self.public:
            self._county_table()
        self._class_mix()
        self._changes()

    def _county_table(self) -> None:
        """Per-mu figures by year: by scale (规上, 规下, all: the county's published figures)
        and by evaluation list."""
        tx = self.tx
        e = self.run.enterprises
        labels = tuple(self.labels)
        scale = (
            aggregate(e, "scale", labels=labels).set_index(["year", "scale"])
            if "scale" in e
            else pd.DataFrame()
        )
        by_list = aggregate(e, "group", labels=labels).set_index(["year", "group"])
        county = aggregate(e, None, labels=labels).set_index("year")
        money = [c for c in ("tax_per_mu", "value_added_per_mu", "revenue_per_mu") if c in county]

        def row(year: int, name: str, r: Any) -> list[str | None]:
            return [str(year), name, _i(r["enterprises"]), _n(r["land_mu"], 1)] + [
                _n(r[c]) for c in money
            ]

        scale_rows, list_rows = [], []
        for year in self.run.years:
            for key, name in (("规上", tx("scale_above")), ("规下", tx("scale_below"))):
                if (year, key) in scale.index:
                    scale_rows.append(row(year, name, scale.loc[(year, key)]))
            if year in county.index:
                scale_rows.append(row(year, tx("all_lists"), county.loc[year]))
            for group in LISTS:
                if (year, group) in by_list.index and group != "lessee":
                    list_rows.append(row(year, self.list_name(group), by_list.loc[(year, group)]))
        head = [tx("year"), tx("list"), tx("firms_n"), tx("land_mu"), *(tx(c) for c in money)]
        widths = [0.7, 2.2, 0.8, 1.1, *([1.0] * len(money))]
        align = "llrr" + "r" * len(money)
        self.add("h2", tx("county_table"))
        self.blocks.append(
            _table([*head[:1], tx("scale"), *head[2:]], scale_rows, widths, align, size=8)
        )
        self.add("h2", tx("county_lists"))
        self.blocks.append(_table(head, list_rows, widths, align, size=8))
        self.add("note", tx("county_note"))

    def _class_mix(self) -> None:
        if not self.labels:
            return
        tx = self.tx
        graded = self.firms[self.firms["class"].notna()]
        rows = []
        for group in LISTS:
            g = graded[graded["group"] == group]
            if not len(g):
                continue
            counts = g["class"].value_counts()
            rows.append(
                [self.list_name(group)]
                + [
                    f"{int(counts.get(lab, 0)):,} ({counts.get(lab, 0) / len(g):.0%})"
                    for lab in self.labels
                ]
                + [f"{len(g):,}"]
            )
        names = self.run.config.classes.names
        i = 0 if tx.lang == "zh" else 1
        words = [CLASS_NAMES[n][i] if n in CLASS_NAMES else n for n in names]
        head = [f"{lab} {words[k]}" if k < len(words) else lab for k, lab in enumerate(self.labels)]
        self.add("h2", tx("class_mix", year=self.run.year))
        self.blocks.append(
            _table(
                [tx("list"), *head, tx("firms_n")],
                rows,
                [2.2, *([1.2] * len(self.labels)), 0.8],
                "l" + "r" * (len(self.labels) + 1),
                size=8,
            )
        )

    def _changes(self) -> None:
        tx, run = self.tx, self.run
        if len(run.years) < 2:
            return
        a, b = run.years[0], run.years[-1]
        self.add("h2", tx("changes", a=a, b=b))
        ch = run.changes
        if len(ch) and self.labels:
            order = {lab: k for k, lab in enumerate(self.labels)}
            fr = ch["class_from"].map(order)
            to = ch["class_to"].map(order)
            both = fr.notna() & to.notna()
            self.add(
                "p",
                tx(
                    "changes_text",
                    n=f"{int(both.sum()):,}",
                    up=f"{int((to < fr)[both].sum()):,}",
                    down=f"{int((to > fr)[both].sum()):,}",
                    same=f"{int((to == fr)[both].sum()):,}",
                ),
            )
        if self.public:
            return
        county = run.county.set_index("year")
        if "tax_per_mu" in county and a in county.index and b in county.index:
            ta, tb = county.loc[a, "tax_per_mu"], county.loc[b, "tax_per_mu"]
            ta, tb = float(cast(float, ta)), float(cast(float, tb))
            self.add("p", tx("changes_tax", a=_n(ta), b=_n(tb), d=tb - ta))
        pc = run.park_changes
        if len(pc) and "tax_per_mu_from" in pc:
            pc = pc[pc["tax_per_mu_from"].notna() | pc["tax_per_mu_to"].notna()]
            self.blocks.append(
                _table(
                    [
                        tx("park"),
                        tx("from", y=a),
                        tx("from", y=b),
                        tx("change"),
                        tx("land_mu"),
                        tx("firms_n"),
                    ],
                    [
                        [
                            str(r.park),
                            _n(r.tax_per_mu_from),
                            _n(r.tax_per_mu_to),
                            _n(r.tax_per_mu_change),
                            _n(r.land_mu_to, 1),
                            _i(r.enterprises_to),
                        ]
                        for r in pc.itertuples()
                    ],
                    [2.2, 1, 1, 1, 1.1, 0.8],
                    "lrrrrr",
                    size=8,
                )
            )
            self.add("note", tx("tax_per_mu") + " (" + self.run.config.output.display_unit + ")")

    # -- maps ------------------------------------------------------------------------------

    def _breaks(self, values: pd.Series) -> list[float]:
        cfg = self.run.config.map
        if cfg.breaks:
            return list(cfg.breaks)
        v = values.dropna().round(2)
        if v.nunique() < 2:
            return [float(v.iloc[0])] if len(v) else [0.0]
        k = min(cfg.k, 6, v.nunique())
        bins = mapclassify.Quantiles(v.to_numpy(), k=k).bins
        return sorted({round(float(x), 2) for x in bins[:-1]})

    def maps(self) -> None:
        tx, run = self.tx, self.run
        self.h1(tx("maps"))
        parcels = self.parcels
        use_tax = not self.public and "tax_per_mu" in parcels
        values = parcels["tax_per_mu"] if use_tax else None
        breaks = self._breaks(parcels["tax_per_mu"]) if use_tax else []
        if values is None and not self.labels:
            return
        classes = None if use_tax else parcels["class"].astype("string")
        what = tx("map_tax") if use_tax else tx("map_class")
        src = run.config.report.source or ", ".join(
            Path(str(v.get("path"))).name
            for v in run.record.get("inputs", {}).values()
            if isinstance(v, dict) and v.get("path")
        )
        finished = str(run.record.get("finished_utc", ""))[:10]
        source = tx("map_source", v=src, date=finished)
        note = tx("map_note", what=what)
        county_note = tx("map_note_county", what=what)
        common: dict[str, Any] = {
            "tx": tx,
            "font": _FONT_FAMILY,
            "breaks": breaks,
            "labels": self.labels,
            "outlines": run.park_outlines,
        }
        path = figures.parcel_map(
            parcels,
            self.folder / "map-county.png",
            values=values,
            classes=classes,
            zones=self.zones,
            detail=False,
            **common,
        )
        self._figure(
            path, tx("map_county", what=what, year=run.year) + "。" + county_note + " " + source
        )
        parks = parcels["park"].astype("string")
        for k, name in enumerate(sorted(parks.dropna().unique())):
            at = (parks == name).fillna(False).to_numpy(dtype=bool)
            sub = parcels[at]
            zones = self.zones
            if zones is not None and "park" in zones:
                zones = zones[zones["park"].astype("string") == name]
            path = figures.parcel_map(
                parcels,
                self.folder / f"map-park-{k}.png",
                values=values,
                classes=classes,
                zones=zones,
                extent=sub,
                size=(7.0, 5.2),
                **common,
            )
            self._figure(
                path,
                tx("map_park", park=name, what=what, year=run.year) + "。" + note + " " + source,
                width=78,
            )

    def _figure(self, path: Path, caption: str, width: int = 100) -> None:
        self.blocks.append(
            {"kind": "figure", "path": path.name, "caption": caption, "width": width}
        )

    def charts(self) -> None:
        tx, run = self.tx, self.run
        self.h1(tx("charts"))
        graded = self.firms[self.firms["class"].notna()] if self.labels else self.firms.iloc[:0]
        if not self.public and len(graded):
            for group in ("above_scale", "below_scale"):
                g = graded[graded["group"] == group]
                if len(g) < 5 or "tax_per_mu" not in g:
                    continue
                path = figures.histogram(
                    g["tax_per_mu"],
                    g["score"],
                    g["class"].astype("string"),
                    self.folder / f"hist-{group}.png",
                    tx=tx,
                    font=_FONT_FAMILY,
                    labels=self.labels,
                    floor=run.config.underuse.tax_floor_per_mu,
                )
                self._figure(path, tx("chart_hist", list=self.list_name(group), year=run.year))
        if len(graded) and "park" in graded:
            mix = (
                graded.assign(park=graded["park"].fillna(tx("lessee")))
                .pivot_table(index="park", columns="class", aggfunc="size", fill_value=0)
                .reindex(columns=self.labels, fill_value=0)
            )
            path = figures.class_mix_chart(mix, self.folder / "mix.png", tx=tx, font=_FONT_FAMILY)
            self._figure(path, tx("chart_mix", year=run.year))
        if not self.public and len(run.years) > 1 and "tax_per_mu_from" in run.park_changes:
            a, b = str(run.years[0]), str(run.years[-1])
            pc = run.park_changes.dropna(subset=["tax_per_mu_from", "tax_per_mu_to"])
            table = pd.DataFrame(
                {
                    a: pc["tax_per_mu_from"].to_numpy(dtype=float),
                    b: pc["tax_per_mu_to"].to_numpy(dtype=float),
                },
                index=pc["park"].astype(str),
            )
            county = run.county.set_index("year")
            if "tax_per_mu" in county:
                table.loc[tx("all_lists")] = [  # type: ignore[assignment,call-overload,unused-ignore]
                    county.loc[run.years[0], "tax_per_mu"],
                    county.loc[run.years[-1], "tax_per_mu"],
                ]
            path = figures.change_chart(
                table,
                self.folder / "change.png",
                font=_FONT_FAMILY,
                first=a,
                last=b,
                unit=tx("chart_hist_x"),
            )
            self._figure(path, tx("chart_change", a=a, b=b))

    # -- lists -------------------------------------------------------------------------------

    def list_columns(self, group: str) -> list[tuple[str, str, float, str]]:
        """(column, header, width, alignment) of one list's table."""
        tx = self.tx
        cols = [] if self.public else [("rank", tx("rank"), 0.5, "r")]
        cols += [("uscc", tx("uscc"), 1.9, "l"), ("name", tx("name"), 3.0, "l")]
        if group != "lessee":
            cols.append(("area_mu", tx("land"), 0.9, "r"))
        if not self.public:
            weights = self.run.config.scoring.weights.get(group, {})
            for ind in ("tax_per_mu", "value_added_per_mu", "tax_per_kwh"):
                if ind in weights and ind in self.firms:
                    cols.append((ind, tx(ind), 1.0, "r"))
            cols.append(("score", tx("score"), 0.8, "r"))
        cols.append(("class", tx("class"), 0.5, "l"))
        if not self.public:
            for c, key in (
                ("tax_per_mu_to_next_class", "to_next"),
                ("tax_per_mu_to_leave_d", "to_leave_d"),
            ):
                if c in self.firms:
                    cols.append((c, tx(key), 1.1, "r"))
        return cols

    def list_rows(self, group: str) -> pd.DataFrame:
        g = self.firms[self.firms["group"] == group]
        if self.public:
            order = {lab: k for k, lab in enumerate(self.labels)}
            return g.assign(_c=g["class"].map(order)).sort_values(
                ["_c", "uscc"], na_position="last"
            )
        return g.sort_values(["rank", "uscc"], na_position="last")

    @staticmethod
    def cell(col: str, v: Any) -> str | None:
        if col == "rank":
            return _i(v)
        if col in ("uscc", "name", "class"):
            return None if pd.isna(v) else str(v)
        if col == "tax_per_kwh":
            return _n(v, 4)
        return _n(v)

    def lists(self) -> None:
        tx, cfg = self.tx, self.run.config.report
        self.h1(tx("lists"))
        self.add("p", tx("objection", days=cfg.objection_days))
        self.add("p", tx("contact", v=cfg.contact or tx("placeholder_contact")))
        self.add("note", tx("list_note_public" if self.public else "list_note"))
        if not self.labels:
            self.add("p", tx("no_lists"))
        for group in LISTS:
            rows = self.list_rows(group)
            if not len(rows):
                continue
            cols = self.list_columns(group)
            self.add("h2", tx("list_title", list=self.list_name(group), n=f"{len(rows):,}"))
            body = [
                [self.cell(c, v) for (c, *_), v in zip(cols, values, strict=True)]
                for values in rows[[c for c, *_ in cols]].itertuples(index=False)
            ]
            self.blocks.append(
                _table(
                    [h for _, h, _, _ in cols],
                    body,
                    [w for *_, w, _ in cols],
                    "".join(a for *_, a in cols),
                    size=7,
                )
            )

    def sheets(self) -> list[tuple[str, str, list[str], pd.DataFrame]]:
        """The lists as (sheet name, title, headers, rows) for the XLSX."""
        out = []
        for group in LISTS:
            rows = self.list_rows(group)
            if not len(rows):
                continue
            cols = self.list_columns(group)
            frame = rows[[c for c, *_ in cols]].reset_index(drop=True)
            name = self.list_name(group)
            title = self.tx("list_title", list=name, n=f"{len(rows):,}")
            out.append((name, f"{self.run.year} {title}", [h for _, h, _, _ in cols], frame))
        return out

    # -- underuse and parks ------------------------------------------------------------------

    def underuse(self) -> None:
        tx = self.tx
        self.h1(tx("under"))
        p = self.parcels
        under = p["underused"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        mu = p["area_mu"].astype(float)
        zones = self.zones if self.zones is not None else gpd.GeoDataFrame()
        zone_mu = exact_nansum(zones["area_mu"]) if "area_mu" in zones else 0.0
        self.add(
            "p",
            tx(
                "under_text",
                n=f"{int(under.sum()):,}",
                land=f"{exact_nansum(mu[under]):,.1f}",
                zones=f"{len(zones):,}",
                zone_land=f"{zone_mu:,.1f}",
            ),
        )
        u = self.run.summary.get("underuse", {})
        if not self.public and u.get("zones_gaining"):
            self.add(
                "p",
                tx(
                    "under_gain",
                    k=f"{u['zones_gaining']:,}",
                    gain=f"{u.get('zone_gain_wan', 0):,.0f}",
                ),
            )
        reasons = p["underuse_reasons"].astype(object).where(p["underuse_reasons"].notna(), "")
        split = reasons.map(lambda s: [r for r in str(s).split("; ") if r])
        i = 0 if tx.lang == "zh" else 1
        rows = []
        for code, words in REASONS.items():
            if self.public and code not in PUBLIC_REASONS:
                continue
            has = split.map(lambda rs, c=code: c in rs).to_numpy(dtype=bool)
            if has.any():
                rows.append([words[i], f"{int(has.sum()):,}", f"{mu[has].sum():,.1f}"])
        if rows:
            self.blocks.append(
                _table(
                    [tx("reason"), tx("parcels_n"), tx("land_mu")], rows, [3, 1, 1], "lrr", size=8
                )
            )
        if len(zones):
            self._zone_table(zones)

    def _zone_table(self, zones: gpd.GeoDataFrame) -> None:
        tx = self.tx
        shown = zones.sort_values("rank").head(_ZONES_SHOWN)
        cols = [
            ("rank", tx("zone_rank"), 0.5, "r"),
            ("zone_id", tx("zone"), 0.8, "l"),
            ("park", tx("park"), 1.6, "l"),
            ("n_parcels", tx("parcels_n"), 0.7, "r"),
            ("area_mu", tx("land_mu"), 1.0, "r"),
        ]
        if not self.public:
            cols += [
                ("vacant_mu", tx("vacant_mu"), 1.0, "r"),
                ("reasons", tx("zone_reasons"), 3.6, "l"),
                ("tax_per_mu", tx("zone_tax"), 1.0, "r"),
                ("gain_wan", tx("zone_gain"), 1.1, "r"),
            ]
        cols = [c for c in cols if c[0] in shown]

        def cell(c: str, v: Any) -> str | None:
            if c in ("rank", "n_parcels"):
                return _i(v)
            if c == "reasons":
                return self._reason_words(v)
            if c in ("zone_id", "park"):
                return None if pd.isna(v) else str(v)
            return _n(v, 1 if c.endswith("_mu") else 2)

        self.add("h2", tx("zones_table", n=min(_ZONES_SHOWN, len(zones))))
        self.blocks.append(_columns(cols, shown, cell, size=7))
        if len(zones) > _ZONES_SHOWN:
            self.add(
                "note",
                tx("more_rows", n=len(zones) - _ZONES_SHOWN).replace(
                    "XLSX", "exports/zones.geojson"
                ),
            )

    def _reason_words(self, v: Any) -> str | None:
        """``low_tax 25; low_far 18`` in words."""
        if pd.isna(v):
            return None
        i = 0 if self.tx.lang == "zh" else 1
        parts = []
        for item in str(v).split("; "):
            code, _, n = item.partition(" ")
            parts.append(f"{self.tx.get(code, REASONS.get(code, (code, code))[i])} {n}".strip())
        return "；".join(parts) if i == 0 else "; ".join(parts)

    def parks(self) -> None:
        tx, run = self.tx, self.run
        parks = run.parks[run.parks["year"] == run.year] if "year" in run.parks else run.parks
        self.h1(tx("parks_table", year=run.year))
        p = self.parcels
        under = p["underused"].astype("boolean").fillna(False)
        name = p["park"].astype("string").fillna(tx("outside_parks"))
        by_park = pd.DataFrame(
            {
                "vacant": p["vacant"].astype("boolean").fillna(False).groupby(name).sum(),
                "under_mu": grouped_sums(name.groupby(name), p["area_mu"].where(under, 0.0)),
            }
        )
        zones = self.zones
        zone_n = (
            zones["park"].astype("string").value_counts()
            if zones is not None and "park" in zones
            else pd.Series(dtype=int)
        )
        money = (
            [] if self.public else [c for c in ("tax_per_mu", "value_added_per_mu") if c in parks]
        )
        head = [
            tx("park"),
            tx("firms_n"),
            tx("land_mu"),
            *(tx(c) for c in money),
            *self.labels,
            tx("vacant_n"),
            tx("underused_mu"),
            tx("zones_n"),
        ]
        rows = []
        for r in parks.itertuples():
            park = str(r.park)
            extra = by_park.loc[park] if park in by_park.index else None
            rows.append(
                [park, _i(r.enterprises), _n(r.land_mu, 1), *(_n(getattr(r, c)) for c in money)]
                + [_i(getattr(r, f"class_{lab}", None)) for lab in self.labels]
                + [
                    _i(extra["vacant"]) if extra is not None else None,
                    _n(extra["under_mu"], 1) if extra is not None else None,
                    _i(zone_n.get(park, 0)) if extra is not None else None,
                ]
            )
        self.blocks.append(
            _table(
                head,
                rows,
                [2.0, 0.8, 1.1, *([1.0] * len(money)), *([0.6] * len(self.labels)), 0.8, 1.0, 0.7],
                "l" + "r" * (len(head) - 1),
                size=7.5,
            )
        )

    # -- the yearly cycle --------------------------------------------------------------------

    def cycle(self) -> None:
        """Corrections, the comparison with the notice run, commitments and the register,
        for those the run has; nothing when it has none."""
        c = self.run.cycle
        if not c:
            return
        self.h1(self.tx("cycle"))
        if "corrections" in c:
            self._corrections(c["corrections"])
        if self.run.compare is not None:
            self._comparison(self.run.compare, c["compare_enterprises"])
        if "commitments" in c:
            self._commitments(c["commitments"])
        if "redevelopment" in c:
            self._register(c["redevelopment"])

    def _field_words(self, name: str) -> str:
        spec = next((s for s in FILING_COLUMNS if s.name == name), None)
        if spec is None:
            return name
        return spec.aliases[0] if self.tx.lang == "zh" else name.replace("_", " ")

    def _corrections(self, table: pd.DataFrame) -> None:
        tx = self.tx
        self.add("h2", tx("corrections_h"))
        fields = table["field"].astype(str).value_counts()
        sep = "、" if tx.lang == "zh" else ", "
        self.add(
            "p",
            tx(
                "corrections_text",
                n=f"{len(table):,}",
                firms=f"{table['uscc'].nunique():,}",
                fields=sep.join(f"{self._field_words(str(f))} {n}" for f, n in fields.items()),
            ),
        )
        # a public report names what was corrected, never the figures (tax, energy ...)
        shown = table
        cols = [
            ("name", tx("col_firm"), 2.2, "l"),
            ("field", tx("col_field"), 1.3, "l"),
            *(
                []
                if self.public
                else [
                    ("old", tx("col_old"), 1.0, "r"),
                    ("new", tx("col_new"), 1.0, "r"),
                    ("unit", tx("col_unit"), 0.7, "l"),
                ]
            ),
            ("reason", tx("col_reason"), 2.2, "l"),
            ("document", tx("col_document"), 2.2, "l"),
        ]

        def cell(col: str, v: Any) -> str | None:
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                return None
            if col == "field":
                return self._field_words(str(v))
            if col in ("old", "new") and not isinstance(v, str):
                return f"{float(v):,.6f}".rstrip("0").rstrip(".")
            return str(v)

        if len(shown):
            self.blocks.append(_columns(cols, shown, cell, size=7))

    def _comparison(self, record: dict[str, Any], firms: pd.DataFrame) -> None:
        tx = self.tx
        self.add("h2", tx("compare_h"))
        moved = firms.loc[
            firms["class_old"].astype("string").fillna("-")
            != firms["class_new"].astype("string").fillna("-")
        ]
        self.add(
            "p",
            tx(
                "compare_text",
                finished=str(record.get("old", {}).get("finished_utc", "")).replace("T", " ")[:16],
                n=f"{record['enterprises']['changed']:,}",
                moved=f"{len(moved):,}",
                parcels=f"{record['parcels']['changed']:,}",
            ),
        )
        self.add("note", tx("compare_note"))
        if not len(moved):
            return
        cols = [
            ("name", tx("col_firm"), 2.6, "l"),
            ("group", tx("col_list"), 1.8, "l"),
            ("class_old", f"{tx('col_class')} {tx('col_old')}", 0.8, "l"),
            ("class_new", f"{tx('col_class')} {tx('col_new')}", 0.8, "l"),
        ]
        if not self.public:  # ranks and scores are not in the public lists either
            cols += [
                ("rank_old", f"{tx('col_rank')} {tx('col_old')}", 0.8, "r"),
                ("rank_new", f"{tx('col_rank')} {tx('col_new')}", 0.8, "r"),
                ("score_old", f"{tx('col_score')} {tx('col_old')}", 0.9, "r"),
                ("score_new", f"{tx('col_score')} {tx('col_new')}", 0.9, "r"),
            ]

        def cell(col: str, v: Any) -> str | None:
            if v is None or pd.isna(v):
                return None
            if col == "group":
                return self.list_name(str(v))
            if col.startswith("rank"):
                return _i(v)
            if col.startswith("score"):
                return _n(v)
            return str(v)

        self.blocks.append(_columns(cols, moved, cell, size=7.5))

    def _commitments(self, table: pd.DataFrame) -> None:
        tx = self.tx
        self.add("h2", tx("commitments_h"))
        due = table["status"] == "due"
        self.add(
            "p",
            tx(
                "commitments_text",
                listed=f"{len(table):,}",
                due=f"{int(due.sum()):,}",
                short=f"{int(table['short'].astype(bool).sum()):,}",
                later=f"{int((~due).sum()):,}",
            ),
        )
        checked = [c.removesuffix("_met") for c in table.columns if c.endswith("_met")]
        money = {"tax_per_mu", "output_per_mu"}
        shown = [c for c in checked if not (self.public and c in money)]
        head = [tx("col_parcel"), tx("col_due"), tx("col_status"), tx("col_missed")]
        head += [f"{tx.get(c, c)} {tx('col_old')}/{tx('col_new')}" for c in shown]
        rows = []
        for r in table.itertuples():
            missed = (
                [tx.get(c, c) for c in checked if _missed(getattr(r, f"{c}_met"))]
                if not self.public
                else []
            )
            rows.append(
                [
                    str(r.parcel_id),
                    _y(r.due),
                    tx.get(str(r.status), str(r.status)),
                ]
                + [("、" if tx.lang == "zh" else ", ").join(missed) or None]
                + [
                    " / ".join(
                        x or tx("dash")
                        for x in (
                            _n(getattr(r, f"{c}_committed")),
                            _n(getattr(r, f"{c}_actual")),
                        )
                    )
                    for c in shown
                ]
            )
        self.blocks.append(
            _table(
                head, rows, [1.1, 0.8, 0.9, 1.6, *([1.5] * len(shown))], "lrll" + "r" * len(shown)
            )
        )

    def _register(self, table: pd.DataFrame) -> None:
        tx = self.tx
        self.add("h2", tx("register_h"))
        cyc = self.run.summary.get("cycle", {}).get("register", {})
        status = table["status"].astype(str).value_counts()
        sep = "、" if tx.lang == "zh" else ", "
        self.add(
            "p",
            tx(
                "register_text",
                n=f"{len(table):,}",
                status=sep.join(f"{tx.get(str(k), str(k))} {n}" for k, n in status.items()),
                known=f"{cyc.get('underused_in_register', 0):,}",
                new=f"{cyc.get('underused_new', 0):,}",
            ),
        )
        change = next((c for c in table.columns if c.endswith("_change")), None)
        cols = [
            ("parcel_id", tx("col_parcel"), 1.1, "l"),
            ("park", tx("park"), 1.6, "l"),
            ("status", tx("col_status"), 0.9, "l"),
            ("measure", tx("col_measure"), 1.2, "l"),
            ("year", tx("col_year"), 0.6, "r"),
            ("underused", tx("col_underused"), 0.8, "l"),
        ]
        if change and not self.public:
            cols.append((change, tx("col_tax_change"), 1.1, "r"))

        def cell(col: str, v: Any) -> str | None:
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                return None
            if col == "status":
                return tx.get(str(v), str(v))
            if col == "underused":
                return tx("yes") if bool(v) else tx("no")
            if col == "year":
                return str(int(v))
            if col == change:
                return f"{float(v):+,.2f}"
            return str(v)

        self.blocks.append(_columns(cols, table, cell, size=7.5))

    # -- method and data quality -------------------------------------------------------------

    def method(self) -> None:
        tx, cfg = self.tx, self.run.config
        self.h1(tx("method"))
        sc = cfg.scoring
        how = (
            tx("score_benchmark")
            if sc.method == "benchmark"
            else tx("score_minmax", f=sc.minmax_floor)
        )
        self.add(
            "p", tx("method_preset", v=cfg.preset, m=how, b=tx(f"bench_{sc.benchmark_source}"))
        )
        i = 0 if tx.lang == "zh" else 1
        for group, weights in sc.weights.items():
            if group not in LISTS or not weights:
                continue
            rows = []
            for ind, w in weights.items():
                info = INDICATORS.get(ind)
                label = (info.label_zh, info.label_en)[i] if info else ind
                unit = info.unit if info else ""
                bench = sc.benchmarks.get(group, {}).get(ind)
                if bench is None and not self.public:
                    col = f"benchmark_{ind}"
                    g = self.firms[self.firms["group"] == group]
                    if col in g and g[col].notna().any():
                        bench = float(g[col].dropna().iloc[0])
                rows.append(
                    [label, unit, f"{w:g}", _n(bench, 4) if bench is not None else tx("computed")]
                )
            self.add("h2", self.list_name(group))
            self.blocks.append(
                _table(
                    [tx("indicator"), "", tx("weight"), tx("benchmark")],
                    rows,
                    [2.5, 1.2, 0.7, 1.2],
                    "llrr",
                    size=8,
                )
            )
        cl = cfg.classes
        if cl.method == "shares":
            shares = (
                "、".join(f"{s:.0%}" for s in cl.shares)
                if i == 0
                else ", ".join(f"{s:.0%}" for s in cl.shares)
            )
            self.add("p", tx("class_rule_shares", shares=shares, labels="/".join(cl.labels)))
        elif cl.method == "thresholds":
            self.add(
                "p",
                tx(
                    "class_rule_thresholds",
                    thresholds="/".join(f"{t:g}" for t in cl.thresholds),
                    labels="/".join(cl.labels),
                ),
            )
        if cl.tax_floor_per_mu > 0:
            self.add("p", tx("class_floor", v=f"{cl.tax_floor_per_mu:g}"))
        pol = [tx("policy_surcharge", label=k, v=f"{v:g}") for k, v in cfg.policy.surcharge.items()]
        if cfg.policy.streak_surcharge:
            pol.append(tx("policy_streak", n=cl.streak_years, v=f"{cfg.policy.streak_surcharge:g}"))
        self.add(
            "p", tx("policy", v=("；" if i == 0 else "; ").join(pol) if pol else tx("policy_none"))
        )
        u = cfg.underuse
        self.add(
            "p",
            tx(
                "underuse_rule",
                cov=f"{u.coverage_min * 100:g}",
                floor=f"{u.tax_floor_per_mu:g}",
                gap=f"{u.zone_gap_m:g}",
                k=u.zone_min_parcels,
            ),
        )

    def quality(self) -> None:
        tx, s = self.tx, self.run.summary
        self.h1(tx("quality"))
        led = self.run.ledger
        self.add("h2", tx("ledger"))
        counts = led.groupby(["source", "fate"], sort=False).size().reset_index(name="n")
        self.blocks.append(
            _table(
                [tx("source"), tx("fate"), tx("records")],
                [
                    [str(src), tx.get(str(fate), str(fate)), f"{n:,}"]
                    for src, fate, n in counts.itertuples(index=False)
                ],
                [2.5, 1.5, 1],
                "llr",
                size=8,
            )
        )
        j = s.get("join")
        if j:
            f2p, p2f = j["filings_to_parcels"], j["parcels_to_filings"]
            self.add(
                "p",
                tx(
                    "join_text",
                    a=f"{f2p['distinct_ids']:,}",
                    b=f"{f2p['distinct_ids_found']:,}",
                    rate=f"{f2p['rate']:.1%}",
                    y=j.get("year", ""),
                    c=f"{p2f['named']:,}",
                    d=f"{p2f['parcels']:,}",
                    rate2=f"{p2f['rate']:.1%}",
                ),
            )
        ac, p = s.get("area_check", {}), s.get("parcels", {})
        if ac:
            self.add(
                "p",
                tx(
                    "area_text",
                    d=f"{ac.get('total_diff_pct', 0):+.4f}",
                    tol=f"{p.get('declared_tolerance_pct', 5):g}",
                    n=f"{p.get('declared_mismatch', 0):,}",
                ),
            )
        money = s.get("money", {}).get("tax")
        if money and not self.public:
            self.add(
                "p",
                tx(
                    "money_text",
                    a=_n(money["input_yuan"] / 1e4),
                    b=_n(money["enterprises_yuan"] / 1e4),
                    c=_n(money["set_aside_yuan"] / 1e4),
                ),
            )
        rows = [
            [str(src), str(kind), f"{n:,}"]
            for src, kinds in s.get("findings", {}).items()
            for kind, n in kinds.items()
        ]
        if rows:
            self.add("h2", tx("findings"))
            self.blocks.append(
                _table([tx("source"), tx("finding"), tx("records")], rows, [2, 3, 1], "llr", size=8)
            )
        for note in [*s.get("crs_notes", []), *s.get("notes", [])]:
            self.add("note", tx("notes", v=note))


# ---------------------------------------------------------------------------------------------
# writing


def _document(content: _Content, run: FinishedRun, tx: Texts) -> dict[str, Any]:
    cfg = run.config.report
    year = run.year
    title = tx("title_public" if content.public else "title", year=year)
    before, _, after = tx("page", p="\x00").partition("\x00")
    return {
        "lang": tx.lang,
        "fonts": [_FONT_FAMILY],
        "public": content.public,
        "title": title,
        "header": title,
        "subtitle": tx("subtitle"),
        "edition": tx("profile_public" if content.public else "profile_internal"),
        "cover": [
            tx("publisher", v=cfg.publisher or tx("placeholder_publisher")),
            tx("published", v=cfg.published or tx("placeholder_published")),
        ],
        "notice": [
            tx("objection", days=cfg.objection_days),
            tx("contact", v=cfg.contact or tx("placeholder_contact")),
        ],
        "run_line": tx(
            "run_line",
            version=run.record.get("versions", {}).get("mujun", __version__),
            finished=str(run.record.get("finished_utc", "")).replace("T", " ")[:16],
            year=year,
            crs=run.summary.get("working_crs_name", ""),
        ),
        "contents_title": tx("contents"),
        "contents": content.contents,
        "blocks": content.blocks,
        "page_before": before,
        "page_after": after,
    }


def write_report(
    out: Path,
    *,
    profile: str | None = None,
    lang: str | None = None,
    overwrite: bool = False,
) -> Report:
    """Build ``out/reports/<map name>.pdf`` and ``.xlsx`` (``<map name>-public.*`` for the
    public edition) from the finished run in ``out``.

    ``profile`` (``internal`` / ``public``) and ``lang`` (``zh`` / ``en``) default to the
    run's ``[map] profile`` and ``[map] lang``. Raises :class:`NotARunError` if ``out`` holds
    no finished run, :class:`OutputExistsError` if a report is there and not ``overwrite``.
    """
    t0 = time.perf_counter()
    run = read_run(Path(out))
    cfg = run.config
    public = (profile or cfg.map.profile) == "public"
    tx = Texts(lang or cfg.map.lang)
    reports = Path(out) / "reports"
    stem = cfg.output.map_name + ("-public" if public else "")
    pdf, xlsx = reports / f"{stem}.pdf", reports / f"{stem}.xlsx"
    for path in (pdf, xlsx):
        check_writable(path, overwrite=overwrite)
    fonts = font_dir()
    with tempfile.TemporaryDirectory(prefix="mujun-report-") as tmp:
        folder = Path(tmp)
        content = _Content(run, tx, public=public, folder=folder)
        content.summary()
        content.maps()
        content.charts()
        content.lists()
        content.underuse()
        content.parks()
        content.cycle()
        content.method()
        content.quality()
        data = _document(content, run, tx)
        (folder / "data.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        template = resources.files("mujun.notice").joinpath("report.typ").read_text("utf-8")
        (folder / "report.typ").write_text(template, "utf-8")
        logger.info("report content and figures in %.1f s", time.perf_counter() - t0)
        try:
            import typst  # noqa: PLC0415 - the compiler is loaded when a report is made

            body = typst.compile(
                str(folder / "report.typ"),
                root=str(folder),
                font_paths=[str(fonts)],
                ignore_system_fonts=True,
                sys_inputs={"data": "data.json"},
            )
        except (RuntimeError, ValueError) as err:  # typst's compile errors
            raise OutputError(f"the report could not be typeset: {err}") from err
        assert isinstance(body, bytes)
        try:
            tmp_pdf = reports / f".{pdf.name}.part"
            tmp_pdf.write_bytes(body)
            tmp_xlsx = reports / f".{xlsx.name}.part"
            write_sheets(content.sheets(), tmp_xlsx, lang=tx.lang)
            tmp_pdf.replace(pdf)
            tmp_xlsx.replace(xlsx)
        except OSError as err:
            for p in (reports / f".{pdf.name}.part", reports / f".{xlsx.name}.part"):
                p.unlink(missing_ok=True)
            raise OutputError(f"the report could not be written under {reports}: {err}") from err
    pages = len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", body))
    seconds = time.perf_counter() - t0
    logger.info("report %s in %.1f s", pdf, seconds)
    return Report(pdf=pdf, xlsx=xlsx, pages=pages, seconds=seconds, public=public)
