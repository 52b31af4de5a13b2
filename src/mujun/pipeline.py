"""``run(config) -> RunResult``: the stages in order, with a one-line summary after each.

read -> validate -> geodesy -> join -> indicators -> reconcile. ``write_outputs`` then writes the
map and the exports from the result. Library code logs and never prints.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from pyproj import CRS

from mujun import geodesy
from mujun.config import Config
from mujun.errors import (
    ConfigError,
    InputError,
    InputFileError,
    JoinError,
    ReconciliationError,
    SchemaError,
)
from mujun.indicators import (
    MONEY,
    DisplayUnit,
    LandRules,
    display_unit,
    enterprise_indicators,
    evaluation_basis,
    parcel_indicators,
    unit_table,
)
from mujun.io import sources
from mujun.io.readers import (
    NO_YEAR,
    Cells,
    Table,
    layer_id_columns,
    parquet_parts,
    read_buildings,
    read_filings,
    read_filings_db,
    read_parcels,
    read_parcels_db,
    read_parks,
    table_id_columns,
)
from mujun.join import (
    JoinQA,
    Occupancy,
    check_join,
    evaluation_year,
    id_column_rates,
    isin_values,
    join_qa,
    occupancy,
    positions,
    resolve_id_columns,
    suggestion,
)
from mujun.schema import MU_M2
from mujun.scoring import evaluate, headline_money, ratio_pairs, scored_inputs, year_gaps
from mujun.tables import (
    OUTSIDE_PARKS,
    aggregate,
    changes,
    enterprise_parks,
    parcel_classes,
    park_changes,
)
from mujun.underuse import footprint_metrics, underuse_flags
from mujun.validate import (
    Ledger,
    check_filings,
    check_geometry,
    check_scored_money,
    dedupe_parcels,
    find_overlaps,
    fixed_text,
    implausible_firms,
    implausible_parcels,
    reject_outside,
    reject_unusable,
)
from mujun.zones import cold_spots, consolidation_zones, park_summary

if TYPE_CHECKING:
    from mujun.distributed import DaskParcels

__all__ = ["RunResult", "Validation", "find_sample", "log_stage", "run", "validate"]

logger = logging.getLogger(__name__)

SAMPLE_FILES = {"parcels": "parcels.gpkg", "filings": "filings.csv", "parks": "parks.gpkg"}
SAMPLE_OPTIONAL = {"buildings": "buildings.gpkg", "builtup": "builtup.tif"}


@dataclass(frozen=True)
class RunResult:
    """Everything a run computed; writers and the CLI consume it."""

    config: Config
    parcels: gpd.GeoDataFrame
    """Usable parcels in the working CRS with area, evaluation-year results, flags."""
    enterprises: pd.DataFrame
    """One row per enterprise and year."""
    units: pd.DataFrame
    """One row per land unit (parcels and enterprises evaluated together) and year."""
    ledger: pd.DataFrame
    """One row per input record: source, record, key, fate, reason."""
    parks: gpd.GeoDataFrame | None
    working_crs: CRS
    year: int
    unit: DisplayUnit
    summary: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """county, parks, industries (per year) and changes (per enterprise between years)."""
    dist: DaskParcels | None = None
    """With the dask engine: the parcels' geometry, on the cluster (``parcels`` then has
    geometry only for underused parcels); :meth:`close` shuts the cluster down."""

    def close(self) -> None:
        """Release the dask cluster of a dask-engine run (nothing to do otherwise)."""
        if self.dist is not None:
            self.dist.close()


def find_sample() -> Path:
    """Folder of the bundled sample county (``data/parcels`` of the source tree)."""
    candidates = [
        Path.cwd() / "data" / "parcels",
        Path(__file__).resolve().parents[2] / "data" / "parcels",
    ]
    for folder in candidates:
        if all((folder / name).exists() for name in SAMPLE_FILES.values()):
            return folder
    raise InputFileError(
        "the bundled sample county (data/parcels/ of the mujun source tree) was not found; run "
        "from a clone of the repository or give --parcels and --filings"
    )


def _sha256(path: Path) -> str:
    """SHA-256 of a file (or archive member); of a folder of GeoParquet files, of its files in
    order."""
    if not path.is_dir():
        return sources.sha256(path)
    digest = hashlib.sha256()
    for part in parquet_parts(path):
        with part.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _size(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in parquet_parts(path)) if path.is_dir() else sources.size(path)
    )


def _from_db(config: Config, what: str) -> bool:
    """Whether parcels or filings come from [input] database."""
    cfg = config.input
    named = getattr(cfg, f"{what}_table") or getattr(cfg, f"{what}_query")
    if named and not cfg.database:
        raise InputFileError(f"{what}_table/{what}_query needs [input] database (--db)")
    return bool(named)


def _inputs(config: Config) -> dict[str, Path | None]:
    cfg = config.input
    db = {what: _from_db(config, what) for what in ("parcels", "filings")}
    if cfg.parcels is None and cfg.filings is None and not any(db.values()):
        folder = find_sample()
        found: dict[str, Path | None] = {k: folder / v for k, v in SAMPLE_FILES.items()}
        for key, name in SAMPLE_OPTIONAL.items():
            found[key] = folder / name if (folder / name).exists() else None
        return found
    if (cfg.parcels is None and not db["parcels"]) or (cfg.filings is None and not db["filings"]):
        raise InputFileError(
            "give both --parcels and --filings, files or database tables "
            "(--parcels-table/--filings-table with --db), or neither, for the sample"
        )
    return {
        "parcels": cfg.parcels,
        "filings": cfg.filings,
        "parks": cfg.parks,
        "buildings": cfg.buildings,
        "builtup": cfg.builtup,
    }


def log_stage(name: str, started: float, message: str, *args: object) -> float:
    """Log ``[name 1.2s, peak 512 MB] message``: seconds since ``started`` and the process's
    peak memory so far (its high-water resident set; where the peak rose is the stage that
    raised it). Returns the time now."""
    peak = _peak_mb()
    logger.info(
        "[%s %.1fs%s] " + message,
        name,
        time.perf_counter() - started,
        f", peak {peak:.0f} MB" if peak is not None else "",
        *args,
        extra={"stage": name, "peak_mb": peak},
    )
    return time.perf_counter()


def _peak_mb() -> float | None:
    """The process's peak resident set so far in MB (None where the OS does not say)."""
    try:
        import resource  # noqa: PLC0415 - not on Windows
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; bytes on macOS
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


