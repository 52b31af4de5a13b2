"""The ``mujun`` command: a thin layer that parses options, calls the library, reports.

Exit codes: see :data:`EXIT_CODES` (0 success, 2 unusable input, config or output folder, 3 an
output exists, 4 a reconciliation failure, 5 outputs could not be written, 70 an unexpected
error, 130 interrupted).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mujun import __version__
from mujun.config import (
    available_presets,
    load_config,
    preset_description,
    preset_layers,
    to_toml,
)
from mujun.errors import (
    DataQualityWarning,
    MujunError,
    OutputError,
    OutputExistsError,
    ReconciliationError,
)
from mujun.io.sources import input_path
from mujun.io.staging import recover
from mujun.io.writers import check_writable
from mujun.join import qa_lines
from mujun.outputs import plan as output_plan
from mujun.outputs import write_ledger, write_outputs
from mujun.pipeline import RunResult, open_engine, plan, run, validate
from mujun.progress import StageProgress
from mujun.report import format_validation
from mujun.vocabulary import Vocabulary, vocabulary

if TYPE_CHECKING:
    from mujun.notice import Report

__all__ = ["EXIT_CODES", "main"]

_RUN_EPILOG = """\
examples:
  mujun run                                   # the bundled sample county -> ./maps, ./exports
  mujun run --overwrite -v                    # again, replacing the previous outputs
  mujun run --parcels cadastre.gpkg --filings filings.xlsx --parks parks.gpkg --out audit2023
  mujun run --parcels parcels.shp --parcels-crs EPSG:4549 --filings tax.csv --encoding gbk
  mujun run --config county.toml              # everything from a TOML file (see README)
  mujun run --buildings footprints.gpkg --builtup builtup.tif --surface-m 10 --overwrite

outputs (under --out):
  maps/<name>.html          the planner's map (tax and value added per mu, vacant land, parks)
  exports/parcels.geojson   RFC 7946 parcels with surveyed area and per-mu figures
  exports/parcels.parquet   the same as GeoParquet (working CRS, bbox covering column)
  exports/enterprises.csv   one row per enterprise and year
  exports/units.csv         land units (parcels and firms evaluated together)
  exports/enterprises.xlsx  the evaluation result table, one sheet per list
  exports/zones.geojson     consolidation zones of underused parcels, ranked by potential gain
  exports/parks.csv         per park and year: land, firms, per-mu figures, classes, underuse
  exports/ledger.csv        the fate of every input record, with the reason
  exports/run.json          config, versions, input hashes, counts: enough to reproduce the run
  reports/<name>.pdf        with --report: the notice package (and .xlsx: the lists)

exit codes: 0 ok, 2 unusable input, config or output folder, 3 output exists,
  4 reconciliation failure (a bug), 5 outputs could not be written (disk full, permissions;
  previous outputs kept), 70 unexpected error (a bug), 130 interrupted (previous outputs kept)
"""


_VALIDATE_EPILOG = """\
examples:
  mujun validate                                 # check the bundled sample county
  mujun validate --parcels cadastre.shp --filings 2023.xlsx --sheet 规上企业
  mujun validate --parcels p.gpkg --filings f.csv --encoding gbk --out check --overwrite

The report lists, per file, how many records were used, fixed, vacant, orphaned, duplicated or
rejected, then every kind of finding (rejected rows, repaired polygons, overlaps, failing credit
codes, odd figures, ...) with its count and the first examples. The ledger
(exports/ledger.csv) has the fate and reasons of every record.

