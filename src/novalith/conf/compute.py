"""[compute] options."""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.IntOpt("build_workers", default=16, min=1,
               help="Threads a compute service uses to run instance operations."),
    cfg.IntOpt("shutdown_timeout", default=60, min=0,
               help="Seconds a graceful power-off waits before forcing it."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("compute", OPTS)]
