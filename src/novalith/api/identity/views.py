"""JSON shapes of the Identity v3 API: tokens, entities, version documents, errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from fastapi import Request, Response

from novalith import exceptions
from novalith.identity.records import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    ProjectRecord,
    RoleRecord,
    TokenInfo,
    UserRecord,
)

VERSION_ID = "v3.14"
VERSION_UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPE = "application/vnd.openstack.identity-v3+json"
#: Name of the discovery routes, which sit at the router's mount point itself.
VERSIONS_ROUTE = "identity_versions"

_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
}


class JSONBody(Response):
    """A JSON response serialised with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def base_url(request: Request) -> str:
    """scheme://host:port the client used, no trailing slash."""
    return str(request.base_url).rstrip("/")


def identity_url(request: Request) -> str:
    """The identity endpoint as the client reached it (``<base>/identity``).

    Found by taking the matched route's own path off the end of the request
    path, so the router works under any prefix. Discovery routes sit at the
    prefix itself; every other route's path starts with ``/v3``.
    """
    route = request.scope.get("route")
    template: str = getattr(route, "path", "")
    path: str = request.scope.get("path", "")
    root: str = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    try:
        own = template.format(**request.path_params)
    except (KeyError, IndexError, ValueError):
        own = template
    if own and len(path) > len(own) and path.endswith(own):
        prefix = path[:-len(own)]
    elif getattr(route, "name", "") == VERSIONS_ROUTE or route is None:
        prefix = path
    else:  # a FastAPI that copies included routes with the prefix in their path
        prefix = template[:max(template.rfind("/v3"), 0)]
    return base_url(request) + prefix.rstrip("/")


def timestamp(value: dt.datetime) -> str:
    """Keystone's token time format: ``2026-01-02T03:04:05.000000Z``."""
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond:06d}Z"


def domain_ref(domain_id: str) -> dict[str, str]:
    name = DEFAULT_DOMAIN_NAME if domain_id == DEFAULT_DOMAIN_ID else domain_id
    return {"id": domain_id, "name": name}


def token_body(info: TokenInfo, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The ``{"token": ...}`` document; ``catalog`` None leaves it out (``?nocatalog``)."""
    token: dict[str, Any] = {
        "methods": list(info.methods),
        "user": {
            "domain": domain_ref(info.user_domain_id),
            "id": info.user_id,
            "name": info.user_name,
            "password_expires_at": None,
        },
        "audit_ids": [info.audit_id],
        "expires_at": timestamp(info.expires_at),
        "issued_at": timestamp(info.issued_at),
    }
    if info.project_id is not None:
        token["project"] = {
            "domain": domain_ref(info.project_domain_id or DEFAULT_DOMAIN_ID),
            "id": info.project_id,
            "name": info.project_name,
        }
        token["is_domain"] = False
        token["roles"] = [{"id": rid, "name": name} for rid, name in info.roles]
        if catalog is not None:
            token["catalog"] = catalog
    return {"token": token}


def project_view(project: ProjectRecord, url: str) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description or "",
        "enabled": project.enabled,
        "parent_id": project.domain_id,
        "is_domain": False,
        "tags": [],
        "options": {},
        "links": {"self": f"{url}/v3/projects/{project.id}"},
    }


def user_view(user: UserRecord, url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{url}/v3/users/{user.id}"},
    }
    if user.default_project_id is not None:
        body["default_project_id"] = user.default_project_id
    return body


def role_view(role: RoleRecord, url: str) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "domain_id": None,
        "description": None,
        "options": {},
        "links": {"self": f"{url}/v3/roles/{role.id}"},
    }


def collection(key: str, items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """A list envelope: ``{key: [...], "links": {"self", "previous", "next"}}``."""
    return {key: items, "links": {"self": str(request.url), "previous": None, "next": None}}


def version_entry(url: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": VERSION_UPDATED,
        "links": [{"rel": "self", "href": f"{url}/v3/"}],
        "media-types": [{"base": "application/json", "type": MEDIA_TYPE}],
    }


def error_response(exc: exceptions.NovalithError, request: Request) -> JSONBody:
    """Keystone's error document for ``exc``; 401s carry ``WWW-Authenticate``."""
    status = exc.status
    message = exc.text if exc.safe and status < 500 else "An unexpected error occurred."
    body = {"error": {"code": status, "title": _TITLES.get(status, "Error"),
                      "message": message}}
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = f'Keystone uri="{identity_url(request)}"'
    return JSONBody(body, status_code=status, headers=headers)
