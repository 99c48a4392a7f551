"""[DEFAULT] options of the separately run services (distributed mode).

``control_exchange`` and ``osapi_compute_workers`` keep their nova.conf names.
"""

from __future__ import annotations

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.StrOpt("control_exchange", default="novalith",
               help="RabbitMQ exchange the RPC topics live in. Deployments sharing one "
                    "broker (and one vhost) must use different exchanges; fanout "
                    "exchanges are per vhost, so a separate vhost is the cleaner split."),
    cfg.IntOpt("rpc_send_retries", default=1, min=0,
               help="Times sending a message reconnects while the broker is unreachable "
                    "before the request fails with 503. 1 lets a connection gone stale "
                    "(broker restarted) reconnect once, and fails in about 3 s while the "
                    "broker is down; each further retry waits longer."),
    cfg.IntOpt("osapi_compute_workers", default=1, min=1,
               help="Processes `novalith api` runs to serve HTTP on its one socket."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [(None, OPTS)]
