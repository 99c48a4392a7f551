"""Issuing, validating, caching, expiring and revoking tokens."""

from __future__ import annotations

import hashlib

import pytest
from identity_helpers import FakeClock, StatementLog
from sqlalchemy import select

from novalith import exceptions
from novalith.db.api import Database
from novalith.db.models import Token
from novalith.identity import IdentityConfig, IdentityService


def _scoped(identity: IdentityService, alice: dict[str, str]) -> str:
    return identity.authenticate_password(
        alice["password"], user_name="alice", project_name="demo").token


def test_issue_scoped_token(identity: IdentityService, alice: dict[str, str],
                            clock: FakeClock) -> None:
    issued = identity.authenticate_password("wonderland", user_name="alice",
                                            user_domain="Default", project_name="demo",
                                            project_domain="default")
    info = issued.info
    assert info.user_id == alice["user_id"] and info.user_name == "alice"
    assert info.user_domain_id == "default"
    assert (info.project_id, info.project_name, info.project_domain_id) == (
        alice["project_id"], "demo", "default")
    assert info.role_names == ("member", "reader")  # member implies reader
    assert info.methods == ("password",)
    assert info.issued_at == clock.now.replace(microsecond=0)
    assert (info.expires_at - info.issued_at).total_seconds() == 3600
    assert len(issued.token) >= 32 and info.audit_id


def test_scope_by_project_id_and_user_id(identity: IdentityService,
                                         alice: dict[str, str]) -> None:
    info = identity.authenticate_password(
        "wonderland", user_id=alice["user_id"], project_id=alice["project_id"]).info
    assert info.project_name == "demo"


def test_only_the_hash_is_stored(identity: IdentityService, alice: dict[str, str],
                                 db: Database) -> None:
    token = _scoped(identity, alice)
    with db.read() as conn:
        ids = [row.id for row in conn.execute(select(Token.__table__))]
    assert ids == [hashlib.sha256(token.encode()).hexdigest()]


@pytest.mark.parametrize("kwargs", [
    {"user_name": "alice", "password": "wrong"},
    {"user_name": "nobody", "password": "wonderland"},
    {"user_name": "alice", "password": "wonderland", "user_domain": "other"},
    {"user_id": "0" * 32, "password": "wonderland"},
    {"user_name": "alice", "password": "wonderland", "project_name": "nope"},
    {"user_name": "alice", "password": "wonderland", "project_name": "demo",
     "project_domain": "other"},
])
def test_bad_credentials_or_scope_are_401(identity: IdentityService, alice: dict[str, str],
                                          kwargs: dict[str, str]) -> None:
    password = kwargs.pop("password")
    with pytest.raises(exceptions.NotAuthenticated) as err:
        identity.authenticate_password(password, **kwargs)  # type: ignore[arg-type]
    assert str(err.value) == "The request you have made requires authentication."


def test_project_without_role_is_401(identity: IdentityService, alice: dict[str, str]) -> None:
    identity.create_project("elsewhere")
    with pytest.raises(exceptions.NotAuthenticated):
        identity.authenticate_password("wonderland", user_name="alice",
                                       project_name="elsewhere")


def test_disabled_user_is_401(identity: IdentityService, alice: dict[str, str]) -> None:
    identity.update_user(alice["user_id"], enabled=False)
    with pytest.raises(exceptions.NotAuthenticated):
        _scoped(identity, alice)


def test_unscoped_token_has_no_roles(identity: IdentityService, alice: dict[str, str]) -> None:
    info = identity.authenticate_password("wonderland", user_name="alice").info
    assert info.project_id is None and info.roles == () and not info.is_scoped


def test_default_project_scopes_unless_unscoped(identity: IdentityService,
                                                alice: dict[str, str]) -> None:
    bob = identity.create_user("bob", "pw", default_project_id=alice["project_id"])
    identity.assign_role(bob.id, alice["project_id"], "reader")
    assert identity.authenticate_password("pw", user_name="bob").info.project_name == "demo"
    forced = identity.authenticate_password("pw", user_name="bob", unscoped=True).info
    assert forced.project_id is None


def test_validate_and_context(identity: IdentityService, alice: dict[str, str]) -> None:
    token = _scoped(identity, alice)
    info = identity.validate(token)
    ctx = info.to_context("req-1")
    assert ctx.request_id == "req-1"
    assert (ctx.user_id, ctx.project_id, ctx.roles) == (
        alice["user_id"], alice["project_id"], ("member", "reader"))
    assert ctx.can_write and not ctx.is_admin
    assert info.to_context().request_id.startswith("req-")


@pytest.mark.parametrize("token", ["", "garbage", "x" * 64])
def test_unknown_token_is_401(identity: IdentityService, token: str) -> None:
    with pytest.raises(exceptions.NotAuthenticated):
        identity.validate(token)


