"""The inputs of a run: which files (or database tables) they are, reading the filings, and
the record of what was read (path, size, SHA-256, column mapping) for run.json.

The parcel layer is read by the engine (:mod:`mujun.engine`): in memory, or in parts on a
cluster. A new input format is a reader in :mod:`mujun.io.readers` and, if it needs one, a
branch here; nothing outside ``io/`` changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mujun.config import SIDE_TABLES, Config
from mujun.errors import InputFileError
from mujun.io import sources
from mujun.io.readers import (
    Cells,
    Table,
    layer_id_columns,
    parquet_parts,
    read_filings,
    read_filings_db,
    read_parcels,
    read_parcels_db,
    table_id_columns,
)
from mujun.join import id_column_rates

__all__ = [
    "SAMPLE_FILES",
    "Inputs",
    "find_sample",
    "from_db",
    "id_candidates",
    "id_headers",
    "input_paths",
    "input_record",
    "read_filing_table",
    "read_parcel_layer",
    "source_name",
]

SAMPLE_FILES = {"parcels": "parcels.gpkg", "filings": "filings.csv", "parks": "parks.gpkg"}
SAMPLE_OPTIONAL = {
    "buildings": "buildings.gpkg",
    "builtup": "builtup.tif",
    "commitments": "commitments.csv",
    "redevelopment": "redevelopment.csv",
}


@dataclass(frozen=True)
class Inputs:
    """What the read stage produced: the paths, the parcels (all attributes with the
    in-memory engine; record and id only with the dask engine) and the two tables."""

    paths: dict[str, Path | None]
    parcels: pd.DataFrame
    parcel_table: Table
    filing_table: Table

    @property
    def p_src(self) -> str:
        return self.parcel_table.path.name

    @property
    def f_src(self) -> str:
        return self.filing_table.path.name


def find_sample() -> Path:
    """Folder of the bundled sample county (``data/parcels`` of the source tree)."""
    candidates = [
        Path.cwd() / "data" / "parcels",
        Path(__file__).resolve().parents[3] / "data" / "parcels",
    ]
    for folder in candidates:
        if all((folder / name).exists() for name in SAMPLE_FILES.values()):
            return folder
    raise InputFileError(
        "the bundled sample county (data/parcels/ of the mujun source tree) was not found; run "
        "from a clone of the repository or give --parcels and --filings"
    )


def from_db(config: Config, what: str) -> bool:
    """Whether parcels or filings come from [input] database."""
    cfg = config.input
    named = getattr(cfg, f"{what}_table") or getattr(cfg, f"{what}_query")
    if named and not cfg.database:
        raise InputFileError(f"{what}_table/{what}_query needs [input] database (--db)")
    return bool(named)


def input_paths(config: Config) -> dict[str, Path | None]:
    """The input files by role (None: not given, or read from the database); the bundled
    sample when no input is named."""
    cfg = config.input
    db = {what: from_db(config, what) for what in ("parcels", "filings")}
    if cfg.parcels is None and cfg.filings is None and not any(db.values()):
        folder = find_sample()
        found: dict[str, Path | None] = {k: folder / v for k, v in SAMPLE_FILES.items()}
        for key, name in SAMPLE_OPTIONAL.items():
            found[key] = folder / name if (folder / name).exists() else None
        # the yearly cycle's tables given with the sample: those, not the sample's own
        for key in SIDE_TABLES:
            if getattr(cfg, key) is not None:
                found[key] = getattr(cfg, key)
        return found
    if (cfg.parcels is None and not db["parcels"]) or (cfg.filings is None and not db["filings"]):
        raise InputFileError(
            "give both --parcels and --filings, files or database tables "
            "(--parcels-table/--filings-table with --db), or neither, for the sample"
        )
    return {
        "parcels": None if db["parcels"] else cfg.parcels,
        "filings": None if db["filings"] else cfg.filings,
        "parks": cfg.parks,
        "buildings": cfg.buildings,
        "builtup": cfg.builtup,
        "commitments": cfg.commitments,
        "redevelopment": cfg.redevelopment,
        "corrections": cfg.corrections,
    }


def source_name(path: Path | None) -> str:
    return "the database table" if path is None else path.name


def read_parcel_layer(config: Config, path: Path | None) -> tuple[pd.DataFrame, Table]:
    """The parcel layer, whole, from a file or (``path`` None) the database."""
    cfg = config.input
    columns, units = config.columns.get("parcels"), config.units.get("parcels")
    if path is None:
        assert cfg.database is not None
        return read_parcels_db(
            cfg.database,
            table=cfg.parcels_table,
            query=cfg.parcels_query,
            crs=cfg.parcels_crs,
            columns=columns,
            units=units,
        )
    return read_parcels(
        path,
        layer=cfg.parcels_layer,
        crs=cfg.parcels_crs,
        encoding=cfg.parcels_encoding,
        columns=columns,
        units=units,
    )


def read_filing_table(config: Config, path: Path | None) -> Table:
    """The filings, from a file or (``path`` None) the database."""
    cfg = config.input
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
    if path is None:
        assert cfg.database is not None
        return read_filings_db(
            cfg.database, table=cfg.filings_table, query=cfg.filings_query, **options
        )
    return read_filings(path, encoding=cfg.encoding, sheet=cfg.sheet, **options)


def id_candidates(paths: dict[str, Path | None], config: Config) -> list[tuple[str, str, float]]:
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


def id_headers(inputs: Inputs) -> dict[str, str]:
    """The header of the parcel id on each side ("" for none)."""
    return {
        side: next((m.header for m in table.mapping if m.canonical == name), "")
        for side, table, name in (
            ("parcels", inputs.parcel_table, "parcel_id"),
            ("filings", inputs.filing_table, "parcel_ids"),
        )
    }


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


def input_record(inputs: Inputs) -> dict[str, dict[str, Any]]:
    """run.json's inputs: each file's path, SHA-256 and size, units and column mapping."""
    record = {
        name: {"path": str(path), "sha256": _sha256(path), "bytes": _size(path)}
        for name, path in inputs.paths.items()
        if path is not None
    }
    for name, table in (("parcels", inputs.parcel_table), ("filings", inputs.filing_table)):
        if table.provenance is not None:
            record[name] = dict(table.provenance)
        record[name]["units"] = table.units
        record[name]["columns"] = {m.header: m.canonical for m in table.mapping}
    record["filings"]["encoding"] = inputs.filing_table.encoding
    return record