exit codes: 0 the inputs can be used (findings or not), 2 they cannot, 3 the ledger exists
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mujun",
        description="Per-mu (亩均) efficiency of industrial land on surveyed parcel areas: join "
        "parcels to enterprise filings, compute tax and value added per mu, map it.",
        epilog="examples:\n  mujun run\n  mujun run --parcels p.gpkg --filings f.csv --out out\n"
        "  mujun validate --parcels p.gpkg --filings f.csv\n  mujun report out\n  mujun presets\n"
        "  mujun partition p.gpkg p.parquet && mujun run --engine dask --parcels p.parquet "
        "--filings f.csv\n\n"
        "run 'mujun run --help' or 'mujun validate --help' for every option.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mujun {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    run_p = sub.add_parser(
        "run",
        help="run the whole job and write the map and exports",
        description="Run the per-mu evaluation. With no --parcels/--filings it runs on the "
        "bundled sample county (data/parcels/ of the source tree).",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _run_options(run_p)
    val_p = sub.add_parser(
        "validate",
        help="check the inputs and write the ledger, without computing results",
        description="Read and check parcels and filings, join them, and print every problem "
        "grouped by kind with counts and examples; write exports/ledger.csv. Nothing else is "
        "computed or written.",
        epilog=_VALIDATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _input_options(val_p)
    val_p.add_argument("--out", type=Path, help="output folder (default: current folder)")
    val_p.add_argument("--overwrite", action="store_true", help="replace an existing ledger")
    val_p.add_argument("--examples", type=int, default=3, help="examples per kind (default 3)")
    _talk_options(val_p)
    rep_p = sub.add_parser(
        "report",
        help="build the notice package (PDF and XLSX lists) of a finished run",
        description="Build OUT/reports/<name>.pdf (A4: county summary, maps, charts, the "
        "notice lists per firm list with the objection period, underused land and zones, "
        "parks, method, data quality) and OUT/reports/<name>.xlsx (one sheet per list) from "
        "the exports of the finished run in OUT; nothing is computed again.",
        epilog="examples:\n  mujun report .\n  mujun report audit2023 --profile public "
        "--overwrite\n\nexit codes: 0 ok, 2 OUT holds no finished run (or no CJK font), "
        "3 a report exists (pass --overwrite), 5 it could not be written",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep_p.add_argument("out", type=Path, help="the --out folder of a finished run")
    _report_options(rep_p)
    rep_p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    _talk_options(rep_p)
    cmp_p = sub.add_parser(
        "compare",
        help="compare two finished runs of one year (the notice and the final list)",
        description="Compare the finished runs in OLD and NEW (one evaluation year, one "
        "unit) and write NEW/exports/compare_enterprises.csv (each firm-year whose land, "
        "money, per-area figures, indicators, score, rank or class changed: old and new), "
        "compare_parcels.csv (parcels whose underuse, zone, cold spot, class, commitment or "
        "register status changed) and compare.json; nothing is computed again.",
        epilog="examples:\n  mujun run --out notice\n  mujun run --corrections corrections.csv "
        "--out final\n  mujun compare notice final\n\nexit codes: 0 ok, 2 OLD or NEW holds "
        "no finished run, or they evaluate other years or units, 5 it could not be written",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmp_p.add_argument("old", type=Path, help="the --out folder of the earlier run")
    cmp_p.add_argument("new", type=Path, help="the --out folder of the later run")
    _talk_options(cmp_p)
    presets_p = sub.add_parser(
        "presets",
        help="list the built-in method presets",
        description="List the presets shipped with mujun; a config file extends one with "
        'preset = "NAME".',
        epilog="examples:\n  mujun presets\n  mujun presets --show huangyan-2022",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    presets_p.add_argument(
        "--show", metavar="NAME", help="print a preset's effective configuration, as TOML"
    )
    presets_p.set_defaults(command="presets")
    part_p = sub.add_parser(
        "partition",
        help="write a parcel layer as spatially partitioned GeoParquet (for --engine dask)",
        description="Sort a parcel layer along a Hilbert curve and write it as a folder of "
        "GeoParquet files, one per part, each with a bbox covering column; source_record keeps "
        "each feature's number in the original layer. This is the input --engine dask reads "
        "fastest; the in-memory engine reads it too.",
        epilog="example:\n  mujun partition parcels.gpkg parcels.parquet --rows-per-part 200000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    part_p.add_argument("source", type=Path, help="parcel layer (GeoPackage, Shapefile, ...)")
    part_p.add_argument("dest", type=Path, help="folder to write")
    part_p.add_argument("--layer", help="layer of a multi-layer source")
    part_p.add_argument("--parts", type=int, help="number of parts (default: by --rows-per-part)")
    part_p.add_argument(
        "--rows-per-part", type=int, default=200_000, help="rows per part (default 200000)"
    )
    part_p.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    _talk_options(part_p)
    return parser


def _talk_options(p: argparse.ArgumentParser) -> None:
    talk = p.add_mutually_exclusive_group()
    talk.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    talk.add_argument("-q", "--quiet", action="store_true", help="errors only")


def _run_options(p: argparse.ArgumentParser) -> None:
    _input_options(p)
    _method_options(p)
    p.add_argument(
        "--report",
        action="store_true",
        help="also build the notice package (reports/<name>.pdf and .xlsx) at the end",
    )
    _talk_options(p)


def _report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        choices=["internal", "public"],
        help="public: no firm's tax, value added, revenue or score (default: the run's "
        "[map] profile)",
    )
    p.add_argument("--lang", choices=["zh", "en"], help="language (default: the run's [map] lang)")


def _input_options(p: argparse.ArgumentParser) -> None:
    io = p.add_argument_group("inputs")
    io.add_argument(
        "--parcels",
        type=input_path,
        help="parcel polygons (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, GeoParquet, ...; "
        "inside a zip: zip://archive.zip!folder/parcels.shp)",
    )
    io.add_argument(
        "--filings",
        type=input_path,
        help="enterprise filings: CSV, XLSX, or a table GDAL reads (DBF, GeoPackage, "
        "FlatGeobuf, Parquet), also inside a zip (zip://archive.zip!folder/table.dbf)",
    )
    io.add_argument("--parks", type=input_path, help="park boundary polygons (optional)")
    io.add_argument(
        "--buildings",
        type=input_path,
        help="building footprints with 楼层/高度 (optional; coverage and FAR)",
    )
    io.add_argument(
        "--builtup",
        type=input_path,
        help="built-up raster, GeoTIFF in any CRS "
        "(optional; coverage where footprints are missing, else a cross-check)",
    )
    cycle = p.add_argument_group("the yearly cycle (README: The yearly cycle)")
    cycle.add_argument(
        "--commitments",
        type=input_path,
        help="land-grant commitments (标准地), CSV or XLSX: parcel, committed investment "
        "intensity, FAR, tax and output per mu (万元/亩), due year (optional)",
    )
    cycle.add_argument(
        "--redevelopment",
        type=input_path,
        help="redevelopment register, CSV or XLSX: parcel, status (identified, planned, in "
        "progress, done), measure, year (optional)",
    )
    cycle.add_argument(
        "--corrections",
        type=input_path,
        help="corrections after the objection period, CSV or XLSX: uscc, year, field (a "
        "filings column such as tax), value, reason, document; applied over the filings "
        "before the join, each one in the ledger (optional)",
    )
    io.add_argument("--config", type=Path, help="TOML configuration file")
    io.add_argument(
        "--preset",
        help="method preset to start from (zhejiang, huangyan-2022, value-per-acre; "
        "'mujun presets' lists them); wins over the config file's preset",
    )
    io.add_argument("--parcels-crs", help="CRS of a parcel file that has none, e.g. EPSG:4490")
    io.add_argument(
        "--encoding", help="encoding of a CSV filings file, e.g. gbk (default: UTF-8, then GB18030)"
    )
    io.add_argument("--sheet", help="sheet of an XLSX filings workbook (default: the first)")
    io.add_argument("--year", type=int, help="evaluation year shown (default: the latest)")
    io.add_argument(
        "--parcels-encoding",
        help="encoding of a Shapefile DBF without .cpg "
        "(default: UTF-8 if it decodes, else GB18030)",
    )
    io.add_argument(
        "--on-invalid",
        choices=["raise", "reject"],
        help="a filing cell that is "
        "not a number: stop with the list (raise, default) or set the row aside "
        "in the ledger (reject)",
    )
    io.add_argument(
        "--db",
        help="PostgreSQL/PostGIS URL or libpq string (service=NAME) to read parcels and/or "
        "filings from; the password from PGPASSWORD, ~/.pgpass or the service file",
    )
    io.add_argument("--parcels-table", help="table with the parcels in --db (schema.table)")
    io.add_argument("--parcels-query", help="or a SQL query giving them (one geometry column)")
    io.add_argument("--filings-table", help="table with the filings in --db")
    io.add_argument("--filings-query", help="or a SQL query giving them")
    eng = p.add_argument_group("engine (README: Large data)")
    eng.add_argument(
        "--engine",
        choices=["memory", "dask"],
        help="memory (default): all in this process; dask: the parcels (GeoParquet) in parts "
        "on a dask cluster",
    )
    eng.add_argument(
        "--scheduler", help="address of a dask scheduler (tcp://host:8786); default: a local one"
    )
    eng.add_argument(
        "--workers", type=int, help="worker processes of the local dask cluster (default: cores)"
    )
    io.add_argument(
        "--working-crs",
        help="projected CRS for area (default: CGCS2000 "
        "3-degree Gauss-Kruger zone by longitude in China, else UTM)",
    )


def _method_options(p: argparse.ArgumentParser) -> None:
    how = p.add_argument_group("method and output")
    how.add_argument(
        "--area-method",
        choices=["plane", "ellipsoidal"],
        help="plane area in the working CRS (default) or ellipsoidal area",
    )
    how.add_argument("--out", type=Path, help="output folder (default: current folder)")
    how.add_argument("--map-name", help="map file name without .html (default: mujun)")
    how.add_argument("--no-map", action="store_true", help="write the exports only, no HTML map")
    how.add_argument(
        "--surface-m",
        type=float,
        help="also write exports/tax_per_mu.tif, tax "
        "per mu rasterised at this resolution in metres (e.g. 10)",
    )
    how.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    how.add_argument(
        "--to-db",
        help="also write mujun_parcels, mujun_enterprises and mujun_zones to this "
        "PostgreSQL/PostGIS (URL or service=NAME); a rerun with the same --run-id replaces them",
    )
    how.add_argument("--db-schema", help="schema for --to-db tables (default public)")
    how.add_argument("--run-id", help="key of this run's rows in --to-db (default: map name)")
    how.add_argument(
        "--basemap",
        help="osm (default), tianditu-vec, tianditu-img (key: "
        "TIANDITU_KEY), amap (overlays shifted to GCJ-02 for display), "
        "esri-imagery, none",
    )
    how.add_argument(
        "--orthophoto", type=Path, help="your own orthophoto GeoTIFF, embedded as an image overlay"
    )
    how.add_argument(
        "--lang",
        choices=["zh", "en"],
        help="language of the map (default zh; en with the value-per-acre preset)",
    )
    how.add_argument(
        "--profile",
        choices=["internal", "public"],
        help="public: a map without confidential figures (no tax, value added, revenue or scores)",
    )
    how.add_argument(
        "--cdn",
        action="store_true",
        help="load Leaflet from its CDN instead of embedding it (a smaller page that needs a "
        "network to draw)",
    )
    how.add_argument(
        "--offline",
        action="store_true",
        help="embed the map's scripts and "
        "styles so it draws without a network (the default; basemap tiles still need one)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    def opt(name: str) -> Any:
        return getattr(args, name, None)

    pairs = {
        ("input", "parcels"): args.parcels,
        ("input", "filings"): args.filings,
        ("input", "parks"): args.parks,
        ("input", "buildings"): args.buildings,
        ("input", "builtup"): args.builtup,
        ("input", "commitments"): opt("commitments"),
        ("input", "redevelopment"): opt("redevelopment"),
        ("input", "corrections"): opt("corrections"),
        ("output", "surface_m"): opt("surface_m"),
        ("input", "parcels_crs"): args.parcels_crs,
        ("input", "encoding"): args.encoding,
        ("input", "sheet"): args.sheet,
        ("output", "year"): args.year,
        ("area", "working_crs"): args.working_crs,
        ("input", "parcels_encoding"): args.parcels_encoding,
        ("input", "on_invalid"): args.on_invalid,
        ("input", "database"): opt("db"),
        ("input", "parcels_table"): opt("parcels_table"),
        ("input", "parcels_query"): opt("parcels_query"),
        ("input", "filings_table"): opt("filings_table"),
        ("input", "filings_query"): opt("filings_query"),
        ("output", "database"): opt("to_db"),
        ("output", "db_schema"): opt("db_schema"),
        ("output", "run_id"): opt("run_id"),
        ("area", "method"): opt("area_method"),
        ("engine", "name"): opt("engine"),
        ("engine", "address"): opt("scheduler"),
        ("engine", "workers"): opt("workers"),
        ("output", "out_dir"): args.out,
        ("output", "map_name"): opt("map_name"),
        ("output", "overwrite"): True if args.overwrite else None,
        ("map", "offline"): True if opt("offline") else (False if opt("cdn") else None),
        ("output", "map"): False if opt("no_map") else None,
        ("map", "lang"): opt("lang"),
        ("map", "basemap"): opt("basemap"),
        ("map", "orthophoto"): opt("orthophoto"),
        ("map", "profile"): opt("profile"),
    }
    out: dict[str, dict[str, Any]] = {}
    for (section, key), value in pairs.items():
        if value is not None:
            out.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    return out


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _underuse_line(u: dict[str, Any], v: Vocabulary) -> str:
    if not u:
        return ""
    reasons = ", ".join(f"{k} {n:,}" for k, n in u["by_reason"].items() if n)
    area = v.area_label
    return (
        f"underused: {u['underused_parcels']:,} parcels, {u[f'underused_{v.area}']:,.1f} {area} "
        f"({reasons}); {u['zones']:,} consolidation zones, {u[f'zone_{v.area}']:,.1f} {area}, "
        f"potential gain {u[f'zone_gain_{v.big_money}']:,.0f} {v.big_money_label}/year"
        + (
            f" (the {u['zones_gaining']:,} zones below their park's median; all zones "
            f"{u[f'zone_gain_all_{v.big_money}']:,.0f})"
            if f"zone_gain_all_{v.big_money}" in u
            else ""
        )
        + (f"; {u['cold_spots']:,} cold-spot parcels" if "cold_spots" in u else "")
    )


def _cycle_lines(c: dict[str, Any]) -> list[str]:
    lines = []
    if "commitments" in c:
        m = c["commitments"]
        by = ", ".join(f"{k} {n:,}" for k, n in m["short_by"].items() if n)
        lines.append(
            f"commitments: {m['listed']:,} listed, {m['due']:,} due: {m['short']:,} short of "
            f"them ({by or 'none'}), {m['not_yet_due']:,} not yet due; investment intensity "
            "is not checked (the filings have no investment)"
        )
    if "register" in c:
        r = c["register"]
        status = ", ".join(f"{k} {n:,}" for k, n in r["by_status"].items())
        lines.append(
            f"redevelopment register: {r['parcels']:,} parcels ({status}); of the underused "
            f"parcels {r['underused_in_register']:,} are in it, {r['underused_new']:,} newly found"
        )
    if "corrections" in c:
        k = c["corrections"]
        fields = ", ".join(f"{f} {n:,}" for f, n in k["by_field"].items())
        lines.append(
            f"corrections: {k['applied']:,} applied to {k['firms']:,} firms ({fields or 'none'}); "
            "each is in the ledger and exports/corrections.csv"
        )
    return lines


def _join_lines(join: dict[str, Any] | None) -> list[str]:
    if not join:
        return []
    from mujun.join import JoinQA  # noqa: PLC0415

    return qa_lines(JoinQA.from_dict(join))


def _loud_lines(s: dict[str, Any]) -> list[str]:
    """What the run could not do, or found implausible, in capitals so it is not missed."""
    lines = []
    for source, kinds in s.get("findings", {}).items():
        n = kinds.get("implausible figure", 0)
        if n:
            lines.append(f"WARNING {source}: {n} implausible figure(s) (see the ledger)")
    for column, uses in s.get("not_scored", {}).items():
        lines.append(
            f"WARNING no {column} in the filings: "
            + ", ".join(f"{ind} ({w:g} on {group})" for group, ind, w in uses)
            + " take the list average for every firm"
        )
    return lines


def _merged_text(parcels: dict[str, Any]) -> str:
    merged = parcels.get("merged")
    if not merged:
        return ""
    n = merged["parcels"]
    return f" ({n:,} parcel{'s' if n != 1 else ''} merged from {merged['features']:,} features)"


def _by_year(values: dict[str, Any], v: Vocabulary, text: Callable[[Any], str]) -> str:
    """``2016: a; 2021: b``, or ``a`` alone in a table without years (keyed by nothing)."""
    if not v.years:
        return text(values)
    return "; ".join(f"{y}: {text(d)}" for y, d in values.items())


def _county_lines(s: dict[str, Any], result: RunResult, v: Vocabulary) -> list[str]:
    """The county's headline per-area figure per group (all, 规上, 规下)."""
    by_year = s["county"] if v.years else {"": s["county"]}
    groups = by_year.get(str(result.year) if v.years else "", {})
    shown = groups.get("all", {})
    figures = [f for f in ("tax", "assessed_value") if result.unit.column(f) in shown]
    col = result.unit.column(figures[0] if figures else "tax")  # as the map's first layer
    lines = [
        f"county {col} ({group}, per occupied {v.area}): "
        + ", ".join(f"{y} {_num(d[group].get(col))}".strip() for y, d in by_year.items())
        + f" {result.unit.label}"
        for group in groups
    ]
    if f"{col}_industrial" in shown:
        lines.append(
            f"county {col} (all, per industrial {v.area} including vacant land): "
            + ", ".join(
                f"{y} {_num(d['all'].get(f'{col}_industrial'))}".strip() for y, d in by_year.items()
            )
            + f" {result.unit.label}"
        )
    return lines


def _basis_line(b: dict[str, Any]) -> str:
    """The land the per-area figures divide by, and how far the other basis is."""
    if not b or not b.get("units_with_both"):
        return ""
    other = "declared" if b["basis"] == "surveyed" else "surveyed"
    line = (
        f"area basis: {b['basis']} (enterprises.csv has the {other} figures too); declared and "
        f"surveyed land differ by more than {b['tolerance_pct']:g} % in {b['units_differing']:,} "
        f"of {b['units_with_both']:,} land units of all years "
        f"(median {b['median_declared_vs_surveyed_pct']:+.2f} %)"
    )
    if b.get("not_evaluated"):
        line += f"; {b['not_evaluated']:,} land units not evaluated (see the ledger)"
    return line


def _report(result: RunResult, paths: dict[str, Path], seconds: float) -> str:
    v = vocabulary(result.config, year=result.year)
    s = v.summary(result.summary.to_dict())  # in the preset's units: mu and 万元, or acres and USD
    p = s["parcels"]
    lines = [
        f"mujun {__version__}: {v.year_text(result.year)}, working CRS {s['working_crs_name']}",
        f"parcels: {p['count']:,} usable{_merged_text(p)}, {p['vacant']:,} vacant, "
        f"{p[f'area_{v.area}']:,.1f} {v.area_label} surveyed"
        + (
            f"; {p['declared_mismatch']:,} differ from the declared area by more than "
            f"{p['declared_tolerance_pct']:g} %"
            if "declared_mismatch" in p
            else "; no declared areas to compare"
        ),
        f"area check: plane vs ellipsoidal {s['area_check']['total_diff_pct']:+.4f} % "
        f"(worst parcel {s['area_check']['max_abs_diff_pct']:.4f} %)",
        f"{v.firms}: "
        + _by_year(s["enterprises"], v, lambda d: ", ".join(f"{k} {n:,}" for k, n in d.items())),
        *_county_lines(s, result, v),
        _basis_line(s.get("area_basis", {})),
        _underuse_line(s.get("underuse", {}), v),
        *_cycle_lines(s.get("cycle", {})),
        *_join_lines(s.get("join")),
        *_loud_lines(s),
        "ledger: "
        + "; ".join(
            f"{src}: " + ", ".join(f"{k} {n:,}" for k, n in d.items())
            for src, d in s["ledger"].items()
        ),
        "wrote: " + ", ".join(str(path) for path in paths.values()),
        f"done in {seconds:.1f} s",
    ]
    return "\n".join(line for line in lines if line)


def _cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config, preset=args.preset, overrides=_overrides(args))
    recover(Path(config.output.out_dir), stale=False)  # a commit cut short: undone first
    target = Path(config.output.out_dir) / "exports" / "ledger.csv"
    check_writable(target, overwrite=config.output.overwrite, create=False)
    result = validate(config)
    write_ledger(result.ledger, target, formulas=config.output.csv_formulas)
    if not args.quiet:
        print(format_validation(result, examples=args.examples))
        print(f"wrote {target}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    if args.show:
        config = load_config(preset=args.show)
        print(
            f"# the effective configuration of preset {args.show}: "
            + " <- ".join(reversed(preset_layers(args.show)))
            + " <- built-in defaults"
        )
        print(to_toml(config.to_dict()), end="")
        return 0
    for name in available_presets():
        base = preset_layers(name)[:-1]
        extends = f" (on {' and '.join(base)})" if base else ""
        print(f"{name:16s} {preset_description(name)}{extends}")
    return 0


def _cmd_partition(args: argparse.Namespace) -> int:
    from mujun.distributed import partition_parquet  # noqa: PLC0415 - dask when asked for

    done = partition_parquet(
        args.source,
        args.dest,
        npartitions=args.parts,
        rows_per_part=args.rows_per_part,
        layer=args.layer,
        overwrite=args.overwrite,
    )
    if not args.quiet:
        print(f"wrote {done['features']} features in {done['parts']} parts to {done['path']}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    config = load_config(args.config, preset=args.preset, overrides=_overrides(args))
    recover(Path(config.output.out_dir), stale=False)  # a commit cut short: undone first
    # the stages the run and the writers will log, as they declare them
    stages = len(plan(config)) + len(output_plan(config.output))
    progress = StageProgress(stages, quiet=args.quiet)
    mujun_log = logging.getLogger("mujun")
    level = mujun_log.level
    mujun_log.addHandler(progress)
    mujun_log.setLevel(logging.INFO if level in (logging.NOTSET, 0) else min(level, logging.INFO))
    try:
        with open_engine(config) as engine:  # the dask cluster lives for the run and its writing
            result = run(config, engine)
            paths = write_outputs(result, engine=engine, started=started)
    finally:
        mujun_log.removeHandler(progress)
        mujun_log.setLevel(level)
        progress.close()
    if not args.quiet:
        print(_report(result, paths, time.perf_counter() - t0))
    if getattr(args, "report", False):
        from mujun.notice import write_report  # noqa: PLC0415 - matplotlib and typst when asked

        _print_notice(write_report(Path(config.output.out_dir), overwrite=True), args)
    return 0


def _print_notice(done: Report, args: argparse.Namespace) -> None:
    if not args.quiet:
        edition = "public" if done.public else "internal"
        print(
            f"report ({edition}): {done.pdf} ({done.pages} pages), {done.xlsx}; "
            f"done in {done.seconds:.1f} s"
        )


def _cmd_report(args: argparse.Namespace) -> int:
    from mujun.notice import write_report  # noqa: PLC0415 - matplotlib and typst when asked

    done = write_report(args.out, profile=args.profile, lang=args.lang, overwrite=args.overwrite)
    _print_notice(done, args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mujun`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    level = logging.WARNING
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif getattr(args, "verbose", 0):
        level = logging.INFO if args.verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(level=level)
    for handler in root.handlers:  # the console shows ``level`` and up only, whatever the
        if handler not in before:  # progress bar listens to
            handler.setLevel(level)
            handler.setFormatter(ConsoleFormatter())
    shown = warnings.showwarning
    warnings.showwarning = _show_warning  # warnings become sentences, for this call only
    try:
        return _dispatch(args)
    finally:
        warnings.showwarning = shown


class ConsoleFormatter(logging.Formatter):
    """Log records as a planner reads them: ``warning: <sentence>``, ``error: ...``; with -v
    the stage lines and notes as they are; with -vv (debug) the logger's name and, for an
    unexpected error, where it happened."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {text}"
        if record.levelno >= logging.WARNING:
            return f"warning: {text}"
        if record.levelno >= logging.INFO:
            return text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return f"debug {record.name}: {text}"


def _show_warning(  # noqa: PLR0917 - the signature warnings.showwarning has
    message: Warning | str,
    category: type[Warning],
    filename: str,  # noqa: ARG001 - the warnings module's signature; no package paths shown
    lineno: int,  # noqa: ARG001
    file: TextIO | None = None,  # noqa: ARG001
    line: str | None = None,  # noqa: ARG001
) -> None:
    """A warning as one plain sentence on the console (mujun's own), or the sentence and the
    kind of warning (a library's), never the file and line of the code that warned."""
    text = str(message)
    if not issubclass(category, DataQualityWarning):
        text = f"{text} ({category.__name__})"
    logging.getLogger("mujun").warning("%s", text)


EXIT_CODES = {
    0: "success (also when records were repaired or set aside: the summary and ledger say so)",
    2: "input, configuration or output folder that cannot be used (the message names the "
    "file, row, column and the fix)",
    3: "an output exists (pass --overwrite)",
    4: "a reconciliation failure (a bug: please report it)",
    5: "the outputs could not be written (disk full, permission denied); previous outputs kept",
    70: "an unexpected error (a bug: please report it; -v shows where)",
    130: "interrupted (Ctrl-C); previous outputs kept",
}


def _fail(message: str, code: int) -> int:
    print(f"mujun: {message}", file=sys.stderr)
    return code


def _read_error(err: BaseException) -> str:
    assert isinstance(err, OSError)
    where = err.filename or "an input"
    return f"cannot read {where}: {err.strerror or err}; check the file and its permissions"


def _bug(err: BaseException) -> str:
    logging.getLogger("mujun").debug("unexpected error", exc_info=True)
    return (
        f"unexpected error ({type(err).__name__}: {err}); this is a bug, please report it with "
        "the command you ran (-vv shows where it happened)"
    )


_ERRORS: tuple[tuple[type[BaseException], int, Callable[[BaseException], str]], ...] = (
    (OutputExistsError, 3, str),
    (ReconciliationError, 4, lambda e: f"reconciliation failed (a bug, please report it): {e}"),
    (OutputError, 5, str),
    (MujunError, 2, str),
    (KeyboardInterrupt, 130, lambda _: "interrupted; previous outputs kept"),
    (OSError, 2, _read_error),  # reading an input: permissions, a vanished file, I/O errors
    (Exception, 70, _bug),  # the one place a bug is turned into a message
)
"""Each failure as one line and its exit code (:data:`EXIT_CODES`), first match wins."""


def _cmd_compare(args: argparse.Namespace) -> int:
    from mujun.compare import compare_runs  # noqa: PLC0415 - the run's modules when asked

    done = compare_runs(args.old, args.new)
    if not args.quiet:
        print("\n".join(done.lines()))
    return 0


def _dispatch(args: argparse.Namespace) -> int:
    commands = {
        "presets": _cmd_presets,
        "validate": _cmd_validate,
        "partition": _cmd_partition,
        "report": _cmd_report,
        "compare": _cmd_compare,
    }
    try:
        return commands.get(args.command, _cmd_run)(args)
    except BaseException as err:
        for kind, code, say in _ERRORS:
            if isinstance(err, kind):
                return _fail(say(err), code)
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
