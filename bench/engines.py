"""Benchmark: ``mujun run --engine dask`` against ``--engine memory`` on the same parcels.

Uses the data of ``bench/scale.py`` (``--n`` synthetic parcels as GeoParquet and their filings
as CSV, made by its ``generate``; ``--workdir``/``--reuse`` as there), then, each step in its
own subprocess and in the same invocation:

1. ``mujun partition parcels.parquet parts.parquet --rows-per-part R``: the parcels sorted
   along a Hilbert curve into a folder of GeoParquet files (the dask engine's input);
   ``--partition-from gpkg`` partitions parcels.gpkg (the same features) instead;
2. ``mujun run --parcels parts.parquet --filings filings.csv --no-map -v --engine memory``;
3. the same with ``--engine dask --workers W``: a LocalCluster of ``W`` worker processes
   (one thread each) started by the mujun process, which stays the dask client.

Both runs read the same partitioned folder and write into their own ``--out`` folder. The
partition step runs every time (``--overwrite``); ``--reuse`` only skips generating the data.

What is measured, per step:

- **wall**: from starting the subprocess to its exit (interpreter start, imports and, for
  dask, starting and closing the LocalCluster included);
- **CPU**: user + system seconds of the mujun process and of every descendant it waited for
  (``os.wait4``); the LocalCluster's workers are its children, so theirs are included;
- **client peak**: the mujun process's own high-water RSS (``VmHWM`` in /proc), read at every
  sample; ``ru_maxrss`` from ``os.wait4`` is not used because it is the largest of the process
  and its reaped children, which would be a worker's when a worker is the largest;
- **worker peak**: the largest ``VmHWM`` of any other process of the tree (the dask workers;
  multiprocessing's resource tracker is left out);
- **tree peak RSS / PSS**: the process tree (the mujun process and all its descendants, found
  with psutil) is sampled every ``--interval`` seconds; the peak over the samples of the sum of
  the processes' RSS and, as RSS counts the libraries they share once per process, of their
  PSS (shared pages split between the processes sharing them). A spike shorter than the
  interval can be missed.

Stage times are read from the ``-v`` log (``[read 0.7s]``); with dask, ``read`` includes
starting the LocalCluster. Then the results are compared: ``cmp`` of exports/parcels.geojson,
ledger.csv, enterprises.csv (and units.csv, parks.csv, zones.geojson) between the two runs,
and exports/parcels.parquet (a file from memory, a folder of parts from dask) read back with
geopandas and compared with ``assert_geodataframe_equal`` and geometry by geometry as WKB.
Last, for the fixed cost of the cluster, a LocalCluster is started as the dask engine does,
given one task, made to import mujun and dask-geopandas on every worker, and closed.

``--workers 1 2`` runs the dask side once per number of workers (each compared with the
memory run); ``--engines dask`` leaves the memory run (and the comparison) out. Each dask
run's table of stages also gives the client's peak so far after each stage (the ``-v`` log's
``peak N MB``), so the stage that raised it shows. ``--holdings`` adds a run that walks the
stages in one process with the dask engine (the largest ``--workers``) and, after each stage,
measures what the client holds: the deep size (``memory_usage(deep=True)``) of each table of
the run's state (parcels, filings, units, enterprises, the occupancy links, the filing table
as read, the parcel keys, the ledger's tables, the county tables) and the process's RSS; the
exports are not written in that run. ::

    python bench/engines.py --n 100000               # 4 parts of 25,000, 2 workers
    python bench/engines.py --n 1000000 --rows-per-part 125000 --workers 1 2 --holdings

psutil comes with distributed, which the dask engine needs (``pip install -e ".[dask]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psutil
import shapely
from geopandas.testing import assert_geodataframe_equal
from scale import _STAGE, data, machine

from mujun.io.readers import parquet_parts

EXPORTS = (
    "parcels.geojson",
    "ledger.csv",
    "enterprises.csv",
    "units.csv",
    "parks.csv",
    "zones.geojson",
)
_HWM = re.compile(rb"^VmHWM:\s+(\d+) kB", re.MULTILINE)


@dataclass
class Step:
    """What one subprocess took."""

    seconds: float = 0.0
    cpu: float = 0.0
    client_mb: float = 0.0
    worker_mb: float = 0.0
    tree_rss_mb: float = 0.0
    tree_pss_mb: float = 0.0
    processes: int = 1
    load: tuple[float, float] = (0.0, 0.0)
    stages: dict[str, float] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    """The process's peak RSS so far (MB) after each stage, from the ``-v`` log."""
    text: str = ""


