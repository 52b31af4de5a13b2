"""Benchmark: cold spots (local Moran's I), mujun's vectorised draws against esda's Moran_Local.

Generates ``--n`` synthetic parcels (rectangles of 60-110 m on a 120 m grid in EPSG:4549, so
most have neighbours within 30 m) with a tax per mu that drifts across the county plus noise, 10 %
of them vacant, then in the same run and one after another:

- mujun: ``mujun.zones.cold_spots(parcels, cfg=UnderuseConfig())``: neighbours within
  ``zone_gap_m`` (30 m), esda's local I with ``permutations=0``, then the conditional
  randomisation (999 draws, seed 20240101) vectorised in numpy;
- esda: ``esda.moran.Moran_Local(tax, graph, permutations=999, seed=20240101)`` on the same
  libpysal ``Graph`` of the same parcels (the neighbour search not counted), which runs its
  conditional randomisation as a Python loop over the parcels when numba is not installed
  (numba: printed below).

Time is the wall-clock time of each call. "same p" says whether the pseudo p-values are equal
(mujun reproduces esda's draws)::

    python bench/lisa.py --n 10000
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shlex
import sys
import time
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from _machine import cpu_name

from mujun.config import UnderuseConfig
from mujun.zones import cold_spots

ORIGIN = (440_000.0, 3_380_000.0)


def parcels(n: int, seed: int) -> gpd.GeoDataFrame:
    """Rectangles of 60-110 m on a 120 m grid: 10-60 m of road between neighbours."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    col, row = np.arange(n) % side, np.arange(n) // side
    cx, cy = ORIGIN[0] + 120.0 * col, ORIGIN[1] + 120.0 * row
    w, h = rng.uniform(60, 110, n), rng.uniform(60, 110, n)
    geoms = shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    x = shapely.get_x(shapely.centroid(geoms))
    drift = (x - x.min()) / max(float(np.ptp(x)), 1.0)
    tax = np.exp(1.0 + 2.0 * drift + rng.normal(0, 0.8, n))
    return gpd.GeoDataFrame(
        {"tax_per_mu": tax, "vacant": rng.random(n) < 0.1}, geometry=geoms, crs="EPSG:4549"
    )


def with_esda(gdf: gpd.GeoDataFrame, cfg: UnderuseConfig) -> tuple[float, np.ndarray]:
    """esda's Moran_Local on the parcels mujun links (occupied, with a neighbour)."""
    from esda.moran import Moran_Local  # noqa: PLC0415
    from libpysal.graph import Graph  # noqa: PLC0415

    occupied = np.flatnonzero(~gdf["vacant"].to_numpy())
    geoms = gdf.geometry.array[occupied]
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=cfg.zone_gap_m)
    keep = left != right
    left, right = left[keep], right[keep]
    linked = np.unique(left)
    focal, neighbour = np.searchsorted(linked, left), np.searchsorted(linked, right)
    graph = Graph.from_arrays(focal, neighbour, np.ones(len(focal)))
    tax = gdf["tax_per_mu"].to_numpy()[occupied[linked]]
    start = time.perf_counter()
    lisa = Moran_Local(tax, graph, permutations=cfg.permutations, seed=cfg.seed)
    seconds = time.perf_counter() - start
    p = np.full(len(gdf), np.nan)
    p[occupied[linked]] = lisa.p_sim
    return seconds, p


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="parcels")
    parser.add_argument("--seed", type=int, default=20211)
    args = parser.parse_args(argv)
    gdf = parcels(args.n, args.seed)
    cfg = UnderuseConfig()
    import esda.moran  # noqa: F401, PLC0415 - imported before the clock, for both tools
    import libpysal.graph  # noqa: F401, PLC0415

    start = time.perf_counter()
    ours = cold_spots(gdf, cfg=cfg)
    mujun_s = time.perf_counter() - start
    print(f"mujun: {mujun_s:.2f} s", flush=True)
    esda_s, p = with_esda(gdf, cfg)
    print(f"esda: {esda_s:.2f} s", flush=True)
    mine = ours["moran_p"].to_numpy()
    same = bool(np.array_equal(mine, p, equal_nan=True))
    linked = int(np.isfinite(p).sum())
    numba = importlib.util.find_spec("numba") is not None
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    libs = ", ".join(f"{p} {version(p)}" for p in ("esda", "libpysal", "numpy", "shapely"))
    print()
    print(f"Command: `{command}`")
    print(
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores "
        f"({cpu_name()}), Python {platform.python_version()}; {libs}; numba: {numba}"
    )
    print(f"Data: {args.n:,} parcels, {linked:,} linked; {cfg.permutations} permutations")
    print()
    print("| tool | time (s) | time vs mujun | same p |")
    print("|---|---:|---:|---|")
    print(f"| mujun `cold_spots` (neighbour search included) | {mujun_s:.2f} | 1.00 | |")
    print(
        f"| esda `Moran_Local` (graph given) | {esda_s:.2f} | {esda_s / mujun_s:.2f} | "
        f"{'yes' if same else 'no'} |"
    )


if __name__ == "__main__":
    main()
