"""Fixtures for the identity unit tests: a fresh SQLite schema and a movable clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from identity_helpers import FakeClock, StatementLog
from sqlalchemy import event

import novalith.db.models  # noqa: F401  (registers every table on Base.metadata)
from novalith.db.api import Database
from novalith.db.base import Base
from novalith.identity import IdentityConfig, IdentityService


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/t.sqlite")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> IdentityConfig:
    return IdentityConfig(token_expiration=3600, token_cache_time=30, password_hash_cost=10)


@pytest.fixture
def identity(db: Database, config: IdentityConfig, clock: FakeClock) -> IdentityService:
    return IdentityService(db, config, clock=clock)


@pytest.fixture
def sql_log(db: Database) -> StatementLog:
    log = StatementLog()

    @event.listens_for(db.engine, "before_cursor_execute")
    def _record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        log.statements.append(statement)

    return log


@pytest.fixture
def alice(identity: IdentityService) -> dict[str, str]:
    """A member of project 'demo' with password 'wonderland'."""
    project = identity.create_project("demo")
    user = identity.create_user("alice", "wonderland")
    identity.ensure_role("reader")
    identity.ensure_role("member")
    identity.assign_role(user.id, project.id, "member")
    return {"user_id": user.id, "project_id": project.id, "password": "wonderland"}
