"""The dask engine gives the in-memory engine's results, row by row and byte by byte.

The sample county is written as GeoParquet in four parts. In the first data set the parts are
cut in file order, so every part spans the county and most neighbours and overlaps lie
across parts; defects are added across parts (a second, disjoint piece of a parcel under its
id, an exact repeat of a parcel, an overlap, a bow-tie, repeated vertices, a point, an empty
geometry, a missing id). The second is the clean sample
partitioned along a Hilbert curve by ``mujun partition``. Each is run by both engines (a
LocalCluster of two worker processes for dask) and every output is compared.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from shapely.geometry import Point, Polygon, box

from conftest import tiny_filings, tiny_parcels
from mujun.cli import main
from mujun.config import load_config
from mujun.errors import DataQualityWarning, InputError
from mujun.outputs import write_outputs
from mujun.pipeline import RunResult, open_engine, run, validate

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "parcels"


def _dirty_parts(folder: Path) -> dict[str, object]:
    """The sample with defects, as part.00000..3.parquet cut in file order."""
    src = gpd.read_file(SAMPLE / "parcels.gpkg")
    id_col = "宗地号"
    first = src.iloc[5]
    x0, y0, x1, y1 = first.geometry.bounds
    w, h = x1 - x0, y1 - y0
    extra = [
        # the id of a parcel of part 0 again, elsewhere: a second piece of that parcel
        {id_col: first[id_col], "geometry": src.geometry.iloc[1800]},
        # half over parcel 5 (part 0): an overlap across parts
        {id_col: "OVL-1", "geometry": box(x0 + w / 2, y0, x1 + w / 2, y1)},
        # a bow-tie, repaired with make_valid
        {
            id_col: "BOW-1",
            "geometry": Polygon([(x0, y0 - h), (x1, y0 - 2 * h), (x1, y0 - h), (x0, y0 - 2 * h)]),
        },
        # repeated vertices, removed
        {
            id_col: "REP-1",
            "geometry": Polygon(
                [(x0, y1 + h), (x1, y1 + h), (x1, y1 + h), (x1, y1 + 2 * h), (x0, y1 + 2 * h)]
            ),
        },
        {id_col: "PNT-1", "geometry": Point(x0, y0)},  # not a polygon
        {id_col: "EMP-1", "geometry": Polygon()},  # empty
        {id_col: None, "geometry": box(x0, y0 - 5 * h, x1, y0 - 4 * h)},  # no id
        # parcel 6 (part 0) again, the same shape: a duplicate
        {id_col: src.iloc[6][id_col], "geometry": src.geometry.iloc[6]},
    ]
    extra_gdf = gpd.GeoDataFrame(extra, geometry="geometry", crs=src.crs)
    data = pd.concat([src, extra_gdf], ignore_index=True)
    # the extras spread over parts 1-3
    order = np.r_[0:600, 2005:2007, 600:1200, 2007:2010, 1200:1800, 2010:2013, 1800:2005]
    data = data.iloc[order].reset_index(drop=True)
    folder.mkdir()
    cuts = np.array_split(np.arange(len(data)), 4)
    for k, rows in enumerate(cuts):
        data.iloc[rows].to_parquet(folder / f"part.{k:05d}.parquet", write_covering_bbox=True)
    return {"rows": len(data)}


def _run(parcels: Path, out: Path, engine: str) -> RunResult:
    config = load_config(
        overrides={
            "input": {
                "parcels": str(parcels),
                "filings": str(SAMPLE / "filings.csv"),
                "parks": str(SAMPLE / "parks.gpkg"),
                "builtup": str(SAMPLE / "builtup.tif"),
            },
            "output": {"out_dir": str(out), "map": False},
            "engine": {"name": engine, "workers": 2},
        }
    )
    with open_engine(config) as parcel_engine:  # the cluster lives for the run and the writing
        result = run(config, parcel_engine)
        write_outputs(result, engine=parcel_engine)
    return result


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("dirty")
    info = _dirty_parts(base / "parcels.parquet")
    with pytest.warns(DataQualityWarning) as caught:
        info["memory"] = _run(base / "parcels.parquet", base / "memory", "memory")
    info["memory_warnings"] = sorted(str(w.message) for w in caught)
    with pytest.warns(DataQualityWarning) as caught:
        info["dask"] = _run(base / "parcels.parquet", base / "dask", "dask")
    info["dask_warnings"] = sorted(str(w.message) for w in caught)
    info["base"] = base
    return info


def _same_exports(a: Path, b: Path) -> list[str]:
    """Compare every export; returns the names compared byte for byte."""
    byte_for_byte = []
    for path in sorted((a / "exports").iterdir()):
        other = b / "exports" / path.name
        assert other.exists(), path.name
        if path.name == "parcels.parquet":  # a file in memory, a folder of parts from dask
            left, right = gpd.read_parquet(path), gpd.read_parquet(other)
            assert right.crs == left.crs
            pd.testing.assert_frame_equal(
                pd.DataFrame(left.drop(columns="geometry")),
                pd.DataFrame(right.drop(columns="geometry")),
            )
            assert (left.geometry.to_wkb() == right.geometry.to_wkb()).all()
        elif path.name == "enterprises.xlsx":  # zip timestamps differ; the sheets may not
            left_x = pd.read_excel(path, sheet_name=None, engine="calamine")
            right_x = pd.read_excel(other, sheet_name=None, engine="calamine")
            assert list(left_x) == list(right_x)
            for name in left_x:
                pd.testing.assert_frame_equal(left_x[name], right_x[name])
        elif path.name == "run.json":
            left_j = json.loads(path.read_text("utf-8"))["summary"]
            right_j = json.loads(other.read_text("utf-8"))["summary"]
            assert json.dumps(left_j, sort_keys=True) == json.dumps(right_j, sort_keys=True)
        else:
            assert path.read_bytes() == other.read_bytes(), path.name
            byte_for_byte.append(path.name)
    return byte_for_byte


def test_dask_equals_memory_row_by_row(dirty: dict[str, object]) -> None:
    mem, dsk = dirty["memory"], dirty["dask"]
    assert isinstance(mem, RunResult)
    assert isinstance(dsk, RunResult)
    pd.testing.assert_frame_equal(mem.ledger, dsk.ledger)
    pd.testing.assert_frame_equal(mem.enterprises, dsk.enterprises)
    pd.testing.assert_frame_equal(mem.units, dsk.units)
    left = pd.DataFrame(mem.parcels.drop(columns="geometry"))
    right = pd.DataFrame(dsk.parcels.drop(columns="geometry"))
    pd.testing.assert_frame_equal(left, right)
    for name, table in mem.tables.items():
        pd.testing.assert_frame_equal(
            pd.DataFrame(table).drop(columns="geometry", errors="ignore"),
            pd.DataFrame(dsk.tables[name]).drop(columns="geometry", errors="ignore"),
        )
    assert mem.summary.area_check == dsk.summary.area_check
    assert dirty["memory_warnings"] == dirty["dask_warnings"]
    # the defects were found, by both
    counts = mem.summary.ledger["parcels.parquet"]
    assert counts["duplicate"] == 1
    assert counts["merged"] == 1
    assert counts["rejected"] == 3  # the point, the empty shape, the missing id
    assert counts["fixed"] == 2  # the bow-tie and the repeated vertices
    assert sum(counts.values()) == dirty["rows"] == 2013
    # the parcel of two pieces (parts 0 and 3) holds the land of both
    src = gpd.read_file(SAMPLE / "parcels.gpkg").to_crs(mem.working_crs)
    pieces = src.geometry.iloc[[5, 1800]].area.sum()
    for res in (mem, dsk):
        got = res.parcels.set_index("parcel_id").loc[src.iloc[5]["宗地号"], "area_m2"]
        assert got == pytest.approx(pieces, rel=1e-9)
    ledger = mem.ledger.set_index("key")
    # OVL-1 (part 1) lies over parcels of part 0: both sides of each pair are noted
    reason = ledger.loc["OVL-1", "reason"]
    assert reason.startswith("overlaps parcel CX-")
    other = reason.removeprefix("overlaps parcel ").split(" ")[0]
    assert "overlaps parcel OVL-1" in ledger.loc[other, "reason"]
    assert mem.ledger.set_index("key").loc[other, "record"] < 503 < ledger.loc["OVL-1", "record"]
    assert "make_valid" in ledger.loc["BOW-1", "reason"]
    assert len(mem.parcels) == 2005 + 3  # OVL-1, BOW-1, REP-1 join the usable parcels
    assert mem.summary.underuse["cold_spots"] == dsk.summary.underuse["cold_spots"] > 0
    assert (
        mem.summary.underuse["zones"] == dsk.summary.underuse["zones"] > 100
    )  # zones of two parcels or more


def test_dask_exports_are_the_same_files(dirty: dict[str, object]) -> None:
    base = dirty["base"]
    assert isinstance(base, Path)
    same = _same_exports(base / "memory", base / "dask")
    assert {"parcels.geojson", "ledger.csv", "enterprises.csv", "zones.geojson"} <= set(same)
    parts = sorted(p.name for p in (base / "dask" / "exports" / "parcels.parquet").iterdir())
    assert parts == [f"part.{k:05d}.parquet" for k in range(4)]
    assert not (base / "dask" / "exports" / "parcels.geojson.parts").exists()


def test_partition_then_dask_on_the_clean_sample(tmp_path: Path) -> None:
    parts = tmp_path / "parcels.parquet"
    assert main(["partition", str(SAMPLE / "parcels.gpkg"), str(parts), "--parts", "3", "-q"]) == 0
    written = [gpd.read_parquet(p) for p in sorted(parts.iterdir())]
    assert len(written) == 3
    whole = pd.concat(written, ignore_index=True)
    assert sorted(whole["source_record"]) == list(range(1, 2006))
    for part in parts.iterdir():  # the covering column for filtered reads
        assert "bbox" in pq.read_schema(part).names
    original = gpd.read_file(SAMPLE / "parcels.gpkg")
    back = original.iloc[whole["source_record"].to_numpy() - 1]
    assert (back["宗地号"].to_numpy() == whole["宗地号"].to_numpy()).all()
    assert [len(p) for p in written] == [668, 668, 669]  # equal shares
    # Hilbert order keeps the parts compact: cut in file order, each would span the county
    total = box(*whole.total_bounds).area
    assert sum(box(*p.total_bounds).area for p in written) < 1.5 * total
    # and partitioning is repeatable (the ledger's record numbers follow the parts' order)
    again = tmp_path / "again.parquet"
    assert main(["partition", str(SAMPLE / "parcels.gpkg"), str(again), "--parts", "3", "-q"]) == 0
    for one, two in zip(sorted(parts.iterdir()), sorted(again.iterdir()), strict=True):
        assert gpd.read_parquet(one).equals(gpd.read_parquet(two))
    # GeoParquet with a bbox covering column (these parts) partitions again
    regrouped = tmp_path / "regrouped.parquet"
    assert main(["partition", str(parts), str(regrouped), "--parts", "2", "-q"]) == 0
    back = gpd.read_parquet(regrouped)
    assert len(back) == 2005
    assert sorted(back["source_record"]) == list(range(1, 2006))
    mem = _run(parts, tmp_path / "memory", "memory")
    dsk = _run(parts, tmp_path / "dask", "dask")
    pd.testing.assert_frame_equal(mem.ledger, dsk.ledger)
    _same_exports(tmp_path / "memory", tmp_path / "dask")
    assert dsk.summary.county["2021"]["above_scale"]["tax_per_mu"] == pytest.approx(
        33.40, abs=0.005
    )


def test_dask_validate_gives_the_same_ledger(dirty: dict[str, object]) -> None:
    base = dirty["base"]
    assert isinstance(base, Path)
    results = {}
    for engine in ("memory", "dask"):
        config = load_config(
            overrides={
                "input": {
                    "parcels": str(base / "parcels.parquet"),
                    "filings": str(SAMPLE / "filings.csv"),
                },
                "engine": {"name": engine, "workers": 1},
            }
        )
        with pytest.warns(DataQualityWarning):
            results[engine] = validate(config)
    pd.testing.assert_frame_equal(results["memory"].ledger, results["dask"].ledger)
    cols = ["source", "record", "check", "detail"]
    mem_events = results["memory"].findings[cols].sort_values(cols, ignore_index=True)
    dask_events = results["dask"].findings[cols].sort_values(cols, ignore_index=True)
    pd.testing.assert_frame_equal(mem_events, dask_events)


def test_dask_engine_asks_for_geoparquet(tmp_path: Path) -> None:
    config = load_config(
        overrides={
            "input": {
                "parcels": str(SAMPLE / "parcels.gpkg"),
                "filings": str(SAMPLE / "filings.csv"),
            },
            "output": {"out_dir": str(tmp_path)},
            "engine": {"name": "dask", "workers": 1},
        }
    )
    with pytest.raises(InputError, match=r"mujun partition .*parcels\.gpkg"):
        run(config)


def test_dask_fixes_gauss_kruger_over_all_parts(tmp_path: Path) -> None:
    """Zone-prefixed eastings declared as EPSG:4549: the fix is decided from all the parts'
    bounds, so every part is read as EPSG:4528, as in memory."""
    parcels = tiny_parcels()
    shifted = parcels.set_geometry(parcels.geometry.translate(xoff=40_000_000))
    folder = tmp_path / "parcels.parquet"
    folder.mkdir()
    shifted.iloc[:3].to_parquet(folder / "part.1.parquet")
    shifted.iloc[3:].to_parquet(folder / "part.2.parquet")
    filings = tmp_path / "filings.csv"
    tiny_filings().to_csv(filings, index=False, encoding="utf-8-sig")
    results = {}
    for engine in ("memory", "dask"):
        config = load_config(
            overrides={
                "input": {"parcels": str(folder), "filings": str(filings)},
                "output": {"out_dir": str(tmp_path / engine), "map": False},
                "engine": {"name": engine, "workers": 1},
            }
        )
        with open_engine(config) as parcel_engine:
            results[engine] = run(config, parcel_engine)
            write_outputs(results[engine], engine=parcel_engine)
    mem, dsk = results["memory"], results["dask"]
    assert dsk.summary.crs_notes == mem.summary.crs_notes
    assert "read as EPSG:4528" in mem.summary.crs_notes[0]
    assert dsk.working_crs == mem.working_crs
    assert dsk.parcels["area_mu"].round(6).tolist() == [15.0, 30.0, 15.0, 30.0, 15.0]
    pd.testing.assert_frame_equal(
        pd.DataFrame(mem.parcels.drop(columns="geometry")),
        pd.DataFrame(dsk.parcels.drop(columns="geometry")),
    )
    pd.testing.assert_frame_equal(mem.ledger, dsk.ledger)
    assert (tmp_path / "memory" / "exports" / "parcels.geojson").read_bytes() == (
        tmp_path / "dask" / "exports" / "parcels.geojson"
    ).read_bytes()
