"""A run does not depend on the order of its input rows (mujun/sums.py).

Floating-point sums depend on the order of their terms; with them a re-sorted filing table
gave list averages, unit and county totals that differed in the last digits, and the cold
spots' random draws went to other parcels, so that cold spots themselves changed. The
sample county and the real Bellingham town are run as given and with the rows of both
inputs shuffled; every export must hold the same rows once sorted by its key.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from mujun import load_config, run
from mujun.outputs import write_outputs
from mujun.sums import (
    Partial,
    exact_sum,
    group_nansums,
    group_sums,
    grouped_sums,
    partial_sums,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "parcels"
REAL = Path(__file__).parent / "data" / "real" / "bellingham-ma" / "L3_SHP_M025_BELLINGHAM.zip"

# key of each table export: its rows are compared once sorted by it
KEYS = {
    "enterprises.csv": ["uscc", "year"],
    "units.csv": ["unit"],
    "county.csv": ["year"],
    "industries.csv": ["year", "industry2"],
    "parks.csv": ["year", "park"],
    "changes.csv": ["uscc"],
    "park_changes.csv": ["park"],
}


def _fraction_sum(values: np.ndarray) -> float:
    return float(sum((Fraction(v) for v in values.tolist()), Fraction(0)))


def test_group_sums_are_the_exact_sums_rounded_once() -> None:
    rng = np.random.default_rng(11)
    # magnitudes from 1e-6 to 1e9 and both signs: running sums lose digits here
    x = rng.normal(size=3000) * 10.0 ** rng.integers(-6, 10, 3000)
    code = rng.integers(0, 40, 3000)
    code[:2] = 41  # a group of two; group 40 has none
    got = group_sums(code, x, 42)
    for g in range(42):
        assert got[g] == _fraction_sum(x[code == g]), g
    assert got[40] == 0.0
    # a running sum in this order is not the exact one for some group (what this fixes)
    running = np.bincount(code, weights=x, minlength=42)
    assert (running != got).any()
    for _ in range(3):  # any order of the terms: the same sums, bit for bit
        p = rng.permutation(len(x))
        assert np.array_equal(group_sums(code[p], x[p], 42), got)
    assert exact_sum(x) == _fraction_sum(x)
    assert exact_sum(np.array([0.1] * 10)) == 1.0  # 0.1 + ... + 0.1 running: 0.9999999999999999


def test_sums_in_parts_add_up_to_the_sums_of_the_whole() -> None:
    """What a dask engine's partitions send (mujun.sums.Partial): added in any order and
    rounded once, the sums of all the terms at once, bit for bit."""
    rng = np.random.default_rng(12)
    n = 50_000
    x = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)  # nearly the whole range
    x[:6] = [5e-324, -5e-324, 0.0, -0.0, 1.7e308, 1.7e308]  # subnormals; an overflow
    x[6:9] = [np.nan, np.inf, -np.inf]
    code = rng.integers(0, 120, n)
    code[:9] = [0, 0, 1, 1, 2, 2, 3, 4, 4]
    whole = group_sums(code, x, 121)
    assert np.isnan(whole[3])
    assert np.isnan(whole[4])  # +inf and -inf
    for k in (1, 2, 7):
        pieces = np.array_split(rng.permutation(n), k)
        parts = [partial_sums(code[p], x[p]) for p in pieces]
        total = sum(reversed(parts), Partial()).total(121)
        assert np.array_equal(total, whole, equal_nan=True), k
    assert whole[2] == np.inf  # 3.4e308 and the rest: beyond the largest float


def test_sums_with_missing_and_infinite_values() -> None:
    code = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    x = np.array([1.0, np.nan, np.inf, 2.0, np.inf, -np.inf, 1e308, 1e308, -1.0])
    got = group_sums(code, x, 5)
    assert np.isnan(got[0])
    assert got[1] == np.inf
    assert np.isnan(got[2])
    assert got[3] == np.inf  # the exact sum is beyond the largest float
    assert got[4] == 0.0
    none = group_nansums(np.zeros(0, np.int64), np.zeros(0), 2, min_count=1)
    assert none.dtype == np.float64
    assert np.isnan(none).all()
    nan_skipped = group_nansums(code[:2], x[:2], 2, min_count=1)
    assert nan_skipped[0] == 1.0
    assert np.isnan(nan_skipped[1])
    assert group_nansums(code[:2], x[:2], 2)[1] == 0.0
    assert math.isnan(exact_sum([1.0, np.nan]))
    assert exact_sum([]) == 0.0
    frame = pd.DataFrame({"k": ["b", "a", "b", None, "a"], "v": [0.1, 0.2, np.nan, 5.0, 0.7]})
    grouped = frame.groupby("k", dropna=False)
    sums = grouped_sums(grouped, frame["v"])
    expected = grouped["v"].sum()
    assert list(sums.index.fillna("-")) == list(expected.index.fillna("-"))
    assert sums.tolist() == [0.2 + 0.7, 0.1, 5.0]


def _shuffled_inputs(
    parcels: gpd.GeoDataFrame, filings: pd.DataFrame, folder: Path
) -> dict[str, str]:
    """The two inputs as given and with their rows shuffled, as GeoParquet and CSV. Returns
    the row ids a table without firm ids gets (``ROW<line>``, from the line of the CSV) of
    the shuffled rows, with the id of the same row as given."""
    folder.mkdir()
    parcels.to_parquet(folder / "parcels.parquet")
    filings.to_csv(folder / "filings.csv", index=False)
    (folder / "shuffled").mkdir()
    parcels.sample(frac=1, random_state=5).to_parquet(folder / "shuffled" / "parcels.parquet")
    shuffled = filings.reset_index(drop=True).sample(frac=1, random_state=6)
    shuffled.to_csv(folder / "shuffled" / "filings.csv", index=False)
    # line 1 is the header: row k (from 0) of a table is on line k + 2
    return {f"ROW{k + 2}": f"ROW{row + 2}" for k, row in enumerate(shuffled.index)}


def _renamed(frame: pd.DataFrame, rows: dict[str, str]) -> pd.DataFrame:
    """``frame`` with the row ids of a shuffled table replaced by those of the table as
    given, in every text cell. Lists of firms (``、``) are in the order of their ids, which
    the shuffle changed: with ``rows``, the lists of both sides are compared sorted."""
    if not rows:
        return frame
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            text = (
                frame[col]
                .astype("string")
                .str.replace(r"\bROW\d+\b", lambda m: rows.get(m.group(0), m.group(0)), regex=True)
            )
            frame[col] = text.map(
                lambda t: "、".join(sorted(t.split("、"))) if isinstance(t, str) else t
            ).astype(frame[col].dtype)
    return frame


def _run(folder: Path, out: Path, config: Path | None = None) -> None:
    cfg = load_config(
        config,
        overrides={
            "input": {
                "parcels": str(folder / "parcels.parquet"),
                "filings": str(folder / "filings.csv"),
            },
            "output": {"out_dir": str(out), "map": False},
        },
    )
    write_outputs(run(cfg))


def _sorted(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def _same_results(a: Path, b: Path, rows: dict[str, str]) -> int:
    """Assert every export of run ``a`` holds the rows of run ``b``'s (``rows``: the row ids
    of b's filing table, as a's); returns the number of cells compared."""
    cells = 0
    same = {k: k for k in rows.values()}  # side a: its ids stay, its lists are sorted too
    for name, key in KEYS.items():
        left = _renamed(pd.read_csv(a / name, dtype=str, keep_default_na=False), rows and same)
        right = _renamed(pd.read_csv(b / name, dtype=str, keep_default_na=False), rows)
        assert list(left.columns) == list(right.columns), name
        by = [k for k in key if k in left]
        pd.testing.assert_frame_equal(_sorted(left, by), _sorted(right, by), obj=name)
        cells += left.size
    # the ledger: its records are renumbered by the shuffle; the rest is the same
    ledger = [pd.read_csv(p / "ledger.csv", dtype=str, keep_default_na=False) for p in (a, b)]
    left, right = (t.drop(columns=["record", "source"]) for t in ledger)
    left, right = _renamed(left, rows and same), _renamed(right, rows)
    pd.testing.assert_frame_equal(
        _sorted(left, list(left.columns)), _sorted(right, list(left.columns))
    )
    for name in ("parcels.parquet", "zones.geojson"):
        read = gpd.read_parquet if name.endswith(".parquet") else gpd.read_file
        if not (a / name).exists():  # no zones without tax (an assessor table)
            assert not (b / name).exists(), name
            continue
        left_g = _renamed(read(a / name), rows and same)
        right_g = _renamed(read(b / name), rows)
        key = ["parcel_id" if name == "parcels.parquet" else "zone_id"]
        if not len(left_g):
            assert not len(right_g)
            continue
        left_g, right_g = _sorted(left_g, key), _sorted(right_g, key)
        pd.testing.assert_frame_equal(
            pd.DataFrame(left_g.drop(columns="geometry")),
            pd.DataFrame(right_g.drop(columns="geometry")),
            obj=name,
        )
        assert (left_g.geometry.to_wkb() == right_g.geometry.to_wkb()).all(), name
        cells += left_g.size
    summaries = [json.loads((p / "run.json").read_text("utf-8"))["summary"] for p in (a, b)]
    for summary in summaries:  # the inputs' names are the same, their paths are not
        for part in ("ledger", "findings"):
            summary[part] = list(summary[part].values())
    assert json.dumps(summaries[0], sort_keys=True) == json.dumps(summaries[1], sort_keys=True)
    return cells


def test_the_sample_county_does_not_depend_on_the_order_of_its_rows(tmp_path: Path) -> None:
    parcels = gpd.read_file(SAMPLE / "parcels.gpkg")
    filings = pd.read_csv(SAMPLE / "filings.csv", dtype=str, keep_default_na=False)
    _shuffled_inputs(parcels, filings, tmp_path / "in")
    _run(tmp_path / "in", tmp_path / "a")
    _run(tmp_path / "in" / "shuffled", tmp_path / "b")
    a, b = tmp_path / "a" / "exports", tmp_path / "b" / "exports"
    cells = _same_results(a, b, {})  # the firms have their credit codes
    assert cells > 200_000
    # what the test relies on: the shuffle moved the rows, and the run found cold spots
    # (their draws are the order-sensitive part) and zones
    assert pd.read_csv(a / "enterprises.csv")["uscc"].tolist() != (
        pd.read_csv(b / "enterprises.csv")["uscc"].tolist()
    )
    result = gpd.read_parquet(a / "parcels.parquet")
    assert result["cold_spot"].sum() > 10
    assert len(gpd.read_file(a / "zones.geojson")) > 50


def test_a_real_town_does_not_depend_on_the_order_of_its_rows(tmp_path: Path) -> None:
    """Bellingham, MA (MassGIS parcels and assessor table, public domain; PROVENANCE.md)."""
    root = f"zip://{REAL}!L3_SHP_M025_Bellingham"
    parcels = gpd.read_file(f"{root}/M025TaxPar_CY25_FY26.shp")
    table = pd.DataFrame(gpd.read_file(f"{root}/M025Assess_CY25_FY26.dbf"))
    rows = _shuffled_inputs(parcels, table, tmp_path / "in")
    config = tmp_path / "bellingham.toml"
    config.write_text(
        'preset = "value-per-acre"\n[columns.parcels]\nparcel_id = "LOC_ID"\n'
        '[columns.filings]\nparcel_ids = "LOC_ID"\n[units.filings]\nassessed_value = "USD"\n',
        encoding="utf-8",
    )
    _run(tmp_path / "in", tmp_path / "a", config)
    _run(tmp_path / "in" / "shuffled", tmp_path / "b", config)
    cells = _same_results(tmp_path / "a" / "exports", tmp_path / "b" / "exports", rows)
    assert cells > 100_000
