"""Who is asking: carried from the API through every RPC message."""

from __future__ import annotations

import uuid

import msgspec


def new_request_id() -> str:
    return "req-" + str(uuid.uuid4())


class RequestContext(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str = msgspec.field(default_factory=new_request_id)
    user_id: str | None = None
    project_id: str | None = None
    user_name: str | None = None
    project_name: str | None = None
    roles: tuple[str, ...] = ()
    # Set by the API from the policy rule ``context_is_admin``; None: the admin role.
    admin: bool | None = None

    @property
    def is_admin(self) -> bool:
        return self.admin if self.admin is not None else "admin" in self.roles

    @property
    def can_write(self) -> bool:
        return self.is_admin or "member" in self.roles


def admin_context() -> RequestContext:
    """A context for services acting on their own behalf (periodic tasks)."""
    return RequestContext(roles=("admin",))
