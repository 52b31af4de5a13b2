"""Write a run's outputs: the planner's map, RFC 7946 GeoJSON, CSV tables, ledger, run.json.

Layout under the output folder: ``maps/<name>.html`` and ``exports/{parcels.geojson,
enterprises.csv, units.csv, ledger.csv, run.json}``. Every target is checked before anything is
written; everything is written into a staging folder and moved into place only once the whole
run has succeeded (:mod:`mujun.io.staging`), run.json last, listing every output with its size
and SHA-256 and the files of the previous run it removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from mujun.config import OutputConfig
from mujun.engine import ParcelEngine
from mujun.errors import MujunError, OutputError
from mujun.io.postgis import OUTPUT_TABLES, redact, write_run
from mujun.io.staging import Staging, refuse_symlinks
from mujun.io.writers import check_writable, write_csv, write_geojson, write_json
from mujun.io.xlsx import write_enterprise_workbook
from mujun.maps import map_html, render_map
from mujun.maps.render import ClassLegend
from mujun.memory import MemoryEngine
from mujun.pipeline import RunResult
from mujun.progress import log_stage
from mujun.vocabulary import Vocabulary, vocabulary
from mujun.zones import public_underuse

__all__ = ["write_ledger", "write_outputs"]

_PARCEL_PROPS = [
    "parcel_id",
    "park",
    "land_use",
    "area_m2",
    "area_mu",
    "area_ha",
    "area_acre",
    "declared_area_mu",
    "area_diff_pct",
    "area_mismatch",
    "year",
    "vacant",
    "unit",
    "n_enterprises",
    "enterprises",
    "uscc",
    "tax",
    "value_added",
    "revenue",
    "assessed_value",
    "class",
    "classes",
    "class_change",
    "coverage",
    "builtup_fraction",
    "far",
    "n_buildings",
    "industry2",
    "underused",
    "underuse_reasons",
    "zone_id",
    "moran_i",
    "moran_p",
    "moran_quadrant",
    "cold_spot",
    "underused_new",
    "redevelopment_status",
    "redevelopment_measure",
    "redevelopment_year",
    "commitment",
]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in (
        "mujun",
        "geopandas",
        "shapely",
        "pyproj",
        "pyogrio",
        "pandas",
        "numpy",
        "folium",
        "mapclassify",
        "scipy",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out["GDAL"] = pyogrio.__gdal_version_string__
    out["PROJ"] = pyproj.proj_version_str
    return out


def _vocabulary(result: RunResult) -> Vocabulary:
    return vocabulary(result.config, year=result.year)


def _parcel_export(result: RunResult) -> pd.DataFrame:
    """The exported columns of the parcels in the run's vocabulary, money and areas rounded.
    Only the rounded columns are new (with copy-on-write the others share the parcels'
    memory: 1M parcels, ~40 columns)."""
    vocab = _vocabulary(result)
    parcels = result.parcels.assign(year=result.year)
    per = [c for c in parcels.columns if f"_{result.unit.suffix}" in c]
    cols = [c for c in _PARCEL_PROPS if c in parcels] + per
    out = vocab.export(parcels[[*cols, "geometry"]])
    area = f"area_{vocab.area}"  # the area of the preset, to a tenth of a square metre or so
    rounded: dict[str, pd.Series] = {}
    for col in (
        "area_m2",
        "area_mu",
        "area_ha",
        "area_acre",
        f"declared_{area}",
        "tax",
        "value_added",
        "revenue",
        "assessed_value",
    ):
        if col in out:
            rounded[col] = out[col].round(vocab.area_digits if col == area else 2)
    for col in [*(c for c in out.columns if f"_{result.unit.suffix}" in c), "area_diff_pct"]:
        if col in out:
            rounded[col] = rounded.get(col, out[col]).round(4)
    return out.assign(**rounded)


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if col != "geometry" and pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(4)
    return out


def _write_database(result: RunResult, parcels: gpd.GeoDataFrame) -> dict[str, Any] | None:
    """The scored parcels (working CRS), enterprises and zones into [output] database."""
    cfg = result.config.output
    if not cfg.database:
        return None
    tables: dict[str, pd.DataFrame] = {
        "parcels": parcels,
        "enterprises": result.enterprises,
    }
    zones = result.tables.get("zones")
    if zones is not None and len(zones):
        tables["zones"] = zones
    run_id = cfg.run_id or cfg.map_name
    rows = write_run(cfg.database, tables, run_id=run_id, schema=cfg.db_schema)
    return {
        "database": redact(cfg.database),
        "schema": cfg.db_schema,
        "run_id": run_id,
        "rows": {OUTPUT_TABLES[k]: n for k, n in rows.items()},
    }


def _targets(base: Path, cfg: OutputConfig) -> dict[str, Path]:
    names = {
        "parcels": "parcels.geojson",
        "parcels_parquet": "parcels.parquet",
        "enterprises": "enterprises.csv",
        "units": "units.csv",
        "workbook": "enterprises.xlsx",
        "county": "county.csv",
        "parks": "parks.csv",
        "industries": "industries.csv",
        "changes": "changes.csv",
        "park_changes": "park_changes.csv",
        "zones": "zones.geojson",
        "commitments": "commitments.csv",
        "redevelopment": "redevelopment.csv",
        "corrections": "corrections.csv",
        "ledger": "ledger.csv",
        "run": "run.json",
    }
    targets = {"map": base / "maps" / f"{cfg.map_name}.html"} if cfg.map else {}
    return targets | {k: base / "exports" / v for k, v in names.items()}


def _input_names(inputs: dict[str, dict[str, Any]]) -> list[str]:
    """The inputs' names for the map's print sheet: file names, or the database table."""
    names = []
    for record in inputs.values():
        if record.get("path"):
            names.append(Path(record["path"]).name)
        elif "database" in record:
            names.append(f"postgis:{record.get('table') or 'query'}")
    return names


def _write_map(result: RunResult, path: Path, *, made: date) -> None:
    vocab = _vocabulary(result)
    legend = None
    if result.config.classes.method != "none":
        graded = result.enterprises.loc[result.enterprises["year"] == result.year, "class"]
        legend = ClassLegend(
            labels=tuple(result.config.classes.labels),
            names=tuple(result.config.classes.names),
            firms={str(k): int(v) for k, v in graded.value_counts().items()},
        )
    parcels, zones = result.parcels, result.tables.get("zones")
    if result.config.map.profile == "public":  # derived from non-confidential facts alone
        parcels, zones = public_underuse(parcels, cfg=result.config.underuse)
    fmap = render_map(
        vocab.frame(parcels),
        unit=result.unit,
        cfg=result.config.map,
        year=result.year,
        parks=result.parks,
        classes=legend,
        zones=None if zones is None else vocab.frame(zones),
        firms=vocab.frame(result.enterprises.loc[result.enterprises["year"] == result.year]),
        csv_formulas=result.config.output.csv_formulas,
        vocab=vocab,
        made=made,
        inputs=_input_names(result.inputs),
    )
    path.write_text(map_html(fmap, offline=result.config.map.offline), encoding="utf-8")


def _write_tables(result: RunResult, targets: dict[str, Path]) -> list[str]:
    """The tables, zones, surface and ledger at ``targets`` (staging paths); returns the
    names of those written."""
    cfg = result.config.output
    vocab = _vocabulary(result)
    written = ["enterprises", "units", "workbook"]

    def csv(frame: pd.DataFrame, name: str) -> None:
        write_csv(frame, targets[name], overwrite=True, formulas=cfg.csv_formulas)

    enterprises = vocab.export(result.enterprises)
    # the workbook beside the CSVs (it reads the same frame, they write other files)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mujun-xlsx") as pool:
        workbook = pool.submit(
            write_enterprise_workbook,
            enterprises,
            targets["workbook"],
            year=result.year if vocab.years else None,
            weights={k: dict(v) for k, v in result.config.scoring.weights.items()},
            lang=cfg.lang,
            overwrite=True,
            vocab=vocab,
        )
        csv(enterprises, "enterprises")
        csv(vocab.export(result.units), "units")
        _write_rest(result, targets, written, csv)
        workbook.result()
    return written


def _write_rest(
    result: RunResult,
    targets: dict[str, Path],
    written: list[str],
    csv: Callable[[pd.DataFrame, str], None],
) -> None:
    """The aggregates, the cycle's tables, zones, surface and ledger (``written`` grows)."""
    cfg = result.config.output
    vocab = _vocabulary(result)
    for name in ("county", "parks", "industries", "changes", "park_changes"):
        csv(vocab.export(result.tables[name]), name)
        written.append(name)
    for name in ("commitments", "redevelopment", "corrections"):  # the yearly cycle's inputs
        if name in result.tables:
            csv(vocab.export(result.tables[name].drop(columns="record", errors="ignore")), name)
            written.append(name)
    zones = result.tables.get("zones")
    if zones is not None and len(zones):
        write_geojson(
            _rounded(vocab.export(zones)),
            targets["zones"],
            overwrite=True,
            precision=cfg.coordinate_precision,
        )
        written.append("zones")
    if cfg.surface_m > 0 and result.unit.column("tax") in result.parcels:
        from mujun.raster import efficiency_surface  # noqa: PLC0415 - rasterio when used

        efficiency_surface(
            result.parcels,
            result.parcels[result.unit.column("tax")],
            targets["surface"],
            resolution=cfg.surface_m,
            overwrite=True,
        )
        written.append("surface")
    csv(result.ledger, "ledger")
    written.append("ledger")


