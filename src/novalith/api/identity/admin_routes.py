"""``/v3/projects``, ``/v3/users``, ``/v3/roles`` and role assignments.

Admin only, except that a user may read itself, the projects it holds roles on,
and its own roles there.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from novalith import exceptions
from novalith.api.identity import views
from novalith.api.identity.common import (
    RequestBody,
    body_object,
    caller,
    field,
    forbid,
    query_bool,
    require_admin,
    require_admin_or_self,
)
from novalith.api.identity.views import JSONBody
from novalith.identity.records import DEFAULT_DOMAIN_ID
from novalith.identity.service import IdentityService


def add_project_routes(router: APIRouter, identity: IdentityService) -> None:
    @router.get("/v3/projects", name="identity_list_projects")
    def list_projects(request: Request) -> Response:
        require_admin(caller(identity, request), "list_projects")
        q = request.query_params
        projects = identity.list_projects(name=q.get("name"), domain=q.get("domain_id"),
                                          enabled=query_bool(request, "enabled"))
        url = views.identity_url(request)
        return JSONBody(views.collection(
            "projects", [views.project_view(p, url) for p in projects], request))

    @router.post("/v3/projects", name="identity_create_project", status_code=201)
    def create_project(request: Request, body: RequestBody = None) -> Response:
        require_admin(caller(identity, request), "create_project")
        obj = body_object(body, "project")
        enabled = field(obj, "enabled", bool)
        project = identity.create_project(
            field(obj, "name", str, required=True),
            domain=field(obj, "domain_id", str) or DEFAULT_DOMAIN_ID,
            description=field(obj, "description", str),
            enabled=True if enabled is None else enabled)
        return JSONBody({"project": views.project_view(project, views.identity_url(request))},
                        status_code=201)

    @router.get("/v3/projects/{project_id}", name="identity_get_project")
    def get_project(project_id: str, request: Request) -> Response:
        me = caller(identity, request)
        if not me.is_admin and not any(
                p.id == project_id for p in identity.list_projects(user_id=me.user_id)):
            raise forbid("get_project")
        project = identity.get_project(project_id)
        return JSONBody({"project": views.project_view(project, views.identity_url(request))})

    @router.delete("/v3/projects/{project_id}", name="identity_delete_project",
                   status_code=204)
    def delete_project(project_id: str, request: Request) -> Response:
        require_admin(caller(identity, request), "delete_project")
        identity.delete_project(project_id)
        return Response(status_code=204)


def add_user_routes(router: APIRouter, identity: IdentityService) -> None:
    @router.get("/v3/users", name="identity_list_users")
    def list_users(request: Request) -> Response:
        require_admin(caller(identity, request), "list_users")
        q = request.query_params
        users = identity.list_users(name=q.get("name"), domain=q.get("domain_id"))
        url = views.identity_url(request)
        return JSONBody(views.collection(
            "users", [views.user_view(u, url) for u in users], request))

    @router.post("/v3/users", name="identity_create_user", status_code=201)
    def create_user(request: Request, body: RequestBody = None) -> Response:
        require_admin(caller(identity, request), "create_user")
        obj = body_object(body, "user")
        enabled = field(obj, "enabled", bool)
        user = identity.create_user(
            field(obj, "name", str, required=True), field(obj, "password", str),
            domain=field(obj, "domain_id", str) or DEFAULT_DOMAIN_ID,
            default_project_id=field(obj, "default_project_id", str),
            enabled=True if enabled is None else enabled)
        return JSONBody({"user": views.user_view(user, views.identity_url(request))},
                        status_code=201)

    @router.get("/v3/users/{user_id}", name="identity_get_user")
    def get_user(user_id: str, request: Request) -> Response:
        require_admin_or_self(caller(identity, request), user_id, "get_user")
        user = identity.get_user(user_id)
        return JSONBody({"user": views.user_view(user, views.identity_url(request))})

    @router.patch("/v3/users/{user_id}", name="identity_update_user")
    def update_user(user_id: str, request: Request, body: RequestBody = None) -> Response:
        require_admin(caller(identity, request), "update_user")
        obj = body_object(body, "user")
        unsupported = set(obj) - {"enabled", "password"}
        if unsupported:
            raise exceptions.ValidationError(
                field=sorted(unsupported)[0], detail="This attribute cannot be changed here.")
        user = identity.update_user(user_id, enabled=field(obj, "enabled", bool),
                                    password=field(obj, "password", str))
        return JSONBody({"user": views.user_view(user, views.identity_url(request))})

    @router.delete("/v3/users/{user_id}", name="identity_delete_user", status_code=204)
    def delete_user(user_id: str, request: Request) -> Response:
        require_admin(caller(identity, request), "delete_user")
        identity.delete_user(user_id)
        return Response(status_code=204)

    @router.get("/v3/users/{user_id}/projects", name="identity_list_user_projects")
    def list_user_projects(user_id: str, request: Request) -> Response:
        require_admin_or_self(caller(identity, request), user_id, "list_user_projects")
        identity.get_user(user_id)
        url = views.identity_url(request)
        return JSONBody(views.collection(
            "projects", [views.project_view(p, url)
                         for p in identity.list_projects(user_id=user_id)], request))


def add_role_routes(router: APIRouter, identity: IdentityService) -> None:
    @router.get("/v3/roles", name="identity_list_roles")
    def list_roles(request: Request) -> Response:
        require_admin(caller(identity, request), "list_roles")
        roles = identity.list_roles(name=request.query_params.get("name"))
        url = views.identity_url(request)
        return JSONBody(views.collection(
            "roles", [views.role_view(r, url) for r in roles], request))

    @router.get("/v3/roles/{role_id}", name="identity_get_role")
    def get_role(role_id: str, request: Request) -> Response:
        require_admin(caller(identity, request), "get_role")
        role = identity.get_role(role_id)
        return JSONBody({"role": views.role_view(role, views.identity_url(request))})

    assignment = "/v3/projects/{project_id}/users/{user_id}/roles"

    @router.get(assignment, name="identity_list_user_project_roles")
    def list_assigned(project_id: str, user_id: str, request: Request) -> Response:
        require_admin_or_self(caller(identity, request), user_id,
                              "list_grants")
        identity.get_project(project_id)
        identity.get_user(user_id)
        url = views.identity_url(request)
        roles = identity.list_user_roles(user_id, project_id)
        return JSONBody(views.collection(
            "roles", [views.role_view(r, url) for r in roles], request))

    @router.put(assignment + "/{role_id}", name="identity_assign_role", status_code=204)
    def assign(project_id: str, user_id: str, role_id: str, request: Request) -> Response:
        require_admin(caller(identity, request), "create_grant")
        identity.assign_role(user_id, project_id, role_id)
        return Response(status_code=204)

    @router.head(assignment + "/{role_id}", name="identity_check_role", status_code=204)
    def check(project_id: str, user_id: str, role_id: str, request: Request) -> Response:
        require_admin_or_self(caller(identity, request), user_id, "check_grant")
        role = identity.get_role(role_id)
        if all(r.id != role.id for r in identity.list_user_roles(user_id, project_id)):
            raise exceptions.NotFound("Could not find role assignment.")
        return Response(status_code=204)

    @router.delete(assignment + "/{role_id}", name="identity_unassign_role",
                   status_code=204)
    def unassign(project_id: str, user_id: str, role_id: str, request: Request) -> Response:
        require_admin(caller(identity, request), "revoke_grant")
        identity.unassign_role(user_id, project_id, role_id)
        return Response(status_code=204)
