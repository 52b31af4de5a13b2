"""The stages of a run, declared once: :data:`STAGES`, each a named function over the run's
:class:`RunState`, in order. The orchestrator (:mod:`mujun.pipeline`) walks the list, times
and logs each stage under its name; ``mujun validate`` stops after ``join``; the progress
bar counts the same list. DESIGN.md's stage table is this list.

A stage function does one thing by calling the module that owns it, records its products on
the state, and returns its log line. Stage logic lives in those modules, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from mujun.commitments import CHECKED, check_commitments, commitment_of_parcels
from mujun.config import Config
from mujun.corrections import apply_corrections
from mujun.engine import ParcelEngine, Reprojection
from mujun.errors import ConfigError, InputError, JoinError, SchemaError
from mujun.indicators import (
    DisplayUnit,
    LandRules,
    display_unit,
    enterprise_indicators,
    evaluation_basis,
    unit_table,
)
from mujun.io.inputs import (
    Inputs,
    id_candidates,
    id_headers,
    read_filing_table,
    source_name,
)
from mujun.io.readers import NO_YEAR, Table, captures_warnings
from mujun.join import (
    JoinQA,
    Occupancy,
    check_join,
    evaluation_year,
    join_qa,
    occupancy,
    resolve_id_columns,
    suggestion,
)
from mujun.parks import read_park_layer
from mujun.reconcile import note_not_evaluated, reconcile_money, settle_fates
from mujun.register import mark_register, read_register
from mujun.schema import MU_M2
from mujun.scoring import evaluate, headline_money, ratio_pairs
from mujun.tables import county_tables, enterprise_parks, parcel_results
from mujun.takes import what_it_takes
from mujun.underuse import building_cover, underused_land
from mujun.validate import Ledger, check_filings, check_scored_money, implausible_firms

__all__ = ["STAGES", "RunState", "Stage", "planned"]


@dataclass
class RunState:
    """What the stages have produced so far. A field is set by the stage named beside it;
    reading it before that stage ran is an error (AttributeError)."""

    config: Config
    engine: ParcelEngine
    paths: dict[str, Path | None]
    ledger: Ledger = field(default_factory=Ledger)
    unit: DisplayUnit = field(init=False)
    inputs: Inputs = field(init=False)  # read
    reprojection: Reprojection = field(init=False)  # reproject
    parcels: gpd.GeoDataFrame = field(init=False)  # measure; parks, parcels, buildings, underuse
    area_check: dict[str, float] = field(init=False)  # measure
    filings: pd.DataFrame = field(init=False)  # filings
    parks: gpd.GeoDataFrame | None = None  # parks
    year: int = field(init=False)  # join
    join: JoinQA = field(init=False)  # join
    occ: Occupancy = field(init=False)  # join
    units: pd.DataFrame = field(init=False)  # units
    enterprises: pd.DataFrame = field(init=False)  # units, scoring
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # tables, underuse
    money: dict[str, dict[str, float]] = field(default_factory=dict)  # reconcile

    def __post_init__(self) -> None:
        self.unit = display_unit(self.config.output.display_unit)

    @property
    def sources(self) -> tuple[str, str]:
        """The names of the parcel layer and the filings, as the ledger knows them."""
        return self.inputs.p_src, self.inputs.f_src


@dataclass(frozen=True)
class Stage:
    """A named step of the run; ``when`` says whether the run's inputs call for it."""

    name: str
    run: Callable[[RunState], str]
    module: str
    makes: str
    when: Callable[[dict[str, Path | None]], bool] | None = None
    """None: always; else whether the inputs (by role) call for it."""


def _read_both(
    engine: ParcelEngine, config: Config, paths: dict[str, Path | None]
) -> tuple[pd.DataFrame, Table, Table]:
    """The parcel layer and the filings; read at once, one in a thread, where that is safe:
    the in-memory engine, and a parcel format read without process-wide warning capture (the
    filings' readers use none). Either way the parcels' error, if any, is the one raised."""
    path = paths["parcels"]
    if engine.remote or path is None or captures_warnings(path):
        parcels, parcel_table = engine.read(config, path)
        return parcels, parcel_table, read_filing_table(config, paths["filings"])
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mujun-read") as pool:
        layer = pool.submit(engine.read, config, path)
        try:
            filing_table = read_filing_table(config, paths["filings"])
        except Exception:
            layer.result()  # the parcels' error first, as when read one after the other
            raise
        parcels, parcel_table = layer.result()
    return parcels, parcel_table, filing_table


