"""SQL for the identity tables: small functions over an open Connection.

Callers own the transaction; nothing here commits. Rows become the frozen
records of :mod:`novalith.identity.records`.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, Row, Table, select

from novalith.db.models.identity import Project, Role, RoleAssignment, Token, User
from novalith.identity.records import ProjectRecord, RoleRecord, UserRecord

PROJECTS = cast(Table, Project.__table__)
USERS = cast(Table, User.__table__)
ROLES = cast(Table, Role.__table__)
ASSIGNMENTS = cast(Table, RoleAssignment.__table__)
TOKENS = cast(Table, Token.__table__)


def project_record(row: Row[Any]) -> ProjectRecord:
    return ProjectRecord(id=row.id, name=row.name, domain_id=row.domain_id,
                         description=row.description, enabled=bool(row.enabled))


def user_record(row: Row[Any]) -> UserRecord:
    return UserRecord(id=row.id, name=row.name, domain_id=row.domain_id,
                      enabled=bool(row.enabled), default_project_id=row.default_project_id)


def role_record(row: Row[Any]) -> RoleRecord:
    return RoleRecord(id=row.id, name=row.name)


def user_row(conn: Connection, *, user_id: str | None = None, name: str | None = None,
             domain_id: str | None = None) -> Row[Any] | None:
    """The user row (password hash included) by id, or by name within a domain."""
    stmt = select(USERS)
    if user_id is not None:
        stmt = stmt.where(USERS.c.id == user_id)
    else:
        stmt = stmt.where(USERS.c.name == name, USERS.c.domain_id == domain_id)
    return conn.execute(stmt).first()


def project_row(conn: Connection, *, project_id: str | None = None, name: str | None = None,
                domain_id: str | None = None) -> Row[Any] | None:
    stmt = select(PROJECTS)
    if project_id is not None:
        stmt = stmt.where(PROJECTS.c.id == project_id)
    else:
        stmt = stmt.where(PROJECTS.c.name == name, PROJECTS.c.domain_id == domain_id)
    return conn.execute(stmt).first()


def role_row(conn: Connection, ref: str) -> Row[Any] | None:
    """A role by id, or failing that by name."""
    row = conn.execute(select(ROLES).where(ROLES.c.id == ref)).first()
    if row is None:
        row = conn.execute(select(ROLES).where(ROLES.c.name == ref)).first()
    return row


def all_roles(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(ROLES).order_by(ROLES.c.name)))


def assigned_roles(conn: Connection, user_id: str, project_id: str) -> list[Row[Any]]:
    """Roles assigned directly to the user on the project (implied roles not added)."""
    stmt = (
        select(ROLES)
        .join(ASSIGNMENTS, ASSIGNMENTS.c.role_id == ROLES.c.id)
        .where(ASSIGNMENTS.c.user_id == user_id, ASSIGNMENTS.c.project_id == project_id)
        .order_by(ROLES.c.name)
    )
    return list(conn.execute(stmt))


def projects_of_user(conn: Connection, user_id: str) -> list[Row[Any]]:
    """Projects the user holds any role on."""
    sub = select(ASSIGNMENTS.c.project_id).where(ASSIGNMENTS.c.user_id == user_id)
    stmt = select(PROJECTS).where(PROJECTS.c.id.in_(sub)).order_by(PROJECTS.c.name)
    return list(conn.execute(stmt))


def token_row(conn: Connection, key: str) -> Row[Any] | None:
    """A token joined with its user and (when scoped) its project, in one statement."""
    stmt = (
        select(
            TOKENS,
            USERS.c.name.label("user_name"),
            USERS.c.domain_id.label("user_domain_id"),
            USERS.c.enabled.label("user_enabled"),
            PROJECTS.c.name.label("project_name"),
            PROJECTS.c.domain_id.label("project_domain_id"),
            PROJECTS.c.enabled.label("project_enabled"),
        )
        .join(USERS, USERS.c.id == TOKENS.c.user_id)
        .outerjoin(PROJECTS, PROJECTS.c.id == TOKENS.c.project_id)
        .where(TOKENS.c.id == key)
    )
    return conn.execute(stmt).first()