COMPARE_EXPORTS = ("compare_enterprises.csv", "compare_parcels.csv", "compare.json")
"""What ``mujun compare OLD NEW`` adds to NEW's exports: they speak of that run, so a new
run there removes them."""

_KNOWN_EXPORTS = (
    "parcels.geojson",
    "parcels.parquet",
    "enterprises.csv",
    "units.csv",
    "enterprises.xlsx",
    "county.csv",
    "parks.csv",
    "industries.csv",
    "changes.csv",
    "park_changes.csv",
    "zones.geojson",
    "commitments.csv",
    "redevelopment.csv",
    "corrections.csv",
    "ledger.csv",
    "run.json",
    *COMPARE_EXPORTS,
)
"""The exports a run may write (and the surface, ``*_per_*.tif``): files of an earlier run
of these names that this run does not write are removed by an overwrite."""


def _previous_outputs(out: Path) -> list[Path]:
    """The files of the run that wrote ``out`` before: those its run.json lists, its notice
    package (``reports/<name>.pdf`` ...), and mujun's export names in ``exports/``."""
    found: list[Path] = []
    record = out / "exports" / "run.json"
    try:
        previous = json.loads(record.read_text("utf-8"))
        listed = previous.get("outputs", {})
        name = str(previous.get("config", {}).get("output", {}).get("map_name", "mujun"))
    except (OSError, ValueError, AttributeError):
        listed, name = {}, "mujun"
    if Path(name).name == name and not name.startswith("."):
        # its notice package (mujun report) speaks of that run: it goes with it
        reports = out / "reports"
        stems = (name, f"{name}-public")
        found += [p for s in stems for p in (reports / f"{s}.pdf", reports / f"{s}.xlsx")]
        found = [p for p in found if p.exists()]
    for entry in listed.values() if isinstance(listed, dict) else ():
        text = entry.get("path") if isinstance(entry, dict) else entry
        path = Path(str(text))
        path = path if path.is_absolute() else Path.cwd() / path
        with contextlib.suppress(ValueError):
            found.append(out / path.resolve().relative_to(out.resolve()))
    exports = out / "exports"
    if exports.is_dir():
        found += [p for p in exports.iterdir() if p.name in _KNOWN_EXPORTS]
        found += list(exports.glob("*_per_*.tif"))
    return sorted(set(found))


