"""The value-per-acre preset: a US-style parcel table with no enterprise at all."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

import mujun
from mujun.cli import main
from mujun.schema import ACRE_M2

X, Y = 359_000.0, 3_939_000.0  # UTM 17N, Asheville NC


@pytest.fixture
def asheville(tmp_path: Path) -> dict[str, Path]:
    side = float(np.sqrt(ACRE_M2))  # one acre squares
    parcels = gpd.GeoDataFrame(
        {"PIN": ["9648-01", "9648-02", "9648-03"]},
        geometry=[
            box(X, Y, X + side, Y + side),
            box(X + 100, Y, X + 100 + side, Y + side / 5),
            box(X + 200, Y, X + 200 + 2 * side, Y + 17 * side),
        ],
        crs=32617,
    ).to_crs(4326)
    values = pd.DataFrame(
        {
            "PIN": ["9648-01", "9648-02", "9648-02", "9648-03"],
            "Assessed value (USD)": [610_000, 1_100_000, 1_100_000, 20_000_000],
        }
    )
    files = {"parcels": tmp_path / "parcels.geojson", "filings": tmp_path / "values.csv"}
    parcels.to_file(files["parcels"], engine="pyogrio")
    values.to_csv(files["filings"], index=False)
    return files


def test_rows_on_one_parcel_are_summed_per_acre(asheville):
    cfg = mujun.load_config(
        preset="value-per-acre",
        overrides={
            "input": {k: str(v) for k, v in asheville.items()},
            "columns": {"parcels": {"parcel_id": "PIN"}},
        },
    )
    res = mujun.run(cfg)
    assert res.working_crs.to_epsg() == 32617
    got = res.parcels.set_index("parcel_id")
    np.testing.assert_allclose(got["area_acre"], [1.0, 0.2, 34.0], rtol=1e-4)
    np.testing.assert_allclose(
        got["assessed_value_per_acre"], [610_000, 2_200_000 / 0.2, 20_000_000 / 34], rtol=1e-4
    )
    ent = res.enterprises
    assert len(ent) == 4
    assert set(ent["group"]) == {"parcels"}
    assert ent["class"].isna().all()  # the preset grades by score only, no classes
    # the benchmark is the county's total value over total acres
    bench = (610_000 + 2_200_000 + 20_000_000) / 35.2
    np.testing.assert_allclose(ent["benchmark_assessed_value_per_acre"], bench, rtol=1e-4)


def test_value_per_acre_cli_writes_outputs(asheville, tmp_path, capsys):
    code = main(
        [
            "run",
            "--config",
            str(_config(tmp_path)),
            "--parcels",
            str(asheville["parcels"]),
            "--filings",
            str(asheville["filings"]),
            "--out",
            str(tmp_path / "out"),
            "-q",
        ]
    )
    assert code == 0
    page = (tmp_path / "out" / "maps" / "mujun.html").read_text(encoding="utf-8")
    assert "USD/acre" in page


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "asheville.toml"
    path.write_text(
        'preset = "value-per-acre"\n[columns.parcels]\nparcel_id = "PIN"\n', encoding="utf-8"
    )
    return path