def _hwm_mb(pid: int) -> float:
    try:
        found = _HWM.search(Path(f"/proc/{pid}/status").read_bytes())
    except OSError:
        return 0.0
    return int(found.group(1)) / 1024 if found else 0.0


class _Sampler(threading.Thread):
    """Samples the process tree under ``pid`` until :meth:`stop`."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.hwm: dict[int, float] = {}
        self.helpers: set[int] = set()
        self.rss = self.pss = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        rss = pss = 0.0
        for p in procs:
            try:
                if p.pid not in self.hwm and "resource_tracker" in " ".join(p.cmdline()):
                    self.helpers.add(p.pid)
                full = p.memory_full_info()
            except psutil.Error:
                continue
            rss, pss = rss + full.rss / 2**20, pss + full.pss / 2**20
            self.hwm[p.pid] = max(self.hwm.get(p.pid, 0.0), _hwm_mb(p.pid))
        self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)


def _monitored(cmd: list[str], log: Path, interval: float, cwd: Path) -> tuple[Step, str]:
    """Run ``cmd`` with its output in ``log``, sampling its process tree."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd)
        sampler = _Sampler(proc.pid, interval)
        sampler.start()
        while True:  # WNOHANG: the exited child stays a zombie until reaped, so it is sampled
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd[:4])} failed ({proc.returncode}):\n{text[-4000:]}")
    others = [mb for p, mb in sampler.hwm.items() if p != proc.pid and p not in sampler.helpers]
    step = Step(
        seconds=seconds,
        cpu=usage.ru_utime + usage.ru_stime,
        client_mb=sampler.hwm.get(proc.pid, 0.0),
        worker_mb=max(others, default=0.0),
        tree_rss_mb=sampler.rss,
        tree_pss_mb=sampler.pss,
        processes=len(sampler.hwm),
        load=(load, os.getloadavg()[0]),
        stages={m.group(1): float(m.group(2)) for m in _STAGE.finditer(text)},
        peaks={m.group(1): float(m.group(3)) for m in _STAGE.finditer(text) if m.group(3)},
        text=text,
    )
    return step, text


def _mujun() -> str:
    return str(Path(sys.executable).with_name("mujun"))


def partition(files: dict[str, Path], parts: Path, args: argparse.Namespace) -> Step:
    cmd = [_mujun(), "partition", str(files[args.partition_from]), str(parts),
           "--rows-per-part", str(args.rows_per_part), "--overwrite", "-v"]  # fmt: skip
    step, _ = _monitored(cmd, parts.with_suffix(".log"), args.interval, parts.parent)
    return step


def run(
    engine: str,
    parts: Path,
    filings: Path,
    out: Path,
    args: argparse.Namespace,
    *,
    workers: int = 0,
) -> Step:
    cmd = [_mujun(), "run", "--parcels", str(parts), "--filings", str(filings),
           "--out", str(out), "--overwrite", "--no-map", "-v", "--engine", engine]  # fmt: skip
    if engine == "dask":
        cmd += ["--workers", str(workers)]
    step, _ = _monitored(cmd, out.with_suffix(".log"), args.interval, out.parent)
    return step


