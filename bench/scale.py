"""Benchmark: mujun on 10,000 to 1,000,000 parcels against a plain geopandas script.

Generates ``--n`` synthetic parcels (irregular quadrilaterals of 2-300 mu packed in shelves in
EPSG:4549, ids ``S0000001``..., five parks, declared areas within 3 % of surveyed) and their
filings for one year (90 % of parcels occupied: one firm on most, a firm on two parcels or two
firms on one parcel on some; valid GB 32100 credit codes), written as GeoParquet, GeoPackage
and a UTF-8 CSV. Then runs, each in its own subprocess, in the same run:

- mujun: ``mujun run --parcels parcels.parquet --filings filings.csv --no-map -v`` (read,
  validate, area and the geodesic check, join, indicators, scoring, underuse flags and zones,
  and every export but the HTML map); stage times are read from its log;
- baseline: the plain geopandas script of the issue: read the GeoPackage, read the CSV,
  merge on the parcel id, area, tax per mu, quantiles (mapclassify), reproject to EPSG:4326,
  ``to_file`` GeoJSON.

Peak memory is each child's maximum resident set size (``os.wait4``); per stage, each side
also reports its peak so far when the stage ends (``getrusage``), so the stage where the
peak rises is the one that raised it. ::

    python bench/scale.py --n 100000          # --n 1000000 for the province-size run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from _machine import cpu_name
from _parcels import shelf_quadrilaterals

from mujun.identifiers import org_code_check_char, uscc_check_char
from mujun.schema import MU_M2

CRS = "EPSG:4549"
ORIGIN = (440_000.0, 3_300_000.0)
PARKS = ("经济开发区", "高新区", "临港产业园", "城西工业园", "滨江工业园")
NAMES = ("恒达", "华盛", "新丰", "鑫源", "宏泰", "嘉瑞", "科普", "永盛")
TRADES = ("纺织", "机械", "电子", "化工", "新材料", "五金", "光伏", "包装")
INDUSTRIES = ("1711", "3311", "3982", "2614", "3021", "3484", "3825", "2231")
FILES = {"parquet": "parcels.parquet", "gpkg": "parcels.gpkg", "filings": "filings.csv"}
_CODE_CHARS = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))

BASELINE = """
import resource, sys, time, json
import geopandas as gpd, pandas as pd, mapclassify
t = {}
def done(name, s):  # seconds, and the peak resident set so far in MB
    t[name] = [time.perf_counter() - s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]
s = time.perf_counter()
parcels = gpd.read_file(sys.argv[1], engine="pyogrio"); done("read", s)
s = time.perf_counter()
filings = pd.read_csv(sys.argv[2], dtype={"宗地号": str})
filings["宗地号"] = filings["宗地号"].str.split("、")
filings = filings.explode("宗地号")
tax = filings.groupby("宗地号")["实缴税金(万元)"].sum()
merged = parcels.merge(tax, left_on="宗地号", right_index=True, how="left")
done("merge", s)
s = time.perf_counter()
merged["area_mu"] = merged.geometry.area / (10000 / 15)
merged["tax_per_mu"] = merged["实缴税金(万元)"] / merged["area_mu"]
merged["class"] = mapclassify.Quantiles(merged["tax_per_mu"].fillna(0), k=5).yb
done("area, per mu, quantiles", s)
s = time.perf_counter()
out = merged.to_crs(4326); done("reproject", s)
s = time.perf_counter()
out.to_file(sys.argv[3], driver="GeoJSON", engine="pyogrio")
done("GeoJSON write", s)
print(json.dumps(t))
"""


def _uscc(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct credit codes with valid check characters (GB 32100-2015)."""
    body = rng.choice(_CODE_CHARS[:10], (n, 7))
    org = ["".join(r) for r in rng.choice(_CODE_CHARS[:10], (n, 8))]
    codes = []
    for i, o in enumerate(org):
        head = "913305" + "".join(body[i, :2]) + o + org_code_check_char(o)
        codes.append(head + uscc_check_char(head))
    return codes