def read(s: RunState) -> str:
    paths, config = s.paths, s.config
    try:
        parcels, parcel_table, filing_table = _read_both(s.engine, config, paths)
    except SchemaError as err:
        if not {"parcel_id", "parcel_ids"} & set(err.missing):
            raise
        names = (source_name(paths["parcels"]), source_name(paths["filings"]))
        raise JoinError(
            "\n".join([str(err), *suggestion(id_candidates(paths, config), names)])
        ) from err
    parcels, parcel_table, filing_table = resolve_id_columns(parcels, parcel_table, filing_table)
    s.inputs = Inputs(paths, parcels, parcel_table, filing_table)
    s.ledger.register(s.inputs.p_src, parcels["record"], parcels["parcel_id"])
    s.ledger.register(s.inputs.f_src, filing_table.data["record"], filing_table.data["uscc"])
    return (
        f"{len(parcels):,} parcel features from {s.inputs.p_src}; "
        f"{len(filing_table.data):,} filing rows from {s.inputs.f_src}"
    )


def check(s: RunState) -> str:
    kept = s.engine.check(s.inputs, s.ledger, s.config)
    return f"{kept:,} of {len(s.inputs.parcels):,} features are parcel polygons with an id"


def reproject(s: RunState) -> str:
    s.reprojection = s.engine.reproject(s.inputs, s.ledger, s.config)
    crs = s.reprojection.crs
    return f"working CRS {crs.name} (EPSG:{crs.to_epsg()})"


def repair(s: RunState) -> str:
    kept = s.engine.repair(s.ledger, s.config, s.inputs.p_src)
    return f"{kept:,} parcels after repairs, merged parts and duplicates"


def measure(s: RunState) -> str:
    s.parcels, s.area_check = s.engine.measure(s.ledger, s.config, s.inputs.p_src)
    return (
        f"{s.parcels['area_m2'].sum() / s.unit.area_m2:,.1f} {s.unit.area_label} surveyed; "
        f"plane vs ellipsoidal {s.area_check['total_diff_pct']:+.4f} %"
    )


def filings(s: RunState) -> str:
    table, config, source = s.inputs.filing_table, s.config, s.inputs.f_src
    s.filings = check_filings(
        table.data,
        s.ledger,
        source=source,
        check_codes=config.input.mode == "filings",
        placeholders=config.parcels.placeholder_ids,
    )
    if s.filings.empty:
        reasons = s.ledger.frame().query("source == @source")["reason"]
        raise InputError(
            f"{source}: no usable filing row; see the reasons in the ledger "
            f"({reasons.value_counts().head(3).to_dict()})"
        )
    used = {h for m in table.mapping for h in (m.header, *m.alternatives)}
    check_scored_money(
        s.filings,
        headline_money(config.scoring),
        source=source,
        preset=config.preset,
        unread=[h for h in table.headers if h not in used],
        unit="USD" if "USD" in config.output.display_unit else "万元",
    )
    return f"{len(s.filings):,} usable filing rows"


def corrections(s: RunState) -> str:
    path = s.paths["corrections"]
    assert path is not None
    s.filings, table = apply_corrections(
        path,
        s.filings,
        s.inputs.filing_table.data,
        config=s.config,
        ledger=s.ledger,
        source=s.inputs.f_src,
    )
    s.tables["corrections"] = table
    fields = ", ".join(f"{k} {n:,}" for k, n in table["field"].value_counts().items())
    return f"{len(table):,} corrections applied ({fields or 'none'})"


def parks(s: RunState) -> str:
    path = s.paths["parks"]
    assert path is not None
    s.parks = read_park_layer(path, s.config, s.reprojection.crs)
    s.parcels = s.engine.assign_parks(s.parcels, s.parks)
    inside = int(s.parcels["park"].notna().sum())
    return f"{len(s.parks)} parks; {inside:,} of {len(s.parcels):,} parcels in one"


