"""[api] and [wsgi] options."""

from __future__ import annotations

from oslo_config import cfg

API_OPTS: list[cfg.Opt] = [
    cfg.StrOpt("auth_strategy", default="keystone", choices=["keystone", "noauth2"],
               help="keystone: X-Auth-Token is validated on every request. "
                    "noauth2: for tests only, trusts X-Auth-Token 'user:project'."),
    cfg.IntOpt("max_limit", default=1000, min=1,
               help="Most items a list call returns in one page."),
    cfg.StrOpt("public_endpoint", default="",
               help="Base URL clients reach the API at (e.g. http://controller:8774); "
                    "empty means derived from the listen address."),
]
WSGI_OPTS: list[cfg.Opt] = [
    cfg.HostAddressOpt("listen", default="127.0.0.1", help="Address the API listens on."),
    cfg.PortOpt("port", default=8774, help="Port the API listens on."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("api", API_OPTS), ("wsgi", WSGI_OPTS)]
