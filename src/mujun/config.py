"""Configuration: one frozen dataclass tree, layered preset -> TOML file -> CLI options.

Every number the method uses lives here with its default and its meaning; nothing reads module
globals. A preset is a TOML file shipped in ``mujun/presets/``; a user's TOML file names the
preset it extends (``preset = "zhejiang"``) and overrides any key; CLI options override both.

Example user file::

    preset = "zhejiang"

    [input]
    parcels = "cadastre.gpkg"
    filings = "filings_2023.xlsx"
    sheet = "规上企业"

    [columns.filings]
    tax = "税收实际贡献"

    [units.filings]
    tax = "万元"

    [area]
    working_crs = "EPSG:4549"
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from mujun.errors import ConfigError

__all__ = [
    "AreaConfig",
    "ClassConfig",
    "Config",
    "EngineConfig",
    "InputConfig",
    "JoinConfig",
    "MapConfig",
    "OutputConfig",
    "ParcelsConfig",
    "PolicyConfig",
    "ReportConfig",
    "ScoringConfig",
    "StabilityConfig",
    "UnderuseConfig",
    "available_presets",
    "load_config",
    "preset_description",
    "preset_layers",
    "to_toml",
]

AreaMethod = Literal["plane", "ellipsoidal"]
DisplayUnit = Literal["万元/亩", "元/m2", "万元/公顷", "USD/acre"]


@dataclass(frozen=True)
class InputConfig:
    """Where the inputs are and how to read them."""

    parcels: Path | None = None
    """Parcel polygons: any vector format GDAL reads, or GeoParquet. None: the bundled sample."""
    filings: Path | None = None
    """Enterprise filings: CSV or XLSX, one row per enterprise and year."""
    parks: Path | None = None
    """Optional park boundary polygons."""
    parcels_layer: str | None = None
    """Layer name in a multi-layer parcel file (GeoPackage); default the first layer."""
    parcels_crs: str | None = None
    """CRS to assume for parcel files that carry none (e.g. "EPSG:4549"). Never guessed."""
    parks_crs: str | None = None
    """CRS to assume for a park file that carries none."""
    buildings: Path | None = None
    """Optional building footprints (polygons with floors and/or height), for coverage and FAR."""
    builtup: Path | None = None
    """Optional built-up raster (GeoTIFF, any CRS; 1 = built), for coverage where no
    footprints are given."""
    commitments: Path | None = None
    """Optional land-grant commitments (标准地, CSV or XLSX): per parcel the committed
    investment intensity, FAR, tax and output per mu (万元/亩) and the year they fall due."""
    redevelopment: Path | None = None
    """Optional redevelopment register (CSV or XLSX): per parcel the status (identified,
    planned, in progress, done), the measure and the year."""
    corrections: Path | None = None
    """Optional corrections after the objection period (CSV or XLSX): per firm, year and
    filings column the right value, the reason and the document; applied over the filings
    before the join."""
    encoding: str | None = None
    """Encoding of CSV filings; None tries UTF-8 (with or without BOM), then GB18030."""
    sheet: str | None = None
    """Sheet of an XLSX workbook holding the filings; default the first sheet."""
    year: int | None = None
    """Year of filings that have no year column."""
    parcels_encoding: str | None = None
    """Encoding of a Shapefile's DBF; None: its .cpg file, else UTF-8 if it decodes, else
    GB18030."""
    mode: Literal["filings", "parcel_values"] = "filings"
    """"filings": one row per enterprise and year, keyed by credit code. "parcel_values": rows
    keyed by parcel id only (value-per-acre tables); rows on one parcel are summed."""
    on_invalid: Literal["raise", "reject"] = "raise"
    """A filing cell that is not a number: "raise" stops with a list of every such cell;
    "reject" sets those rows aside in the ledger (fate rejected) and goes on."""
    database: str | None = None
    """PostgreSQL/PostGIS to read parcels and/or filings from: a URL
    (postgresql://host:5432/db) or a libpq string ("service=mujun"). Keep the password in
    PGPASSWORD, ~/.pgpass or the service file; a password in the URL is masked in logs and
    run.json. See mujun.io.postgis."""
    parcels_table: str | None = None
    """Table (schema.table) with the parcels, in ``database``; its PostGIS geometry column and
    SRID are used."""
    parcels_query: str | None = None
    """Or a query giving the parcels (with one geometry column)."""
    filings_table: str | None = None
    """Table with the filings, in ``database``; read like a CSV (same headers and units)."""
    filings_query: str | None = None
    """Or a query giving the filings."""
    decimal: Literal[".", ","] = "."
    """Decimal mark of numbers in the filings. ".": ``1,234.5`` (a comma only between groups
    of three digits); a cell such as ``12,5`` or ``1.234,5`` is refused with the cells
    listed. ",": ``1.234,5`` and ``1 234,5`` read as 1234.5."""
    missing_values: tuple[float, ...] = ()
    """Codes that mean "not reported" in the filings' number columns (e.g. [-1, -9999]): read
    as missing, never as figures."""


@dataclass(frozen=True)
class ParcelsConfig:
    """``[parcels]``: how features of the parcel layer become parcels."""

    same_id: Literal["merge", "first", "error"] = "merge"
    """Several features with one id. "merge": features whose geometries differ and do not
    overlap (beyond ``[area] overlap_tolerance_m2``) are parts of one parcel (a lot cut by a
    road, an outlying piece) and are dissolved into one (Multi)Polygon (ledger fate
    ``merged``); exact or overlapping repeats are ``duplicate``. "first": the first feature
    is kept, the others are ``duplicate``. "error": stop and list them."""
    placeholder_ids: tuple[str, ...] = ()
    """Ids that name no parcel, added to the built-in ones (``-``, ``---``, ``0``, ``ROAD``,
    ``RR``, ``N/A``, ``无``, ``道路`` ..., blank, and any id without a letter or digit).
    Compared after normalising (width, case, spaces); ``*`` stands for any characters
    (``"ROAD*"``). Such features are ``rejected``; such ids in a filing's parcel list read
    as no parcel."""


@dataclass(frozen=True)
class JoinConfig:
    """``[join]``: how much of the filings must find their parcels."""

    min_rate: float = 0.5
    """The run stops (exit 2) when fewer than this share of the filing rows that list a
    parcel find one in the layer, or no row lists one: the id columns are then almost surely
    the wrong ones. 0 turns the check off (a layer of part of the county, on purpose)."""


@dataclass(frozen=True)
class AreaConfig:
    """How surveyed area is measured."""

    working_crs: str | None = None
    """Projected CRS for area and overlays. None: CGCS2000 3-degree Gauss-Krüger zone by
    longitude inside China (EPSG:4534-4554), the local UTM zone elsewhere."""
    method: AreaMethod = "plane"
    """"plane": area in the working CRS (cadastral practice). "ellipsoidal": geodesic area on
    the CGCS2000/GRS80 ellipsoid (land-survey statistics practice)."""
    declared_tolerance_pct: float = 5.0
    """Declared area differing from surveyed area by more than this percent is flagged."""
    geodesic_check_pct: float = 0.01
    """Warn when plane and ellipsoidal county totals differ by more than this percent."""
    overlap_tolerance_m2: float = 1.0
    """Parcels overlapping by more than this many m² are reported (digitising slivers below
    it are ignored)."""
    basis: Literal["surveyed", "declared"] = "surveyed"
    """Land the per-area figures divide by. "surveyed": the parcels' area from the geometry
    (the tool's point; land notices say the measured area prevails). "declared": the
    parcel layer's declared (certificate) area, the only sourced definition of 用地面积; a
    land unit with a parcel lacking one is not graded. enterprises.csv carries the figures
    on the other basis too."""
    incomplete: Literal["exclude", "declared"] = "exclude"
    """A land unit some of whose firms list parcels missing from the layer
    (``land_incomplete``): "exclude" keeps it out of ranking and the county's per-area
    figures; "declared" evaluates it on its firms' declared area from the filings (where
    every firm of the unit gives one; else it is excluded)."""


@dataclass(frozen=True)
class OutputConfig:
    """What is written where."""

    out_dir: Path = Path()
    """Folder receiving maps/ and exports/."""
    map_name: str = "mujun"
    """The planner's map is written to maps/<map_name>.html."""
    overwrite: bool = False
    """Replace existing outputs; without it an existing output is an error."""
    display_unit: DisplayUnit = "万元/亩"
    """Unit of per-area money figures in the map and exports."""
    csv_formulas: Literal["neutralise", "raw"] = "neutralise"
    """CSV exports are for spreadsheets: a text cell starting with =, +, -, @, a tab or a
    carriage return would run as a formula there, so it gets a leading ' (OWASP's advice).
    "raw" writes text as it is, for machine pipelines. Numbers are never touched."""
    year: int | None = None
    """Evaluation year shown on the map and in parcels.geojson; None: the latest year."""
    coordinate_precision: int = 7
    """Decimals of longitude/latitude in GeoJSON (7 is about 1 cm)."""
    surface_m: float = 0.0
    """Write exports/tax_per_mu.tif, tax per mu rasterised at this many metres in the working
    CRS (for GIS users); 0 = off."""
    lang: Literal["zh", "en"] = "zh"
    """Language of the result workbook's headers (and of the map, later)."""
    map: bool = True
    """Write the HTML map (``--no-map``: exports only, e.g. for a province)."""
    database: str | None = None
    """Also write the scored parcels, enterprises and zones to this PostgreSQL/PostGIS (URL or
    libpq string, as for [input] database) as mujun_parcels, mujun_enterprises, mujun_zones."""
    db_schema: str = "public"
    """Schema of those tables (created if missing)."""
    run_id: str | None = None
    """Key of this run's rows in those tables: rerunning with the same id replaces them.
    None: the map name."""


@dataclass(frozen=True)
class EngineConfig:
    """``[engine]``: where the run's parcel work is done."""

    name: Literal["memory", "dask"] = "memory"
    """``memory``: all in this process. ``dask``: the parcel layer (GeoParquet, best spatially
    partitioned with ``mujun partition``) stays in parts on a dask cluster; see README
    "Large data"."""
    address: str | None = None
    """Address of a running dask scheduler (``tcp://host:8786``); none: a LocalCluster here."""
    workers: int = 0
    """Worker processes of the LocalCluster (0: one per core)."""
    memory_limit: str = "auto"
    """Memory limit per LocalCluster worker (dask's syntax: ``"4GiB"``, ``"auto"``)."""


@dataclass(frozen=True)
class MapConfig:
    """The HTML map."""

    scheme: str = "Quantiles"
    """mapclassify scheme for the choropleths (Quantiles, NaturalBreaks, EqualInterval...)."""
    k: int = 5
    """Number of classes."""
    title: str = ""
    """Title shown on the map; empty: 亩均效益地图, or its English on an English map."""
    breaks: tuple[float, ...] = ()
    """Class lines of the per-area money themes, ascending, in the display unit (e.g.
    ``[4, 10, 20, 40]`` 万元/亩: Changxing's 4 万元/亩 line first); a class holds values from
    its line up to the next (``v < line`` is below it). Empty: classes by ``scheme``."""
    basemap: str = "osm"
    """osm, tianditu-vec, tianditu-img, amap (overlays shifted to GCJ-02 for display only),
    esri-imagery or none (see mujun.maps.basemaps)."""
    tianditu_key: str | None = None
    """Tianditu ``tk`` key; None: the TIANDITU_KEY environment variable."""
    orthophoto: Path | None = None
    """The planner's own orthophoto GeoTIFF, embedded as an image overlay."""
    orthophoto_max_px: int = 2048
    """Longest side of the embedded orthophoto, in pixels."""
    lang: Literal["zh", "en"] = "zh"
    """Language of the map: layer names, legends, tooltips (Chinese by default)."""
    profile: Literal["internal", "public"] = "internal"
    """"public": no tax, value added, revenue, scores or reasons derived from them (classes,
    areas, vacancy, coverage and zones only); "internal": everything."""
    offline: bool = True
    """Embed Leaflet in the page (from the XStatic packages) so it draws without a network,
    the default: county PCs are often on intranets and CDNs are unreliable from mainland
    China. False (``--cdn``): load Leaflet from its CDN. Basemap tiles always need a network;
    without one the parcels still draw and the page says the basemap did not load."""
    simplify_m: float = 1.0
    """Display shapes drop vertices whose triangle with their two neighbours is smaller than
    this squared (Visvalingam-Whyatt, ``shapely.coverage_simplify``: shared edges stay shared).
    1 m: a vertex 0.1 m off the line between neighbours 10 m away goes, well under a pixel at
    zoom 18 (about 0.5 m). 0 draws shapes as surveyed. Exports are never simplified."""
    aggregate_above: int = 20000
    """Maps with more parcels than this show grid aggregates below ``aggregate_zoom``."""
    aggregate_zoom: int = 13
    """Below this zoom, large maps draw grid cells instead of parcels."""
    aggregate_cell_px: int = 16
    """Side of an aggregate grid cell on screen, in pixels."""


@dataclass(frozen=True)
class ScoringConfig:
    """How enterprises are scored (亩均综合评价). See docs/method.md for the sources."""

    method: Literal["benchmark", "minmax"] = "benchmark"
    """"benchmark": score = Σ w·x/B, so a firm at every benchmark scores 100 (Huangyan).
    "minmax": w·[floor + (100 − floor)·(x − min)/(max − min)]/100 within the group (Jingde)."""
    benchmark_source: Literal["group_mean", "industry_mean"] = "group_mean"
    """Benchmark of an indicator the preset gives no number for: the group's average (total
    numerator over total denominator, each land unit once), or that average per industry."""
    industry_level: int = 2
    """Digits of the GB/T 4754 code defining an industry for industry means (2 = 大类)."""
    minmax_floor: float = 20.0
    """Floor of the min-max method, in percent of the weight (Jingde: 20)."""
    cap: float | Mapping[str, float] = 0.0
    """Cap of x/B (e.g. 2 = a sub-score at most twice the weight): one number for every
    indicator or a table per indicator (``cap = { tax_per_mu = 3 }``); 0 = no cap (no
    source gives one)."""
    missing: Mapping[str, str] = field(default_factory=dict)
    """What a firm without an indicator gets, per indicator: "impute" (the list's average
    x/B, Huangyan's rule for emissions), "zero" (no points) or "penalty:N" (N points off,
    the fsou.net scheme's −3). Indicators not named are imputed."""
    below_scale_min_mu: float = 3.0
    """规下 firms with at least this much land are scored on their own list (Cixi, Suichang)."""
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Weights per list and indicator, e.g. weights["above_scale"]["tax_per_mu"] = 30."""
    benchmarks: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Published benchmarks per list and indicator; indicators without one are computed."""
    negative: tuple[str, ...] = ("emission_intensity", "energy_intensity")
    """Indicators where less is better: x/B becomes max(0, 2 − x/B)."""
    include_industries: tuple[str, ...] = ()
    """GB/T 4754 code prefixes in scope (e.g. two-digit 13-43 for manufacturing); () = all."""
    exclude_industries: tuple[str, ...] = ()
    """GB/T 4754 code prefixes out of scope (utilities, ...): listed, not graded."""
    exempt: tuple[str, ...] = ()
    """Credit codes not graded this round (e.g. firms too new to grade): listed, not graded."""


@dataclass(frozen=True)
class ClassConfig:
    """How scores become classes."""

    method: Literal["shares", "thresholds", "none"] = "shares"
    """By rank shares within each list, by score thresholds, or no classes."""
    shares: tuple[float, ...] = (0.25, 0.45, 0.25, 0.05)
    """Shares of A, B, C, D by rank (gu456: top 25 %, 26-70 %, 71-95 %, bottom 5 %)."""
    thresholds: tuple[float, ...] = (90.0, 70.0, 50.0)
    """Lowest score of A, B, C for the thresholds method; below the last is D."""
    labels: tuple[str, ...] = ("A", "B", "C", "D")
    names: tuple[str, ...] = ("优先发展", "提升发展", "调控帮扶", "倒逼整治")
    tax_floor_per_mu: float = 0.0
    """Hard rule: tax per mu (万元/亩) below this means the last class; 0 = no rule."""
    streak_years: int = 3
    """A firm in the last class this many evaluated years running is flagged."""
    share: Literal["unit", "firm"] = "unit"
    """"unit": the firms of a land unit are ranked and classed once, as one entry of one
    list, and share the result (Suichang: co-tenants "share one evaluation result"); the
    unit's list is 规上 if any of its firms is, else by its land. "firm": each firm is an
    entry of its own list (co-tenants share the unit's indicators only)."""


@dataclass(frozen=True)
class StabilityConfig:
    """How solid a class is: re-score with randomly perturbed weights."""

    draws: int = 300
    spread: float = 0.2
    """Each weight is multiplied by a uniform factor in [1 − spread, 1 + spread]."""
    seed: int = 20240101
    borderline_below: float = 0.9
    """A firm whose class holds in fewer than this share of draws is borderline."""


@dataclass(frozen=True)
class PolicyConfig:
    """Differentiated electricity prices attached to classes (Haining draft, METHOD.md 1.7)."""

    surcharge: Mapping[str, float] = field(default_factory=dict)
    """元/kWh by class label, e.g. {"D": 0.3}."""
    streak_surcharge: float = 0.0
    """元/kWh for a firm in the last class ClassConfig.streak_years running (replaces it)."""


@dataclass(frozen=True)
class UnderuseConfig:
    """Underused land: each flag configurable and reported separately (METHOD.md section 2)."""

    coverage_min: float = 0.30
    """Building coverage (建筑系数) below this is flagged (national control indicator: ≥ 30 %)."""
    far_min: Mapping[str, float] = field(default_factory=dict)
    """Minimum FAR (容积率) by two-digit GB/T 4754-2017 industry code; missing codes: no flag."""
    storey_double_m: float = 8.0
    """A storey higher than this counts twice for FAR (national rule)."""
    tax_floor_per_mu: float = 4.0
    """Tax per mu (万元/亩) under this is flagged (Changxing's low-efficiency line)."""
    benchmark_share: float = 0.0
    """Tax per mu under this share of the county's tax per mu is flagged; 0 = off."""
    flag_last_class: bool = True
    """Flag parcels whose firms are in the last class (D)."""
    streak_years: int = 3
    """Flag parcels whose firms were in the last class this many evaluated years running."""
    zone_gap_m: float = 30.0
    """Underused parcels within this distance of each other form one consolidation zone."""
    zone_min_parcels: int = 2
    """A consolidation zone has at least this many parcels: a lone underused parcel is a
    redevelopment case, not a consolidation zone (it stays flagged)."""
    zones_within_parks: bool = True
    """Zones never mix parcels of different parks (or parks and land outside them)."""
    cold_spots: bool = True
    """Compute local Moran's I of tax per mu (esda) and mark low-low clusters."""
    cold_spot_p: float = 0.05
    permutations: int = 999
    seed: int = 20240101


@dataclass(frozen=True)
class ReportConfig:
    """``[report]``: the notice package (``mujun report``, ``mujun run --report``). The
    defaults are placeholders that say so on every page: fill them in before publishing."""

    objection_days: int = 5
    """Days the published lists are open for objection (county practice: 3 to 7)."""
    publisher: str = ""
    """Who publishes the lists (e.g. 长兴县亩均论英雄改革领导小组办公室); empty: a placeholder."""
    contact: str = ""
    """Where objections go: office, telephone, address, e-mail; empty: a placeholder."""
    published: str = ""
    """Publication date as it should be printed (e.g. 2022年5月10日); empty: a placeholder."""
    source: str = ""
    """Source line under the maps (e.g. 长兴县自然资源和规划局地籍数据); empty: the run's
    input files."""


@dataclass(frozen=True)
class Config:
    """The whole configuration of a run."""

    preset: str = "zhejiang"
    input: InputConfig = field(default_factory=InputConfig)
    parcels: ParcelsConfig = field(default_factory=ParcelsConfig)
    join: JoinConfig = field(default_factory=JoinConfig)
    area: AreaConfig = field(default_factory=AreaConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    map: MapConfig = field(default_factory=MapConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    classes: ClassConfig = field(default_factory=ClassConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    underuse: UnderuseConfig = field(default_factory=UnderuseConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Header for each canonical column, per table: columns["filings"]["tax"] = "税收"."""
    units: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Unit for columns whose header has none: units["filings"]["tax"] = "万元"."""

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict (paths as strings, database passwords masked), for
        run.json."""
        from mujun.io.postgis import redact  # noqa: PLC0415 - no cycle at import time

        plain = _plain(dataclasses.asdict(self))
        for section in ("input", "output"):
            if plain[section].get("database"):
                plain[section]["database"] = redact(plain[section]["database"])
        return cast(dict[str, Any], plain)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def available_presets() -> list[str]:
    """Names of the presets shipped with mujun."""
    folder = resources.files("mujun") / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def preset_description(name: str) -> str:
    """The first comment line of a preset's TOML file (what ``mujun presets`` prints)."""
    text = (resources.files("mujun") / "presets" / f"{name}.toml").read_text("utf-8")
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def _preset_text(name: str) -> str:
    """The TOML text of a shipped preset."""
    if name not in available_presets():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(available_presets())}")
    return (resources.files("mujun") / "presets" / f"{name}.toml").read_text("utf-8")


def _read_preset(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A preset with the presets it names as its base (``preset = "..."``) under it, in
    layers; a preset that comes back to itself is refused."""
    if name in seen:
        raise ConfigError(f"presets name each other in a circle: {' -> '.join((*seen, name))}")
    data = tomllib.loads(_preset_text(name))
    base = data.pop("preset", None)
    return _merge(_read_preset(base, (*seen, name)), data) if base else data


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from err


def preset_layers(name: str) -> list[str]:
    """The presets ``name`` is made of, its base first (``["zhejiang", "huangyan-2022"]``)."""
    layers: list[str] = []
    current: str | None = name
    while current and current not in layers:
        layers.insert(0, current)
        current = tomllib.loads(_preset_text(current)).get("preset")
    return layers


def to_toml(data: Mapping[str, Any]) -> str:
    """``data`` (plain values, nested tables) as TOML text, tables after the plain keys and
    empty values left out (``mujun presets --show``)."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    def key(k: str) -> str:
        return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else value(k)

    def table(path: list[str], body: Mapping[str, Any]) -> None:
        plain = [(k, v) for k, v in body.items() if not isinstance(v, Mapping) and v is not None]
        if path and (plain or not body):
            lines.append("")
            lines.append("[" + ".".join(key(p) for p in path) + "]")
        lines.extend(f"{key(k)} = {value(v)}" for k, v in plain)
        for k, v in body.items():
            if isinstance(v, Mapping):
                table([*path, str(k)], v)

    table([], data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


SIDE_TABLES = ("commitments", "redevelopment", "corrections")
"""Inputs beside the filings that a run reads when given (``[input]`` keys)."""


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make relative input paths in a config file relative to that file's folder."""
    from mujun.io.sources import input_path  # noqa: PLC0415 - light, no cycle

    for key in ("parcels", "filings", "parks", "buildings", "builtup", *SIDE_TABLES):
        value = data.get("input", {}).get(key)
        if isinstance(value, str):
            data["input"][key] = str(input_path(value, base))


def load_config(
    path: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: preset, then the TOML file at ``path``, then ``overrides``.

    ``overrides`` is a nested mapping like the TOML file (``{"output": {"overwrite": True}}``);
    the CLI passes its options this way. Unknown keys and wrong types raise
    :class:`~mujun.errors.ConfigError` naming the key.
    """
    user: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        user = _read_toml(path)
        _resolve_paths(user, path.parent)
    name = preset or user.get("preset") or "zhejiang"
    data = _merge(_read_preset(name), user)
    data = _merge(data, overrides or {})
    data["preset"] = name
    config = _build(Config, data, "config")
    for section in ("columns", "units"):
        _check_tables(section, getattr(config, section))
    _check_map_name(config.output.map_name)
    _check_breaks(config.map.breaks)
    _check_report(config.report)
    return cast(Config, config)


def _check_report(report: ReportConfig) -> None:
    """``[report] objection_days`` is a number of days a notice can stay open."""
    if not 1 <= report.objection_days <= 30:
        raise ConfigError(
            f"[report] objection_days = {report.objection_days} must be between 1 and 30 days "
            "(published lists are usually open for objection 3 to 7 days)"
        )


def _check_breaks(breaks: tuple[float, ...]) -> None:
    """``[map] breaks`` are finite lines going up."""
    finite = all(math.isfinite(b) for b in breaks)
    if not finite or any(a >= b for a, b in itertools.pairwise(breaks)):
        raise ConfigError(
            f"[map] breaks = {list(breaks)} must be finite numbers going up, "
            "e.g. breaks = [4, 10, 20, 40] (万元/亩)"
        )


def _check_map_name(name: str) -> None:
    """``--map-name`` is a plain file name: the map is written inside ``--out/maps``."""
    bad = (
        not name.strip()
        or name.startswith(".")
        or any(c in name for c in "/\\:\x00")
        or any(ord(c) < 32 for c in name)
        or len(name) > 200
    )
    if bad:
        raise ConfigError(
            f"--map-name {name!r} is not a plain file name (no folders, not empty, not hidden, "
            "no control characters); give a name like mujun-2023, written as "
            "maps/mujun-2023.html under --out"
        )


def _check_tables(section: str, tables: Mapping[str, Any]) -> None:
    """``[columns.<table>]`` / ``[units.<table>]``: known tables, known columns, text values;
    a key written straight into ``[columns]`` is refused with the table it belongs in."""
    from mujun.schema import TABLES, table_specs, unit_keys  # noqa: PLC0415 - light, no cycle

    for table, entries in tables.items():
        if table not in TABLES:
            if not isinstance(entries, Mapping):
                owners = [t for t in TABLES if table in {s.name for s in table_specs(t)}]
                fix = " or ".join(f"[{section}.{t}] {table} = {entries!r}" for t in owners)
                raise ConfigError(
                    f"[{section}] {table} = {entries!r}: {section} are given per table; "
                    + (f"write {fix}" if fix else f"the tables are {', '.join(TABLES)}")
                )
            raise ConfigError(
                f"unknown table [{section}.{table}]; the tables are: "
                + ", ".join(f"[{section}.{t}]" for t in TABLES)
            )
        if not isinstance(entries, Mapping):
            raise ConfigError(f"[{section}.{table}] must be a table of column = text")
        specs = table_specs(table)
        valid = sorted(s.name for s in specs) if section == "columns" else unit_keys(table)
        unknown = sorted(set(entries) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(unknown)} in [{section}.{table}]; the "
                f"{'columns' if section == 'columns' else 'columns with a unit'} of {table} "
                f"are: {', '.join(valid)}"
            )
        for key, value in entries.items():
            if not isinstance(value, str):
                raise ConfigError(f"[{section}.{table}] {key} = {value!r} must be text")


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [{where}]; known keys: {known}")
    kwargs = {key: _coerce(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the type hint of a config field; build nested dataclasses."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value, where)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:  # the first type the value fits; the last one explains
            try:
                return _coerce(option, value, where)
            except ConfigError:
                continue
        return _coerce(options[-1], value, where)
    return _coerce_plain(hint, origin, value, where)


def _coerce_plain(hint: Any, origin: Any, value: Any, where: str) -> Any:
    args = typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} = {value!r}; expected one of {', '.join(map(repr, args))}")
        return value
    if hint is Path:
        from mujun.io.sources import input_path  # noqa: PLC0415 - light, no cycle

        return input_path(value)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} = {value!r} must be a list")
        inner = args[0] if args else Any
        return tuple(
            _coerce(inner, v, f"{where}[{i}]") if inner is not Any else v
            for i, v in enumerate(value)
        )
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table")
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where} = {value!r} must be {hint.__name__}")
    return value
