"""Are a refactor's exports byte-identical? Runs mujun on fixed inputs and records every output.

``python bench/identical.py record DIR`` runs mujun (the one importable here: put a clone's
``src`` first on PYTHONPATH to run another tree) on

- ``sample``: the bundled sample county (parcels, filings, parks, footprints, built-up raster);
- ``sample-dask``: the same parcels partitioned into GeoParquet, with ``--engine dask``
  (2 workers) and the built-up raster (footprints are not read by the dask engine);
- ``100k``: 100,000 generated parcels (bench/scale.py's generator, seed 20211) with the map;

and writes ``DIR/manifest.json``: per case, per output file, its size and SHA-256. ``run.json``
is recorded with its timestamps, versions and hashes blanked (they differ from run to run),
the map without folium's random element ids, a workbook by its members without timestamps.
``python bench/identical.py compare A B`` lists the files that differ between two manifests
and exits 1 if any does. ``--only sample`` limits either to some cases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = ("sample", "sample-dask", "100k")
# run.json's keys that change from run to run (its file hashes: the files are compared here)
VOLATILE = {"started_utc", "finished_utc", "seconds", "versions", "sha256", "peak_mb"}
FOLIUM_ID = re.compile(rb"_[0-9a-f]{32}(?=\b|_)")  # folium names each element with a random uuid


def _mujun(args: list[str], log: Path) -> None:
    entry = "import sys; from mujun.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", entry, *args]
    with log.open("w") as fh:
        code = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {code}; see {log}")


def _blank(value: object) -> object:
    """run.json without what changes from run to run (times, versions, absolute paths)."""
    if isinstance(value, dict):
        return {k: ("…" if k in VOLATILE else _blank(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return Path(value).name
    return value


def _digest(path: Path) -> dict[str, object]:
    data = path.read_bytes()
    if path.name == "run.json":
        doc = _blank(json.loads(data))
        data = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()
    elif path.suffix == ".html":
        data = FOLIUM_ID.sub(b"_ID", data)
    elif path.suffix == ".xlsx":  # the members, without the zip's and docProps' timestamps
        with zipfile.ZipFile(path) as z:
            names = sorted(n for n in z.namelist() if n != "docProps/core.xml")
            data = b"".join(n.encode() + b"\0" + z.read(n) for n in names)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _files(out: Path) -> dict[str, dict[str, object]]:
    return {
        str(p.relative_to(out)): _digest(p)
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".staging" not in p.parts
    }


def record(work: Path, only: list[str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    sample = ROOT / "data" / "parcels"
    manifest: dict[str, object] = {}
    for case in only:
        out = work / case
        common = ["--out", str(out), "--overwrite"]
        if case == "sample":
            _mujun(["run", *common], work / f"{case}.log")
        elif case == "sample-dask":
            parts = work / "sample.parquet"
            if not parts.exists():
                _mujun(["partition", str(sample / "parcels.gpkg"), str(parts)], work / "p.log")
            _mujun(
                [
                    *("run", *common, "--engine", "dask", "--workers", "2"),
                    *("--parcels", str(parts), "--filings", str(sample / "filings.csv")),
                    *(
                        "--parks",
                        str(sample / "parks.gpkg"),
                        "--builtup",
                        str(sample / "builtup.tif"),
                    ),
                ],
                work / f"{case}.log",
            )
        else:
            sys.path.insert(0, str(HERE))
            from scale import data  # noqa: PLC0415 - the benchmark's generator

            files = data(100_000, work / "data-100k", seed=20211, reuse=True)
            _mujun(
                [
                    "run",
                    *common,
                    "--parcels",
                    str(files["parquet"]),
                    "--filings",
                    str(files["filings"]),
                ],
                work / f"{case}.log",
            )
        manifest[case] = _files(out)
        print(f"{case}: {len(manifest[case])} files")  # type: ignore[arg-type]
    (work / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def compare(a: Path, b: Path, only: list[str]) -> int:
    left = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    right = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    bad = 0
    for case in only:
        x, y = left.get(case, {}), right.get(case, {})
        for name in sorted(set(x) | set(y)):
            if x.get(name) != y.get(name):
                bad += 1
                print(f"{case}/{name}: {x.get(name)} != {y.get(name)}")
        print(f"{case}: {len(x)} and {len(y)} files compared")
    print("identical" if not bad else f"{bad} files differ")
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("dir", type=Path)
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    for p in (rec, cmp_):
        p.add_argument("--only", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if args.cmd == "record":
        record(args.dir, args.only)
    else:
        raise SystemExit(compare(args.a, args.b, args.only))


if __name__ == "__main__":
    main()
