"""The token cache on its own, and reading IdentityConfig from oslo.config."""

from __future__ import annotations

import datetime as dt

from oslo_config import cfg

from novalith.conf import identity as identity_opts
from novalith.identity import IdentityConfig, TokenInfo
from novalith.identity.tokens import TokenCache, token_hash

NOW = dt.datetime(2026, 1, 1)


def _info(user: str, project: str | None = "p", ttl: int = 3600) -> TokenInfo:
    return TokenInfo(user_id=user, user_name=user, user_domain_id="default",
                     project_id=project, project_name=project, project_domain_id="default",
                     roles=(), methods=("password",), audit_id="a", issued_at=NOW,
                     expires_at=NOW + dt.timedelta(seconds=ttl))


def test_entry_lives_until_ttl_or_expiry() -> None:
    cache = TokenCache(ttl=30)
    cache.put("k", _info("u"), NOW)
    assert cache.get("k", NOW + dt.timedelta(seconds=29)) is not None
    assert cache.get("k", NOW + dt.timedelta(seconds=30)) is None
    cache.put("short", _info("u", ttl=5), NOW)
    assert cache.get("short", NOW + dt.timedelta(seconds=5)) is None


def test_full_cache_drops_oldest() -> None:
    cache = TokenCache(ttl=30, max_size=2)
    for key in ("a", "b", "c"):
        cache.put(key, _info(key), NOW)
    assert len(cache) == 2
    assert cache.get("a", NOW) is None and cache.get("c", NOW) is not None


def test_discard_by_user_and_project() -> None:
    cache = TokenCache(ttl=30)
    cache.put("1", _info("u", "p"), NOW)
    cache.put("2", _info("u", "q"), NOW)
    cache.put("3", _info("v", "p"), NOW)
    cache.discard_user("u", "p")
    assert [cache.get(k, NOW) is not None for k in "123"] == [False, True, True]
    cache.discard_project("p")
    assert cache.get("3", NOW) is None
    cache.discard_user("u")
    assert len(cache) == 0


def test_disabled_cache_stores_nothing() -> None:
    cache = TokenCache(ttl=0)
    cache.put("k", _info("u"), NOW)
    assert not cache.enabled and cache.get("k", NOW) is None


def test_token_hash_is_sha256_hex() -> None:
    assert len(token_hash("abc")) == 64 and token_hash("abc") != token_hash("abd")


def test_config_from_conf() -> None:
    conf = cfg.ConfigOpts()
    for group, opts in identity_opts.list_opts():
        conf.register_opts(opts, group=group)
    conf([])
    assert IdentityConfig.from_conf(conf) == IdentityConfig()
    conf.set_override("expiration", 60, group="token")
    conf.set_override("cache_time", 0, group="token")
    config = IdentityConfig.from_conf(conf)
    assert (config.token_expiration, config.token_cache_time) == (60, 0)
