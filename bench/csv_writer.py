"""Benchmark: the spreadsheet CSV writer, mujun's against pandas' ``to_csv`` and ``pyarrow.csv``.

Writes the same frame, in the same run and one after another, with

- pandas: ``frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\\n")``
  (the baseline: the bytes mujun's CSVs have),
- mujun: ``mujun.io.writers.write_csv(frame, path, formulas="raw")`` (its Arrow encoder,
  ``mujun/io/_csv.py``, which writes pandas' bytes),
- arrow: a UTF-8 BOM, then ``pyarrow.csv.write_csv(pa.Table.from_pandas(frame,
  preserve_index=False), fh)`` (the conversion to Arrow counted),
- arrow, nulls as text: the same after casting every column whose type Arrow's writer
  cannot print (none in mujun's tables; listed if any) to text.

The frame is either generated (``--n`` firms, the default; text with Chinese, commas, quotes,
line ends and formula-looking cells, NaN, negative and long floats, integers, booleans,
nullable integers and booleans, a ``string`` column with missing values) or read back from an
exported table (``--table enterprises.csv`` of a run; pandas infers the dtypes, so text
becomes object columns, the flags bool). Formulas are neutralised once, before the writers
(as ``write_csv`` does by default; its time is printed apart).

Each writer runs ``--repeat`` times; the table gives the fastest. Then every file is read back
with ``pandas.read_csv`` (``keep_default_na=False`` off, the defaults) and compared with the
frame pandas' own file reads back as: "same values" means equal frames once numbers that read
back as int64 on one side and float64 on the other are compared as floats.

    python bench/csv_writer.py --n 85000
    python bench/csv_writer.py --table /tmp/run/exports/enterprises.csv
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shlex
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from _machine import cpu_name

from mujun.io.writers import neutralise_formulas, write_csv

BOM = "\ufeff".encode()
TRICKY = [
    "长兴恒达纺织有限公司",
    '浙江"宏达"新材料有限公司',
    "湖州, 长兴 机械厂",
    "多行\n备注",
    '=HYPERLINK("http://x")',
    "+86 572 1234567",
    "-3 号地块",
    "@SUM(A1)",
    "  前后空格 ",
    "",
]


def generated(n: int, seed: int) -> pd.DataFrame:
    """``n`` firms with the kinds of columns mujun's tables hold, awkward values included."""
    rng = np.random.default_rng(seed)
    tricky = np.array(TRICKY, dtype=object)
    names = np.char.add("长兴县企业", rng.integers(0, 10**6, n).astype(str)).astype(object)
    odd = rng.random(n) < 0.05
    names[odd] = tricky[rng.integers(0, len(tricky), odd.sum())]
    note = np.where(rng.random(n) < 0.3, tricky[rng.integers(0, len(tricky), n)], None)
    floats = rng.lognormal(3, 2, n) * rng.choice([-1.0, 1.0], n, p=[0.1, 0.9])
    floats[rng.random(n) < 0.1] = np.nan
    tiny = rng.random(n) * 1e-5
    huge = rng.random(n) * 1e17
    integral = np.round(rng.normal(1e6, 1e5, n))
    employees = pd.array(rng.integers(0, 5000, n), dtype="Int64")
    employees[rng.random(n) < 0.1] = pd.NA
    graded = pd.array(rng.random(n) < 0.5, dtype="boolean")
    graded[rng.random(n) < 0.1] = pd.NA
    park = pd.array(rng.choice(["经济开发区", "高新区", "", "城南, 工业园"], n), dtype="string")
    park[rng.random(n) < 0.1] = pd.NA
    frame = pd.DataFrame(
        {
            "uscc": [f"91330{v:012d}X" for v in rng.integers(0, 10**12, n)],
            "name": names,
            "note": note,
            "parcel_ids": np.char.add("S", rng.integers(0, 10**7, n).astype(str)),
            "park": park,
            "year": np.full(n, 2021, dtype="int64"),
            "rank": rng.permutation(n).astype("int64"),
            "above_scale": rng.random(n) < 0.4,
            "graded": graded,
            "employees": employees,
            "area_mu": rng.lognormal(3, 1, n),
            "tax_per_mu": floats,
            "ratio": tiny,
            "revenue_yuan": huge,
            "tax": integral,
            "share": rng.random(n) / 3,
            "delta": -rng.random(n),
        }
    )
    for k in range(8):  # the real table has about 60 columns, most of them floats
        frame[f"score_{k}"] = np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 100)
    return frame


