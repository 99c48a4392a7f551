"""[database] options."""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.StrOpt("connection", default="", secret=True,
               help="SQLAlchemy URL; empty means SQLite in $state_path/novalith.sqlite. "
                    "postgresql+psycopg://... and mysql+pymysql://... work too."),
    cfg.IntOpt("max_pool_size", default=5, min=1,
               help="Connections each process keeps open to a PostgreSQL or MariaDB "
                    "server (SQLite ignores it). Mind the server's max_connections: every "
                    "service process holds up to max_pool_size + max_overflow."),
    cfg.IntOpt("max_overflow", default=10, min=0,
               help="Connections a process may open beyond max_pool_size under load, "
                    "closed again when returned."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("database", OPTS)]
