"""Every supported input format gives the same result on the tiny county."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mujun
from conftest import tiny_filings, tiny_parcels

VECTOR = {
    "gpkg": lambda g, p: g.to_file(p, layer="parcels", engine="pyogrio"),
    # DBF field names hold 10 bytes: real shapefiles use short names, mapped in the config
    "shp": lambda g, p: g.rename(columns={"登记用地面积(亩)": "DJMJ"}).to_file(
        p, engine="pyogrio", encoding="utf-8"
    ),
    "geojson": lambda g, p: g.to_file(p, driver="GeoJSON", engine="pyogrio"),
    "fgb": lambda g, p: g.to_file(p, driver="FlatGeobuf", engine="pyogrio"),
    "parquet": lambda g, p: g.to_parquet(p),
}


def _run(parcels: Path, filings: Path, **extra) -> pd.DataFrame:
    overrides = {"input": {"parcels": str(parcels), "filings": str(filings)}, **extra}
    return mujun.run(mujun.load_config(overrides=overrides)).parcels.set_index("parcel_id")


@pytest.mark.parametrize("fmt", sorted(VECTOR))
@pytest.mark.parametrize("crs", [4490, 4549])
def test_parcel_formats(tmp_path: Path, fmt: str, crs: int):
    parcels = tmp_path / f"parcels.{fmt}"
    VECTOR[fmt](tiny_parcels().to_crs(crs), parcels)
    filings = tmp_path / "filings.csv"
    tiny_filings().to_csv(filings, index=False, encoding="utf-8-sig")
    extra = {}
    if fmt == "shp":
        extra = {
            "columns": {"parcels": {"declared_area": "DJMJ"}},
            "units": {"parcels": {"declared_area": "亩"}},
        }
    got = _run(parcels, filings, **extra)
    np.testing.assert_allclose(
        got["tax_per_mu"].loc[["P1", "P2", "P3", "P4"]], [2, 2, 2, 3], rtol=1e-6
    )
    assert np.isnan(got.loc["P5", "tax_per_mu"])
    # FlatGeobuf reorders features along its spatial index: compare by parcel id
    np.testing.assert_allclose(
        got.loc[["P1", "P2", "P3", "P4", "P5"], "declared_area_mu"], [15, 27, 15, 30, 15]
    )
    assert got.loc["P2", "park"] == "东区"


def test_xlsx_filings(tmp_path: Path):
    parcels = tmp_path / "parcels.gpkg"
    tiny_parcels().to_file(parcels, engine="pyogrio")
    filings = tmp_path / "filings.xlsx"
    with pd.ExcelWriter(filings, engine="openpyxl") as xl:
        pd.DataFrame({"说明": ["not this sheet"]}).to_excel(xl, sheet_name="说明", index=False)
        tiny_filings().to_excel(xl, sheet_name="企业", index=False)
    cfg = mujun.load_config(
        overrides={"input": {"parcels": str(parcels), "filings": str(filings), "sheet": "企业"}}
    )
    got = mujun.run(cfg).parcels.set_index("parcel_id")["tax_per_mu"]
    np.testing.assert_allclose(got.loc[["P1", "P4"]], [2, 3])


def test_missing_sheet_is_named(tmp_path: Path):
    parcels = tmp_path / "parcels.gpkg"
    tiny_parcels().to_file(parcels, engine="pyogrio")
    filings = tmp_path / "filings.xlsx"
    tiny_filings().to_excel(filings, sheet_name="企业", index=False)
    cfg = mujun.load_config(
        overrides={"input": {"parcels": str(parcels), "filings": str(filings), "sheet": "规上"}}
    )
    with pytest.raises(mujun.errors.InputFileError, match="choose the sheet"):
        mujun.run(cfg)


def test_geoparquet_and_filings_read_at_once_keep_the_order_of_errors(tmp_path: Path):
    """GeoParquet parcels are read in a thread beside the filings (issue 18): a broken parcel
    file is still the error reported when the filings are broken too, and a filings error
    alone still names the filings."""
    good_parcels = tmp_path / "parcels.parquet"
    tiny_parcels().to_parquet(good_parcels)
    bad_parcels = tmp_path / "broken.parquet"
    bad_parcels.write_bytes(b"PAR1 not a parquet file")
    bad_filings = tmp_path / "filings.csv"
    bad_filings.write_text("统一社会信用代码,年度\n", encoding="utf-8")  # no parcel column
    with pytest.raises(mujun.errors.InputFileError, match=r"broken\.parquet cannot be read"):
        _run(bad_parcels, bad_filings)
    with pytest.raises(mujun.errors.MujunError, match=r"filings\.csv"):
        _run(good_parcels, bad_filings)
