"""Typed values the identity service hands out: tokens, users, projects, roles, config."""

from __future__ import annotations

import dataclasses
import datetime as dt

import msgspec
from oslo_config import cfg

from novalith.objects.context import RequestContext

#: The one domain: implicit, never stored.
DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"

#: Role name -> the role names it implies (transitively closed), as Keystone's
#: implied roles: a token carrying ``admin`` also carries ``member`` and ``reader``.
IMPLIED_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("member", "reader"),
    "member": ("reader",),
}


def expand_roles(names: set[str]) -> set[str]:
    """The given role names plus every role they imply."""
    out = set(names)
    for name in names:
        out.update(IMPLIED_ROLES.get(name, ()))
    return out


@dataclasses.dataclass(frozen=True)
class IdentityConfig:
    """The identity service's settings, read once from ``[identity]`` and ``[token]``."""

    token_expiration: int = 3600
    token_cache_time: int = 30
    token_cache_size: int = 10000
    max_password_length: int = 4096
    password_hash_cost: int = 15

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> IdentityConfig:
        return cls(
            token_expiration=conf.token.expiration,
            token_cache_time=conf.token.cache_time,
            token_cache_size=conf.token.cache_size,
            max_password_length=conf.identity.max_password_length,
            password_hash_cost=conf.identity.password_hash_cost,
        )


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a valid token says about its bearer. Times are naive UTC.

    ``roles`` holds ``(id, name)`` pairs with implied roles already expanded; it is
    empty for an unscoped token, whose project fields are all None.
    """

    user_id: str
    user_name: str
    user_domain_id: str
    project_id: str | None
    project_name: str | None
    project_domain_id: str | None
    roles: tuple[tuple[str, str], ...]
    methods: tuple[str, ...]
    audit_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(name for _id, name in self.roles)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_names

    @property
    def is_scoped(self) -> bool:
        return self.project_id is not None

    def to_context(self, request_id: str | None = None) -> RequestContext:
        """The request context of a call made with this token."""
        ctx = RequestContext(
            user_id=self.user_id, user_name=self.user_name,
            project_id=self.project_id, project_name=self.project_name,
            roles=self.role_names,
        )
        return ctx if request_id is None else msgspec.structs.replace(ctx, request_id=request_id)


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A new token: the secret string (shown to the client once) and what it says."""

    token: str
    info: TokenInfo


class ProjectRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    domain_id: str
    description: str | None
    enabled: bool


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    domain_id: str
    enabled: bool
    default_project_id: str | None


class RoleRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