HOLDINGS = """
import gc, json, resource, sys, time
from pathlib import Path

import pandas as pd

import mujun.cli  # as the mujun script does; spawned workers import this file, so mujun.cli too


def deep(frame):
    if isinstance(frame, (pd.DataFrame, pd.Series, pd.Index)):
        used = frame.memory_usage(deep=True)  # a Series for frames, an int otherwise
        return int(getattr(used, "sum", lambda: used)()) / 2**20
    return 0.0


def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def held(s):
    out = {}
    for name in ("parcels", "filings", "units", "enterprises"):
        if name in vars(s):
            out[name] = deep(getattr(s, name))
    if "inputs" in vars(s):
        out["parcel keys"] = deep(s.inputs.parcels)
        out["filing table"] = deep(s.inputs.filing_table.data)
    if "occ" in vars(s):
        out["occupancy"] = sum(deep(getattr(s.occ, f)) for f in vars(s.occ))
    out["ledger"] = sum(deep(t) for t in getattr(s.ledger, "_tables", {}).values())
    out["tables"] = sum(deep(t) for t in s.tables.values())
    return out


if __name__ == "__main__":
    from mujun.config import load_config
    from mujun.io.inputs import input_paths
    from mujun.pipeline import open_engine
    from mujun.stages import RunState, planned

    parts, filings, out, workers = sys.argv[1:5]
    config = load_config(overrides={
        "input": {"parcels": parts, "filings": filings},
        "output": {"out_dir": out, "map": False},
        "engine": {"name": "dask", "workers": int(workers)},
    })
    with open_engine(config) as engine:
        paths = input_paths(config)
        s = RunState(config=config, engine=engine, paths=paths)
        for stage in planned(paths):
            start = time.perf_counter()
            stage.run(s)
            seconds = time.perf_counter() - start
            gc.collect()
            hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            sizes = held(s)
            rows = {k: len(getattr(s, k)) for k in ("parcels", "enterprises") if k in vars(s)}
            record = {"stage": stage.name, "seconds": seconds, "rss": rss_mb(), "hwm": hwm,
                      "sizes": sizes, "rows": rows}
            print("HELD", json.dumps(record), flush=True)
"""


def holdings(parts: Path, filings: Path, work: Path, args: argparse.Namespace) -> list[str]:
    """Walk the stages with the dask engine and print what the client holds after each (see
    the module docstring); returns the table's lines."""
    script = work / "holdings.py"
    script.write_text(HOLDINGS, encoding="utf-8")
    workers = max(args.workers)
    cmd = [sys.executable, str(script), str(parts), str(filings), str(work / "holdings"),
           str(workers)]  # fmt: skip
    step, text = _monitored(cmd, work / "holdings.log", args.interval, work)
    found = [json.loads(line[5:]) for line in text.splitlines() if line.startswith("HELD ")]
    lines = [
        f"\nWhat the client holds after each stage (dask, {workers} workers; MB, deep sizes; "
        f"run {step.seconds:.1f} s, worker peak {step.worker_mb:,.0f} MB):\n",
        "| stage | RSS | peak | parcels | filings | units | enterprises | occupancy | "
        "filing table | parcel keys | ledger | tables | all tables |",
        "|---|" + "---:|" * 12,
    ]
    names = ("parcels", "filings", "units", "enterprises", "occupancy", "filing table",
             "parcel keys", "ledger", "tables")  # fmt: skip
    rows: dict[str, int] = {}
    sizes: dict[str, float] = {}
    for record in found:
        sizes, rows = record["sizes"], record["rows"]
        cells = " | ".join(f"{sizes[k]:,.0f}" if k in sizes else "" for k in names)
        lines.append(
            f"| {record['stage']} | {record['rss']:,.0f} | {record['hwm']:,.0f} | {cells} | "
            f"{sum(sizes.values()):,.0f} |"
        )
    if rows:
        per = ", ".join(
            f"{k} {sizes[k] * 2**20 / n:,.0f} B per row of {n:,}" for k, n in rows.items() if n
        )
        lines.append(f"\nAt the end: {per}.")
    return lines


CLUSTER = """
import sys, time
import mujun.cli  # as the mujun script does; spawned workers import this file, so mujun.cli too


def imports():
    import mujun.pipeline, mujun.distributed, dask_geopandas  # what the first task imports
    return 0


if __name__ == "__main__":
    from mujun.config import Config, EngineConfig
    from mujun.distributed import DaskEngine

    start = time.perf_counter()
    dist = DaskEngine.connect(Config(engine=EngineConfig("dask", workers=int(sys.argv[1]))))
    dist.client.submit(sum, [1, 2]).result()
    print(f"[start {time.perf_counter() - start:.1f}s]")
    start = time.perf_counter()
    dist.client.run(imports)
    print(f"[imports {time.perf_counter() - start:.1f}s]")
    start = time.perf_counter()
    dist.close()
    print(f"[close {time.perf_counter() - start:.1f}s]")
"""


