"""PostGIS in and out, against a real PostgreSQL server with PostGIS (tests/pg.py)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy

from conftest import run_mujun, tiny_filings, tiny_parcels
from mujun.cli import main
from mujun.io.postgis import redact

pytestmark = pytest.mark.postgis


def _engine(url: str) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine("postgresql+psycopg://" + url.split("://", 1)[1])


@pytest.fixture(scope="module")
def county(postgis: str) -> str:
    """The tiny county in schema ``tiny``: parcels in EPSG:4490 (SRID 4490), filings as text
    cells under their Chinese headers, as a county's database would hold them."""
    engine = _engine(postgis)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP SCHEMA IF EXISTS tiny CASCADE; CREATE SCHEMA tiny"))
        tiny_parcels().to_crs(4490).rename_geometry("geom").to_postgis(
            "parcels", conn, schema="tiny", index=False
        )
        tiny_filings().astype(str).to_sql("filings", conn, schema="tiny", index=False)
    engine.dispose()
    return postgis


def _db_run(url: str, out: Path, *extra: str) -> int:
    return main(["run", "--db", url, "--out", str(out), "-q", "--overwrite", *extra])


def _properties(out: Path) -> pd.DataFrame:
    doc = json.loads((out / "exports" / "parcels.geojson").read_text(encoding="utf-8"))
    return pd.DataFrame([f["properties"] for f in doc["features"]]).set_index("parcel_id")


def test_database_inputs_give_the_same_result_as_files(county, tiny_files, tmp_path):
    assert run_mujun(tiny_files, tmp_path / "files") == 0
    code = _db_run(
        county,
        tmp_path / "db",
        "--parcels-table",
        "tiny.parcels",
        "--filings-table",
        "tiny.filings",
    )
    assert code == 0
    files, db = _properties(tmp_path / "files"), _properties(tmp_path / "db")
    assert list(db.index) == ["P1", "P2", "P3", "P4", "P5"]
    for col in ("area_mu", "tax_per_mu", "value_added_per_mu", "vacant", "enterprises"):
        pd.testing.assert_series_equal(db[col], files[col], check_names=False)
    assert db.loc["P1", "tax_per_mu"] == pytest.approx(2.0)  # 30 万元 on 15 mu
    run = json.loads((tmp_path / "db" / "exports" / "run.json").read_text(encoding="utf-8"))
    assert run["inputs"]["parcels"]["table"] == "tiny.parcels"
    assert run["inputs"]["parcels"]["rows"] == 5
    assert len(run["inputs"]["filings"]["sha256"]) == 64
    ledger = pd.read_csv(tmp_path / "db" / "exports" / "ledger.csv")
    assert set(ledger["source"]) == {"postgis:tiny.parcels", "postgis:tiny.filings"}


def test_a_query_as_input(county, tmp_path):
    query = "SELECT * FROM tiny.parcels WHERE \"园区\" = '东区'"
    code = _db_run(county, tmp_path, "--parcels-query", query, "--filings-table", "tiny.filings")
    assert code == 0
    assert sorted(_properties(tmp_path).index) == ["P1", "P2", "P3"]


def test_results_written_back_idempotently_with_indexes(county, tiny_files, tmp_path):
    args = ["--to-db", county, "--db-schema", "results"]
    assert run_mujun(tiny_files, tmp_path, "--overwrite", *args, "--run-id", "t1") == 0
    assert run_mujun(tiny_files, tmp_path, "--overwrite", *args, "--run-id", "t1") == 0  # again
    assert run_mujun(tiny_files, tmp_path, "--overwrite", *args, "--run-id", "t2") == 0
    engine = _engine(county)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sqlalchemy.text(
                    "SELECT run_id, count(*) FROM results.mujun_parcels GROUP BY run_id"
                )
            ).all()
        )
        firms = conn.execute(
            sqlalchemy.text("SELECT count(*) FROM results.mujun_enterprises WHERE run_id = 't1'")
        ).scalar()
        indexes = [
            row[0]
            for row in conn.execute(
                sqlalchemy.text(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = 'results' "
                    "AND tablename = 'mujun_parcels'"
                )
            )
        ]
        parcels = gpd.read_postgis(
            "SELECT * FROM results.mujun_parcels WHERE run_id = 't1' ORDER BY parcel_id",
            conn,
            geom_col="geometry",
        )
    engine.dispose()
    assert counts == {"t1": 5, "t2": 5}  # rerunning t1 replaced its rows
    assert firms == len(pd.read_csv(tmp_path / "exports" / "enterprises.csv"))
    assert any("USING gist (geometry)" in d for d in indexes)
    assert any("(run_id)" in d for d in indexes)
    assert parcels.crs.to_epsg() == 4549  # the working CRS
    assert parcels.geometry.area.round(3).tolist() == [10000.0, 20000.0, 10000.0, 20000.0, 10000.0]