def test_validate_from_database_after_cache(db: Database, config: IdentityConfig,
                                            clock: FakeClock, alice: dict[str, str]) -> None:
    first = IdentityService(db, config, clock=clock)
    token = _scoped(first, alice)
    # Another process (a fresh service, empty cache) sees the same token.
    other = IdentityService(db, config, clock=clock)
    assert other.validate(token) == first.validate(token)


def test_cache_reads_database_once_per_ttl(db: Database, config: IdentityConfig,
                                           clock: FakeClock, alice: dict[str, str],
                                           sql_log: StatementLog) -> None:
    token = _scoped(IdentityService(db, config, clock=clock), alice)
    service = IdentityService(db, config, clock=clock)
    before = sql_log.token_selects()
    service.validate(token)
    service.validate(token)
    clock.advance(29)
    service.validate(token)
    assert sql_log.token_selects() - before == 1
    clock.advance(2)  # past the 30 s cache time
    service.validate(token)
    assert sql_log.token_selects() - before == 2


def test_issuing_primes_the_cache(identity: IdentityService, alice: dict[str, str],
                                  sql_log: StatementLog) -> None:
    token = _scoped(identity, alice)
    before = sql_log.token_selects()
    identity.validate(token)
    assert sql_log.token_selects() == before


def test_cache_disabled(db: Database, clock: FakeClock, alice: dict[str, str],
                        sql_log: StatementLog) -> None:
    service = IdentityService(db, IdentityConfig(token_cache_time=0, password_hash_cost=10),
                              clock=clock)
    token = _scoped(service, alice)
    before = sql_log.token_selects()
    service.validate(token)
    service.validate(token)
    assert sql_log.token_selects() - before == 2


def test_expiry(db: Database, clock: FakeClock, alice: dict[str, str]) -> None:
    service = IdentityService(db, IdentityConfig(token_expiration=1, password_hash_cost=10),
                              clock=clock)
    token = _scoped(service, alice)
    service.validate(token)
    clock.advance(1)  # the cache never outlives the token
    with pytest.raises(exceptions.NotAuthenticated):
        service.validate(token)


def test_revoke(identity: IdentityService, alice: dict[str, str]) -> None:
    token = _scoped(identity, alice)
    identity.validate(token)
    identity.revoke(token)
    with pytest.raises(exceptions.NotAuthenticated):
        identity.validate(token)
    with pytest.raises(exceptions.TokenNotFound):
        identity.revoke(token)


def test_rescope_keeps_expiry(identity: IdentityService, alice: dict[str, str],
                              clock: FakeClock) -> None:
    unscoped = identity.authenticate_password("wonderland", user_name="alice")
    clock.advance(60)
    scoped = identity.authenticate_token(unscoped.token, project_name="demo")
    assert scoped.info.project_id == alice["project_id"]
    assert scoped.info.expires_at == unscoped.info.expires_at
    assert scoped.info.methods == ("token", "password")
    with pytest.raises(exceptions.NotAuthenticated):
        identity.authenticate_token("nonsense", project_name="demo")


def test_unassign_revokes_tokens_on_that_project(identity: IdentityService,
                                                 alice: dict[str, str]) -> None:
    token = _scoped(identity, alice)
    unscoped = identity.authenticate_password("wonderland", user_name="alice").token
    identity.unassign_role(alice["user_id"], alice["project_id"], "member")
    with pytest.raises(exceptions.NotAuthenticated):
        identity.validate(token)
    identity.validate(unscoped)


def test_delete_user_and_project_revoke(identity: IdentityService,
                                        alice: dict[str, str]) -> None:
    token = _scoped(identity, alice)
    identity.delete_project(alice["project_id"])
    with pytest.raises(exceptions.NotAuthenticated):
        identity.validate(token)
    unscoped = identity.authenticate_password("wonderland", user_name="alice").token
    identity.delete_user(alice["user_id"])
    with pytest.raises(exceptions.NotAuthenticated):
        identity.validate(unscoped)


def test_password_change_revokes(identity: IdentityService, alice: dict[str, str]) -> None:
    token = _scoped(identity, alice)
    identity.update_user(alice["user_id"], password="new")
    with pytest.raises(exceptions.NotAuthenticated):
        identity.validate(token)
    assert identity.authenticate_password("new", user_name="alice").info.user_name == "alice"


def test_purge_expired(identity: IdentityService, alice: dict[str, str],
                       clock: FakeClock) -> None:
    _scoped(identity, alice)
    assert identity.purge_expired_tokens() == 0
    clock.advance(3601)
    assert identity.purge_expired_tokens() == 1
