"""A real PostgreSQL + PostGIS server for the database tests.

``MUJUN_TEST_DATABASE_URL`` names a server to use. Without it, the fixture starts a throwaway
one from Debian's packages (postgresql, postgresql-*-postgis-3, installed by
scripts/setup-system.sh): ``initdb`` in a temporary folder, listening on a Unix socket only,
trust authentication, run as the ``postgres`` user when the tests run as root. Under CI=true a
missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    for initdb in reversed(found):
        version = initdb.parent.parent.name
        if Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
            return initdb.parent
    return None


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgis() -> Iterator[str]:
    """A URL of an empty database with the PostGIS extension."""
    given = os.environ.get("MUJUN_TEST_DATABASE_URL")
    if given:
        yield given
        return
    bindir = _bindir()
    if bindir is None:
        _missing("PostgreSQL with PostGIS not found; run scripts/setup-system.sh")
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="mujun-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = root / "data"

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "mujun", "--auth=trust", "-E", "UTF8")
    options = f"-k {root} -p {port} -c listen_addresses='' -c fsync=off"
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(root / "log"),
        "-w",
        "-o",
        options,
        "start",
    )
    try:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(
            host=str(root), port=port, user="mujun", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE mujun_test")
        with psycopg.connect(
            host=str(root), port=port, user="mujun", dbname="mujun_test", autocommit=True
        ) as conn:
            conn.execute("CREATE EXTENSION postgis")
        yield f"postgresql://mujun@/mujun_test?host={root}&port={port}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
