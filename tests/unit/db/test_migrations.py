"""Alembic migrations build exactly the models' schema, on every supported backend.

SQLite always; PostgreSQL and MariaDB on a fresh database when a server answers
on 127.0.0.1 (otherwise those cases skip, saying why).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import novalith.db.models  # noqa: F401  (registers every table)
from fixtures.databases import BACKENDS, open_database
from novalith.db import migration
from novalith.db.api import Database
from novalith.db.base import Base
from novalith.db.engine import sqlite_url


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database on each backend."""
    with open_database(request.param, tmp_path, sync=False) as database:
        yield database


def tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def schema_diff(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "compare_server_default": False})
        return list(compare_metadata(ctx, Base.metadata))


def test_sync_creates_exactly_the_models_tables(empty_db: Database) -> None:
    assert tables(empty_db) == set()
    assert migration.current(empty_db) is None
    migration.sync(empty_db)
    assert tables(empty_db) == set(Base.metadata.tables) | {"alembic_version"}
    assert migration.current(empty_db) == migration.head()


def test_migrations_and_models_agree(empty_db: Database) -> None:
    """Autogenerate against a synced database finds nothing to do.

    A failure lists what a model changed without a migration (run
    ``novalith.db.migration.revision`` to write one).
    """
    migration.sync(empty_db)
    assert schema_diff(empty_db) == []


def test_sync_is_idempotent_and_keeps_data(empty_db: Database) -> None:
    migration.sync(empty_db)
    with empty_db.write() as conn:
        conn.execute(sa.insert(Base.metadata.tables["roles"]).values(id="r1", name="member"))
    migration.sync(empty_db)
    with empty_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            Base.metadata.tables["roles"])).scalar() == 1
    assert migration.current(empty_db) == migration.head()


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    db = Database(sqlite_url(str(tmp_path)))
    try:
        migration.sync(db)
        _downgrade(db, "base")
        assert tables(db) == {"alembic_version"}
        assert migration.current(db) is None
        migration.sync(db)
        assert schema_diff(db) == []
    finally:
        db.dispose()


def _downgrade(db: Database, revision: str) -> None:
    cfg = migration._config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_history_is_one_linear_chain() -> None:
    script = ScriptDirectory.from_config(migration._config())
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[0].revision == migration.head()
    for rev in revisions:
        assert not rev.is_merge_point and not rev.is_branch_point


def test_alembic_without_a_caller_connection_refuses() -> None:
    with pytest.raises(RuntimeError, match="novalith manage db sync"):
        command.upgrade(migration._config(), "head")
