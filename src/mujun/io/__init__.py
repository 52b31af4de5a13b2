"""Readers and writers for parcels, filings, parks and the run's outputs."""

from mujun.io.readers import read_filings, read_parcels, read_parks
from mujun.io.writers import write_csv, write_geojson, write_json

__all__ = ["read_filings", "read_parcels", "read_parks", "write_csv", "write_geojson", "write_json"]
