"""[database] options."""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.StrOpt("connection", default="", secret=True,
               help="SQLAlchemy URL; empty means SQLite in $state_path/novalith.sqlite. "
                    "postgresql+psycopg://... and mysql+pymysql://... work too."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("database", OPTS)]