def join(s: RunState) -> str:
    config, (p_src, f_src) = s.config, s.sources
    s.year = evaluation_year(s.filings, config.output.year, source=f_src)
    s.join = join_qa(s.filings, s.parcels["parcel_id"], s.year, columns=id_headers(s.inputs))
    check_join(
        s.join,
        min_rate=config.join.min_rate,
        sources=(p_src, f_src),
        candidates=lambda: id_candidates(s.paths, config),
    )
    s.occ = occupancy(s.filings, pd.Index(s.parcels["parcel_id"]))
    settle_fates(
        s.ledger, (p_src, f_src), parcels=s.parcels, filings=s.filings, occ=s.occ, year=s.year
    )
    s.ledger.check({p_src: len(s.inputs.parcels), f_src: len(s.inputs.filing_table.data)})
    counts = s.occ.land_status.value_counts()
    return "land status of the filing rows: " + ", ".join(f"{k} {n:,}" for k, n in counts.items())


def units(s: RunState) -> str:
    config, source = s.config, s.inputs.f_src
    by_id = s.parcels.set_index("parcel_id")
    rules = LandRules(
        basis=config.area.basis,
        incomplete=config.area.incomplete,
        declared_m2=by_id["declared_area_mu"] * MU_M2 if "declared_area_mu" in by_id else None,
    )
    if rules.basis == "declared" and rules.declared_m2 is None:
        raise ConfigError(
            f'[area] basis = "declared" needs a declared area column in {s.inputs.p_src} '
            "(登记用地面积 or declared_area; map it with [columns.parcels] declared_area); "
            'or use basis = "surveyed"'
        )
    s.units = unit_table(s.occ, s.filings, by_id["area_m2"], s.unit, rules)
    s.enterprises = enterprise_indicators(s.filings, s.occ, s.units, s.unit)
    note_not_evaluated(
        s.ledger, source, s.filings, enterprises=s.enterprises, units=s.units, config=config
    )
    tax = s.unit.column("tax")
    implausible_firms(
        s.enterprises,
        s.filings,
        s.ledger,
        source=source,
        tax_per_mu=(
            s.enterprises[tax] * MU_M2 / 1e4 / s.unit.factor if tax in s.enterprises else None
        ),
    )
    return f"{len(s.units):,} land units, {len(s.enterprises):,} firm-years"


def scoring(s: RunState) -> str:
    config = s.config
    basis = evaluation_basis(s.filings, s.occ, s.units, ratio_pairs())
    scores = evaluate(
        s.enterprises,
        basis,
        scoring=config.scoring,
        classes=config.classes,
        stability=config.stability,
        policy=config.policy,
    )
    takes = what_it_takes(
        s.enterprises, basis, scores, scoring=config.scoring, classes=config.classes
    )
    scores = scores.join(takes)
    firms = s.enterprises.drop(columns=[c for c in scores if c in s.enterprises]).join(scores)
    firms.insert(
        list(firms.columns).index("land_status") + 1,
        "park",
        enterprise_parks(s.occ, s.parcels, firms.index),
    )
    s.enterprises = firms
    graded = int(firms["class"].notna().sum()) if "class" in firms else 0
    return f"{graded:,} of {len(firms):,} firm-years graded"


def parcels(s: RunState) -> str:
    s.parcels = parcel_results(
        s.parcels,
        s.occ,
        s.units,
        s.filings,
        s.enterprises,
        year=s.year,
        unit=s.unit,
        labels=s.config.classes.labels,
        classify=s.config.classes.method != "none",
    )
    vacant = int(s.parcels["vacant"].sum())
    of_year = "" if s.year == NO_YEAR else f"year {s.year}: "
    return f"{of_year}{len(s.parcels) - vacant:,} occupied and {vacant:,} vacant parcels"


def tables(s: RunState) -> str:
    made = county_tables(s.enterprises, s.parcels, labels=s.config.classes.labels, unit=s.unit)
    s.tables.update(made)
    return ", ".join(f"{name} {len(t):,}" for name, t in made.items())


def buildings(s: RunState) -> str:
    cover = building_cover(
        s.parcels,
        s.paths,
        engine=s.engine,
        ledger=s.ledger,
        crs=s.reprojection.crs,
        config=s.config,
    )
    assert cover is not None
    s.parcels = s.parcels.join(cover)
    source = "footprints" if "n_buildings" in cover else "the built-up raster"
    return f"coverage of {int(cover['coverage'].notna().sum()):,} parcels from {source}"


def underuse(s: RunState) -> str:
    s.parcels, zones, park_land = underused_land(
        s.parcels,
        s.enterprises,
        links=s.occ.links,
        year=s.year,
        config=s.config,
        engine=s.engine,
    )
    s.tables["zones"] = zones
    s.tables["parks"] = s.tables["parks"].merge(
        park_land.assign(year=s.year), on=["year", "park"], how="outer"
    )
    n = int(s.parcels["underused"].sum()) if "underused" in s.parcels else 0
    return f"{n:,} underused parcels, {len(zones):,} consolidation zones"


