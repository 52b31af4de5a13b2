"""Benchmark: the evaluation workbook, mujun's SpreadsheetML writer against openpyxl and pandas.

Generates ``--n`` firms of one year in the four lists (above scale, below scale, small land,
lessees) with the columns the workbook shows (rank, Chinese names with markup characters, credit
codes, industry, park, land status, area, seven indicators and their sub-scores, score, class,
stability, borderline, imputed, D streak, surcharge, flags; missing values in most columns),
then writes, in the same run and one after another:

- mujun: ``write_enterprise_workbook(firms, path, year=2021, weights=...)`` (one sheet per
  list, title and header rows, rows in rank order, numbers rounded to 4 decimals, labels);
- openpyxl: the same sheets, rows and columns (the list's rows sorted, title and header rows),
  the raw values appended row by row to a ``Workbook(write_only=True)``, openpyxl's fastest
  mode (no styles, no merged title, no labels: less than mujun writes);
- pandas: ``DataFrame.to_excel(writer, sheet_name=..., startrow=1, index=False)`` of the same
  sorted rows per list, in one ``pd.ExcelWriter(path, engine="openpyxl")``.

Time is the wall-clock time of the call, sorting included for every tool::

    python bench/xlsx.py --n 85000
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
from _machine import cpu_name

from mujun.io.xlsx import _columns, write_enterprise_workbook
from mujun.scoring import LIST_NAMES_ZH

INDICATORS = ("tax_per_mu", "value_added_per_mu", "revenue_per_mu", "value_added_per_tce")
INDICATORS += ("labour_productivity", "rd_share", "tax_per_kwh")
GROUPS = ("above_scale", "below_scale", "below_scale_small", "lessee")
WEIGHTS = {g: dict.fromkeys(INDICATORS, 100 / len(INDICATORS)) for g in GROUPS}


def firms(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(GROUPS, n, p=[0.3, 0.3, 0.3, 0.1])
    names = np.char.add("长兴县<企业>&", rng.integers(0, 10**6, n).astype(str))
    frame = pd.DataFrame(
        {
            "year": 2021,
            "group": group,
            "rank": pd.array(rng.permutation(n) + 1, dtype="Int64"),
            "name": names.astype(object),
            "uscc": pd.array([f"91330{v:012d}X" for v in rng.integers(0, 10**12, n)], "string"),
            "industry": pd.array(rng.choice(["3311", "2614", None], n), dtype="string"),
            "park": pd.array(rng.choice(["经济开发区", "高新区", None], n), dtype="string"),
            "land_status": rng.choice(["own", "shared", "lessee"], n),
            "area_mu": rng.lognormal(3, 1, n),
        }
    )
    for name in INDICATORS:
        values = rng.lognormal(2, 1.5, n)
        values[rng.random(n) < 0.2] = np.nan
        frame[name] = values
        frame[f"score_{name}"] = np.where(np.isnan(values), np.nan, rng.random(n) * 100)
    frame["score"] = rng.random(n) * 100
    frame["class"] = rng.choice(["A", "B", "C", "D"], n)
    frame["class_name"] = rng.choice(["优先发展", "提升发展", "整治提升"], n)
    frame["class_stability"] = rng.random(n)
    frame["borderline"] = rng.random(n) < 0.1
    frame["imputed"] = np.where(rng.random(n) < 0.1, "tax_per_kwh", "")
    frame["d_streak"] = rng.integers(0, 4, n)
    frame["surcharge_per_kwh"] = np.where(frame["class"] == "D", 0.1, 0.0)
    frame["surcharge_yuan"] = rng.random(n) * 1e5
    frame["data_flags"] = np.where(rng.random(n) < 0.05, "declared_area_missing", "")
    return frame


def sheets(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    out = []
    for group in GROUPS:
        rows = frame[frame["group"] == group]
        cols = _columns(rows, group, WEIGHTS[group])
        out.append((LIST_NAMES_ZH[group], rows.sort_values(["rank", "uscc"])[cols]))
    return out


def with_mujun(frame: pd.DataFrame, path: Path) -> None:
    write_enterprise_workbook(frame, path, year=2021, weights=WEIGHTS, overwrite=True)


def with_openpyxl(frame: pd.DataFrame, path: Path) -> None:
    book = openpyxl.Workbook(write_only=True)
    for name, rows in sheets(frame):
        sheet = book.create_sheet(name)
        sheet.append([f"2021年度 {name} 亩均效益综合评价结果"])
        sheet.append(list(rows.columns))
        for record in rows.astype(object).where(rows.notna(), None).itertuples(index=False):
            sheet.append(list(record))
    book.save(path)


def with_pandas(frame: pd.DataFrame, path: Path) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, rows in sheets(frame):
            rows.to_excel(writer, sheet_name=name, startrow=1, index=False)


WRITERS = {"mujun": with_mujun, "openpyxl": with_openpyxl, "pandas": with_pandas}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=85_000, help="firms")
    parser.add_argument("--seed", type=int, default=20211)
    args = parser.parse_args(argv)
    frame = firms(args.n, args.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="mujun-xlsx-") as tmp:
        for name, write in WRITERS.items():
            path = Path(tmp) / f"{name}.xlsx"
            start = time.perf_counter()
            write(frame, path)
            results[name] = (time.perf_counter() - start, path.stat().st_size)
            print(f"{name}: {results[name][0]:.2f} s", flush=True)
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    libs = ", ".join(f"{p} {version(p)}" for p in ("pandas", "pyarrow", "openpyxl"))
    print()
    print(f"Command: `{command}`")
    print(
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores "
        f"({cpu_name()}), Python {platform.python_version()}; {libs}"
    )
    print(f"Data: {args.n:,} firms, {frame.shape[1]} columns")
    print()
    print("| writer | time (s) | time vs mujun | MB |")
    print("|---|---:|---:|---:|")
    base = results["mujun"][0]
    for name, (seconds, size) in results.items():
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {size / 1e6:.1f} |")


if __name__ == "__main__":
    main()
