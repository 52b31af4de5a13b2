"""PostgreSQL/PostGIS in and out.

Inputs: parcels and filings from a table or a query (``[input] database`` with
``parcels_table``/``parcels_query`` and ``filings_table``/``filings_query``). Outputs: the scored
parcels, the enterprises and the zones as tables ``mujun_parcels``, ``mujun_enterprises`` and
``mujun_zones`` (``[output] database``, ``db_schema``), keyed by ``run_id``: writing a run first
deletes that run's rows, in the same transaction, so rerunning replaces them and never
duplicates them. Geometry tables get a GiST index.

The database is named by a URL (``postgresql://host:5432/db``) or a libpq connection string
(``service=mujun``, ``host=... dbname=...``). The password should come from the environment
(``PGPASSWORD``), ``~/.pgpass`` or a libpq service file; if a URL carries one anyway, it is
masked wherever mujun prints or records the URL (:func:`redact`).

Needs SQLAlchemy, GeoAlchemy2 and psycopg: ``pip install "mujun[postgis]"``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd

from mujun.errors import ConfigError, InputFileError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "OUTPUT_TABLES",
    "frame_digest",
    "provenance",
    "read_query",
    "redact",
    "write_run",
]

OUTPUT_TABLES = {
    "parcels": "mujun_parcels",
    "enterprises": "mujun_enterprises",
    "zones": "mujun_zones",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def redact(url: str) -> str:
    """``url`` with any password masked (``postgresql://u:***@h/db``, ``password=***``)."""
    masked = re.sub(r"(://[^:/@?#]*):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", masked, flags=re.IGNORECASE)


def _engine(url: str) -> Engine:
    try:
        import sqlalchemy  # noqa: PLC0415 - optional dependency
    except ImportError as err:
        raise ConfigError(
            "reading or writing PostGIS needs SQLAlchemy, GeoAlchemy2 and psycopg: "
            'pip install "mujun[postgis]"'
        ) from err
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return sqlalchemy.create_engine(url)
    if url.startswith("postgresql+"):
        return sqlalchemy.create_engine(url)
    conninfo = url  # libpq key=value string: let psycopg parse it (service files, PG* env)
    import psycopg  # noqa: PLC0415

    return sqlalchemy.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo)
    )


@contextmanager
def _connect(url: str, *, write: bool) -> Iterator[Connection]:
    """A connection in one transaction; for reading, a read-only session (every transaction
    of it read-only, so not even a COMMIT inside a query can reach a writable one)."""
    engine = _engine(url)
    try:
        with engine.begin() if write else engine.connect() as conn:
            if not write:
                conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn
    except Exception as err:
        if isinstance(err, ConfigError | InputFileError):
            raise
        # the driver's message can quote the connection string: never show the password
        raise InputFileError(f"database {redact(url)}: {redact(str(err)).splitlines()[0]}") from err
    finally:
        engine.dispose()


def _select(table: str | None, query: str | None, what: str) -> str:
    """The statement reading ``table`` or ``query``. A query is run as a subquery, so it is
    one SELECT (``SELECT 1; DROP TABLE x`` is a syntax error, not two statements), in a
    read-only transaction (:func:`_connect`)."""
    if (table is None) == (query is None):
        raise ConfigError(f"give either {what}_table or {what}_query for a database input")
    if table is not None:
        if not _IDENT.fullmatch(table):
            raise ConfigError(f"{what}_table {table!r} is not a table name (schema.table)")
        return f"SELECT * FROM {table}"  # noqa: S608 - a checked identifier
    body = str(query).strip().rstrip(";").strip()
    return f"SELECT * FROM ({body}\n) AS mujun_{what}"  # noqa: S608 - run read-only


def read_query(
    url: str, *, table: str | None, query: str | None, what: str, spatial: bool
) -> gpd.GeoDataFrame | pd.DataFrame:
    """The rows of ``table`` or ``query``: a GeoDataFrame with the PostGIS geometry column
    (its SRID as CRS) when ``spatial``, else a DataFrame of text cells like a CSV's."""
    sql = _select(table, query, what)
    with _connect(url, write=False) as conn:
        import sqlalchemy  # noqa: PLC0415

        if not spatial:
            frame = pd.read_sql_query(sqlalchemy.text(sql), conn)
            return frame.astype(object).where(frame.notna(), None)
        geom = _geometry_column(conn, sql)
        if geom is None:
            raise InputFileError(
                f"{what} from {redact(url)}: the {'table' if table else 'query'} has no PostGIS "
                "geometry column; add the parcels' geometry column to the select list"
            )
        return gpd.read_postgis(sqlalchemy.text(sql), conn, geom_col=geom)