def _written(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of an output (a folder of parts: over its files in order)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return {"bytes": sum(f.stat().st_size for f in files), "sha256": digest.hexdigest()}


def _hashed(written: list[str], finals: dict[str, Path], staging: Staging) -> dict[str, Any]:
    """run.json's outputs: each one's path, size and SHA-256, two files at a time (hashlib
    lets go of the GIL on large blocks; a million parcels write about 1 GB)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mujun-hash") as pool:
        sums = list(pool.map(lambda k: _written(staging.path(finals[k])), written))
    return {k: {"path": str(finals[k]), **v} for k, v in zip(written, sums, strict=True)}


def plan(config: OutputConfig) -> list[str]:
    """The stages :func:`write_outputs` logs, in order (for the progress bar)."""
    return [
        *(["write map"] if config.map else []),
        "write parcels",
        "write tables",
        *(["write database"] if config.database else []),
    ]


def write_outputs(
    result: RunResult, *, engine: ParcelEngine | None = None, started: datetime | None = None
) -> dict[str, Path]:
    """Write the map and exports of ``result`` under ``result.config.output.out_dir``, all or
    nothing; returns the outputs written, by name. ``engine``: the one the run used (the
    parcels' outlines may still be there), else the in-memory one."""
    cfg = result.config.output
    vocab = _vocabulary(result)
    out = Path(cfg.out_dir)
    finals = _targets(out, cfg)
    if cfg.surface_m > 0:
        finals["surface"] = out / "exports" / f"{result.unit.column('tax')}.tif"
    refuse_symlinks(out, list(finals.values()))
    for path in finals.values():
        check_writable(path, overwrite=cfg.overwrite, create=False)
    staging = Staging.begin(out)
    started = started or datetime.now(UTC)
    try:
        written, database = _write_staged(
            result,
            {k: staging.path(v) for k, v in finals.items()},
            engine or MemoryEngine(),
            made=started.astimezone().date(),
        )
        removed = (
            [p for p in _previous_outputs(out) if p not in set(finals.values())]
            if cfg.overwrite
            else []
        )
        record: dict[str, Any] = {
            "mujun_run": 2,
            "started_utc": started.isoformat(timespec="seconds"),
            "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": result.config.to_dict(),
            "versions": _versions(),
            "inputs": result.inputs,
            "units": vocab.units(result.unit.label),
            "summary": vocab.summary(result.summary.to_dict()),
            "notes": staging.notes,
            "outputs": _hashed(written, finals, staging),
            "removed": [str(p) for p in removed],
        }
        if database:
            record["database"] = database
        write_json(record, staging.path(finals["run"]), overwrite=True)
        staging.commit([finals[k] for k in [*written, "run"]], remove=removed)
    except OSError as err:
        staging.abort()
        if isinstance(err, MujunError):
            raise
        raise OutputError(
            f"the outputs could not be written under {out}: {err.strerror or err} "
            f"({err.filename or out}); the previous outputs are kept. Free disk space or "
            "choose another --out"
        ) from err
    except BaseException:
        staging.abort()
        raise
    return {k: finals[k] for k in [*written, "run"]}


def _write_staged(
    result: RunResult, targets: dict[str, Path], engine: ParcelEngine, *, made: date
) -> tuple[list[str], dict[str, Any] | None]:
    """Every output but run.json at ``targets`` (staging paths); the names written, and what
    went to the database."""
    cfg = result.config.output
    t = time.perf_counter()
    if engine.remote and (cfg.map or cfg.database or cfg.surface_m > 0):
        # the map, the database tables and the surface are built from all the outlines
        everything = np.ones(len(result.parcels), dtype=bool)
        parcels = engine.with_geometry(result.parcels, everything)
        result = dataclasses.replace(result, parcels=parcels)
    written = []
    if cfg.map:
        _write_map(result, targets["map"], made=made)
        written.append("map")
        t = log_stage("write map", t, "%s", targets["map"].name)
    parcels = gpd.GeoDataFrame(_parcel_export(result), geometry="geometry")

    def write_parcels() -> None:
        # with the dask engine, written part by part on the workers: the same GeoJSON, the
        # GeoParquet as a folder of parts
        started = time.perf_counter()
        engine.write_parcels(
            parcels,
            targets["parcels"],
            targets["parcels_parquet"],
            precision=cfg.coordinate_precision,
        )
        log_stage(
            "write parcels", started, "%s parcels: GeoJSON and GeoParquet", f"{len(parcels):,}"
        )

    def write_tables() -> list[str]:
        started = time.perf_counter()
        names = _write_tables(result, targets)
        log_stage(
            "write tables", started, "enterprises, units, workbook, aggregates, zones, ledger"
        )
        return names

    # the parcel files and the tables need nothing from each other: both cores, one each (the
    # GeoJSON's geometry text, Parquet and Arrow's CSV writer work without the GIL)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mujun-write") as pool:
        parcels_job = pool.submit(write_parcels)
        tables_job = pool.submit(write_tables)
        parcels_job.result()
        tables = tables_job.result()
    written += ["parcels", "parcels_parquet", *tables]
    t = time.perf_counter()
    database = _write_database(result, parcels)
    if database:
        log_stage("write database", t, "%s", database["rows"])
    return written, database


def write_ledger(ledger: pd.DataFrame, target: Path, *, formulas: str = "neutralise") -> Path:
    """``mujun validate``'s ledger at ``target`` (``OUT/exports/ledger.csv``), staged and moved
    into place whole, like a run's outputs."""
    out = target.parent.parent
    refuse_symlinks(out, [target])
    staging = Staging.begin(out)
    try:
        write_csv(ledger, staging.path(target), overwrite=True, formulas=formulas)
        staging.commit([target])
    except BaseException:
        staging.abort()
        raise
    return target
