"""Projects, users, roles and role assignments: the management half of IdentityService.

Only the ``default`` domain exists (name ``Default``); it is implicit, never stored.
Ids are 32 hex digits, as Keystone makes them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from novalith import exceptions
from novalith.db.api import Database
from novalith.identity import passwords, queries
from novalith.identity.queries import ASSIGNMENTS, PROJECTS, ROLES, TOKENS, USERS
from novalith.identity.records import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    IdentityConfig,
    ProjectRecord,
    RoleRecord,
    UserRecord,
)
from novalith.identity.tokens import TokenCache

#: Stored as the password hash of a user created without a password: matches nothing.
NO_PASSWORD = "!"


def domain_id_of(ref: str) -> str | None:
    """The domain id named by ``ref`` (a domain id or name), or None if no such domain."""
    return DEFAULT_DOMAIN_ID if ref in (DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME) else None


def _new_id() -> str:
    return uuid.uuid4().hex


def _check_name(field: str, value: object, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise exceptions.ValidationError(
            field=field, detail=f"It must be a non-empty string of at most {max_len} characters.")
    return value


def _check_domain(ref: str) -> str:
    domain = domain_id_of(ref)
    if domain is None:
        raise exceptions.ValidationError(
            field="domain_id", detail=f"Only the domain {DEFAULT_DOMAIN_ID!r} exists.")
    return domain


def _role_not_found(ref: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Could not find role: {ref}.")


class DirectoryMixin:
    """CRUD on projects, users and roles. Needs the attributes IdentityService sets."""

    db: Database
    config: IdentityConfig
    _clock: Callable[[], dt.datetime]
    _cache: TokenCache

    # -- projects ---------------------------------------------------------------------

    def create_project(self, name: str, *, domain: str = DEFAULT_DOMAIN_ID,
                       description: str | None = None, enabled: bool = True) -> ProjectRecord:
        """A new project; Duplicate if the name is taken in the domain."""
        _check_name("name", name, 64)
        domain_id = _check_domain(domain)
        record = ProjectRecord(id=_new_id(), name=name, domain_id=domain_id,
                               description=description, enabled=enabled)
        try:
            with self.db.write() as conn:
                if queries.project_row(conn, name=name, domain_id=domain_id) is not None:
                    raise exceptions.Duplicate(what="Project", key="name", value=name)
                conn.execute(insert(PROJECTS).values(
                    id=record.id, name=name, domain_id=domain_id, description=description,
                    enabled=enabled))
        except IntegrityError as exc:
            raise exceptions.Duplicate(what="Project", key="name", value=name) from exc
        return record

    def get_project(self, project_id: str) -> ProjectRecord:
        with self.db.read() as conn:
            row = queries.project_row(conn, project_id=project_id)
        if row is None:
            raise exceptions.ProjectNotFound(project_id=project_id)
        return queries.project_record(row)

    def find_project(self, name: str, domain: str = DEFAULT_DOMAIN_ID) -> ProjectRecord:
        """A project by name within a domain (name or id); ProjectNotFound if none."""
        domain_id = domain_id_of(domain)
        with self.db.read() as conn:
            row = None if domain_id is None else queries.project_row(
                conn, name=name, domain_id=domain_id)
        if row is None:
            raise exceptions.ProjectNotFound(project_id=name)
        return queries.project_record(row)

    def list_projects(self, *, name: str | None = None, domain: str | None = None,
                      user_id: str | None = None,
                      enabled: bool | None = None) -> list[ProjectRecord]:
        """Projects, filtered; ``user_id`` keeps those the user holds a role on."""
        stmt = select(PROJECTS).order_by(PROJECTS.c.name)
        if name is not None:
            stmt = stmt.where(PROJECTS.c.name == name)
        if domain is not None:
            stmt = stmt.where(PROJECTS.c.domain_id == (domain_id_of(domain) or ""))
        if enabled is not None:
            stmt = stmt.where(PROJECTS.c.enabled.is_(enabled))
        if user_id is not None:
            stmt = stmt.where(PROJECTS.c.id.in_(
                select(ASSIGNMENTS.c.project_id).where(ASSIGNMENTS.c.user_id == user_id)))
        with self.db.read() as conn:
            return [queries.project_record(r) for r in conn.execute(stmt)]

    def delete_project(self, project_id: str) -> None:
        """Delete a project, its role assignments, and revoke the tokens scoped to it."""
        with self.db.write() as conn:
            if queries.project_row(conn, project_id=project_id) is None:
                raise exceptions.ProjectNotFound(project_id=project_id)
            conn.execute(delete(ASSIGNMENTS).where(ASSIGNMENTS.c.project_id == project_id))
            conn.execute(delete(PROJECTS).where(PROJECTS.c.id == project_id))
            self._revoke_tokens(conn, project_id=project_id)
        self._cache.discard_project(project_id)

    # -- users ------------------------------------------------------------------------

    def create_user(self, name: str, password: str | None, *, domain: str = DEFAULT_DOMAIN_ID,
                    default_project_id: str | None = None,
                    enabled: bool = True) -> UserRecord:
        """A new user; its password is stored as a salted scrypt hash.

        A user created without a password cannot authenticate until given one.
        Duplicate if the name is taken in the domain; ValidationError for a bad
        name or password or an unknown default project.
        """
        _check_name("name", name, 255)
        domain_id = _check_domain(domain)
        hashed = NO_PASSWORD if password is None else self._hash(password)
        record = UserRecord(id=_new_id(), name=name, domain_id=domain_id, enabled=enabled,
                            default_project_id=default_project_id)
        try:
            with self.db.write() as conn:
                if queries.user_row(conn, name=name, domain_id=domain_id) is not None:
                    raise exceptions.Duplicate(what="User", key="name", value=name)
                if default_project_id is not None and queries.project_row(
                        conn, project_id=default_project_id) is None:
                    raise exceptions.ValidationError(
                        field="default_project_id", detail="No such project.")
                conn.execute(insert(USERS).values(
                    id=record.id, name=name, domain_id=domain_id, password_hash=hashed,
                    default_project_id=default_project_id, enabled=enabled))
        except IntegrityError as exc:
            raise exceptions.Duplicate(what="User", key="name", value=name) from exc
        return record

    def _hash(self, password: str) -> str:
        if not isinstance(password, str) or len(password) > self.config.max_password_length:
            raise exceptions.ValidationError(
                field="password",
                detail=f"It must be a string of at most "
                       f"{self.config.max_password_length} characters.")
        return passwords.hash_password(password, self.config.password_hash_cost)

    def get_user(self, user_id: str) -> UserRecord:
        with self.db.read() as conn:
            row = queries.user_row(conn, user_id=user_id)
        if row is None:
            raise exceptions.UserNotFound(user_id=user_id)
        return queries.user_record(row)

    def find_user(self, name: str, domain: str = DEFAULT_DOMAIN_ID) -> UserRecord:
        """A user by name within a domain (name or id); UserNotFound if none."""
        domain_id = domain_id_of(domain)
        with self.db.read() as conn:
            row = None if domain_id is None else queries.user_row(
                conn, name=name, domain_id=domain_id)
        if row is None:
            raise exceptions.UserNotFound(user_id=name)
        return queries.user_record(row)

    def list_users(self, *, name: str | None = None,
                   domain: str | None = None) -> list[UserRecord]:
        stmt = select(USERS).order_by(USERS.c.name)
        if name is not None:
            stmt = stmt.where(USERS.c.name == name)
        if domain is not None:
            stmt = stmt.where(USERS.c.domain_id == (domain_id_of(domain) or ""))
        with self.db.read() as conn:
            return [queries.user_record(r) for r in conn.execute(stmt)]

    def update_user(self, user_id: str, *, enabled: bool | None = None,
                    password: str | None = None) -> UserRecord:
        """Enable/disable a user or set its password; either revokes its tokens."""
        values: dict[str, object] = {}
        if enabled is not None:
            values["enabled"] = enabled
        if password is not None:
            values["password_hash"] = self._hash(password)
        with self.db.write() as conn:
            if queries.user_row(conn, user_id=user_id) is None:
                raise exceptions.UserNotFound(user_id=user_id)
            if values:
                conn.execute(update(USERS).where(USERS.c.id == user_id).values(**values))
            if enabled is False or password is not None:
                self._revoke_tokens(conn, user_id=user_id)
            row = queries.user_row(conn, user_id=user_id)
        self._cache.discard_user(user_id)
        assert row is not None
        return queries.user_record(row)

    def delete_user(self, user_id: str) -> None:
        """Delete a user and its role assignments, revoking its tokens."""
        with self.db.write() as conn:
            if queries.user_row(conn, user_id=user_id) is None:
                raise exceptions.UserNotFound(user_id=user_id)
            conn.execute(delete(ASSIGNMENTS).where(ASSIGNMENTS.c.user_id == user_id))
            conn.execute(delete(USERS).where(USERS.c.id == user_id))
            self._revoke_tokens(conn, user_id=user_id)
        self._cache.discard_user(user_id)

    # -- roles ------------------------------------------------------------------------

    def create_role(self, name: str) -> RoleRecord:
        """A new role; Duplicate if the name is taken."""
        _check_name("name", name, 255)
        record = RoleRecord(id=_new_id(), name=name)
        try:
            with self.db.write() as conn:
                if conn.execute(select(ROLES).where(ROLES.c.name == name)).first():
                    raise exceptions.Duplicate(what="Role", key="name", value=name)
                conn.execute(insert(ROLES).values(id=record.id, name=name))
        except IntegrityError as exc:
            raise exceptions.Duplicate(what="Role", key="name", value=name) from exc
        return record

    def ensure_role(self, name: str) -> RoleRecord:
        """The role called ``name``, created if missing. Idempotent."""
        try:
            return self.create_role(name)
        except exceptions.Duplicate:
            return self.get_role(name)

    def get_role(self, role: str) -> RoleRecord:
        """A role by id or name; NotFound if neither matches."""
        with self.db.read() as conn:
            row = queries.role_row(conn, role)
        if row is None:
            raise _role_not_found(role)
        return queries.role_record(row)

    def list_roles(self, *, name: str | None = None) -> list[RoleRecord]:
        stmt = select(ROLES).order_by(ROLES.c.name)
        if name is not None:
            stmt = stmt.where(ROLES.c.name == name)
        with self.db.read() as conn:
            return [queries.role_record(r) for r in conn.execute(stmt)]

    # -- assignments ------------------------------------------------------------------

    def assign_role(self, user: str, project: str, role: str) -> None:
        """Give user ``user`` (id) role ``role`` (id or name) on project ``project`` (id).

        Idempotent. Tokens already issued keep the roles they were issued with.
        """
        with self.db.write() as conn:
            role_id = self._check_assignment(conn, user, project, role)
            exists = conn.execute(select(ASSIGNMENTS).where(
                ASSIGNMENTS.c.user_id == user, ASSIGNMENTS.c.project_id == project,
                ASSIGNMENTS.c.role_id == role_id)).first()
            if exists is None:
                conn.execute(insert(ASSIGNMENTS).values(
                    user_id=user, project_id=project, role_id=role_id))

    def unassign_role(self, user: str, project: str, role: str) -> None:
        """Take ``role`` (id or name) away from user ``user`` on project ``project`` (ids).

        Revokes the user's tokens scoped to the project; NotFound if not assigned.
        """
        with self.db.write() as conn:
            role_id = self._check_assignment(conn, user, project, role)
            result = conn.execute(delete(ASSIGNMENTS).where(
                ASSIGNMENTS.c.user_id == user, ASSIGNMENTS.c.project_id == project,
                ASSIGNMENTS.c.role_id == role_id))
            if result.rowcount == 0:
                raise exceptions.NotFound("Could not find role assignment.")
            self._revoke_tokens(conn, user_id=user, project_id=project)
        self._cache.discard_user(user, project)

    def list_user_roles(self, user_id: str, project_id: str) -> list[RoleRecord]:
        """Roles assigned to the user on the project (implied roles not added)."""
        with self.db.read() as conn:
            return [queries.role_record(r)
                    for r in queries.assigned_roles(conn, user_id, project_id)]

    def _check_assignment(self, conn: Connection, user_id: str, project_id: str,
                          role: str) -> str:
        if queries.user_row(conn, user_id=user_id) is None:
            raise exceptions.UserNotFound(user_id=user_id)
        if queries.project_row(conn, project_id=project_id) is None:
            raise exceptions.ProjectNotFound(project_id=project_id)
        row = queries.role_row(conn, role)
        if row is None:
            raise _role_not_found(role)
        return str(row.id)

    def _revoke_tokens(self, conn: Connection, *, user_id: str | None = None,
                       project_id: str | None = None) -> None:
        """Revoke live tokens of a user and/or project, inside the caller's transaction.

        The caller drops them from the cache after the commit.
        """
        stmt = update(TOKENS).where(TOKENS.c.revoked.is_(False),
                                    TOKENS.c.expires_at > self._clock())
        if user_id is not None:
            stmt = stmt.where(TOKENS.c.user_id == user_id)
        if project_id is not None:
            stmt = stmt.where(TOKENS.c.project_id == project_id)
        conn.execute(stmt.values(revoked=True))
