"""Write a run's outputs: the planner's map, RFC 7946 GeoJSON, CSV tables, ledger, run.json.

Layout under the output folder: ``maps/<name>.html`` and ``exports/{parcels.geojson,
enterprises.csv, units.csv, ledger.csv, run.json}``. Every target is checked before anything is
written, so a refused overwrite leaves no half-written run behind.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from mujun.config import OutputConfig
from mujun.io.postgis import OUTPUT_TABLES, redact, write_run
from mujun.io.writers import check_writable, write_csv, write_geojson, write_json
from mujun.io.xlsx import write_enterprise_workbook
from mujun.maps import map_html, render_map
from mujun.maps.render import ClassLegend
from mujun.pipeline import RunResult, log_stage

__all__ = ["write_outputs"]

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


def _parcel_export(result: RunResult) -> pd.DataFrame:
    """The exported columns of the parcels, money and areas rounded. Only the rounded columns
    are new (with copy-on-write the others share the parcels' memory: 1M parcels, ~40 columns)."""
    parcels = result.parcels.assign(year=result.year)
    per = [c for c in parcels.columns if f"_{result.unit.suffix}" in c]
    cols = [c for c in _PARCEL_PROPS if c in parcels] + per
    out = parcels[[*cols, "geometry"]]
    rounded: dict[str, pd.Series] = {}
    for col in (
        "area_m2",
        "area_mu",
        "area_ha",
        "area_acre",
        "declared_area_mu",
        "tax",
        "value_added",
        "revenue",
    ):
        if col in out:
            rounded[col] = out[col].round(2)
    for col in [*per, "area_diff_pct"]:
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
        "ledger": "ledger.csv",
        "run": "run.json",
    }
    targets = {"map": base / "maps" / f"{cfg.map_name}.html"} if cfg.map else {}
    return targets | {k: base / "exports" / v for k, v in names.items()}


def _write_map(result: RunResult, path: Path) -> None:
    legend = None
    if result.config.classes.method != "none":
        graded = result.enterprises.loc[result.enterprises["year"] == result.year, "class"]
        legend = ClassLegend(
            labels=tuple(result.config.classes.labels),
            names=tuple(result.config.classes.names),
            firms={str(k): int(v) for k, v in graded.value_counts().items()},
        )
    fmap = render_map(
        result.parcels,
        unit=result.unit,
        cfg=result.config.map,
        year=result.year,
        parks=result.parks,
        classes=legend,
        zones=result.tables.get("zones"),
        firms=result.enterprises.loc[result.enterprises["year"] == result.year],
    )
    path.write_text(map_html(fmap, offline=result.config.map.offline), encoding="utf-8")


def _write_tables(result: RunResult, targets: dict[str, Path]) -> None:
    cfg = result.config.output
    write_csv(result.enterprises, targets["enterprises"], overwrite=True)
    write_csv(result.units, targets["units"], overwrite=True)
    write_enterprise_workbook(
        result.enterprises,
        targets["workbook"],
        year=result.year,
        weights={k: dict(v) for k, v in result.config.scoring.weights.items()},
        lang=cfg.lang,
        overwrite=True,
    )
    for name in ("county", "parks", "industries", "changes", "park_changes"):
        write_csv(result.tables[name], targets[name], overwrite=True)
    zones = result.tables.get("zones")
    if zones is not None and len(zones):
        write_geojson(
            _rounded(zones), targets["zones"], overwrite=True, precision=cfg.coordinate_precision
        )
    else:
        targets.pop("zones")
    if cfg.surface_m > 0 and result.unit.column("tax") in result.parcels:
        from mujun.raster import efficiency_surface  # noqa: PLC0415 - rasterio when used

        targets["surface"] = efficiency_surface(
            result.parcels,
            result.parcels[result.unit.column("tax")],
            Path(cfg.out_dir) / "exports" / f"{result.unit.column('tax')}.tif",
            resolution=cfg.surface_m,
            overwrite=cfg.overwrite,
        )
    write_csv(result.ledger, targets["ledger"], overwrite=True)


def write_outputs(result: RunResult, *, started: datetime | None = None) -> dict[str, Path]:
    """Write the map and exports of ``result`` under ``result.config.output.out_dir``."""
    cfg = result.config.output
    targets = _targets(Path(cfg.out_dir), cfg)
    for path in targets.values():
        check_writable(path, overwrite=cfg.overwrite)
    t = time.perf_counter()
    dist = result.dist
    if dist is not None and (cfg.map or cfg.database or cfg.surface_m > 0):
        # the map, the database tables and the surface are built from all the outlines
        everything = np.ones(len(result.parcels), dtype=bool)
        result = dataclasses.replace(result, parcels=dist.with_geometry(result.parcels, everything))
    if cfg.map:
        _write_map(result, targets["map"])
        t = log_stage("map", t, "%s", targets["map"])
    parcels = gpd.GeoDataFrame(_parcel_export(result), geometry="geometry")
    if dist is not None:
        # written part by part on the workers: the same GeoJSON, the GeoParquet as a folder
        dist.write_parcels(
            parcels,
            targets["parcels"],
            targets["parcels_parquet"],
            precision=cfg.coordinate_precision,
        )
        t = log_stage("geojson", t, "%d parcels, part by part", len(parcels))
        t = log_stage("geoparquet", t, "%s: written with the GeoJSON", targets["parcels_parquet"])
    else:
        write_geojson(
            parcels, targets["parcels"], overwrite=True, precision=cfg.coordinate_precision
        )
        t = log_stage("geojson", t, "%d parcels", len(parcels))
        # the same table as GeoParquet in the working CRS, surveyed geometry at full precision,
        # with a bbox covering column so readers can filter by area without reading geometry
        parcels.to_parquet(targets["parcels_parquet"], write_covering_bbox=True, compression="zstd")
        t = log_stage("geoparquet", t, "%s", targets["parcels_parquet"])
    _write_tables(result, targets)
    t = log_stage("tables", t, "enterprises, units, workbook, aggregates, zones, ledger")
    database = _write_database(result, parcels)
    if database:
        t = log_stage("database", t, "%s", database["rows"])
    record: dict[str, Any] = {
        "mujun_run": 1,
        "started_utc": (started or datetime.now(UTC)).isoformat(timespec="seconds"),
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": result.config.to_dict(),
        "versions": _versions(),
        "inputs": result.inputs,
        "units": {
            "money": "yuan (inputs converted by their declared units)",
            "area": "m2; mu = 10000/15 m2",
            "per_area": result.unit.label,
        },
        "summary": result.summary,
        "outputs": {k: str(v) for k, v in targets.items()},
    }
    if database:
        record["database"] = database
    write_json(record, targets["run"], overwrite=True)
    return targets