def generate(n: int, folder: Path, seed: int) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    geoms = shelf_quadrilaterals(n, rng, ORIGIN)[rng.permutation(n)]
    ids = np.char.add("S", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    area_mu = np.asarray(gpd.GeoSeries(geoms).area) / MU_M2
    parcels = gpd.GeoDataFrame(
        {
            "宗地号": ids,
            "园区": rng.choice(PARKS, n),
            "登记用地面积(亩)": np.round(area_mu * rng.uniform(0.97, 1.03, n), 2),
        },
        geometry=geoms,
        crs=CRS,
    )
    occupied = np.flatnonzero(rng.random(n) < 0.9)
    pairs = occupied[: len(occupied) // 10 * 2].reshape(-1, 2)  # 20 % of occupied: 2 per firm
    singles = occupied[len(pairs) * 2 :]
    land = [f"{ids[a]}、{ids[b]}" for a, b in pairs] + list(ids[singles])
    shared = singles[: len(singles) // 20]  # a second firm on 5 % of single parcels
    land += list(ids[shared])
    m = len(land)
    firm_area = np.concatenate([area_mu[pairs].sum(axis=1), area_mu[singles], area_mu[shared]])
    tax = np.round(firm_area * np.exp(rng.normal(np.log(20), 0.9, m)), 2)
    filings = pd.DataFrame(
        {
            "统一社会信用代码": _uscc(m, rng),
            "企业名称": [f"长兴{NAMES[i % 8]}{TRADES[(i // 8) % 8]}有限公司{i}" for i in range(m)],
            "年份": 2021,
            "所属行业": rng.choice(INDUSTRIES, m),
            "规模": np.where(rng.random(m) < 0.6, "规上", "规下"),
            "宗地号": land,
            "实缴税金(万元)": tax,
            "工业增加值(万元)": np.round(tax * rng.uniform(3, 8, m), 2),
            "营业收入(万元)": np.round(tax * rng.uniform(20, 60, m), 2),
            "年平均职工人数": rng.integers(5, 800, m),
            "综合能耗(吨标煤)": np.round(firm_area * rng.uniform(2, 30, m), 1),
        }
    )
    files = {k: folder / v for k, v in FILES.items()}
    parcels.to_parquet(files["parquet"], write_covering_bbox=True)
    parcels.to_file(files["gpkg"], layer="parcels", engine="pyogrio")
    filings.to_csv(files["filings"], index=False, encoding="utf-8")
    return files


def data(n: int, work: Path, *, seed: int, reuse: bool) -> dict[str, Path]:
    """The data files in ``work``: those already there if ``reuse`` and all exist, else
    generated."""
    work.mkdir(parents=True, exist_ok=True)
    files = {k: work / v for k, v in FILES.items()}
    if reuse and all(p.exists() for p in files.values()):
        return files
    start = time.perf_counter()
    files = generate(n, work, seed)
    print(f"generated {n:,} parcels in {time.perf_counter() - start:.1f} s")
    return files


def _child(cmd: list[str], log: Path) -> tuple[float, float, str]:
    """Run ``cmd``; its wall seconds, peak RSS in MB and stderr+stdout."""
    start = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{text[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, text


# mujun's -v stage lines: "[read 0.7s, peak 512 MB] ..." (the peak is the process's so far)
_STAGE = re.compile(r"\[(\w[\w ]*?) (\d+\.\d)s(?:, peak (\d+) MB)?\]")


def run_mujun(files: dict[str, Path], out: Path) -> dict[str, object]:
    mujun = Path(sys.executable).with_name("mujun")
    cmd = [str(mujun), "run", "--parcels", str(files["parquet"]), "--filings",
           str(files["filings"]), "--out", str(out), "--overwrite", "--no-map", "-v"]  # fmt: skip
    seconds, rss, text = _child(cmd, out.with_suffix(".log"))
    stages = {m.group(1): float(m.group(2)) for m in _STAGE.finditer(text)}
    peaks = {m.group(1): float(m.group(3)) for m in _STAGE.finditer(text) if m.group(3)}
    return {"seconds": seconds, "rss_mb": rss, "stages": stages, "peaks": peaks}


def run_baseline(files: dict[str, Path], out: Path) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    script = out / "baseline.py"
    script.write_text(BASELINE, encoding="utf-8")
    cmd = [sys.executable, str(script), str(files["gpkg"]), str(files["filings"]),
           str(out / "parcels.geojson")]  # fmt: skip
    seconds, rss, text = _child(cmd, out.with_suffix(".log"))
    done = json.loads(text.strip().splitlines()[-1])
    stages = {k: v[0] for k, v in done.items()}
    peaks = {k: v[1] for k, v in done.items()}
    return {"seconds": seconds, "rss_mb": rss, "stages": stages, "peaks": peaks}


def machine() -> str:
    libs = ", ".join(
        f"{p} {version(p)}" for p in ("geopandas", "shapely", "pyogrio", "pandas", "numpy")
    )
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), "
        f"Python {platform.python_version()}; {libs}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of parcels")
    parser.add_argument("--seed", type=int, default=20211)
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: temp dir)")
    parser.add_argument(
        "--reuse", action="store_true", help="use the data already in --workdir if there"
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="write the data to --workdir and stop"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mujun-bench-scale-") as tmp:
        work = args.workdir or Path(tmp)
        files = data(args.n, work, seed=args.seed, reuse=args.reuse)
        if args.generate_only:
            return
        results = {
            "mujun": run_mujun(files, work / "mujun"),
            "baseline": run_baseline(files, work / "baseline"),
        }
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    print(f"\nCommand: `{command}`\nMachine: {machine()}\n")
    ref = results["baseline"]
    print("| N | tool | total (s) | peak RSS (MB) | time vs baseline | memory vs baseline |")
    print("|---:|---|---:|---:|---:|---:|")
    for tool, r in results.items():
        print(
            f"| {args.n:,} | {tool} | {r['seconds']:.1f} | {r['rss_mb']:,.0f} | "
            f"{r['seconds'] / ref['seconds']:.2f} | {r['rss_mb'] / ref['rss_mb']:.2f} |"
        )
    for tool, r in results.items():
        peaks = r["peaks"]
        stages = ", ".join(
            f"{k} {v:.1f} s" + (f" (peak {peaks[k]:,.0f} MB)" if k in peaks else "")
            for k, v in r["stages"].items()
        )
        print(f"\n{tool} stages (time; the process's peak memory so far): {stages}")


if __name__ == "__main__":
    main()
