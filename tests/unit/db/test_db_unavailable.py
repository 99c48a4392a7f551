"""A database server that cannot be reached is ServiceUnavailable (503), raised from the
one place every service goes through (Database.read/write); other errors pass."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from novalith import exceptions
from novalith.db import migration
from novalith.db.api import Database, unavailable
from novalith.db.engine import sqlite_url
from novalith.db.models import Service


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:1/none",
    "mysql+pymysql://root@127.0.0.1:1/none",
], ids=["postgresql", "mariadb"])
def test_an_unreachable_server_is_service_unavailable_at_once(url: str) -> None:
    pytest.importorskip("psycopg" if "psycopg" in url else "pymysql")
    db = Database(url)
    try:
        for use in (db.read, db.write):
            began = time.monotonic()
            with pytest.raises(exceptions.ServiceUnavailable) as info:
                with use() as conn:
                    conn.execute(sa.text("SELECT 1"))
            assert info.value.status == 503 and info.value.safe
            assert "database is unavailable" in str(info.value)
            assert isinstance(info.value.__cause__, sa.exc.OperationalError)
            assert time.monotonic() - began < 5
    finally:
        db.dispose()


def test_other_database_errors_pass_through(tmp_path: Path) -> None:
    db = Database(sqlite_url(str(tmp_path)))
    migration.sync(db)
    svc = Service.__table__
    row = {"uuid": "u-1", "host": "h", "binary": "nova-compute", "topic": "compute",
           "version": 1, "disabled": False, "forced_down": False, "report_count": 0}
    try:
        with db.write() as conn:
            conn.execute(sa.insert(svc).values(**row))
        with pytest.raises(sa.exc.IntegrityError):
            with db.write() as conn:
                conn.execute(sa.insert(svc).values(**row))
        with pytest.raises(sa.exc.OperationalError):  # SQLite's word for a syntax error
            with db.read() as conn:
                conn.execute(sa.text("SELECT * FROM"))
    finally:
        db.dispose()


def test_classification() -> None:
    refused = sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    dropped = sa.exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    duplicate = sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    locked = sa.exc.OperationalError("UPDATE", {}, Exception("database is locked"))
    syntax = sa.exc.OperationalError("SELECT", {}, Exception("incomplete input"))
    for backend in ("postgresql", "mysql"):
        assert isinstance(unavailable(refused, backend), exceptions.ServiceUnavailable)
        assert isinstance(unavailable(dropped, backend), exceptions.ServiceUnavailable)
        assert unavailable(duplicate, backend) is None
    assert isinstance(unavailable(locked, "sqlite"), exceptions.ServiceUnavailable)
    assert unavailable(syntax, "sqlite") is None
    assert isinstance(unavailable(dropped, "sqlite"), exceptions.ServiceUnavailable)


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_value_the_server_cannot_store_is_invalid_input(backend: str, tmp_path: Path) -> None:
    """A NUL character (PostgreSQL) or a too long name (MariaDB, strict mode): a 400."""
    from fixtures.databases import open_database

    bad = "nul\x00name" if backend == "postgresql" else "x" * 300
    svc = Service.__table__
    with open_database(backend, tmp_path) as db:
        with pytest.raises(exceptions.Invalid) as info:
            with db.write() as conn:
                conn.execute(sa.insert(svc).values(
                    uuid="u-1", host=bad, binary="nova-compute", topic="compute", version=1,
                    disabled=False, forced_down=False, report_count=0))
        assert info.value.status == 400 and info.value.text.startswith("Invalid input: ")
        assert isinstance(info.value.__cause__, sa.exc.DataError)