def _geometry_column(conn: Connection, sql: str) -> str | None:
    import sqlalchemy  # noqa: PLC0415

    oid = conn.execute(sqlalchemy.text("SELECT oid FROM pg_type WHERE typname = 'geometry'"))
    geometry_oid = oid.scalar()
    if geometry_oid is None:
        return None
    result = conn.exec_driver_sql(f"SELECT * FROM ({sql}) AS q LIMIT 0")  # noqa: S608
    cursor = result.cursor
    description = cursor.description if cursor is not None else []
    names = [str(d[0]) for d in description if d[1] == geometry_oid]  # (name, type oid, ...)
    return names[0] if names else None


def provenance(
    url: str, *, table: str | None, query: str | None, frame: pd.DataFrame
) -> dict[str, Any]:
    """What run.json records of a database input: where (password masked), what, how many
    rows, and a hash of the content."""
    what = {"table": table} if table is not None else {"query": query}
    return {"database": redact(url), **what, "rows": len(frame), "sha256": frame_digest(frame)}


def frame_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a table's content (for run.json, in place of a file's hash)."""
    plain = pd.DataFrame(frame).copy()
    for col in plain.columns:
        if isinstance(plain[col].dtype, gpd.array.GeometryDtype):
            plain[col] = gpd.GeoSeries(plain[col]).to_wkb(hex=True)
    hashed = pd.util.hash_pandas_object(plain.astype(str), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def write_run(
    url: str,
    tables: dict[str, pd.DataFrame],
    *,
    run_id: str,
    schema: str = "public",
) -> dict[str, int]:
    """Write ``tables`` (keys of :data:`OUTPUT_TABLES`) for ``run_id``, replacing that run's
    rows in one transaction; returns the rows written per table."""
    if not _IDENT.fullmatch(schema) or "." in schema:
        raise ConfigError(f"db_schema {schema!r} is not a schema name")
    import sqlalchemy  # noqa: PLC0415 - after _engine's check in _connect

    written = {}
    with _connect(url, write=True) as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        inspector = sqlalchemy.inspect(conn)
        present = {n for n in OUTPUT_TABLES.values() if inspector.has_table(n, schema=schema)}
        for name in present:  # the run's rows in every mujun table, also those not written now
            conn.execute(
                # checked identifiers; the run id is a bound parameter
                sqlalchemy.text(f'DELETE FROM "{schema}"."{name}" WHERE run_id = :run'),  # noqa: S608
                {"run": run_id},
            )
        for key, frame in tables.items():
            name = OUTPUT_TABLES[key]
            data = frame.assign(run_id=run_id)
            data = data[["run_id", *[c for c in data.columns if c != "run_id"]]]
            if name in present:
                _add_columns(conn, inspector, data, name, schema)
            _append(conn, data, name, schema)
            if name not in present:
                conn.execute(sqlalchemy.text(f'CREATE INDEX ON "{schema}"."{name}" (run_id)'))
            written[key] = len(data)
    return written


def _sql_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(values.dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(values.dtype):
        return "double precision"
    return "text"


def _add_columns(
    conn: Connection, inspector: Any, data: pd.DataFrame, name: str, schema: str
) -> None:
    """Columns of ``data`` the existing table lacks (a run with --buildings after one
    without), added before the rows are, so that the append never fails half way."""
    import sqlalchemy  # noqa: PLC0415

    have = {c["name"] for c in inspector.get_columns(name, schema=schema)}
    geometry = data.geometry.name if isinstance(data, gpd.GeoDataFrame) else None
    for column in (c for c in data.columns if c not in have and c != geometry):
        quoted = '"' + str(column).replace('"', '""') + '"'
        conn.execute(
            sqlalchemy.text(
                f'ALTER TABLE "{schema}"."{name}" ADD COLUMN {quoted} {_sql_type(data[column])}'
            )
        )


def _append(conn: Connection, data: pd.DataFrame, name: str, schema: str) -> None:
    plain = pd.DataFrame(data).copy()
    for col in plain.columns:  # tuples and lists (parcel id lists) as text
        if (
            plain[col].dtype == object
            and plain[col].map(lambda v: isinstance(v, tuple | list)).any()
        ):
            plain[col] = plain[col].map(
                lambda v: "、".join(map(str, v)) if isinstance(v, tuple | list) else v
            )
    if isinstance(data, gpd.GeoDataFrame):
        # GeoAlchemy2 gives the new table's geometry column a GiST index
        gpd.GeoDataFrame(plain, geometry=data.geometry.name, crs=data.crs).to_postgis(
            name, conn, schema=schema, if_exists="append", index=False
        )
    else:
        plain.to_sql(name, conn, schema=schema, if_exists="append", index=False)