def arrow_csv(frame: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with path.open("wb") as fh:
        fh.write(BOM)
        pacsv.write_csv(table, fh)


def pandas_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")


def mujun_csv(frame: pd.DataFrame, path: Path) -> None:
    write_csv(frame, path, overwrite=True, formulas="raw")


WRITERS = {"pandas": pandas_csv, "mujun": mujun_csv, "arrow": arrow_csv}


def best_time(write: object, frame: pd.DataFrame, path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        path.unlink(missing_ok=True)
        start = time.perf_counter()
        write(frame, path)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def same_values(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """'yes', or what differs between two frames read back with pandas."""
    if list(a.columns) != list(b.columns):
        return "column names differ"
    problems = []
    for name in a.columns:
        x, y = a[name], b[name]
        if x.dtype != y.dtype and x.dtype.kind in "if" and y.dtype.kind in "if":
            x, y = x.astype("float64"), y.astype("float64")
        try:
            pd.testing.assert_series_equal(x, y, check_exact=True)
        except AssertionError:
            problems.append(f"{name} ({x.dtype} vs {y.dtype})")
    return "yes" if not problems else "no: " + ", ".join(problems)


def machine() -> str:
    libs = ", ".join(f"{p} {version(p)}" for p in ("pandas", "numpy", "pyarrow"))
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), "
        f"Python {platform.python_version()}; {libs}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=85_000, help="firms to generate")
    parser.add_argument("--table", type=Path, help="an exported CSV to write instead")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20211)
    args = parser.parse_args(argv)

    if args.table:
        frame = pd.read_csv(args.table, encoding="utf-8-sig", low_memory=False)
        what = f"{args.table.name} read back by pandas"
    else:
        frame = generated(args.n, args.seed)
        what = "generated"
    start = time.perf_counter()
    frame = neutralise_formulas(frame)
    neutralise = time.perf_counter() - start
    print(f"{what}: {len(frame):,} rows x {frame.shape[1]} columns; formulas {neutralise:.2f} s")

    results: dict[str, tuple[float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="mujun-csv-") as tmp:
        paths = {name: Path(tmp) / f"{name}.csv" for name in WRITERS}
        for name, write in WRITERS.items():
            seconds = best_time(write, frame, paths[name], args.repeat)
            results[name] = (seconds, paths[name].stat().st_size)
            print(f"{name}: {seconds:.2f} s", flush=True)
        data = {name: path.read_bytes() for name, path in paths.items()}
        back = {
            name: pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", low_memory=False)
            for name, raw in data.items()
        }

    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])
    print()
    print(f"Command: `{command}`")
    print(f"Machine: {machine()}")
    print(f"Data: {what}, {len(frame):,} rows x {frame.shape[1]} columns")
    print()
    base = results["pandas"][0]
    print("| writer | time (s) | time vs pandas | MB | BOM | bytes as pandas | same values |")
    print("|---|---:|---:|---:|---|---|---|")
    for name, (seconds, size) in results.items():
        print(
            f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {size / 1e6:.1f} | "
            f"{'yes' if data[name].startswith(BOM) else 'no'} | "
            f"{'yes' if data[name] == data['pandas'] else 'no'} | "
            f"{same_values(back['pandas'], back[name])} |"
        )
    sample = data["arrow"].decode("utf-8-sig").splitlines()[:2]
    print()
    print("arrow's first lines:", *sample, sep="\n  ")


if __name__ == "__main__":
    main()
