"""Engine creation for SQLite (WAL), PostgreSQL (psycopg 3) and MariaDB (PyMySQL)."""

from __future__ import annotations

import os
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def sqlite_url(data_dir: str) -> str:
    return "sqlite:///" + os.path.join(os.path.abspath(data_dir), "novalith.sqlite")


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine tuned for its backend.

    SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable across process
    crashes, not power loss) and a busy timeout so concurrent writers queue
    instead of failing; transactions start with ``BEGIN IMMEDIATE`` so a
    read-then-write never deadlocks on lock upgrade (writes only: see
    :class:`novalith.db.api.Database`).
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True, "json_serializer": _json_dumps,
                              "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        kwargs["pool_size"] = 20
        kwargs["max_overflow"] = 20
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    # Pre-ping replaces connections a server restart dropped; the connect timeout
    # bounds how long a request waits on a server that does not answer (it then
    # fails with 503, see novalith.db.api.unavailable).
    kwargs["pool_pre_ping"] = True
    kwargs["pool_size"] = pool_size
    kwargs["max_overflow"] = max_overflow
    if "connect_timeout" not in parsed.query:
        kwargs["connect_args"] = {"connect_timeout": 5}
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        kwargs["isolation_level"] = "READ COMMITTED"
    return create_engine(url, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("novalith_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
