"""Benchmark: built-up fraction per parcel, mujun against exactextract and rasterstats.

Generates ``--n`` synthetic parcels (irregular quadrilaterals of 2-300 mu, log-uniform, in
EPSG:4549) and a 2 m built-up raster covering them (uint8: 1 built, 0 open, 255 nodata; tiled,
deflate), then times in the same run, each method in its own subprocess:

- mujun: ``builtup_fraction(parcels, raster)``: exactextract's coverage-weighted mean of a 0/1
  "built" layer that mujun reads through rasterio, the parcels handed over as WKB; so this row
  is exactextract plus mujun's overhead (checks, the built layer, the hand-over),
- exactextract: ``exact_extract(raster, parcels, "mean")`` called directly (exact coverage
  weights; the reference for accuracy),
- rasterstats: ``zonal_stats(parcels, raster, stats="mean", all_touched=False)`` (pixel centres).

Time is wall-clock time of the call alone (after imports and reading the parcels). Peak memory
is the child's maximum resident set size from ``os.wait4`` (Linux ``ru_maxrss``, so it includes
the interpreter and the libraries; the ``baseline`` row is a child that only imports them and
reads the parcels).

Needs the optional package ``rasterstats`` (``pip install -e ".[bench]"``)::

    python bench/zonal.py --n 10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from _machine import cpu_name
from _parcels import shelf_quadrilaterals
from affine import Affine

from mujun.schema import MU_M2

CRS = "EPSG:4549"
ORIGIN = (440_000.0, 3_380_000.0)  # south-west corner, EPSG:4549 metres (northern Zhejiang)
METHODS = ("baseline", "mujun", "exactextract", "rasterstats")
STRIP_ROWS = 1024  # rows generated and written at a time
BLOCK = 4  # pixels per side of one built/open patch (8 m at 2 m pixels)


def make_parcels(n: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """``n`` irregular quadrilaterals of 2-300 mu (log-uniform), packed in shelves."""
    quads = shelf_quadrilaterals(n, rng, ORIGIN)
    return gpd.GeoDataFrame({"parcel": np.arange(n)}, geometry=quads, crs=CRS)


def write_raster(path: Path, bounds: np.ndarray, res: float, rng: np.random.Generator) -> None:
    """A uint8 built-up raster of 8 m patches (35 % built, 0.5 % nodata) covering ``bounds``."""
    west = math.floor(bounds[0] / res) * res - 10 * res
    south = math.floor(bounds[1] / res) * res - 10 * res
    width = math.ceil((bounds[2] - west) / res) + 10
    height = math.ceil((bounds[3] - south) / res) + 10
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": CRS,
        "transform": Affine(res, 0.0, west, 0.0, -res, south + height * res),
        "nodata": 255,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "num_threads": "all_cpus",
        "bigtiff": "if_safer",
    }
    blocks_wide = math.ceil(width / BLOCK)
    with rasterio.open(path, "w", **profile) as dst:
        for row0 in range(0, height, STRIP_ROWS):
            rows = min(STRIP_ROWS, height - row0)
            draw = rng.random((math.ceil(rows / BLOCK), blocks_wide))
            patch = np.where(draw < 0.35, 1, 0).astype("uint8")
            patch[draw > 0.995] = 255
            strip = np.repeat(np.repeat(patch, BLOCK, axis=0), BLOCK, axis=1)[:rows, :width]
            dst.write(strip, 1, window=rasterio.windows.Window(0, row0, width, rows))


def run_method(method: str, parcels: Path, raster: Path, out: Path) -> np.ndarray:
    """Compute the built-up fraction with ``method`` (inside the worker subprocess)."""
    if method == "mujun":
        from mujun.raster import builtup_fraction  # noqa: PLC0415

        gdf = gpd.read_parquet(parcels)
        start = time.perf_counter()
        values = builtup_fraction(gdf, raster).to_numpy()
    elif method == "exactextract":
        from exactextract import exact_extract  # noqa: PLC0415

        gdf = gpd.read_parquet(parcels)
        start = time.perf_counter()
        frame = exact_extract(str(raster), gdf, "mean", output="pandas")
        values = frame["mean"].to_numpy(dtype="float64")
    elif method == "rasterstats":
        from rasterstats import zonal_stats  # noqa: PLC0415

        gdf = gpd.read_parquet(parcels)
        start = time.perf_counter()
        stats = zonal_stats(gdf, str(raster), stats="mean", all_touched=False)
        values = np.array([np.nan if s["mean"] is None else s["mean"] for s in stats])
    else:  # baseline: the imports and the read, nothing else
        import exactextract  # noqa: F401, PLC0415
        import rasterstats  # noqa: F401, PLC0415

        import mujun.raster  # noqa: F401, PLC0415

        gdf = gpd.read_parquet(parcels)
        start = time.perf_counter()
        values = np.full(len(gdf), np.nan)
    seconds = time.perf_counter() - start
    np.save(out.with_suffix(".npy"), values)
    out.with_suffix(".json").write_text(json.dumps({"seconds": seconds}))
    return values


def measure(method: str, parcels: Path, raster: Path, workdir: Path) -> dict[str, float]:
    """Run ``method`` in a fresh subprocess; its time, peak RSS (MB) and values."""
    out = workdir / f"result_{method}"
    cmd = [sys.executable, __file__, "--worker", method, "--parcels", str(parcels)]
    cmd += ["--raster", str(raster), "--out", str(out)]
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} failed with exit code {proc.returncode}")
    seconds = json.loads(out.with_suffix(".json").read_text())["seconds"]
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024}


def machine() -> str:
    cpu = cpu_name()
    libs = ", ".join(
        f"{p} {version(p)}"
        for p in ("numpy", "shapely", "rasterio", "geopandas", "exactextract", "rasterstats")
    )
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, GDAL {rasterio.__gdal_version__}; {libs}"
    )


def table(n: int, results: dict[str, dict[str, float]], values: dict[str, np.ndarray]) -> str:
    ref = results["exactextract"]
    lines = [
        "| method | time (s) | parcels/s | time vs exactextract | peak RSS (MB) "
        "| RSS vs exactextract | max abs diff | mean abs diff | parcels without a value |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, res in results.items():
        if method == "baseline":
            lines.append(
                f"| baseline (imports + read) | | | | {res['rss_mb']:.0f} | "
                f"{res['rss_mb'] / ref['rss_mb']:.2f} | | | |"
            )
            continue
        diff = np.abs(values[method] - values["exactextract"])
        both = np.isfinite(diff)
        missing = int(np.isnan(values[method]).sum())
        lines.append(
            f"| {method} | {res['seconds']:.2f} | {n / res['seconds']:,.0f} | "
            f"{res['seconds'] / ref['seconds']:.2f} | {res['rss_mb']:.0f} | "
            f"{res['rss_mb'] / ref['rss_mb']:.2f} | {diff[both].max():.2e} | "
            f"{diff[both].mean():.2e} | {missing} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of parcels")
    parser.add_argument("--resolution", type=float, default=2.0, help="pixel size in metres")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: a temp dir)")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--parcels", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--raster", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_method(args.worker, args.parcels, args.raster, args.out)
        return

    with tempfile.TemporaryDirectory(prefix="mujun-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(args.seed)
        start = time.perf_counter()
        parcels = make_parcels(args.n, rng)
        parcels_path = workdir / "parcels.parquet"
        parcels.to_parquet(parcels_path)
        raster_path = workdir / "built.tif"
        write_raster(raster_path, parcels.total_bounds, args.resolution, rng)
        with rasterio.open(raster_path) as src:
            size = f"{src.width:,} x {src.height:,} pixels of {args.resolution:g} m"
        print(
            f"generated {args.n:,} parcels ({parcels.area.sum() / MU_M2:,.0f} mu) and a raster "
            f"of {size} in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        results: dict[str, dict[str, float]] = {}
        values: dict[str, np.ndarray] = {}
        for method in METHODS:
            results[method] = measure(method, parcels_path, raster_path, workdir)
            values[method] = np.load(workdir / f"result_{method}.npy")
            print(f"{method}: {results[method]['seconds']:.2f} s", flush=True)

    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    print()
    print(f"Command: `{command}`")
    print(f"Machine: {machine()}")
    print(f"Data: {args.n:,} parcels, raster {size}")
    print()
    print(table(args.n, results, values))


if __name__ == "__main__":
    main()