def test_a_password_never_reaches_logs_or_run_json(county, tmp_path, capsys):
    # trust authentication ignores the password; mujun must still never print or record it
    secret = "s3cr3t-Pa55"
    url = county.replace("://mujun@", f"://mujun:{secret}@")
    code = main(
        ["run", "--db", url, "--parcels-table", "tiny.parcels", "--filings-table", "tiny.filings",
         "--to-db", url, "--out", str(tmp_path), "--overwrite"]
    )  # fmt: skip
    assert code == 0
    run_json = (tmp_path / "exports" / "run.json").read_text(encoding="utf-8")
    printed = capsys.readouterr()
    assert secret not in run_json + printed.out + printed.err
    assert redact(url) in run_json
    assert "mujun:***@" in redact(url)
    code = main(
        ["run", "--db", url, "--parcels-table", "tiny.nothing", "--filings-table", "tiny.filings",
         "--out", str(tmp_path / "x")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "tiny.nothing" in err
    assert secret not in err


def test_redact_forms():
    assert redact("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("host=h dbname=db password=pw user=u") == "host=h dbname=db password=*** user=u"
    assert redact("service=mujun") == "service=mujun"


def _count(url: str, sql: str) -> int:
    engine = _engine(url)
    with engine.connect() as conn:
        value = conn.execute(sqlalchemy.text(sql)).scalar()
    engine.dispose()
    return int(value or 0)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM tiny.parcels; COMMIT; DROP TABLE tiny.filings",
        "SELECT * FROM tiny.parcels; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; "
        "DROP TABLE tiny.filings",
        "WITH d AS (DELETE FROM tiny.filings RETURNING *) SELECT * FROM tiny.parcels",
    ],
)
def test_queries_run_read_only(county, tmp_path, capsys, query):
    code = _db_run(county, tmp_path, "--parcels-query", query, "--filings-table", "tiny.filings")
    assert code == 2
    assert "database" in capsys.readouterr().err
    assert _count(county, "SELECT count(*) FROM tiny.filings") == 7  # still there, whole


def test_a_rerun_replaces_the_runs_rows_in_every_table_and_adds_columns(
    county, tiny_files, tmp_path
):
    """t3 first with zones and no buildings, then again with footprints (more columns) and
    no underused land (so no zones): the zones of the first t3 go, the new columns arrive."""
    args = ["--to-db", county, "--db-schema", "again", "--run-id", "t3"]
    singles = tmp_path / "single-zones.toml"  # the tiny parcels are 50 m apart: lone zones
    singles.write_text("[underuse]\nzone_min_parcels = 1\n", encoding="utf-8")
    assert run_mujun(tiny_files, tmp_path / "a", *args, "--config", str(singles)) == 0
    zones = "SELECT count(*) FROM again.mujun_zones WHERE run_id = 't3'"
    assert _count(county, zones) > 0
    buildings = tmp_path / "b.gpkg"
    gpd.GeoDataFrame(
        {"楼层": [2]}, geometry=[tiny_parcels().geometry.iloc[0].buffer(-20)], crs=4549
    ).to_file(buildings, engine="pyogrio")
    filings = tiny_filings()
    filings.loc[4, "宗地号"] = "P5"  # E on P5: no parcel vacant
    files = {"parcels": tiny_files["parcels"], "filings": tmp_path / "busy.csv"}
    filings.to_csv(files["filings"], index=False, encoding="utf-8-sig")
    config = tmp_path / "nothing-underused.toml"
    config.write_text(
        "[underuse]\ntax_floor_per_mu = 0\ncoverage_min = 0\nflag_last_class = false\n"
        "streak_years = 99\n",
        encoding="utf-8",
    )
    extra = ["--buildings", str(buildings), "--config", str(config)]
    assert run_mujun(files, tmp_path / "b", *args, *extra) == 0
    assert not (tmp_path / "b" / "exports" / "zones.geojson").exists()
    assert _count(county, zones) == 0
    columns = (
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'again' "
        "AND table_name = 'mujun_parcels' AND column_name = 'n_buildings'"
    )
    assert _count(county, columns) == 1
    one = "SELECT count(*) FROM again.mujun_parcels WHERE run_id = 't3' AND n_buildings = 1"
    assert _count(county, one) == 1
