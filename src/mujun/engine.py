"""The parcel engine: every operation on the parcel layer as a whole, behind one interface.

The pipeline (:mod:`mujun.stages`) never touches the parcel geometries directly: it asks the
engine to read, check, reproject, repair and measure them, to find the park of each parcel,
its built-up cover, its neighbours, and to write the parcel exports. Two engines implement
:class:`ParcelEngine`:

- :class:`mujun.memory.MemoryEngine` (``--engine memory``, the default): one GeoDataFrame
  in this process;
- :class:`mujun.distributed.DaskEngine` (``--engine dask``): the layer in parts on a dask
  cluster; what needs all the parcels is decided on the client from small summaries.

Both run the same step functions (:func:`reproject_step`, :func:`measure_step` and those of
:mod:`mujun.validate` and :mod:`mujun.geodesy`) on their data, in the same order, so their
results are equal row by row (tests/test_distributed.py). An engine is a context manager:
the dask engine's cluster lives exactly as long as the ``with`` block around the run and the
writing of its outputs.

After :meth:`ParcelEngine.measure` the client holds one row of attributes per parcel. With
``remote`` engines that row has no geometry: :meth:`ParcelEngine.with_geometry` fetches the
outlines of the parcels that need them (the underused ones for zones, all for the map).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Protocol, Self

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from mujun import geodesy
from mujun.config import Config
from mujun.io.inputs import Inputs
from mujun.io.readers import Table
from mujun.validate import (
    Ledger,
    implausible_parcels,
    note_declared_area,
    reject_outside,
)

__all__ = [
    "ParcelEngine",
    "Reprojection",
    "measure_step",
    "reproject_step",
]

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class Reprojection:
    """The working CRS and what was done to reach it (notes for the summary)."""

    crs: CRS
    notes: list[str]


class ParcelEngine(Protocol):
    """The parcel-layer operations a run needs (see the module docstring)."""

    name: ClassVar[str]
    remote: ClassVar[bool]
    """Whether the parcels' geometries live elsewhere (fetched with :meth:`with_geometry`)."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def read(self, config: Config, path: Path | None) -> tuple[pd.DataFrame, Table]:
        """Read the layer at ``path`` (None: the database); its attributes (at least
        ``record`` and ``parcel_id``) and column mapping."""
        ...

    def check(self, inputs: Inputs, ledger: Ledger, config: Config) -> int:
        """Reject what is no parcel polygon or has a placeholder id; the number kept."""
        ...

    def reproject(self, inputs: Inputs, ledger: Ledger, config: Config) -> Reprojection:
        """Settle the layer's CRS (and Gauss-Krüger fixes), choose the working CRS, reject
        what lies outside the CRS's area, reproject."""
        ...

    def repair(self, ledger: Ledger, config: Config, source: str) -> int:
        """Repair invalid polygons, resolve repeated ids, note overlaps; the number kept."""
        ...

    def measure(
        self, ledger: Ledger, config: Config, source: str
    ) -> tuple[gpd.GeoDataFrame, dict[str, float]]:
        """Area of every parcel; the parcels' attributes and the plane/ellipsoidal check."""
        ...

    def assign_parks(self, parcels: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """``parcels`` with ``park`` filled from the park polygons where it is missing."""
        ...

    def builtup_fraction(self, parcels: gpd.GeoDataFrame, path: Path) -> pd.Series:
        """The built-up share of each parcel from the raster at ``path``."""
        ...

    def footprints(
        self,
        parcels: gpd.GeoDataFrame,
        buildings: gpd.GeoDataFrame,
        *,
        double_above_m: float,
        source: str,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Coverage, FAR and building count per parcel; which buildings touch a parcel."""
        ...

    def with_geometry(self, parcels: gpd.GeoDataFrame, mask: np.ndarray) -> gpd.GeoDataFrame:
        """``parcels`` with the outlines of the rows in ``mask``."""
        ...

    def neighbours(self, parcels: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
        """Pairs of parcels within ``zone_gap_m`` as positions, or None: found from the
        geometries by the caller."""
        ...

    def write_parcels(
        self, export: gpd.GeoDataFrame, geojson: Path, parquet: Path, *, precision: int
    ) -> None:
        """The parcel exports: GeoJSON (RFC 7946) and GeoParquet (working CRS)."""
        ...


# --- the steps, on one frame of parcels (the whole layer, or one part of it) ---


def reproject_step(
    fixed: gpd.GeoDataFrame, crs: CRS, ledger: Ledger, source: str
) -> gpd.GeoDataFrame:
    """Reject the features outside their CRS's area, reproject the rest to ``crs``."""
    outside = geodesy.outside_extent(fixed.crs, shapely.bounds(fixed.geometry.array))
    kept = reject_outside(fixed, outside, ledger, source=source)
    return geodesy.to_working_crs(kept, crs, source=source)


def measure_step(
    parcels: gpd.GeoDataFrame, config: Config, *, ledger: Ledger, source: str, lonlat: Bounds
) -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray]:
    """Area columns by the configured method, implausible parcels and declared areas off by
    more than the tolerance noted; also both areas for :func:`mujun.geodesy.area_check`.
    ``lonlat`` is the bounds of all the parcels (the ellipsoidal method's centre)."""
    plane = geodesy.plane_area(parcels.geometry)
    ellipsoidal = geodesy.ellipsoidal_area(parcels.geometry, lonlat=lonlat)
    area = ellipsoidal if config.area.method == "ellipsoidal" else plane
    out = implausible_parcels(
        parcels.join(geodesy.area_columns(area.rename("area_m2"))), ledger, source=source
    )
    out = note_declared_area(
        out, ledger, source=source, tolerance_pct=config.area.declared_tolerance_pct
    )
    return out, plane.to_numpy(), ellipsoidal.to_numpy()
