"""The in-memory parcel engine (``--engine memory``, the default): the parcel layer as one
GeoDataFrame in this process. See :mod:`mujun.engine` for the interface."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from mujun import geodesy
from mujun.config import Config
from mujun.engine import Reprojection, measure_step, reproject_step
from mujun.errors import InputError
from mujun.io.inputs import Inputs, read_parcel_layer
from mujun.io.readers import Table
from mujun.io.writers import write_geojson
from mujun.parks import fill_parks, parks_located
from mujun.underuse import footprint_metrics
from mujun.validate import (
    Ledger,
    check_geometry,
    dedupe_parcels,
    find_overlaps,
    nothing_usable,
    usable_parcels,
)

__all__ = ["MemoryEngine"]


class MemoryEngine:
    """The parcel layer as one GeoDataFrame in this process."""

    name: ClassVar[str] = "memory"
    remote: ClassVar[bool] = False

    def __init__(self) -> None:
        self.parcels: gpd.GeoDataFrame | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.parcels = None

    def _layer(self) -> gpd.GeoDataFrame:
        if self.parcels is None:
            raise RuntimeError("the parcel engine has read no layer yet")
        return self.parcels

    def read(self, config: Config, path: Path | None) -> tuple[pd.DataFrame, Table]:
        parcels, table = read_parcel_layer(config, path)
        self.parcels = parcels
        return parcels, table

    def check(self, inputs: Inputs, ledger: Ledger, config: Config) -> int:
        source = inputs.p_src
        self.parcels = usable_parcels(
            gpd.GeoDataFrame(inputs.parcels), ledger, source, config.parcels.placeholder_ids
        )
        if self.parcels.empty:
            raise nothing_usable(source, len(inputs.parcels), ledger)
        return len(self.parcels)

    def reproject(self, inputs: Inputs, ledger: Ledger, config: Config) -> Reprojection:
        usable, source = self._layer(), inputs.p_src
        geodesy.require_crs(usable, source=source)
        total = tuple(float(v) for v in usable.total_bounds)
        gk = geodesy.plan_gauss_kruger(usable.crs, total, source=source)  # type: ignore[arg-type]
        fixed = gk.apply(usable)
        bounds = shapely.bounds(fixed.geometry.array)
        outside = geodesy.outside_extent(fixed.crs, bounds)
        geodesy.check_extent(fixed.crs, bounds, outside, source=source)
        crs = geodesy.choose_working_crs(
            fixed.loc[~outside] if outside.any() else fixed,
            named=config.area.working_crs,
            tolerance_pct=config.area.geodesic_check_pct,
        )
        self.parcels = reproject_step(fixed, crs, ledger, source)
        return Reprojection(crs, [*inputs.parcel_table.crs_notes, *gk.notes])

    def repair(self, ledger: Ledger, config: Config, source: str) -> int:
        tolerance = config.area.overlap_tolerance_m2
        checked = dedupe_parcels(
            check_geometry(self._layer(), ledger, source=source),
            ledger,
            source,
            same_id=config.parcels.same_id,
            tolerance_m2=tolerance,
        )
        find_overlaps(checked, ledger, source=source, tolerance_m2=tolerance)
        if checked.empty:
            raise InputError(f"{source}: no parcel polygon has any area; see the ledger")
        self.parcels = checked
        return len(checked)

    def measure(
        self, ledger: Ledger, config: Config, source: str
    ) -> tuple[gpd.GeoDataFrame, dict[str, float]]:
        checked = self._layer()
        lonlat = geodesy.lonlat_bounds(checked)
        measured, plane, ellipsoidal = measure_step(
            checked, config, ledger=ledger, source=source, lonlat=lonlat
        )
        self.parcels = measured
        return measured, geodesy.area_check(
            [geodesy.area_sums(plane, ellipsoidal)], config.area.geodesic_check_pct
        )

    def assign_parks(self, parcels: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return fill_parks(parcels, parks_located(parcels, parks))

    def builtup_fraction(self, parcels: gpd.GeoDataFrame, path: Path) -> pd.Series:
        from mujun.raster import builtup_fraction  # noqa: PLC0415 - rasterio only when used

        return builtup_fraction(parcels, path)

    def footprints(
        self,
        parcels: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame,
        *,
        double_above_m: float,
        source: str,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        del source  # the in-memory engine reads footprints of any source
        metrics = footprint_metrics(parcels, buildings, double_above_m=double_above_m)
        inside = parcels.sindex.query(buildings.geometry.array, predicate="intersects")[0]
        counted = np.zeros(len(buildings), dtype=bool)
        counted[inside] = True
        return metrics, counted

    def with_geometry(
        self,
        parcels: gpd.GeoDataFrame,
        mask: np.ndarray,  # noqa: ARG002 - the interface's signature
    ) -> gpd.GeoDataFrame:
        return parcels  # the geometries are here already

    def neighbours(
        self,
        parcels: pd.DataFrame,  # noqa: ARG002 - the interface's signature
    ) -> tuple[np.ndarray, np.ndarray] | None:
        return None  # cold spots find them from the geometries

    def write_parcels(
        self, export: gpd.GeoDataFrame, geojson: Path, parquet: Path, *, precision: int
    ) -> None:
        write_geojson(export, geojson, overwrite=True, precision=precision)
        # the same table as GeoParquet in the working CRS, surveyed geometry at full precision,
        # with a bbox covering column so readers can filter by area without reading geometry
        export.to_parquet(parquet, write_covering_bbox=True, compression="zstd")
