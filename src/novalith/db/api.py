"""The one handle services hold on the database: short read and write transactions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from novalith import exceptions
from novalith.db.engine import make_engine

LOG = logging.getLogger(__name__)


def unavailable(exc: sa_exc.DBAPIError, backend: str) -> exceptions.ServiceUnavailable | None:
    """The ServiceUnavailable an error of the database maps to, or None.

    The one place where "the database is not there" becomes an error the API
    answers with 503: a connection SQLAlchemy flags as dropped, any
    OperationalError or InterfaceError of a server backend (refused connection,
    server shutting down, too many clients, deadlock: all "try again later"), and
    SQLite's "database is locked". Other errors (integrity, programming, SQLite's
    syntax errors, which it also calls OperationalError) are bugs or conflicts and
    pass through, except DataError (a value the server cannot store), which
    Database.read/write raise as Invalid (400).
    """
    if exc.connection_invalidated:
        return _UNAVAILABLE()
    if backend == "sqlite":
        if isinstance(exc, sa_exc.OperationalError) and "locked" in str(exc.orig):
            return _UNAVAILABLE()
        return None
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return _UNAVAILABLE()
    return None


def _UNAVAILABLE() -> exceptions.ServiceUnavailable:  # noqa: N802 (reads as a constant)
    return exceptions.ServiceUnavailable("The database is unavailable; try again later.")


class Database:
    """Owns the engine; hands out transactions.

    ``write()`` is a transaction that will write (on SQLite it takes the write
    lock at BEGIN, so a read-modify-write cannot deadlock); ``read()`` is a
    read-only snapshot. Both commit or roll back on exit, and both raise
    ServiceUnavailable when the database server cannot be reached (see
    :func:`unavailable`); the pool's pre-ping replaces dropped connections, so
    service resumes by itself once the server is back.
    """

    def __init__(self, url: str, engine: Engine | None = None, *,
                 pool_size: int = 10, max_overflow: int = 20) -> None:
        self.url = url
        self.engine = engine if engine is not None else make_engine(url, pool_size,
                                                                    max_overflow)
        self.backend = self.engine.dialect.name
        # SQLite has one writer at a time; queueing writers on a Python lock is far
        # cheaper than SQLite's busy handler, which sleeps and retries.
        self._write_lock = threading.Lock() if self.backend == "sqlite" else None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        try:
            if self._write_lock is None:
                with self.engine.connect().execution_options(novalith_write=True) as conn:
                    with conn.begin():
                        yield conn
                return
            with self._write_lock:
                with self.engine.connect().execution_options(novalith_write=True) as conn:
                    with conn.begin():
                        yield conn
        except sa_exc.DBAPIError as exc:
            _reraise_unavailable(exc, self.engine.dialect.name)
            raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn
        except sa_exc.DBAPIError as exc:
            _reraise_unavailable(exc, self.engine.dialect.name)
            raise

    def dispose(self) -> None:
        self.engine.dispose()


def _reraise_unavailable(exc: sa_exc.DBAPIError, backend: str) -> None:
    mapped = unavailable(exc, backend)
    lines = str(exc.orig or exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    if mapped is not None:
        LOG.warning("Database unavailable: %s", first)
        raise mapped from exc
    if isinstance(exc, sa_exc.DataError):
        # A value the server cannot store (a NUL character in text, a number out of its
        # column's range): input validation missed it; a 400, not a 500. SQLite, which
        # stores anything, never gets here.
        raise exceptions.Invalid(f"Invalid input: {first}") from exc
