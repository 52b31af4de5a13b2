"""The dask engine (``--engine dask``): the parcel layer stays in parts on a dask cluster.

The parcels are read with dask-geopandas from GeoParquet, one part per file or row group, best
spatially partitioned (``mujun partition`` sorts them along a Hilbert curve). Every step that
looks at one parcel at a time runs on the workers, part by part, with the functions the
in-memory engine uses (:mod:`mujun.engine`, :mod:`mujun.validate`, :mod:`mujun.geodesy`):
reading and checking the features, the Gauss-Krüger fixes, reprojection, repair, area,
parks, built-up cover, and writing the parcel exports. What depends on all the parcels is
decided once, on the client, from small summaries the parts send back:

- the working CRS and the ellipsoidal area's centre, from each part's bounds;
- duplicate parcel ids, from the ids (the geometries of the duplicates only are fetched);
- overlaps and neighbours (for cold spots), from tasks that each look at two parts whose
  bounds come within ``zone_gap_m`` of each other, so that pairs across parts are found;
- the ledger: the workers record their ledger calls (:class:`~mujun.validate.LedgerLog`) and
  the client replays them in the in-memory engine's order.

The client then holds one row of attributes per parcel, without geometry, and runs the join,
indicators, scoring and classes as the in-memory engine does (measured at 1,000,000 parcels:
469 bytes per parcel in the parcel table, 697 per firm-year in the enterprise table, and a
peak that grows by about 2.6 MB per 1,000 parcels whatever the number of workers, so the
client bounds a run as the in-memory engine's process does; docs/benchmarks.md):
the benchmarks (group means) are computed over all the firms, so the results equal the
in-memory engine's row by row (tests/test_distributed.py). Consolidation zones fetch the
outlines of the underused parcels; the HTML map, the database export and the efficiency
surface fetch all of them (they are for a county, not a country).

Workers need mujun installed and the input and output folders on a shared file system.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from mujun import geodesy
from mujun.config import Config
from mujun.engine import Reprojection, measure_step, reproject_step
from mujun.errors import ConfigError, InputError, InputFileError
from mujun.io.inputs import Inputs
from mujun.io.readers import Table, _assign_crs, parcels_from_frame, parquet_parts
from mujun.io.writers import write_geojson
from mujun.parks import fill_parks, parks_located
from mujun.validate import (
    Ledger,
    LedgerLog,
    check_geometry,
    dedupe_parcels,
    note_overlaps,
    nothing_usable,
    overlap_pairs,
    usable_parcels,
)

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["DaskEngine", "partition_parquet"]

logger = logging.getLogger(__name__)

_NO_BOUNDS = (np.nan, np.nan, np.nan, np.nan)


def _require_dask() -> None:
    try:
        import dask_geopandas  # noqa: F401, PLC0415
        import distributed  # noqa: F401, PLC0415
    except ImportError as err:
        raise ConfigError(
            f"--engine dask needs dask-geopandas and distributed ({err}); "
            "install them with: pip install 'mujun[dask]'"
        ) from err


def _bounds(gdf: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    if gdf.empty:
        return _NO_BOUNDS
    return tuple(float(v) for v in gdf.total_bounds)  # type: ignore[return-value]


def _combine(bounds: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """The bounds of the whole from those of its parts (NaN for empty parts)."""
    b = np.asarray(bounds, dtype="float64").reshape(-1, 4)
    b = b[~np.isnan(b).any(axis=1)]
    if not len(b):
        return _NO_BOUNDS
    return (
        float(b[:, 0].min()),
        float(b[:, 1].min()),
        float(b[:, 2].max()),
        float(b[:, 3].max()),
    )


# --- work done on the workers, one part at a time (plain functions: dask pickles them) ---


def _w_read(part: gpd.GeoDataFrame, first_record: int, how: Mapping[str, Any]) -> dict[str, Any]:
    path = Path(how["label"])
    part = _assign_crs(part.reset_index(drop=True), how["crs"], path)
    parcels, _ = parcels_from_frame(
        part, path, columns=how["columns"], units=how["units"], first_record=first_record
    )
    log = LedgerLog()
    with _Captured() as said:
        usable = usable_parcels(parcels, log, path.name, how["placeholders"])
    return {
        "usable": usable,
        "calls": log.calls,
        "said": said.found,
        "keys": pd.DataFrame(parcels[["record", "parcel_id"]]),
        "bounds": _bounds(usable),
        "crs": usable.crs,
        "n_usable": len(usable),
    }


class _Captured(logging.Handler):
    """Warnings logged by mujun on a worker, to be logged again on the client."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append((record.name, record.levelno, record.getMessage()))

    def __enter__(self) -> _Captured:
        logging.getLogger("mujun").addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("mujun").removeHandler(self)


