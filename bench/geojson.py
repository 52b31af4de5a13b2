"""Benchmark: the RFC 7946 GeoJSON export at scale, against geopandas' ``to_file``.

Generates ``--n`` synthetic parcels (irregular quadrilaterals of 2-300 mu, log-uniform, packed
in shelves in EPSG:4549) with a dozen columns like the real export (ids, park and industry
strings, Chinese enterprise names and reasons with a few missing, floats with NaN, integers,
booleans), then writes them, in the same run and in this order:

- mujun: ``write_geojson(gdf, path, precision=7, overwrite=True)`` (reprojection to EPSG:4326,
  rounding to 7 decimals, snap rounding where that breaks a geometry, counter-clockwise
  exteriors, properties as ``json.dumps`` writes them),
- geopandas, 7 decimals: ``gdf.to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio",
  COORDINATE_PRECISION=7)``,
- geopandas, default: ``gdf.to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio")``
  (GDAL's default of 15 significant digits).

Time is the wall-clock time of the call alone (reprojection included for every tool), after
the parcels are built; CPU is the process's CPU time over the same call (all three run on one
thread, so it is what the call costs when other work shares the cores); file size is in MB
(10^6 bytes)::

    python bench/geojson.py --n 100000
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from _machine import cpu_name
from _parcels import shelf_quadrilaterals

from mujun.io.writers import write_geojson
from mujun.schema import MU_M2

CRS = "EPSG:4549"
ORIGIN = (490_000.0, 3_430_000.0)  # south-west corner, EPSG:4549 metres
PARKS = ("经济开发区", "高新区", "临港产业园", "城西工业园", "滨江工业园")
INDUSTRIES = ("13", "17", "26", "29", "33", "34", "35", "38", "39")
PLACES = ("浙江", "嘉兴", "湖州", "杭州", "绍兴", "宁波", "海宁", "桐乡")
TRADES = ("纺织", "机械", "电子", "化工", "新材料", "五金", "汽车零部件", "光伏", "包装")
FORMS = ("有限公司", "股份有限公司", "科技有限公司", "制造有限公司")
REASONS = ("空置", "容积率低", "亩均税收低", "D类", "")


def make_parcels(n: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """``n`` parcels with twelve property columns, 10 % of them vacant."""
    quads = shelf_quadrilaterals(n, rng, ORIGIN)[rng.permutation(n)]
    area_mu = np.round(shapely.area(quads) / MU_M2, 2)
    vacant = rng.random(n) < 0.10
    tax = np.where(vacant, np.nan, np.exp(rng.normal(math.log(15), 0.9, n)))
    declared = area_mu * rng.normal(1.0, 0.03, n)
    declared[rng.random(n) < 0.3] = np.nan
    firm = (
        pd.Series(rng.choice(PLACES, n))
        + pd.Series(rng.integers(0, 10_000, n)).astype(str)
        + pd.Series(rng.choice(TRADES, n))
        + pd.Series(rng.choice(FORMS, n))
    )
    return gpd.GeoDataFrame(
        {
            "parcel_id": pd.Series(np.arange(n)).map("P{:07d}".format),
            "park": rng.choice(PARKS, n),
            "enterprises": firm.where(~vacant, None),
            "area_mu": area_mu,
            "declared_area_mu": declared.round(2),
            "tax_per_mu": tax.round(4),
            "value_added_per_mu": tax * rng.uniform(3, 8, n),  # full precision
            "employees": rng.integers(0, 2_000, n),
            "year": np.full(n, 2021),
            "vacant": vacant,
            "underused": rng.random(n) < 0.2,
            "industry2": pd.Series(rng.choice(INDUSTRIES, n)).where(~vacant, None),
            "underuse_reasons": rng.choice(REASONS, n),
        },
        geometry=quads,
        crs=CRS,
    )


def run_mujun(gdf: gpd.GeoDataFrame, path: Path) -> None:
    write_geojson(gdf, path, precision=7, overwrite=True)


def run_geopandas_7(gdf: gpd.GeoDataFrame, path: Path) -> None:
    gdf.to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=7)


def run_geopandas(gdf: gpd.GeoDataFrame, path: Path) -> None:
    gdf.to_crs(4326).to_file(path, driver="GeoJSON", engine="pyogrio")


TOOLS: dict[str, Callable[[gpd.GeoDataFrame, Path], None]] = {
    "mujun write_geojson (precision 7)": run_mujun,
    "geopandas to_file (COORDINATE_PRECISION=7)": run_geopandas_7,
    "geopandas to_file (default)": run_geopandas,
}


def machine() -> str:
    libs = ", ".join(
        f"{p} {version(p)}" for p in ("numpy", "pandas", "shapely", "geopandas", "pyogrio")
    )
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), "
        f"Python {platform.python_version()}, GDAL {pyogrio.__gdal_version_string__}; {libs}"
    )


def table(n: int, results: dict[str, tuple[float, float, float]]) -> str:
    ref_s, ref_cpu, ref_mb = next(iter(results.values()))
    lines = [
        "| N | tool | time (s) | CPU (s) | file (MB) | time vs mujun | CPU vs mujun "
        "| size vs mujun |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for tool, (seconds, cpu, mb) in results.items():
        lines.append(
            f"| {n:,} | {tool} | {seconds:.2f} | {cpu:.2f} | {mb:.1f} | {seconds / ref_s:.2f} | "
            f"{cpu / ref_cpu:.2f} | {mb / ref_mb:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of parcels")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mujun-bench-geojson-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        parcels = make_parcels(args.n, np.random.default_rng(args.seed))
        print(
            f"generated {args.n:,} parcels, {parcels.shape[1] - 1} columns, "
            f"in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        results: dict[str, tuple[float, float, float]] = {}
        for i, (tool, run) in enumerate(TOOLS.items()):
            path = workdir / f"{i}.geojson"
            path.unlink(missing_ok=True)
            start, start_cpu = time.perf_counter(), time.process_time()
            run(parcels, path)
            seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            mb = path.stat().st_size / 1e6
            results[tool] = (seconds, cpu, mb)
            print(f"{tool}: {seconds:.2f} s, CPU {cpu:.2f} s, {mb:.1f} MB", flush=True)

    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    print()
    print(f"Command: `{command}`")
    print(f"Machine: {machine()}")
    print()
    print(table(args.n, results))


if __name__ == "__main__":
    main()