@dataclass(frozen=True)
class _Read:
    """What the read stage produced."""

    paths: dict[str, Path | None]
    parcels: gpd.GeoDataFrame
    parcel_table: Table
    filing_table: Table

    @property
    def p_src(self) -> str:
        return self.parcel_table.path.name

    @property
    def f_src(self) -> str:
        return self.filing_table.path.name


def _read(config: Config, ledger: Ledger, dist: DaskParcels | None = None) -> _Read:
    paths = _inputs(config)
    try:
        parcels, parcel_table, filing_table = _read_tables(config, paths, dist)
    except SchemaError as err:
        if not {"parcel_id", "parcel_ids"} & set(err.missing):
            raise
        sources_ = (_name(paths["parcels"]), _name(paths["filings"]))
        raise JoinError(
            "\n".join([str(err), *suggestion(_id_rates(paths, config), sources_)])
        ) from err
    parcels, parcel_table, filing_table = resolve_id_columns(parcels, parcel_table, filing_table)
    ledger.register(parcel_table.path.name, parcels["record"], parcels["parcel_id"])
    ledger.register(filing_table.path.name, filing_table.data["record"], filing_table.data["uscc"])
    return _Read(paths, parcels, parcel_table, filing_table)


def _name(path: Path | None) -> str:
    return "the database table" if path is None else path.name


def _id_rates(paths: dict[str, Path | None], config: Config) -> list[tuple[str, str, float]]:
    """Every pair of a parcel-layer column and a filings column that could hold parcel ids,
    with the share of filing rows it joins (files read again, attributes only)."""
    cfg = config.input
    p_path, f_path = paths["parcels"], paths["filings"]
    if p_path is None or f_path is None:
        return []
    layer = layer_id_columns(p_path, layer=cfg.parcels_layer, encoding=cfg.parcels_encoding)
    table = table_id_columns(
        f_path, encoding=cfg.encoding, sheet=cfg.sheet, columns=config.columns.get("filings")
    )
    return id_column_rates(layer, table)


def _read_tables(
    config: Config, paths: dict[str, Path | None], dist: DaskParcels | None
) -> tuple[gpd.GeoDataFrame, Table, Table]:
    cfg = config.input
    if dist is not None:  # the parcels stay on the cluster; here only their ids
        assert paths["parcels"] is not None
        parcels, parcel_table = dist.read(paths["parcels"], config)
    elif _from_db(config, "parcels"):
        assert cfg.database is not None
        paths["parcels"] = None
        parcels, parcel_table = read_parcels_db(
            cfg.database,
            table=cfg.parcels_table,
            query=cfg.parcels_query,
            crs=cfg.parcels_crs,
            columns=config.columns.get("parcels"),
            units=config.units.get("parcels"),
        )
    else:
        assert paths["parcels"] is not None
        parcels, parcel_table = read_parcels(
            paths["parcels"],
            layer=cfg.parcels_layer,
            crs=cfg.parcels_crs,
            encoding=cfg.parcels_encoding,
            columns=config.columns.get("parcels"),
            units=config.units.get("parcels"),
        )
    options: dict[str, Any] = {
        "year": cfg.year or config.output.year,  # a file without a year column: --year
        "columns": config.columns.get("filings"),
        "units": config.units.get("filings"),
        "on_invalid": cfg.on_invalid,
        "mode": cfg.mode,
        "cells": Cells(
            decimal=cfg.decimal,
            missing_values=cfg.missing_values,
            money_unit="USD" if "USD" in config.output.display_unit else "万元",
        ),
    }
    if _from_db(config, "filings"):
        assert cfg.database is not None
        paths["filings"] = None
        filing_table = read_filings_db(
            cfg.database, table=cfg.filings_table, query=cfg.filings_query, **options
        )
    else:
        assert paths["filings"] is not None
        filing_table = read_filings(
            paths["filings"], encoding=cfg.encoding, sheet=cfg.sheet, **options
        )
    return parcels, parcel_table, filing_table


def _usable(
    parcels: gpd.GeoDataFrame, ledger: Ledger, source: str, placeholders: tuple[str, ...] = ()
) -> gpd.GeoDataFrame:
    """Note the features repaired on reading; reject those that are no parcel polygon or whose
    id is a placeholder (``placeholders``: the config's own, beside the built-in ones)."""
    fixed = parcels["read_fix"] != ""
    ledger.set_fate(
        source,
        parcels.loc[fixed, "record"],
        "fixed",
        parcels.loc[fixed, "read_fix"],
        check="fixed: unclosed ring",
    )
    return reject_unusable(parcels, ledger, source=source, placeholders=placeholders)


def _nothing_usable(source: str, n: int, ledger: Ledger) -> InputError:
    reasons = ledger.frame()["reason"].value_counts().head(5).to_dict()
    return InputError(
        f"{source}: none of its {n} features is a usable parcel polygon ({reasons}); "
        "check the file and its layer"
    )


def _repaired(fixed: gpd.GeoDataFrame, crs: CRS, ledger: Ledger, source: str) -> gpd.GeoDataFrame:
    """Reject features outside their CRS's area, reproject to the working CRS, reject what
    leaves it, repair invalid polygons."""
    outside = geodesy.outside_extent(fixed.crs, shapely.bounds(fixed.geometry.array))
    fixed = reject_outside(fixed, outside, ledger, source=source)
    projected = geodesy.to_working_crs(fixed, crs, source=source)
    return check_geometry(projected, ledger, source=source)