def _relog(found: list[tuple[str, int, str]]) -> None:
    for name, level, message in found:
        logging.getLogger(name).log(level, "%s", message)


def _w_fixed_bounds(usable: gpd.GeoDataFrame, gk: geodesy.GaussKrugerFix) -> dict[str, Any]:
    """The part's bounds once fixed, without the features outside the CRS's area, and what
    :func:`mujun.geodesy.check_extent` needs of those."""
    fixed = gk.apply(usable)
    bounds = shapely.bounds(fixed.geometry.array)
    outside = geodesy.outside_extent(fixed.crs, bounds) if len(fixed) else np.zeros(0, bool)
    return {
        "bounds": _bounds(fixed.loc[~outside]),
        "outside": outside,
        "outside_bounds": bounds[outside],
    }


def _w_reproject(
    usable: gpd.GeoDataFrame, gk: geodesy.GaussKrugerFix, crs: CRS, source: str
) -> dict[str, Any]:
    log = LedgerLog()
    with _Captured() as said:
        if len(usable):
            out = reproject_step(gk.apply(usable), crs, log, source)
        else:
            out = usable.to_crs(crs)
    return {"parcels": out, "calls": log.calls, "said": said.found}


def _w_repair(parcels: gpd.GeoDataFrame, source: str) -> dict[str, Any]:
    log = LedgerLog()
    with _Captured() as said:
        out = check_geometry(parcels, log, source=source) if len(parcels) else parcels
    return {
        "parcels": out,
        "calls": log.calls,
        "said": said.found,
        "ids": pd.DataFrame(out[["record", "parcel_id"]]),
    }


def _w_take(parcels: gpd.GeoDataFrame, records: np.ndarray) -> gpd.GeoDataFrame:
    return parcels.loc[parcels["record"].isin(records)]


def _w_drop(
    parcels: gpd.GeoDataFrame, records: np.ndarray, dissolved: gpd.GeoSeries
) -> dict[str, Any]:
    """Drop ``records`` (duplicates, merged parts) and give the parcels kept of an id made
    of several features their ``dissolved`` geometry (indexed by record)."""
    kept = parcels.loc[~parcels["record"].isin(records)]
    if len(dissolved):
        at = kept["record"].isin(dissolved.index).to_numpy()
        if at.any():
            kept = kept.copy()
            geometry = kept.geometry.array.copy()
            geometry[at] = dissolved.loc[kept.loc[at, "record"]].array
            kept = kept.set_geometry(geometry)
    return {
        "parcels": kept,
        "bounds": _bounds(kept),
        "records": kept["record"].to_numpy(dtype="int64"),
    }


def _w_pairs(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame | None, gap: float) -> dict[str, np.ndarray]:
    """Overlaps and neighbours within ``gap`` inside part ``a`` (b None) or between a and b,
    as record numbers; neighbours both ways round."""
    ga = np.asarray(a.geometry.array, dtype=object)
    ra = a["record"].to_numpy(dtype="int64")
    if b is None:
        gb, rb = ga, ra
        left, right, area = overlap_pairs(ga)
        near_l, near_r = shapely.STRtree(ga).query(ga, predicate="dwithin", distance=gap)
        keep = near_l != near_r
        near_a, near_b = ra[near_l[keep]], ra[near_r[keep]]
    else:
        gb = np.asarray(b.geometry.array, dtype=object)
        rb = b["record"].to_numpy(dtype="int64")
        left, right, area = overlap_pairs(ga, gb)
        near_r, near_l = shapely.STRtree(ga).query(gb, predicate="dwithin", distance=gap)
        near_a = np.concatenate([ra[near_l], rb[near_r]])
        near_b = np.concatenate([rb[near_r], ra[near_l]])
    return {
        "overlap_a": ra[left],
        "overlap_b": rb[right],
        "overlap_m2": area,
        "near_a": near_a,
        "near_b": near_b,
    }


