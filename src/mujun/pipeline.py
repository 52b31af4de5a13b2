"""``run(config) -> RunResult``: walk the stages (:data:`mujun.stages.STAGES`) in order, timing
and logging each under its name, then sum the run up.

``write_outputs`` (:mod:`mujun.outputs`) then writes the map and the exports from the result.
The parcel engine (:mod:`mujun.engine`) is a context manager around both::

    with open_engine(config) as engine:
        result = run(config, engine)
        write_outputs(result, engine=engine)

``run(config)`` alone opens the configured engine for the run and closes it after; with the
dask engine it then fetches every outline first, so the result stands on its own. Library
code logs and never prints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from mujun.config import Config
from mujun.engine import ParcelEngine
from mujun.indicators import DisplayUnit
from mujun.io.inputs import find_sample, input_paths, input_record
from mujun.memory import MemoryEngine
from mujun.progress import log_stage
from mujun.scoring import scored_inputs, year_gaps
from mujun.stages import RunState, Stage, planned
from mujun.summary import (
    RunSummary,
    ValidationSummary,
    area_basis,
    county_figures,
    cycle_summary,
    enterprise_summary,
    parcel_summary,
    underuse_summary,
)

__all__ = [
    "RunResult",
    "Validation",
    "find_sample",
    "open_engine",
    "plan",
    "run",
    "validate",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """Everything a run computed; writers and the CLI consume it."""

    config: Config
    parcels: gpd.GeoDataFrame
    """Usable parcels in the working CRS with area, evaluation-year results, flags (with a
    remote engine, geometry only where fetched: the underused parcels)."""
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
    summary: RunSummary
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """county, parks, industries (per year), changes (per enterprise between years), zones."""


@dataclass(frozen=True)
class Validation:
    """What ``mujun validate`` reports: the ledger and every finding, without indicators."""

    ledger: pd.DataFrame
    findings: pd.DataFrame
    """One row per finding: source, record, key, fate, check, detail."""
    summary: ValidationSummary


def open_engine(config: Config) -> ParcelEngine:
    """The parcel engine ``[engine] name`` asks for, to use as a context manager."""
    if config.engine.name == "dask":
        from mujun.distributed import DaskEngine  # noqa: PLC0415 - dask only when asked for

        return DaskEngine.connect(config)
    return MemoryEngine()


def plan(config: Config, *, until: str = "") -> list[Stage]:
    """The stages a run of ``config`` goes through (its inputs decide parks and buildings)."""
    return planned(input_paths(config), until=until)


def _walk(config: Config, engine: ParcelEngine, *, until: str = "") -> RunState:
    paths = input_paths(config)
    state = RunState(config=config, engine=engine, paths=paths)
    for stage in planned(paths, until=until):
        started = time.perf_counter()
        message = stage.run(state)
        log_stage(stage.name, started, "%s", message)
    return state


def validate(config: Config, engine: ParcelEngine | None = None) -> Validation:
    """Read and check the inputs named in ``config`` and join them; compute no indicators."""
    if engine is None:
        with open_engine(config) as own:
            return validate(config, own)
    s = _walk(config, engine, until="join")
    summary = ValidationSummary(**_common(s))
    return Validation(ledger=s.ledger.frame(), findings=s.ledger.events(), summary=summary)


def run(config: Config, engine: ParcelEngine | None = None) -> RunResult:
    """Run the pipeline on the inputs named in ``config`` (the bundled sample if none)."""
    if engine is None:
        with open_engine(config) as own:
            result = run(config, own)
            if own.remote:  # the cluster goes with the block: fetch the outlines first
                everything = np.ones(len(result.parcels), dtype=bool)
                result = replace(result, parcels=own.with_geometry(result.parcels, everything))
            return result
    s = _walk(config, engine)
    return RunResult(
        config=config,
        parcels=s.parcels,
        enterprises=s.enterprises,
        units=s.units.reset_index(),
        ledger=s.ledger.frame(),
        parks=s.parks,
        working_crs=s.reprojection.crs,
        year=s.year,
        unit=s.unit,
        summary=_summary(s),
        inputs=input_record(s.inputs),
        tables=s.tables,
    )


def _common(s: RunState) -> dict[str, Any]:
    """The summary's fields known once the inputs are joined."""
    crs = s.reprojection.crs
    return {
        "working_crs": crs.to_string(),
        "working_crs_name": crs.name,
        "crs_notes": s.reprojection.notes,
        "notes": list(s.inputs.filing_table.notes),
        "year": s.year,
        "records": {
            s.inputs.p_src: len(s.inputs.parcels),
            s.inputs.f_src: len(s.inputs.filing_table.data),
        },
        "ledger": s.ledger.counts(),
        "findings": s.ledger.finding_counts(),
        "join": s.join.to_dict(),
        "area_check": s.area_check,
    }


def _summary(s: RunState) -> RunSummary:
    config, years = s.config, list(s.filings["year"].unique())
    common = _common(s)
    common["notes"] = [*common["notes"], *year_gaps(years)]
    return RunSummary(
        **common,
        years=sorted(int(y) for y in years),
        area_method=config.area.method,
        parcels=parcel_summary(s.parcels, config, s.ledger, s.inputs.p_src),
        enterprises=enterprise_summary(s.enterprises),
        not_scored={
            column: uses
            for column, uses in scored_inputs(config.scoring).items()
            if column not in s.filings
        },
        money=s.money,
        underuse=underuse_summary(s.parcels, s.tables["zones"], config.underuse.zone_min_parcels),
        county=county_figures(s.enterprises, s.tables["county"], s.unit),
        area_basis=area_basis(s.units, config),
        cycle=cycle_summary(s.tables, s.parcels),
    )