def _prepare_parcels(
    read: _Read, ledger: Ledger, config: Config
) -> tuple[gpd.GeoDataFrame, CRS, list[str], dict[str, float]]:
    """Reject unusable features, settle the CRS, reproject, repair, deduplicate, measure.

    Returns the parcels, the working CRS, notes on the CRS and the area check. The dask engine
    (:mod:`mujun.distributed`) does the same steps with the data in parts.
    """
    source = read.p_src
    usable = _usable(read.parcels, ledger, source, config.parcels.placeholder_ids)
    if usable.empty:
        raise _nothing_usable(source, len(read.parcels), ledger)
    geodesy.require_crs(usable, source=source)
    total = tuple(float(v) for v in usable.total_bounds)
    gk = geodesy.plan_gauss_kruger(usable.crs, total, source=source)  # type: ignore[arg-type]
    fixed = gk.apply(usable)
    bounds = shapely.bounds(fixed.geometry.array)
    outside = geodesy.outside_extent(fixed.crs, bounds)
    geodesy.check_extent(fixed.crs, bounds, outside, source=source)
    crs = geodesy.choose_working_crs(
        fixed.loc[~outside] if outside.any() else fixed,
        named=config.area.working_crs,
        tolerance_pct=config.area.geodesic_check_pct,
    )
    checked = dedupe_parcels(
        _repaired(fixed, crs, ledger, source),
        ledger,
        source,
        same_id=config.parcels.same_id,
        tolerance_m2=config.area.overlap_tolerance_m2,
    )
    find_overlaps(checked, ledger, source=source, tolerance_m2=config.area.overlap_tolerance_m2)
    if checked.empty:
        raise InputError(f"{source}: no parcel polygon has any area; see the ledger")
    lonlat = geodesy.lonlat_bounds(checked)
    measured = _measure(checked, config, ledger=ledger, source=source, lonlat=lonlat)
    plane, ellipsoidal = _areas(measured, lonlat)
    notes = [*read.parcel_table.crs_notes, *gk.notes]
    return measured, crs, notes, _area_check(plane, ellipsoidal, config)


def _parks(read: _Read, config: Config, crs: CRS) -> gpd.GeoDataFrame | None:
    path = read.paths.get("parks")
    if path is None:
        return None
    parks = read_parks(path, crs=config.input.parks_crs, columns=config.columns.get("parks"))
    return geodesy.to_working_crs(parks, crs, source=path.name)


@dataclass(frozen=True)
class _Joined:
    """Everything up to and including the join and the ledger's fates."""

    read: _Read
    ledger: Ledger
    parcels: gpd.GeoDataFrame
    filings: pd.DataFrame
    crs: CRS
    crs_notes: list[str]
    check: dict[str, float]
    parks: gpd.GeoDataFrame | None
    occ: Occupancy
    year: int
    join: JoinQA
    dist: DaskParcels | None = None
    """The dask engine's parcels (their geometry stays on the cluster), else None."""


@dataclass(frozen=True)
class Validation:
    """What ``mujun validate`` reports: the ledger and every finding, without indicators."""

    ledger: pd.DataFrame
    findings: pd.DataFrame
    """One row per finding: source, record, key, fate, check, detail."""
    summary: dict[str, Any]


def _engine(config: Config) -> DaskParcels | None:
    if config.engine.name != "dask":
        return None
    from mujun.distributed import DaskParcels  # noqa: PLC0415 - dask only when asked for

    return DaskParcels.connect(config)


def _through_join(config: Config) -> _Joined:
    ledger = Ledger()
    t = time.perf_counter()
    dist = _engine(config)
    try:
        return _through_join_with(config, ledger, dist, t)
    except BaseException:
        if dist is not None:
            dist.close()
        raise


def _through_join_with(
    config: Config, ledger: Ledger, dist: DaskParcels | None, t: float
) -> _Joined:
    read = _read(config, ledger, dist)
    raw_filings = read.filing_table.data
    t = log_stage(
        "read",
        t,
        "%d parcel features from %s; %d filing rows from %s",
        len(read.parcels),
        read.p_src,
        len(raw_filings),
        read.f_src,
    )
    if dist is not None:
        parcels, crs, crs_notes, check = dist.prepare(read, ledger, config)
    else:
        parcels, crs, crs_notes, check = _prepare_parcels(read, ledger, config)
    filings = check_filings(
        raw_filings,
        ledger,
        source=read.f_src,
        check_codes=config.input.mode == "filings",
        placeholders=config.parcels.placeholder_ids,
    )
    if filings.empty:
        reasons = ledger.frame().query("source == @read.f_src")["reason"]
        raise InputError(
            f"{read.f_src}: no usable filing row; see the reasons in the ledger "
            f"({reasons.value_counts().head(3).to_dict()})"
        )
    used = {h for m in read.filing_table.mapping for h in (m.header, *m.alternatives)}
    check_scored_money(
        filings,
        headline_money(config.scoring),
        source=read.f_src,
        preset=config.preset,
        unread=[h for h in read.filing_table.headers if h not in used],
        unit="USD" if "USD" in config.output.display_unit else "万元",
    )
    t = log_stage(
        "validate", t, "%d usable parcels, %d usable filing rows", len(parcels), len(filings)
    )
    parks = _parks(read, config, crs)
    if parks is not None:
        parcels = dist.assign_parks(parcels, parks) if dist else _assign_parks(parcels, parks)
    shown = display_unit(config.output.display_unit)
    t = log_stage(
        "geodesy",
        t,
        "working CRS %s; %.1f %s surveyed; plane vs ellipsoidal %+.4f %%",
        crs.name,
        parcels["area_m2"].sum() / shown.area_m2,
        shown.area_label,
        check["total_diff_pct"],
    )
    year = evaluation_year(filings, config.output.year, source=read.f_src)
    qa = join_qa(filings, parcels["parcel_id"], year, columns=_id_headers(read))
    check_join(
        qa,
        min_rate=config.join.min_rate,
        sources=(read.p_src, read.f_src),
        candidates=lambda: _id_rates(read.paths, config),
    )
    occ = occupancy(filings, pd.Index(parcels["parcel_id"]))
    _fates(ledger, read, parcels=parcels, filings=filings, occ=occ, year=year)
    ledger.check({read.p_src: len(read.parcels), read.f_src: len(raw_filings)})
    log_stage("join", t, "%s", occ.land_status.value_counts().to_dict())
    return _Joined(
        read, ledger, parcels, filings, crs, crs_notes, check, parks, occ, year, qa, dist
    )