def cluster_only(work: Path, args: argparse.Namespace) -> Step:
    """Start a LocalCluster as the dask engine does (``DaskEngine.connect``), run one task,
    import on every worker what the engine's tasks need, and close it."""
    script = work / "cluster.py"
    script.write_text(CLUSTER, encoding="utf-8")
    cmd = [sys.executable, str(script), str(max(args.workers))]
    step, _ = _monitored(cmd, work / "cluster.log", args.interval, work)
    return step


def _snippet(path: Path, offset: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(max(0, offset - 40))
        return fh.read(100)


def compare_file(a: Path, b: Path) -> str:
    """``same``, or where ``cmp`` finds the first difference, with the bytes around it."""
    if not (a.exists() and b.exists()):
        return f"missing: {a if not a.exists() else b}"
    done = subprocess.run(["cmp", str(a), str(b)], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return "same"
    said = (done.stdout + done.stderr).strip()
    found = re.search(r"byte (\d+)", said)
    sizes = f"sizes {a.stat().st_size:,} / {b.stat().st_size:,} bytes"
    if not found:
        return f"different ({said}; {sizes})"
    at = int(found.group(1)) - 1
    return (
        f"different from byte {at + 1:,} ({sizes}): memory {_snippet(a, at)!r}, "
        f"dask {_snippet(b, at)!r}"
    )


def compare_parquet(a: Path, b: Path) -> str:
    """The memory engine's GeoParquet file against the dask engine's folder of parts."""
    left = gpd.read_parquet(a)
    right = pd.concat([gpd.read_parquet(p) for p in parquet_parts(b)])
    shape = f"{len(left):,} x {left.shape[1]} / {len(right):,} x {right.shape[1]}"
    if len(left) != len(right):
        return f"different row counts ({shape})"
    index = "same index" if left.index.equals(right.index) else "different index"
    left, right = left.reset_index(drop=True), right.reset_index(drop=True)
    try:
        assert_geodataframe_equal(left, right, check_less_precise=False)
        frames = "equal frames"
    except AssertionError as err:
        frames = "frames differ: " + " ".join(str(err).split())[:400]
    same_wkb = shapely.to_wkb(left.geometry.array) == shapely.to_wkb(right.geometry.array)
    return (
        f"{frames}; {index}; {int(np.sum(same_wkb)):,} of {len(left):,} geometries "
        f"identical as WKB ({shape}; parts: {len(parquet_parts(b))})"
    )


def _versions() -> str:
    return ", ".join(f"{p} {version(p)}" for p in ("dask", "distributed", "dask-geopandas"))


def _row(name: str, s: Step) -> str:
    return (
        f"| {name} | {s.seconds:.1f} | {s.cpu:.1f} | {s.client_mb:,.0f} | "
        f"{s.worker_mb:,.0f} | {s.tree_rss_mb:,.0f} | {s.tree_pss_mb:,.0f} | {s.processes} | "
        f"{s.load[0]:.2f} / {s.load[1]:.2f} |"
    )


def _ratio(a: float, b: float) -> str:
    return f"{b / a:.2f}" if a else ""


def report(
    args: argparse.Namespace,
    parts: int,
    steps: dict[str, Step],
    checks: dict[str, dict[str, str]],
    held: list[str],
) -> None:
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    print(f"\nCommand: `{command}`\nMachine: {machine()}; {_versions()}")
    print(
        f"Data: {args.n:,} parcels, partitioned from parcels.{args.partition_from} into "
        f"{parts} parts of up to {args.rows_per_part:,}; "
        f"dask: LocalCluster of {' or '.join(map(str, args.workers))} workers, 1 thread each; "
        f"tree sampled every {args.interval} s\n"
    )
    print(
        "| step | wall (s) | CPU (s) | client peak (MB) | worker peak (MB) | "
        "tree peak RSS (MB) | tree peak PSS (MB) | processes | load before / after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    runs = [k for k in steps if k not in {"partition", "cluster"}]
    for name in ["partition", *runs]:
        print(_row(name, steps[name]))
    m = steps.get("memory")
    for name in (k for k in runs if k != "memory"):
        d = steps[name]
        if m is not None:
            print(
                f"| {name} / memory | {_ratio(m.seconds, d.seconds)} | {_ratio(m.cpu, d.cpu)} | "
                f"{_ratio(m.client_mb, d.client_mb)} | | "
                f"{_ratio(m.tree_rss_mb, d.tree_rss_mb)} | "
                f"{_ratio(m.tree_pss_mb, d.tree_pss_mb)} | | |"
            )
    c = steps["cluster"]
    print(_row("LocalCluster alone", c))
    print(
        f"\nLocalCluster alone: start {c.stages.get('start', np.nan):.1f} s (to the first task's "
        f"result), imports on the workers {c.stages.get('imports', np.nan):.1f} s, close "
        f"{c.stages.get('close', np.nan):.1f} s; the dask run's read stage includes the first two."
    )
    print("\nStage times (s) and, in brackets, the process's peak RSS so far (MB):\n")
    print("| stage | " + " | ".join(runs) + " |\n|---|" + "---:|" * len(runs))
    every = dict.fromkeys(k for r in runs for k in steps[r].stages)
    for stage in every:
        cells = []
        for r in runs:
            s = steps[r]
            peak = f" ({s.peaks[stage]:,.0f})" if stage in s.peaks else ""
            cells.append(f"{s.stages.get(stage, np.nan):.1f}{peak}")
        print(f"| {stage} | " + " | ".join(cells) + " |")
    # the dask engine writes both parcel exports in one go and logs them as "geojson"
    both = (steps[r].stages.get("geojson", 0) + steps[r].stages.get("geoparquet", 0) for r in runs)
    print("| geojson + geoparquet | " + " | ".join(f"{v:.1f}" for v in both) + " |")
    print(
        "| all stages | " + " | ".join(f"{sum(steps[r].stages.values()):.1f}" for r in runs) + " |"
    )
    for name, found in checks.items():
        print(f"\n| memory vs {name} | result |\n|---|---|")
        for export, result in found.items():
            print(f"| {export} | {result} |")
    for line in held:
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of parcels")
    parser.add_argument("--rows-per-part", type=int, default=25_000)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[2],
        help="dask LocalCluster workers (several: one dask run each)",
    )
    parser.add_argument(
        "--engines",
        choices=("memory,dask", "dask"),
        default="memory,dask",
        help="dask: leave out the memory run and the comparison",
    )
    parser.add_argument(
        "--holdings",
        action="store_true",
        help="also measure what the dask client holds after each stage",
    )
    parser.add_argument(
        "--partition-from",
        choices=("parquet", "gpkg"),
        default="parquet",
        help="partition parcels.parquet (default) or parcels.gpkg",
    )
    parser.add_argument("--seed", type=int, default=20211)
    parser.add_argument("--interval", type=float, default=0.2, help="sampling period (s)")
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: temp dir)")
    parser.add_argument(
        "--reuse", action="store_true", help="use the data already in --workdir if there"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mujun-bench-engines-") as tmp:
        work = args.workdir or Path(tmp)
        files = data(args.n, work, seed=args.seed, reuse=args.reuse)
        parts = work / "parts.parquet"
        steps = {"partition": partition(files, parts, args)}
        n_parts = len(parquet_parts(parts))
        if args.engines != "dask":
            steps["memory"] = run("memory", parts, files["filings"], work / "memory", args)
            print(f"memory: {steps['memory'].seconds:.1f} s", flush=True)
        for w in args.workers:
            name = f"dask {w}w"
            steps[name] = run("dask", parts, files["filings"], work / f"dask{w}", args, workers=w)
            print(f"{name}: {steps[name].seconds:.1f} s", flush=True)
        steps["cluster"] = cluster_only(work, args)
        checks = {}
        if "memory" in steps:
            mem = work / "memory" / "exports"
            for w in args.workers:
                dsk = work / f"dask{w}" / "exports"
                found = {name: compare_file(mem / name, dsk / name) for name in EXPORTS}
                found["parcels.parquet"] = compare_parquet(
                    mem / "parcels.parquet", dsk / "parcels.parquet"
                )
                checks[f"dask {w}w"] = found
        held = holdings(parts, files["filings"], work, args) if args.holdings else []
    report(args, n_parts, steps, checks, held)


if __name__ == "__main__":
    main()
