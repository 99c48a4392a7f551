"""The one handle services hold on the database: short read and write transactions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from novalith.db.engine import make_engine


class Database:
    """Owns the engine; hands out transactions.

    ``write()`` is a transaction that will write (on SQLite it takes the write
    lock at BEGIN, so a read-modify-write cannot deadlock); ``read()`` is a
    read-only snapshot. Both commit or roll back on exit.
    """

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine if engine is not None else make_engine(url)
        self.backend = self.engine.dialect.name
        # SQLite has one writer at a time; queueing writers on a Python lock is far
        # cheaper than SQLite's busy handler, which sleeps and retries.
        self._write_lock = threading.Lock() if self.backend == "sqlite" else None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._write_lock is None:
            with self.engine.connect().execution_options(novalith_write=True) as conn:
                with conn.begin():
                    yield conn
            return
        with self._write_lock:
            with self.engine.connect().execution_options(novalith_write=True) as conn:
                with conn.begin():
                    yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()