def _id_headers(read: _Read) -> dict[str, str]:
    """The header of the parcel id on each side ("" for none)."""
    return {
        side: next((m.header for m in table.mapping if m.canonical == name), "")
        for side, table, name in (
            ("parcels", read.parcel_table, "parcel_id"),
            ("filings", read.filing_table, "parcel_ids"),
        )
    }


def validate(config: Config) -> Validation:
    """Read and check the inputs named in ``config`` and join them; compute no indicators."""
    j = _through_join(config)
    if j.dist is not None:
        j.dist.close()
    summary = {
        "working_crs": j.crs.to_string(),
        "working_crs_name": j.crs.name,
        "crs_notes": j.crs_notes,
        "notes": list(j.read.filing_table.notes),
        "year": j.year,
        "records": {j.read.p_src: len(j.read.parcels), j.read.f_src: len(j.read.filing_table.data)},
        "ledger": j.ledger.counts(),
        "findings": j.ledger.finding_counts(),
        "join": j.join.to_dict(),
        "area_check": j.check,
    }
    return Validation(ledger=j.ledger.frame(), findings=j.ledger.events(), summary=summary)


def run(config: Config) -> RunResult:
    """Run the pipeline on the inputs named in ``config`` (the bundled sample if none).

    With ``[engine] name = "dask"`` the result holds the cluster until
    :meth:`RunResult.close` (``write_outputs`` needs it for the parcel exports)."""
    j = _through_join(config)
    try:
        return _evaluate(j, config)
    except BaseException:
        if j.dist is not None:
            j.dist.close()
        raise


def _evaluate(j: _Joined, config: Config) -> RunResult:
    """The stages after the join: indicators, scoring, classes, underuse, tables."""
    t = time.perf_counter()  # the stages up to the join log their own times
    read, ledger, filings, occ, year, crs = j.read, j.ledger, j.filings, j.occ, j.year, j.crs
    unit = display_unit(config.output.display_unit)
    by_id = j.parcels.set_index("parcel_id")
    rules = LandRules(
        basis=config.area.basis,
        incomplete=config.area.incomplete,
        declared_m2=by_id["declared_area_mu"] * MU_M2 if "declared_area_mu" in by_id else None,
    )
    if rules.basis == "declared" and rules.declared_m2 is None:
        raise ConfigError(
            f'[area] basis = "declared" needs a declared area column in {read.p_src} '
            "(登记用地面积 or declared_area; map it with [columns.parcels] declared_area); "
            'or use basis = "surveyed"'
        )
    units = unit_table(occ, filings, by_id["area_m2"], unit, rules)
    enterprises = enterprise_indicators(filings, occ, units, unit)
    _note_not_evaluated(
        ledger, read.f_src, filings, enterprises=enterprises, units=units, config=config
    )
    tax = unit.column("tax")
    implausible_firms(
        enterprises,
        filings,
        ledger,
        source=read.f_src,
        tax_per_mu=enterprises[tax] * MU_M2 / 1e4 / unit.factor if tax in enterprises else None,
    )
    basis = evaluation_basis(filings, occ, units, ratio_pairs())
    scores = evaluate(
        enterprises,
        basis,
        scoring=config.scoring,
        classes=config.classes,
        stability=config.stability,
        policy=config.policy,
    )
    enterprises = enterprises.drop(columns=[c for c in scores if c in enterprises]).join(scores)
    enterprises.insert(
        list(enterprises.columns).index("land_status") + 1,
        "park",
        enterprise_parks(occ, j.parcels, enterprises.index),
    )
    indexed = j.parcels.set_index("parcel_id", drop=False)
    per_parcel = parcel_indicators(indexed, occ, units, filings, year=year, unit=unit)
    per_parcel = _by_parcel(
        per_parcel, parcel_classes(occ, enterprises, year, config.classes.labels)
    )
    first_year = int(filings["year"].min())
    if first_year != year and config.classes.method != "none":
        before = parcel_classes(occ, enterprises, first_year, config.classes.labels)[["class"]]
        was = _by_parcel(pd.DataFrame(index=per_parcel.index), before)["class"]
        per_parcel["class_change"] = (
            was.fillna("—") + "→" + per_parcel["class"].fillna("—")
        ).where(was.notna() | per_parcel["class"].notna())
    parcels = gpd.GeoDataFrame(indexed.join(per_parcel), crs=crs).reset_index(drop=True)
    labels = config.classes.labels
    land_m2 = j.parcels["area_m2"].astype("float64")
    park_of = (
        j.parcels["park"].astype("string").fillna(OUTSIDE_PARKS)
        if "park" in j.parcels
        else pd.Series(OUTSIDE_PARKS, index=j.parcels.index, dtype="string")
    )
    county_table = aggregate(
        enterprises, None, labels=labels, unit=unit, industrial_m2=pd.Series([land_m2.sum()])
    )
    tables = {
        "county": county_table,
        "parks": aggregate(
            enterprises,
            "park",
            labels=labels,
            unit=unit,
            industrial_m2=land_m2.groupby(park_of.to_numpy()).sum(),
        ),
        "industries": aggregate(
            enterprises.assign(
                industry2=enterprises.get("industry", pd.Series(dtype="string"))
                .astype("string")
                .str.replace(r"^[A-Za-z]", "", regex=True)
                .str[:2]
            ),
            "industry2",
            labels=labels,
            unit=unit,
        ),
        "changes": changes(enterprises),
    }
    tables["park_changes"] = park_changes(tables["parks"])
    parcels, zones, park_land = _underuse(j, parcels, enterprises, config)
    tables["zones"] = zones
    tables["parks"] = tables["parks"].merge(
        park_land.assign(year=year), on=["year", "park"], how="outer"
    )
    money = _reconcile(
        read.filing_table.data,
        filings,
        enterprises=enterprises,
        parcels=parcels,
        occ=occ,
        year=year,
        fates=ledger.fates(read.f_src),
    )
    log_stage(
        "indicators",
        t,
        "%s%d land units, %d occupied and %d vacant parcels",
        "" if year == NO_YEAR else f"year {year}: ",
        len(units),
        int((~parcels["vacant"]).sum()),
        int(parcels["vacant"].sum()),
    )
    parks, check, crs_notes = j.parks, j.check, j.crs_notes

    summary = {
        "year": year,
        "years": sorted(int(y) for y in filings["year"].unique()),
        "working_crs": crs.to_string(),
        "working_crs_name": crs.name,
        "crs_notes": crs_notes,
        "notes": [*read.filing_table.notes, *year_gaps(list(filings["year"].unique()))],
        "area_method": config.area.method,
        "area_check": check,
        "parcels": _parcel_summary(parcels, config, ledger, read.p_src),
        "enterprises": _enterprise_summary(enterprises),
        "ledger": ledger.counts(),
        "findings": ledger.finding_counts(),
        "join": j.join.to_dict(),
        "not_scored": {
            column: uses
            for column, uses in scored_inputs(config.scoring).items()
            if column not in filings
        },
        "money": money,
        "underuse": _underuse_summary(parcels, tables["zones"], config.underuse.zone_min_parcels),
        "county": _county(enterprises, county_table, unit),
        "area_basis": _area_basis(units, config),
    }
    return RunResult(
        config=config,
        parcels=parcels,
        enterprises=enterprises,
        units=units.reset_index(),
        ledger=ledger.frame(),
        parks=parks,
        working_crs=crs,
        year=year,
        unit=unit,
        summary=summary,
        inputs=_input_record(read),
        tables=tables,
        dist=j.dist,
    )


