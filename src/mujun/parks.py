"""Industrial parks: their polygons, read into the working CRS, and the park of each parcel.

A parcel's park is the one its parcel layer names; where it names none, the park polygon
containing the parcel's representative point (so a parcel on a park's edge belongs to one
park only). The firm's park (:func:`mujun.tables.enterprise_parks`) follows from its land.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from mujun import geodesy
from mujun.config import Config
from mujun.io.readers import read_parks

__all__ = ["fill_parks", "parks_located", "read_park_layer"]


def read_park_layer(path: Path, config: Config, crs: CRS) -> gpd.GeoDataFrame:
    """The park polygons at ``path`` in the working CRS ``crs``."""
    parks = read_parks(path, crs=config.input.parks_crs, columns=config.columns.get("parks"))
    return geodesy.to_working_crs(parks, crs, source=path.name)


def parks_located(parcels: gpd.GeoDataFrame, parks: gpd.GeoDataFrame) -> pd.Series:
    """The park polygon containing each parcel's representative point (aligned to parcels)."""
    points = gpd.GeoDataFrame(geometry=parcels.geometry.representative_point(), crs=parcels.crs)
    hit = gpd.sjoin(points, parks[["park", "geometry"]], how="left", predicate="within")
    return hit.loc[~hit.index.duplicated(keep="first"), "park"].astype("string")


def fill_parks(parcels: gpd.GeoDataFrame, located: pd.Series) -> gpd.GeoDataFrame:
    """Fill ``park`` with ``located`` where the parcel layer does not name one."""
    out = parcels.copy()
    out["park"] = out["park"].fillna(located) if "park" in out else located
    return out
