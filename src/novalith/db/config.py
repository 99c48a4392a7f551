"""Which database a process uses, from ``[database]``: kept apart from novalith.cloud so
that the scheduler, conductor and compute processes need not import the API."""

from __future__ import annotations

from oslo_config import cfg

from novalith.db.api import Database
from novalith.db.engine import sqlite_url


def database_url(conf: cfg.ConfigOpts) -> str:
    return conf.database.connection or sqlite_url(conf.state_path)


def open_database(conf: cfg.ConfigOpts) -> Database:
    """The process's Database, pooled as ``[database]`` says."""
    return Database(database_url(conf), pool_size=conf.database.max_pool_size,
                    max_overflow=conf.database.max_overflow)
