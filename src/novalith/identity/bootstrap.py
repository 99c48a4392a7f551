"""First-run set-up: the standard roles, the admin and service projects, the admin user."""

from __future__ import annotations

import dataclasses
import secrets

from novalith import exceptions
from novalith.identity.records import IMPLIED_ROLES
from novalith.identity.service import IdentityService

ADMIN_USER = "admin"
ADMIN_PROJECT = "admin"
SERVICE_PROJECT = "service"
STANDARD_ROLES = ("admin", "member", "reader")


@dataclasses.dataclass(frozen=True)
class BootstrapResult:
    """What :func:`bootstrap` did.

    ``created`` is False when the admin user already existed (then nothing about
    it was changed). ``generated_password`` is set only when this call created the
    user with a password it made up: print it once, it is not stored anywhere.
    """

    created: bool
    user_id: str
    project_id: str
    generated_password: str | None = None


def _ensure_project(identity: IdentityService, name: str, description: str) -> str:
    try:
        return identity.find_project(name).id
    except exceptions.ProjectNotFound:
        pass
    try:
        return identity.create_project(name, description=description).id
    except exceptions.Duplicate:  # another process made it meanwhile
        return identity.find_project(name).id


def bootstrap(identity: IdentityService, admin_password: str | None) -> BootstrapResult:
    """Create what a fresh cloud needs; safe to run any number of times.

    Always makes sure the roles admin, member and reader (admin implies member and
    reader, member implies reader) and the projects ``admin`` and ``service``
    exist. If the user ``admin`` exists, leaves it alone; otherwise creates it
    with ``admin_password`` (or a generated one, returned) and gives it the admin
    role on the admin project.
    """
    assert set(IMPLIED_ROLES) <= set(STANDARD_ROLES)
    for role in STANDARD_ROLES:
        identity.ensure_role(role)
    project_id = _ensure_project(identity, ADMIN_PROJECT, "Bootstrap project for the admin")
    _ensure_project(identity, SERVICE_PROJECT, "Project of the service users")
    try:
        existing = identity.find_user(ADMIN_USER)
        return BootstrapResult(created=False, user_id=existing.id, project_id=project_id)
    except exceptions.UserNotFound:
        pass
    generated = secrets.token_urlsafe(18) if admin_password is None else None
    password = admin_password if admin_password is not None else generated
    try:
        user = identity.create_user(ADMIN_USER, password)
    except exceptions.Duplicate:  # another process bootstrapped meanwhile
        existing = identity.find_user(ADMIN_USER)
        return BootstrapResult(created=False, user_id=existing.id, project_id=project_id)
    identity.assign_role(user.id, project_id, "admin")
    return BootstrapResult(created=True, user_id=user.id, project_id=project_id,
                           generated_password=generated)