def commitments(s: RunState) -> str:
    path = s.paths["commitments"]
    assert path is not None
    to_wan_mu = (MU_M2 / 1e4) / s.unit.factor  # the display unit -> 万元/亩
    measured = pd.DataFrame({"parcel_id": s.parcels["parcel_id"].astype(str)})
    for name, col in CHECKED.items():
        figure = col.removesuffix("_per_mu")
        if name == "far":
            measured[col] = s.parcels["far"] if "far" in s.parcels else float("nan")
        elif s.unit.column(figure) in s.parcels:
            measured[col] = s.parcels[s.unit.column(figure)] * to_wan_mu
    table = check_commitments(path, measured, year=s.year, config=s.config, ledger=s.ledger)
    s.tables["commitments"] = table
    s.parcels["commitment"] = commitment_of_parcels(s.parcels["parcel_id"], table)
    due = int((table["status"] == "due").sum())
    return f"{len(table):,} commitments: {due:,} due, {int(table['short'].sum()):,} short"


def register(s: RunState) -> str:
    path = s.paths["redevelopment"]
    assert path is not None
    table = read_register(path, s.parcels, config=s.config, ledger=s.ledger)
    s.parcels, s.tables["redevelopment"] = mark_register(
        s.parcels, table, change=f"{s.unit.column('tax')}_change"
    )
    known = int(s.parcels["redevelopment_status"].notna().sum())
    new = int(s.parcels["underused_new"].sum()) if "underused_new" in s.parcels else 0
    return f"{known:,} parcels in the register; {new:,} underused parcels newly found"


def reconcile(s: RunState) -> str:
    s.money = reconcile_money(
        s.inputs.filing_table.data,
        s.filings,
        enterprises=s.enterprises,
        parcels=s.parcels,
        occ=s.occ,
        year=s.year,
        fates=s.ledger.fates(s.inputs.f_src),
    )
    return "money in = out + set aside; on land = on parcels: " + ", ".join(s.money)


def _has(*roles: str) -> Callable[[dict[str, Path | None]], bool]:
    return lambda paths: any(paths.get(r) is not None for r in roles)


STAGES: tuple[Stage, ...] = (
    Stage("read", read, "io.inputs, engine", "inputs: parcel layer, filing table"),
    Stage("check", check, "validate (engine)", "usable parcel features"),
    Stage("reproject", reproject, "geodesy (engine)", "working CRS, reprojected parcels"),
    Stage("repair", repair, "validate (engine)", "valid, deduplicated parcels; overlaps"),
    Stage("measure", measure, "geodesy (engine)", "parcels with areas; area check"),
    Stage("filings", filings, "validate", "usable filing rows"),
    Stage(
        "corrections",
        corrections,
        "corrections",
        "filings with the corrections applied",
        _has("corrections"),
    ),
    Stage("parks", parks, "parks (engine)", "parks; park of each parcel", _has("parks")),
    Stage("join", join, "join, reconcile", "year, join QA, occupancy, ledger fates"),
    Stage("units", units, "indicators", "land units, enterprise indicators"),
    Stage("scoring", scoring, "scoring", "scores, classes, stability"),
    Stage("parcels", parcels, "tables", "per-parcel figures and classes"),
    Stage("tables", tables, "tables", "county, parks, industries, changes"),
    Stage(
        "buildings",
        buildings,
        "underuse (engine)",
        "coverage, FAR",
        _has("buildings", "builtup"),
    ),
    Stage("underuse", underuse, "underuse, zones", "flags, zones, cold spots, park land"),
    Stage(
        "commitments",
        commitments,
        "commitments",
        "commitments checked",
        _has("commitments"),
    ),
    Stage(
        "register",
        register,
        "register",
        "register status; newly found underuse",
        _has("redevelopment"),
    ),
    Stage("reconcile", reconcile, "reconcile", "money check"),
)


def planned(paths: dict[str, Path | None], *, until: str = "") -> list[Stage]:
    """The stages a run on these inputs goes through (up to and including ``until``)."""
    out = []
    for stage in STAGES:
        if stage.when is None or stage.when(paths):
            out.append(stage)
        if stage.name == until:
            break
    return out