def _note_not_evaluated(
    ledger: Ledger,
    source: str,
    filings: pd.DataFrame,
    *,
    enterprises: pd.DataFrame,
    units: pd.DataFrame,
    config: Config,
) -> None:
    """A ledger reason for every firm on land whose unit is not evaluated (land incomplete,
    or no declared area on the declared basis): it is listed, not graded, and out of the
    per-area tables."""
    rows = positions(enterprises["unit"], units.index)
    why = np.append(units["not_evaluated"].to_numpy(dtype=object), "")[rows]
    out = np.flatnonzero(pd.notna(why) & (why != ""))
    if len(out) == 0:
        return
    hint = (
        'give each firm\'s declared area and set [area] incomplete = "declared", or '
        "add the missing parcels to the layer"
        if config.area.basis == "surveyed"
        else "give the declared area of every parcel"
    )
    reasons = pd.Series(why[out], dtype="string") + (
        "; not graded and left out of the per-area tables (" + hint + ")"
    )
    ledger.note(
        source,
        filings["record"].iloc[out],
        reasons.astype("string"),
        check="land unit not evaluated",
    )


def _by_parcel(frame: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """``frame.join(other)``, both indexed by parcel id (without repeats): text columns are
    taken by position through Arrow rather than reindexed by label."""
    if not all(isinstance(d, pd.StringDtype) for d in other.dtypes):
        return frame.join(other)
    rows = positions(frame.index, other.index)
    missing = rows < 0
    out = frame.copy(deep=False)
    for column in other.columns:
        taken = pa.array(other[column].array).take(pa.array(rows, mask=missing))
        out[column] = pd.array(taken, dtype=other[column].dtype)
    return out


def _buildings(j: _Joined, parcels: gpd.GeoDataFrame, config: Config) -> pd.DataFrame | None:
    """Coverage and FAR from footprints, else coverage from a built-up raster, else None."""
    paths = j.read.paths
    if paths.get("buildings") is not None:
        path = paths["buildings"]
        assert path is not None
        if j.dist is not None:
            raise InputError(
                f"{path.name}: building footprints are not supported by the dask engine yet; "
                "give a built-up raster (--builtup) instead, or run with --engine memory"
            )
        raw = read_buildings(
            path, columns=config.columns.get("buildings"), units=config.units.get("buildings")
        )
        src = path.name
        j.ledger.register(src, raw["record"], raw["record"].astype(str))
        raw = raw.assign(
            parcel_id=raw["record"].astype(str).astype("string"),
            parcel_id_raw=raw["record"].astype(str).astype("string"),
        )
        usable = reject_unusable(raw, j.ledger, source=src)
        geodesy.require_crs(usable, source=src, flag="--buildings-crs")
        usable = geodesy.to_working_crs(usable, j.crs, source=src)
        usable = usable.set_geometry(shapely.make_valid(usable.geometry.array))
        metrics = footprint_metrics(parcels, usable, double_above_m=config.underuse.storey_double_m)
        inside = parcels.sindex.query(usable.geometry.array, predicate="intersects")[0]
        counted = np.zeros(len(usable), dtype=bool)
        counted[inside] = True
        j.ledger.set_fate(
            src, usable.loc[counted, "record"], "used", "counted in its parcel's coverage and FAR"
        )
        j.ledger.set_fate(
            src,
            usable.loc[~counted, "record"],
            "orphan",
            "outside every parcel",
            check="building outside every parcel",
        )
        j.ledger.check({src: len(raw)})
        return metrics[["coverage", "far", "n_buildings"]]
    if paths.get("builtup") is not None:
        path = paths["builtup"]
        assert path is not None
        from mujun.raster import builtup_fraction  # noqa: PLC0415 - rasterio only when used

        coverage = (
            j.dist.builtup_fraction(parcels, path)
            if j.dist is not None
            else builtup_fraction(parcels, path)
        )
        return pd.DataFrame({"coverage": coverage, "far": np.nan}, index=parcels.index)
    return None


def _underuse(
    j: _Joined, parcels: gpd.GeoDataFrame, enterprises: pd.DataFrame, config: Config
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Coverage, FAR, underuse flags, consolidation zones, cold spots, park land summary."""
    metrics = _buildings(j, parcels, config)
    if metrics is not None:
        parcels = parcels.join(metrics)
    raster_path = j.read.paths.get("builtup")
    if raster_path is not None and metrics is not None and "n_buildings" in metrics:
        from mujun.raster import builtup_fraction  # noqa: PLC0415 - rasterio only when used

        # both given: footprints measure coverage, the raster is kept beside it as a check
        parcels["builtup_fraction"] = builtup_fraction(parcels, raster_path)
    industry2, streaks = _main_firms(j.occ.links, j.year, parcels, enterprises)
    parcels["industry2"] = industry2
    occupied_mu = float(parcels.loc[~parcels["vacant"], "area_mu"].sum())
    county_tax = (
        float(parcels["tax"].sum()) / occupied_mu
        if "tax" in parcels and occupied_mu > 0
        else np.nan
    )
    flags = underuse_flags(
        parcels,
        cfg=config.underuse,
        county_tax_per_mu=county_tax,
        last_class=config.classes.labels[-1],
        streaks=streaks,
    )
    parcels = parcels.join(flags)
    if "tax_per_mu" not in parcels:  # e.g. value per acre: no tax to measure a gain by
        empty = gpd.GeoDataFrame(
            {"zone_id": [], "park": [], "area_mu": [], "gain_wan": []}, geometry=[], crs=parcels.crs
        )
        return parcels, empty, park_summary(parcels, empty)
    if j.dist is not None:  # zones need the outlines of the underused parcels
        parcels = j.dist.with_geometry(parcels, parcels["underused"].to_numpy(dtype=bool))
    zones, zone_of = consolidation_zones(parcels, cfg=config.underuse)
    parcels["zone_id"] = zone_of
    if config.underuse.cold_spots and "tax_per_mu" in parcels:
        neighbours = j.dist.neighbours(parcels) if j.dist is not None else None
        parcels = parcels.join(cold_spots(parcels, cfg=config.underuse, neighbours=neighbours))
    return parcels, zones, park_summary(parcels, zones)


def _main_firms(
    links: pd.DataFrame, year: int, parcels: gpd.GeoDataFrame, enterprises: pd.DataFrame
) -> tuple[pd.Series, pd.Series]:
    """Per parcel, the two-digit industry of its firm paying most tax in ``year`` (<NA> if
    vacant) and the longest last-class streak of its firms (NaN if vacant)."""
    rows = np.flatnonzero((links["year"] == year).to_numpy())
    firm = positions(links["filing"].iloc[rows], enterprises.index)
    at = positions(links["parcel_id"].iloc[rows], pd.Index(parcels["parcel_id"]))
    code = pd.Series(enterprises.get("industry", pd.Series(pd.NA, index=enterprises.index)))
    code = code.astype("string").str.replace(r"^[A-Za-z]", "", regex=True).str[:2]
    tax = (
        np.append(enterprises["tax"].to_numpy(dtype="float64"), np.nan)[firm]
        if "tax" in enterprises
        else 0.0
    )
    # the first link of each parcel once sorted by tax, descending (the same sort as before)
    main = pd.DataFrame({"tax": tax, "at": at}).sort_values("tax", ascending=False)
    main = main.drop_duplicates("at")
    main = main.loc[main["at"].to_numpy() >= 0]
    slot = np.full(len(parcels) + 1, -1, dtype=np.int64)
    slot[main["at"].to_numpy()] = firm[main.index.to_numpy()]
    taken = pa.array(code.array).take(pa.array(slot[:-1], mask=slot[:-1] < 0))
    industry2 = pd.Series(pd.array(taken, dtype="string"), index=parcels.index)
    streak = np.append(enterprises["d_streak"].to_numpy(dtype="float64"), np.nan)[firm]
    longest = pd.Series(streak).groupby(at).max()
    longest = longest.loc[longest.index.to_numpy() >= 0]
    streaks = np.full(len(parcels), np.nan)
    streaks[longest.index.to_numpy()] = longest.to_numpy()
    return industry2, pd.Series(streaks, index=parcels.index)


def _underuse_summary(
    parcels: gpd.GeoDataFrame, zones: pd.DataFrame, min_parcels: int
) -> dict[str, Any]:
    if "underused" not in parcels:
        return {}
    flags = [c for c in parcels.columns if c.startswith("flag_")]
    out: dict[str, Any] = {
        "underused_parcels": int(parcels["underused"].sum()),
        "underused_mu": float(parcels.loc[parcels["underused"], "area_mu"].sum()),
        "by_reason": {c.removeprefix("flag_"): int(parcels[c].sum()) for c in flags},
        "zones": len(zones),
        "zone_mu": float(zones["area_mu"].sum()) if len(zones) else 0.0,
        # what is summed, said in the keys: the zones below their park's median only, and
        # every zone (those above the median count negative)
        "zone_gain_wan": float(zones["gain_wan"].clip(lower=0).sum()) if len(zones) else 0.0,
        "zones_gaining": int((zones["gain_wan"] > 0).sum()) if len(zones) else 0,
        "zone_gain_all_wan": float(zones["gain_wan"].sum()) if len(zones) else 0.0,
        "zone_min_parcels": min_parcels,
    }
    if "cold_spot" in parcels:
        out["cold_spots"] = int(parcels["cold_spot"].sum())
    if "coverage" in parcels:
        occupied = parcels.loc[~parcels["vacant"]]
        out["median_coverage"] = float(occupied["coverage"].median())
        out["median_far"] = float(occupied["far"].median())
    return out


def _input_record(read: _Read) -> dict[str, dict[str, Any]]:
    inputs = {
        name: {"path": str(path), "sha256": _sha256(path), "bytes": _size(path)}
        for name, path in read.paths.items()
        if path is not None
    }
    for name, table in (("parcels", read.parcel_table), ("filings", read.filing_table)):
        if table.provenance is not None:
            inputs[name] = dict(table.provenance)
        inputs[name]["units"] = table.units
        inputs[name]["columns"] = {m.header: m.canonical for m in table.mapping}
    inputs["filings"]["encoding"] = read.filing_table.encoding
    return inputs


def _measure(
    parcels: gpd.GeoDataFrame,
    config: Config,
    *,
    ledger: Ledger,
    source: str,
    lonlat: tuple[float, float, float, float],
) -> gpd.GeoDataFrame:
    """Area columns by the configured method; declared areas off by more than the tolerance
    are noted. ``lonlat`` is the bounds of all the parcels (the ellipsoidal method's centre)."""
    if config.area.method == "ellipsoidal":
        area = geodesy.ellipsoidal_area(parcels.geometry, lonlat=lonlat)
    else:
        area = geodesy.plane_area(parcels.geometry)
    out = implausible_parcels(
        parcels.join(geodesy.area_columns(area.rename("area_m2"))), ledger, source=source
    )
    if "declared_area_mu" in out:
        diff = (out["area_mu"] - out["declared_area_mu"]) / out["declared_area_mu"] * 100
        out["area_diff_pct"] = diff.where(np.isfinite(diff))
        out["area_mismatch"] = out["area_diff_pct"].abs() > config.area.declared_tolerance_pct
        off = out.loc[out["area_mismatch"].fillna(False).astype(bool)]
        pct = off["area_diff_pct"].to_numpy(dtype="float64")
        sign = np.where(np.signbit(pct), "", "+")
        reasons = (
            "declared "
            + fixed_text(off["declared_area_mu"].to_numpy(dtype="float64"), 2)
            + " mu, surveyed "
            + fixed_text(off["area_mu"].to_numpy(dtype="float64"), 2)
            + " mu ("
            + (sign + fixed_text(pct, 1))
            + " %)"
        )
        ledger.note(
            source,
            off["record"],
            reasons,
            check=f"declared area differs by > {config.area.declared_tolerance_pct:g} %",
        )
    return out


def _areas(
    parcels: gpd.GeoDataFrame, lonlat: tuple[float, float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Plane and ellipsoidal area of each parcel (m²), for :func:`_area_check`."""
    plane = geodesy.plane_area(parcels.geometry).to_numpy()
    ellipsoidal = geodesy.ellipsoidal_area(parcels.geometry, lonlat=lonlat).to_numpy()
    return plane, ellipsoidal


def _area_check(plane: np.ndarray, ellipsoidal: np.ndarray, config: Config) -> dict[str, float]:
    """Compare the area used with the other method (plane vs ellipsoidal), total and worst."""
    sized = ellipsoidal >= 1.0  # relative differences of sub-m² slivers mean nothing
    rel = (plane[sized] - ellipsoidal[sized]) / ellipsoidal[sized] * 100
    total_p, total_e = float(plane.sum()), float(ellipsoidal.sum())
    result = {
        "plane_m2": total_p,
        "ellipsoidal_m2": total_e,
        "total_diff_pct": (total_p - total_e) / total_e * 100 if total_e > 0 else 0.0,
        "max_abs_diff_pct": float(np.abs(rel).max()) if len(rel) else 0.0,
    }
    if abs(result["total_diff_pct"]) > config.area.geodesic_check_pct:
        logger.warning(
            "plane and ellipsoidal areas differ by %.4f %% (> %.4f %%); check the working CRS",
            result["total_diff_pct"],
            config.area.geodesic_check_pct,
        )
    return result


def _parks_located(parcels: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> pd.Series:
    """The park polygon containing each parcel's representative point (aligned to parcels)."""
    points = gpd.GeoDataFrame(geometry=parcels.geometry.representative_point(), crs=parcels.crs)
    hit = gpd.sjoin(points, parks[["park", "geometry"]], how="left", predicate="within")
    return hit.loc[~hit.index.duplicated(keep="first"), "park"].astype("string")


def _fill_parks(parcels: gpd.GeoDataFrame, located: pd.Series) -> gpd.GeoDataFrame:
    """Fill ``park`` with ``located`` where the parcel layer does not name one."""
    out = parcels.copy()
    out["park"] = out["park"].fillna(located) if "park" in out else located
    return out


def _assign_parks(parcels: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fill ``park`` from the park polygon containing each parcel's representative point."""
    return _fill_parks(parcels, _parks_located(parcels, parks))


def _fates(
    ledger: Ledger,
    read: _Read,
    *,
    parcels: gpd.GeoDataFrame,
    filings: pd.DataFrame,
    occ: Occupancy,
    year: int,
) -> None:
    """Give every parcel feature and filing row not yet settled its fate and reason."""
    p_src, f_src = read.p_src, read.f_src
    occupied = occ.links.loc[occ.links["year"] == year, "parcel_id"]
    vacant = ~isin_values(parcels["parcel_id"], occupied)
    of_year = "" if year == NO_YEAR else f" in {year}"  # a table without years
    ledger.set_fate(p_src, parcels.loc[~vacant, "record"], "used", "occupied" + of_year)
    used_other = (
        parcels.loc[vacant, "parcel_id"].map(_other_years(occ.links, year)).astype("string")
    )
    reasons = ("no filing names it" if year == NO_YEAR else f"no filing of {year} names it") + (
        " (used in " + used_other + ")"
    ).fillna("")
    ledger.set_fate(
        p_src,
        parcels.loc[vacant, "record"],
        "vacant",
        reasons.astype("string"),
        check="vacant parcel",
    )

    status = occ.land_status
    records = filings["record"]
    orphan = (status == "orphan").to_numpy()
    ledger.set_fate(
        f_src,
        records[orphan],
        "orphan",
        ("listed parcels not in the parcel layer: " + occ.missing[orphan]).astype("string"),
        check="orphan: no listed parcel exists",
    )
    lessee = (status == "lessee").to_numpy()
    ledger.set_fate(
        f_src,
        records[lessee],
        "used",
        "lessee: lists no parcel; evaluated on the list of firms without land",
        check="lessee (lists no parcel)",
    )
    landed = ~(orphan | lessee)
    ledger.set_fate(
        f_src,
        records[landed],
        "used",
        ("land unit " + occ.unit[landed].astype(str)).astype("string"),
    )
    partial = landed & (occ.missing != "").to_numpy()
    ledger.note(
        f_src,
        records[partial],
        ("parcels not found: " + occ.missing[partial]).astype("string"),
        check="some listed parcels do not exist",
    )


def _other_years(links: pd.DataFrame, year: int) -> pd.Series:
    """Per parcel used in other years than ``year``: those years, sorted, as "2016, 2019"."""
    pairs = (
        links.loc[links["year"] != year, ["parcel_id", "year"]]
        .drop_duplicates()
        .sort_values(["parcel_id", "year"], kind="stable")
    )
    ids = pairs["parcel_id"].to_numpy(dtype=object)
    if not len(ids):
        return pd.Series([], dtype="string")
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    offsets = pa.array(np.r_[starts, len(ids)].astype("int32"))
    years = pa.array(pairs["year"].astype("int64").astype(str).to_numpy(dtype=object), pa.string())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, years), ", ")
    return pd.Series(joined.to_pylist(), index=ids[starts], dtype="string")


def _reconcile(
    raw: pd.DataFrame,
    kept: pd.DataFrame,
    *,
    enterprises: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    occ: Occupancy,
    year: int,
    fates: pd.Series,
) -> dict[str, Any]:
    """Money in = money out + money set aside (duplicates, rejects), and parcels = filings."""
    set_aside = raw.loc[raw["record"].map(fates).isin(["duplicate", "rejected"]).to_numpy()]
    result: dict[str, Any] = {}
    for figure in (m for m in MONEY if m in raw):
        total_in = float(raw[figure].sum())
        out = float(enterprises[figure].sum())
        aside = float(set_aside[figure].sum())
        landed = (occ.land_status.isin(["own", "shared"]) & (kept["year"] == year)).to_numpy()
        on_land = float(kept.loc[landed, figure].sum())
        on_parcels = float(parcels[figure].sum())
        result[figure] = {
            "input_yuan": total_in,
            "enterprises_yuan": out,
            "set_aside_yuan": aside,
            f"on_land_{year}_yuan": on_land,
            f"parcels_{year}_yuan": on_parcels,
        }
        scale = max(abs(total_in), 1.0)
        if abs(total_in - out - aside) > 1e-9 * scale + 0.01:
            raise ReconciliationError(
                f"{figure}: input {total_in:.2f} != output {out:.2f} + set aside {aside:.2f} yuan"
            )
        if abs(on_land - on_parcels) > 1e-9 * scale + 0.01:
            raise ReconciliationError(
                f"{figure} {year}: filings on land {on_land:.2f} != "
                f"parcel total {on_parcels:.2f} yuan"
            )
    return result


def _parcel_summary(
    parcels: gpd.GeoDataFrame, config: Config, ledger: Ledger, source: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "count": len(parcels),
        "vacant": int(parcels["vacant"].sum()),
        "area_mu": float(parcels["area_mu"].sum()),
        "shared": int((parcels["n_enterprises"] > 1).sum()),
    }
    if (ledger.fates(source) == "merged").any():
        table = ledger.frame()
        reasons = table.loc[(table["source"] == source) & (table["fate"] == "merged"), "reason"]
        heads = int(reasons.str.extract(r"dissolved into record (\d+)")[0].nunique())
        out["merged"] = {"parcels": heads, "features": heads + len(reasons)}
    if "area_mismatch" in parcels:
        out["declared_mismatch"] = int(parcels["area_mismatch"].sum())
        out["declared_tolerance_pct"] = config.area.declared_tolerance_pct
    return out


def _enterprise_summary(enterprises: pd.DataFrame) -> dict[str, Any]:
    counts = enterprises.groupby(["year", "land_status"]).size()
    return {
        str(y): {str(k): int(v) for k, v in counts.loc[y].items()}
        for y in counts.index.get_level_values("year").unique()
    }


def _county(enterprises: pd.DataFrame, county: pd.DataFrame, unit: DisplayUnit) -> dict[str, Any]:
    """County per-area figures per year: for all firms on land ("all", with the figure per
    industrial area including vacant land) and by 规上/规下, from the same aggregate as
    county.csv (each unit's land split between its firms, so the groups add up)."""
    land = f"land_{unit.area}"
    frames = {"all": county}
    if "above_scale" in enterprises:
        scale = enterprises["above_scale"].astype("boolean").fillna(False).astype(bool)
        by_scale = aggregate(
            enterprises.assign(scale=np.where(scale, "above_scale", "below_scale")),
            "scale",
            labels=(),
            unit=unit,
        )
        for group in ("above_scale", "below_scale"):
            frames[group] = by_scale[by_scale["scale"] == group]
    out: dict[str, Any] = {}
    for year in sorted(int(y) for y in county["year"].unique()):
        entry: dict[str, Any] = {}
        for name, frame in frames.items():
            rows = frame[frame["year"] == year]
            if rows.empty:
                continue
            row = rows.iloc[0]
            figures: dict[str, Any] = {
                f"area_{unit.area}": float(row[land]),
                "enterprises": int(row["enterprises"]),
                "enterprises_on_land": int(row["enterprises_on_land"]),
            }
            for column in row.index:
                if column.startswith(tuple(f"{m}_" for m in MONEY)) and (
                    column.endswith((unit.suffix, f"{unit.suffix}_industrial"))
                ):
                    value = row[column]
                    figures[column] = None if pd.isna(value) else float(value)
            entry[name] = figures
        out[str(year)] = entry
    return out


def _area_basis(units: pd.DataFrame, config: Config) -> dict[str, Any]:
    """The land basis of the per-area figures and how far the other basis is from it: the
    units with both areas, those differing by more than the declared-area tolerance, and
    the median difference in percent (declared against surveyed)."""
    both = units["surveyed_m2"].gt(0) & units["declared_m2"].gt(0)
    diff = (units["declared_m2"] / units["surveyed_m2"] - 1) * 100
    tolerance = config.area.declared_tolerance_pct
    return {
        "basis": config.area.basis,
        "units": len(units),
        "units_with_both": int(both.sum()),
        "units_differing": int((diff[both].abs() > tolerance).sum()),
        "tolerance_pct": tolerance,
        "median_declared_vs_surveyed_pct": (float(diff[both].median()) if both.any() else None),
        "not_evaluated": int((units["not_evaluated"].fillna("") != "").sum()),
    }
