"""IdentityService: password and token authentication, validation, revocation.

Projects, users, roles and role assignments are managed by the mixin in
:mod:`novalith.identity.directory`; this module holds what touches tokens.

Token life: :meth:`authenticate_password` (or :meth:`authenticate_token`, to rescope)
issues a token whose SHA-256 is stored with the roles it carries (implied roles
expanded). :meth:`validate` is the hot path: a cache hit costs no database access;
a miss costs one statement. A token is invalid once expired or revoked, or when its
user is disabled or deleted, or its project disabled or deleted. Removing a role
assignment, disabling or deleting a user or deleting a project revokes the tokens
it affects. Another process's cache may keep a revoked token valid for at most
``[token] cache_time`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, insert, update

from novalith import exceptions
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.identity import passwords, queries
from novalith.identity.directory import DirectoryMixin, domain_id_of
from novalith.identity.queries import TOKENS
from novalith.identity.records import (
    IdentityConfig,
    IssuedToken,
    TokenInfo,
    expand_roles,
)
from novalith.identity.tokens import TokenCache, new_audit_id, new_token, token_hash

LOG = logging.getLogger(__name__)


class IdentityService(DirectoryMixin):
    """Users, projects, roles and tokens of the built-in identity service. Thread-safe."""

    def __init__(self, db: Database, config: IdentityConfig | None = None, *,
                 clock: Callable[[], dt.datetime] = utcnow) -> None:
        """``clock`` returns naive UTC now; tests pass a fake one to move time."""
        self.db = db
        self.config = config if config is not None else IdentityConfig()
        self._clock = clock
        self._cache = TokenCache(self.config.token_cache_time, self.config.token_cache_size)

    # -- authentication ---------------------------------------------------------------

    def authenticate_password(
        self, password: str, *, user_id: str | None = None, user_name: str | None = None,
        user_domain: str = "default", project_id: str | None = None,
        project_name: str | None = None, project_domain: str = "default",
        unscoped: bool = False,
    ) -> IssuedToken:
        """Issue a token for a user proven by password.

        The user is named by ``user_id`` or by ``user_name`` within ``user_domain``
        (domain name or id). The token is scoped to the project named by
        ``project_id`` or ``project_name`` + ``project_domain``; with neither, to the
        user's default project if they hold a role there, else unscoped (no roles).
        ``unscoped=True`` forces an unscoped token.

        Raises NotAuthenticated for an unknown or disabled user, a wrong password,
        or a project that does not exist, is disabled, or where the user has no
        role, without saying which.
        """
        if user_id is None and user_name is None:
            raise exceptions.NotAuthenticated()
        with self.db.read() as conn:
            if user_id is not None:
                row = queries.user_row(conn, user_id=user_id)
            else:
                domain = domain_id_of(user_domain)
                row = None if domain is None else queries.user_row(
                    conn, name=user_name, domain_id=domain)
        cost = self.config.password_hash_cost
        if len(password) > self.config.max_password_length:
            raise exceptions.NotAuthenticated()
        if row is None:
            passwords.dummy_verify(password, cost)
            raise exceptions.NotAuthenticated()
        if not passwords.verify_password(password, row.password_hash) or not row.enabled:
            LOG.info("Password authentication failed for user %s", row.id)
            raise exceptions.NotAuthenticated()
        return self._issue(row.id, ("password",), project_id=project_id,
                           project_name=project_name, project_domain=project_domain,
                           unscoped=unscoped)

    def authenticate_token(
        self, token: str, *, project_id: str | None = None, project_name: str | None = None,
        project_domain: str = "default", unscoped: bool = False,
    ) -> IssuedToken:
        """Issue a new token from a valid one, possibly for another scope (rescoping).

        The new token expires when the old one does. Scope rules and errors are
        those of :meth:`authenticate_password`.
        """
        old = self.validate(token)
        methods = ("token",) + tuple(m for m in old.methods if m != "token")
        return self._issue(old.user_id, methods, project_id=project_id,
                           project_name=project_name, project_domain=project_domain,
                           unscoped=unscoped, expires_at=old.expires_at)

    def _issue(self, user_id: str, methods: tuple[str, ...], *, project_id: str | None,
               project_name: str | None, project_domain: str, unscoped: bool,
               expires_at: dt.datetime | None = None) -> IssuedToken:
        now = self._clock().replace(microsecond=0)
        if expires_at is None:
            expires_at = now + dt.timedelta(seconds=self.config.token_expiration)
        token = new_token()
        with self.db.write() as conn:
            user = queries.user_row(conn, user_id=user_id)
            if user is None or not user.enabled:
                raise exceptions.NotAuthenticated()
            project: Any = None
            roles: tuple[tuple[str, str], ...] = ()
            explicit = project_id is not None or project_name is not None
            if explicit and not unscoped:
                project, roles = self._scope(conn, user_id, project_id, project_name,
                                             project_domain)
            elif not unscoped and user.default_project_id:
                try:
                    project, roles = self._scope(conn, user_id, user.default_project_id,
                                                 None, "default")
                except exceptions.NotAuthenticated:
                    LOG.info("User %s has no role on its default project; token unscoped",
                             user_id)
            info = TokenInfo(
                user_id=user.id, user_name=user.name, user_domain_id=user.domain_id,
                project_id=None if project is None else project.id,
                project_name=None if project is None else project.name,
                project_domain_id=None if project is None else project.domain_id,
                roles=roles, methods=methods, audit_id=new_audit_id(),
                issued_at=now, expires_at=expires_at,
            )
            conn.execute(insert(TOKENS).values(
                id=token_hash(token), user_id=info.user_id, project_id=info.project_id,
                roles=[list(r) for r in roles], methods=list(methods), audit_id=info.audit_id,
                issued_at=now, expires_at=expires_at, revoked=False,
            ))
        self._cache.put(token_hash(token), info, self._clock())
        return IssuedToken(token=token, info=info)

    def _scope(self, conn: Connection, user_id: str, project_id: str | None,
               project_name: str | None, project_domain: str
               ) -> tuple[Any, tuple[tuple[str, str], ...]]:
        """The project row and the (expanded) roles the user holds on it."""
        if project_id is not None:
            project = queries.project_row(conn, project_id=project_id)
        else:
            domain = domain_id_of(project_domain)
            project = None if domain is None else queries.project_row(
                conn, name=project_name, domain_id=domain)
        if project is None or not project.enabled:
            raise exceptions.NotAuthenticated()
        assigned = queries.assigned_roles(conn, user_id, project.id)
        if not assigned:
            raise exceptions.NotAuthenticated()
        names = expand_roles({r.name for r in assigned})
        roles = tuple(sorted(((r.id, r.name) for r in queries.all_roles(conn)
                              if r.name in names), key=lambda r: r[1]))
        return project, roles

    # -- validation and revocation ----------------------------------------------------

    def validate(self, token: str) -> TokenInfo:
        """What ``token`` says, or NotAuthenticated if unknown, expired or revoked.

        Cached in process for ``min(expiry, now + [token] cache_time)``.
        """
        if not token:
            raise exceptions.NotAuthenticated()
        key = token_hash(token)
        now = self._clock()
        info = self._cache.get(key, now)
        if info is not None:
            return info
        with self.db.read() as conn:
            row = queries.token_row(conn, key)
        if (row is None or row.revoked or row.expires_at <= now or not row.user_enabled
                or (row.project_id is not None
                    and (row.project_name is None or not row.project_enabled))):
            raise exceptions.NotAuthenticated()
        info = TokenInfo(
            user_id=row.user_id, user_name=row.user_name, user_domain_id=row.user_domain_id,
            project_id=row.project_id, project_name=row.project_name,
            project_domain_id=row.project_domain_id,
            roles=tuple((str(r[0]), str(r[1])) for r in row.roles or ()),
            methods=tuple(row.methods or ()), audit_id=row.audit_id,
            issued_at=row.issued_at, expires_at=row.expires_at,
        )
        self._cache.put(key, info, now)
        return info

    def revoke(self, token: str) -> None:
        """Revoke ``token``; TokenNotFound if it is unknown, expired or already revoked."""
        key = token_hash(token)
        self._cache.discard(key)
        with self.db.write() as conn:
            result = conn.execute(
                update(TOKENS)
                .where(TOKENS.c.id == key, TOKENS.c.revoked.is_(False),
                       TOKENS.c.expires_at > self._clock())
                .values(revoked=True))
        self._cache.discard(key)
        if result.rowcount == 0:
            raise exceptions.TokenNotFound("Could not find token.")

    def purge_expired_tokens(self) -> int:
        """Delete rows of tokens that have expired; returns how many went."""
        with self.db.write() as conn:
            result = conn.execute(delete(TOKENS).where(TOKENS.c.expires_at <= self._clock()))
        return result.rowcount
