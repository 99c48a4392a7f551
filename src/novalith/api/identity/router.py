"""The Identity v3 HTTP API as one FastAPI router, mounted by the app at ``/identity``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from novalith.api.identity.admin_routes import (
    add_project_routes,
    add_role_routes,
    add_user_routes,
)
from novalith.api.identity.auth_routes import add_auth_routes
from novalith.api.identity.common import KeystoneRoute
from novalith.identity.service import IdentityService


def build_identity_router(identity: IdentityService,
                          catalog: Callable[[str], list[dict[str, Any]]]) -> APIRouter:
    """The identity routes, relative to their mount point (the lead uses ``/identity``).

    ``catalog(base_url)`` returns the service catalog put in project-scoped tokens,
    where ``base_url`` is ``scheme://host:port`` as the client reached us. Every
    route answers errors in Keystone's format, whatever the app does elsewhere.
    """
    router = APIRouter(route_class=KeystoneRoute, tags=["identity"])
    add_auth_routes(router, identity, catalog)
    add_project_routes(router, identity)
    add_user_routes(router, identity)
    add_role_routes(router, identity)
    return router