def _w_measure(
    parcels: gpd.GeoDataFrame,
    config: Config,
    source: str,
    lonlat: tuple[float, float, float, float],
) -> dict[str, Any]:
    log = LedgerLog()
    with _Captured() as said:
        measured, plane, ellipsoidal = measure_step(
            parcels, config, ledger=log, source=source, lonlat=lonlat
        )
    attrs = pd.DataFrame(measured).assign(geometry=None)
    return {
        "attrs": attrs,
        "calls": log.calls,
        "said": said.found,
        "areas": geodesy.area_sums(plane, ellipsoidal),  # exact totals: parts add up
    }


def _w_parks(parcels: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> np.ndarray:
    return parks_located(parcels, parks).to_numpy(dtype=object)


def _w_builtup(parcels: gpd.GeoDataFrame, path: Path) -> np.ndarray:
    from mujun.raster import builtup_fraction  # noqa: PLC0415

    if parcels.empty:
        return np.array([], dtype="float64")
    return np.asarray(builtup_fraction(parcels, path), dtype="float64")


def _w_write(
    parcels: gpd.GeoDataFrame,
    attrs: pd.DataFrame,
    geojson: Path,
    parquet: Path,
    precision: int,
) -> int:
    if (
        "parcel_id" in attrs
        and not (
            attrs["parcel_id"].to_numpy(dtype=object) == parcels["parcel_id"].to_numpy(dtype=object)
        ).all()
    ):
        raise RuntimeError(f"{geojson.name}: the attributes are not in the part's order")
    frame = attrs.assign(geometry=np.asarray(parcels.geometry.array, dtype=object))
    gdf = gpd.GeoDataFrame(frame, geometry="geometry", crs=parcels.crs)
    write_geojson(gdf, geojson, overwrite=True, precision=precision)
    gdf.to_parquet(parquet, write_covering_bbox=True, compression="zstd")
    return len(gdf)


def _item(result: Mapping[str, Any], key: str) -> Any:
    return result[key]


# --- the client side ---


@dataclass
class DaskEngine:
    """The parcel layer of a run, in parts on a dask cluster (see the module docstring): the
    :class:`mujun.engine.ParcelEngine` of ``--engine dask``."""

    name: ClassVar[str] = "dask"
    remote: ClassVar[bool] = True

    client: Client
    cluster: Any | None = None
    parts: list[Future] = field(default_factory=list)
    """Per part: the parcels at their latest stage (GeoDataFrame, on a worker)."""
    records: list[np.ndarray] = field(default_factory=list)
    """Per part: the records it holds after deduplication, in order."""
    crs: CRS | None = None
    _pending: list[list[Any]] = field(default_factory=list)
    _crs_declared: list[Any] = field(default_factory=list)
    _bounds: list[tuple[float, float, float, float]] = field(default_factory=list)
    _near: tuple[np.ndarray, np.ndarray] | None = None
    _n_usable: int = 0

    @classmethod
    def connect(cls, config: Config) -> DaskEngine:
        """Connect to the scheduler at ``[engine] address``, else start a LocalCluster."""
        _require_dask()
        from distributed import Client, LocalCluster  # noqa: PLC0415

        cfg = config.engine
        if logging.getLogger("mujun").getEffectiveLevel() > logging.DEBUG:
            # distributed logs at INFO from its import on: it would drown mujun's -v log
            logging.getLogger("distributed").setLevel(logging.WARNING)
        if cfg.address:
            logger.info("dask engine: scheduler at %s", cfg.address)
            return cls(client=Client(cfg.address))
        workers = cfg.workers or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=cfg.memory_limit,
            dashboard_address=":0",  # any free port: never collides with another cluster
            silence_logs=logging.ERROR,
        )
        logger.info("dask engine: LocalCluster of %d workers", workers)
        return cls(client=Client(cluster), cluster=cluster)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget the parts and shut down the client (and the LocalCluster, if one was
        started)."""
        self.parts = []
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def _get(self, futures: list[Future], key: str) -> list[Any]:
        return list(self.client.gather([self.client.submit(_item, f, key) for f in futures]))

    def _keep(self, futures: list[Future], key: str) -> list[Future]:
        return [self.client.submit(_item, f, key) for f in futures]

    # -- read and prepare --

    def read(self, config: Config, path: Path | None) -> tuple[pd.DataFrame, Table]:
        """Start reading the parcels at ``path`` (GeoParquet file or folder) on the cluster;
        returns their ``record`` and ``parcel_id`` and the column mapping."""
        import dask_geopandas  # noqa: PLC0415

        if path is None:
            raise InputError(
                "the dask engine reads GeoParquet files, not a database table; export the "
                "table to GeoParquet (mujun partition) or run with --engine memory"
            )
        if not (path.suffix.lower() in {".parquet", ".geoparquet"} or path.is_dir()):
            raise InputError(
                f"{path.name}: the dask engine reads GeoParquet; convert it once with "
                f"`mujun partition {path} {path.with_suffix('.parquet')}` (a folder of "
                "spatially partitioned GeoParquet files) and give that"
            )
        if not path.exists():
            raise InputFileError(f"{path} does not exist")
        files = parquet_parts(path)
        if not files:
            raise InputFileError(f"{path} holds no .parquet files")
        ddf = _without_covering(dask_geopandas.read_parquet([str(f) for f in files]), files)
        columns, units = config.columns.get("parcels"), config.units.get("parcels")
        _, table = parcels_from_frame(ddf._meta.copy(), path, columns=columns, units=units)
        raw = self.client.compute(ddf.to_delayed())
        lengths = self.client.gather([self.client.submit(len, f) for f in raw])
        firsts = np.concatenate([[1], 1 + np.cumsum(lengths)[:-1]]).astype("int64")
        how: dict[str, Any] = {
            "label": str(path),
            "crs": config.input.parcels_crs,
            "columns": columns,
            "units": units,
            "placeholders": config.parcels.placeholder_ids,
        }
        read = [
            self.client.submit(_w_read, f, int(first), how)
            for f, first in zip(raw, firsts, strict=True)
        ]
        self.parts = self._keep(read, "usable")
        small = self.client.gather(
            [
                self.client.submit(
                    lambda r: {
                        k: r[k] for k in ("calls", "said", "keys", "bounds", "crs", "n_usable")
                    },
                    f,
                )
                for f in read
            ]
        )
        del raw, read
        self._pending = [s["calls"] for s in small]
        for s in small:
            _relog(s["said"])
        self._crs_declared = [s["crs"] for s in small if s["n_usable"]]
        self._n_usable = int(sum(s["n_usable"] for s in small))
        self._bounds = [s["bounds"] for s in small]
        keys = pd.concat([s["keys"] for s in small], ignore_index=True)
        logger.info("dask engine: %d parts, %d features", len(lengths), int(sum(lengths)))
        return keys, table

    def check(self, inputs: Inputs, ledger: Ledger, config: Config) -> int:  # noqa: ARG002
        """The features were checked on the workers as they were read: their ledger calls
        are replayed here, in order."""
        for calls in self._pending:
            LedgerLog.replay(calls, ledger)
        self._pending = []
        if not self._crs_declared:
            raise nothing_usable(inputs.p_src, len(inputs.parcels), ledger)
        return self._n_usable

    def reproject(self, inputs: Inputs, ledger: Ledger, config: Config) -> Reprojection:
        source = inputs.p_src
        declared = self._crs_declared[0]
        if declared is None:
            sample = next(
                self.client.gather(self.client.submit(lambda g: g.head(1000), f))
                for f, b in zip(self.parts, self._bounds, strict=True)
                if not np.isnan(b[0])
            )
            geodesy.require_crs(sample, source=source)
        gk = geodesy.plan_gauss_kruger(declared, _combine(self._bounds), source=source)
        crs = self.crs = self._working_crs(gk, declared, config, source)
        moved = [self.client.submit(_w_reproject, f, gk, crs, source) for f in self.parts]
        self.parts = self._keep(moved, "parcels")
        self._replay(moved, ledger)
        return Reprojection(crs, [*inputs.parcel_table.crs_notes, *gk.notes])

    def _replay(self, futures: list[Future], ledger: Ledger) -> None:
        for calls in self._get(futures, "calls"):
            LedgerLog.replay(calls, ledger)
        for said in self._get(futures, "said"):
            _relog(said)

    def repair(self, ledger: Ledger, config: Config, source: str) -> int:
        repaired = [self.client.submit(_w_repair, f, source) for f in self.parts]
        self.parts = self._keep(repaired, "parcels")
        self._replay(repaired, ledger)
        ids = self._get(repaired, "ids")
        del repaired
        dropped, dissolved = self._dedupe(
            pd.concat(ids, ignore_index=True), ids, ledger, source, config
        )
        kept = [
            self.client.submit(_w_drop, f, d, dissolved)
            for f, d in zip(self.parts, dropped, strict=True)
        ]
        self.parts = self._keep(kept, "parcels")
        summary = self.client.gather(
            [
                self.client.submit(lambda r: {k: r[k] for k in ("bounds", "records")}, f)
                for f in kept
            ]
        )
        del kept
        self.records = [s["records"] for s in summary]
        self._bounds = [s["bounds"] for s in summary]
        order = np.concatenate(self.records)
        if not len(order):
            raise InputError(f"{source}: no parcel polygon has any area; see the ledger")
        overlaps = self._pairs(config.underuse.zone_gap_m)
        keys = pd.concat(ids, ignore_index=True).set_index("record").loc[order].reset_index()
        left, right = np.searchsorted(order, overlaps[0]), np.searchsorted(order, overlaps[1])
        note_overlaps(
            keys,
            left,
            right,
            overlaps[2],
            ledger,
            source=source,
            tolerance_m2=config.area.overlap_tolerance_m2,
        )
        return len(order)

    def measure(
        self, ledger: Ledger, config: Config, source: str
    ) -> tuple[gpd.GeoDataFrame, dict[str, float]]:
        assert self.crs is not None
        lonlat = geodesy.bounds_lonlat(self.crs, _combine(self._bounds))
        measured = [self.client.submit(_w_measure, f, config, source, lonlat) for f in self.parts]
        results = self.client.gather(measured)
        for r in results:
            LedgerLog.replay(r["calls"], ledger)
            _relog(r["said"])
        attrs = pd.concat([r["attrs"] for r in results if len(r["attrs"])], ignore_index=True)
        parcels = gpd.GeoDataFrame(attrs, geometry="geometry", crs=self.crs)
        check = geodesy.area_check([r["areas"] for r in results], config.area.geodesic_check_pct)
        return parcels, check

    def _working_crs(
        self, gk: geodesy.GaussKrugerFix, declared: Any, config: Config, source: str
    ) -> CRS:
        """The in-memory engine's choice, from the union of the parts' bounds once fixed."""
        found = self.client.gather([self.client.submit(_w_fixed_bounds, f, gk) for f in self.parts])
        source_crs = CRS.from_user_input(gk.crs if gk.crs is not None else declared)
        outside = np.concatenate([f["outside"] for f in found])
        away = np.concatenate([f["outside_bounds"] for f in found]).reshape(-1, 4)
        everything = np.zeros((len(outside), 4))
        everything[outside] = away
        geodesy.check_extent(source_crs, everything, outside, source=source)
        if config.area.working_crs:
            return geodesy.choose_working_crs(None, named=config.area.working_crs)
        return geodesy.choose_working_crs(
            None,
            lonlat=geodesy.bounds_lonlat(source_crs, _combine([f["bounds"] for f in found])),
            source_crs=source_crs,
            tolerance_pct=config.area.geodesic_check_pct,
        )

    def _dedupe(
        self,
        ids: pd.DataFrame,
        parts: list[pd.DataFrame],
        ledger: Ledger,
        source: str,
        config: Config,
    ) -> tuple[list[np.ndarray], gpd.GeoSeries]:
        """Features sharing an id over all parts, resolved as in memory (duplicates dropped,
        parts of one parcel dissolved). Returns the records to drop, per part, and the
        dissolved geometries of the records kept, by record."""
        repeated = ids.loc[ids["parcel_id"].duplicated(keep=False), "record"].to_numpy()
        nothing = gpd.GeoSeries([], crs=self.crs, index=pd.Index([], dtype="int64"))
        if not len(repeated):
            return [np.array([], dtype="int64") for _ in parts], nothing
        found = self.client.gather([self.client.submit(_w_take, f, repeated) for f in self.parts])
        subset = pd.concat([g for g in found if len(g)]).sort_values("record")
        subset = gpd.GeoDataFrame(subset, geometry=found[0].geometry.name, crs=self.crs)
        kept = dedupe_parcels(
            subset,
            ledger,
            source,
            same_id=config.parcels.same_id,
            tolerance_m2=config.area.overlap_tolerance_m2,
        )
        gone = np.setdiff1d(subset["record"].to_numpy(), kept["record"].to_numpy())
        before = subset.set_index("record").geometry
        after = kept.set_index("record").geometry
        changed = ~shapely.equals_exact(after.array, before.loc[after.index].array, tolerance=0.0)
        dissolved = after.loc[changed]
        return [np.intersect1d(p["record"].to_numpy(), gone) for p in parts], dissolved

    def _pairs(self, gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Overlapping pairs (records a < b, sorted, with their overlap in m²); neighbours
        within ``gap`` are kept for :meth:`neighbours`."""
        b = np.asarray(self._bounds, dtype="float64").reshape(-1, 4)
        tasks = []
        for i in range(len(b)):
            if np.isnan(b[i, 0]):
                continue
            tasks.append(self.client.submit(_w_pairs, self.parts[i], None, gap))
            for j in range(i + 1, len(b)):
                if np.isnan(b[j, 0]):
                    continue
                apart_x = max(b[i, 0] - b[j, 2], b[j, 0] - b[i, 2])
                apart_y = max(b[i, 1] - b[j, 3], b[j, 1] - b[i, 3])
                if max(apart_x, apart_y) <= gap:
                    tasks.append(self.client.submit(_w_pairs, self.parts[i], self.parts[j], gap))
        found = self.client.gather(tasks)
        cat = {k: np.concatenate([f[k] for f in found]) for k in found[0]}
        self._near = (cat["near_a"], cat["near_b"])
        order = np.lexsort((cat["overlap_b"], cat["overlap_a"]))
        return cat["overlap_a"][order], cat["overlap_b"][order], cat["overlap_m2"][order]

    # -- later stages --

    def _positions(self, parcels: pd.DataFrame, records: np.ndarray) -> np.ndarray:
        where = pd.Index(parcels["record"].to_numpy(dtype="int64")).get_indexer(records)
        if (where < 0).any():
            raise RuntimeError("dask engine: a part holds a parcel the client does not know")
        return where

    def assign_parks(self, parcels: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """The park of each parcel, found on the parts; the parks (small) go to every
        worker."""
        shared = self.client.scatter(parks, broadcast=True)
        found = self.client.gather([self.client.submit(_w_parks, f, shared) for f in self.parts])
        located = pd.Series(pd.NA, index=parcels.index, dtype="string")
        where = self._positions(parcels, np.concatenate(self.records))
        located.iloc[where] = pd.array(np.concatenate(found), dtype="string")
        return fill_parks(parcels, located)

    def builtup_fraction(self, parcels: gpd.GeoDataFrame, path: Path) -> pd.Series:
        """Built-up share of each parcel from a raster every worker can read."""
        found = self.client.gather([self.client.submit(_w_builtup, f, path) for f in self.parts])
        values = np.full(len(parcels), np.nan)
        values[self._positions(parcels, np.concatenate(self.records))] = np.concatenate(found)
        return pd.Series(values, index=parcels.index, dtype="float64")

    def footprints(
        self,
        parcels: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame,
        *,
        double_above_m: float,
        source: str,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        del parcels, buildings, double_above_m  # the interface's arguments
        raise InputError(
            f"{source}: building footprints are not supported by the dask engine yet; give a "
            "built-up raster (--builtup) instead, or run with --engine memory"
        )

    def with_geometry(self, parcels: gpd.GeoDataFrame, mask: np.ndarray) -> gpd.GeoDataFrame:
        """``parcels`` with the outlines of the rows in ``mask`` fetched from the cluster."""
        wanted = parcels.loc[mask, "record"].to_numpy(dtype="int64")
        found = self.client.gather([self.client.submit(_w_take, f, wanted) for f in self.parts])
        found = [g for g in found if len(g)]
        geoms = np.full(len(parcels), None, dtype=object)
        if found:
            got = pd.concat(found)
            where = self._positions(parcels, got["record"].to_numpy(dtype="int64"))
            geoms[where] = np.asarray(got.geometry.array, dtype=object)
        out = parcels.copy()
        return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=self.crs))

    def neighbours(self, parcels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Pairs of parcels within ``zone_gap_m``, as positions in ``parcels``."""
        assert self._near is not None
        return self._positions(parcels, self._near[0]), self._positions(parcels, self._near[1])

    def write_parcels(
        self, export: gpd.GeoDataFrame, geojson: Path, parquet: Path, *, precision: int
    ) -> None:
        """Write the parcel exports from the parts: ``geojson`` (one file, the same bytes as
        the in-memory engine's) and ``parquet`` (a folder of GeoParquet files, one per part).
        ``export`` holds the attributes, in the parcels' order, with a ``geometry`` column."""
        work = geojson.parent / (geojson.name + ".parts")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        if parquet.is_dir():
            shutil.rmtree(parquet)
        elif parquet.exists():
            parquet.unlink()
        parquet.mkdir(parents=True)
        sizes = [len(r) for r in self.records]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype("int64")
        tasks = []
        for k, part in enumerate(self.parts):
            if not sizes[k]:
                continue
            # scattered: as a task argument it would travel inside the task graph
            attrs = self.client.scatter(export.iloc[starts[k] : starts[k + 1]])
            tasks.append(
                (
                    work / f"part.{k:05d}.geojson",
                    self.client.submit(
                        _w_write,
                        part,
                        attrs,
                        work / f"part.{k:05d}.geojson",
                        parquet / f"part.{k:05d}.parquet",
                        precision,
                    ),
                )
            )
        self.client.gather([t for _, t in tasks])
        head, tail = b'{"type":"FeatureCollection","features":[\n', b"\n]}\n"
        with geojson.open("wb") as out:
            out.write(head)
            for i, (path, _) in enumerate(tasks):
                with path.open("rb") as fh:
                    first = fh.read(len(head))
                    if first != head:
                        raise RuntimeError(f"{path}: not a GeoJSON part written by mujun")
                    size = path.stat().st_size - len(head) - len(tail)
                    if i:
                        out.write(b",\n")
                    shutil.copyfileobj(_Limited(fh, size), out)
            out.write(tail)
        shutil.rmtree(work)


class _Limited:
    """The first ``size`` bytes of a file object, for ``shutil.copyfileobj``."""

    def __init__(self, fh: Any, size: int) -> None:
        self.fh, self.left = fh, size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = self.fh.read(n)
        self.left -= len(data)
        return bytes(data)


def partition_parquet(
    source: Path,
    dest: Path,
    *,
    npartitions: int | None = None,
    rows_per_part: int = 200_000,
    layer: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the vector layer at ``source`` as a folder of GeoParquet files sorted along a
    Hilbert curve (dask-geopandas ``hilbert_distance``), each with a bbox covering column: the
    input the dask engine reads fastest. Parts hold equal numbers of features and the result
    is the same on every run. ``source_record`` keeps each feature's number in ``source``.
    The sort keys (8 bytes per feature) are gathered here. Returns the number of parts and
    features."""
    _require_dask()
    import dask  # noqa: PLC0415
    import dask_geopandas  # noqa: PLC0415

    if not source.exists():
        raise InputFileError(f"{source} does not exist")
    if dest.exists():
        if not overwrite:
            raise InputFileError(f"{dest} exists; pass --overwrite to replace it")
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    if source.suffix.lower() in {".parquet", ".geoparquet"} or source.is_dir():
        files = parquet_parts(source)
        ddf = _without_covering(dask_geopandas.read_parquet([str(p) for p in files]), files)
        ddf = ddf.reset_index(drop=True)
    else:
        ddf = dask_geopandas.read_file(source, chunksize=rows_per_part, layer=layer)
    lengths = ddf.map_partitions(len).compute().to_numpy()
    firsts = np.concatenate([[1], 1 + np.cumsum(lengths)[:-1]]).astype("int64")
    ddf = ddf.map_partitions(
        _numbered, firsts, meta=ddf._meta.assign(source_record=np.array([], dtype="int64"))
    )
    if ddf.crs is None:
        raise InputError(f"{source} has no CRS; set it before partitioning")
    total = int(lengths.sum())
    parts = max(1, min(npartitions or -(-total // rows_per_part), total))
    # one key per feature: its Hilbert distance, ties broken by its number, so the parts and
    # the order within them are the same on every run (the ledger's record numbers follow it)
    hilbert = ddf.hilbert_distance(level=16).astype("int64")
    ddf = ddf.assign(_order=hilbert * (1 << 31) + ddf["source_record"])
    keys = np.sort(ddf["_order"].compute().to_numpy())
    if not len(keys):
        raise InputError(f"{source} holds no features")
    cuts = [int(keys[(i * len(keys)) // parts]) for i in range(parts)] + [int(keys[-1])]
    shuffled = ddf.set_index("_order", divisions=cuts)
    dest.mkdir(parents=True)
    try:
        writes = [
            dask.delayed(_write_part)(part, dest / f"part.{i:05d}.parquet")
            for i, part in enumerate(shuffled.to_delayed())
        ]
        dask.compute(*writes)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return {"parts": parts, "features": total, "path": str(dest)}


def _without_covering(ddf: Any, files: list[Path]) -> Any:
    """``ddf`` without the GeoParquet bbox covering column(s) named in the files' metadata:
    dask-geopandas reads them as ordinary columns, and writing them again would clash with
    the covering column ``to_parquet`` adds."""
    meta = pq.read_schema(files[0]).metadata or {}
    geo = json.loads(meta.get(b"geo", b"{}"))
    covering = {
        spec["covering"]["bbox"]["xmin"][0]
        for spec in geo.get("columns", {}).values()
        if "covering" in spec and "bbox" in spec["covering"]
    }
    drop = [c for c in covering if c in ddf.columns]
    return ddf.drop(columns=drop) if drop else ddf


def _write_part(part: gpd.GeoDataFrame, path: Path) -> int:
    part.reset_index(drop=True).to_parquet(path, write_covering_bbox=True, compression="zstd")
    return len(part)


def _numbered(
    part: gpd.GeoDataFrame, firsts: np.ndarray, partition_info: dict[str, Any] | None = None
) -> gpd.GeoDataFrame:
    first = int(firsts[partition_info["number"]]) if partition_info else 1
    return part.assign(source_record=np.arange(first, first + len(part), dtype="int64"))
