"""[identity] and [token] options of the built-in identity service."""

from __future__ import annotations

from oslo_config import cfg

IDENTITY_OPTS: list[cfg.Opt] = [
    cfg.IntOpt("max_password_length", default=4096, min=1,
               help="Longest password accepted when a user is created or authenticates."),
    cfg.IntOpt("password_hash_cost", default=15, min=10, max=20,
               help="scrypt work factor as log2(N) for new password hashes. Stored hashes "
                    "carry their own parameters, so changing this never locks anyone out."),
]
TOKEN_OPTS: list[cfg.Opt] = [
    cfg.IntOpt("expiration", default=3600, min=1,
               help="Seconds a token stays valid after it is issued."),
    cfg.IntOpt("cache_time", default=30, min=0,
               help="Seconds a validated token is kept in the in-process cache before the "
                    "database is asked again; 0 disables the cache. A token revoked by "
                    "another process stays usable here for at most this long."),
    cfg.IntOpt("cache_size", default=10000, min=1,
               help="Most validated tokens the in-process cache holds."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("identity", IDENTITY_OPTS), ("token", TOKEN_OPTS)]
