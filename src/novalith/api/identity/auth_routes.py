"""Version discovery and ``/v3/auth/*``: issuing, validating and revoking tokens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from novalith import exceptions
from novalith.api.identity import views
from novalith.api.identity.auth_body import parse_auth
from novalith.api.identity.common import SUBJECT_HEADER, RequestBody, caller, forbid
from novalith.api.identity.views import JSONBody
from novalith.identity.records import TokenInfo
from novalith.identity.service import IdentityService

Catalog = Callable[[str], list[dict[str, Any]]]


def add_auth_routes(router: APIRouter, identity: IdentityService, catalog: Catalog) -> None:
    """Register discovery and token routes on ``router``."""

    def versions(request: Request) -> Response:
        entry = views.version_entry(views.identity_url(request))
        return JSONBody({"versions": {"values": [entry]}}, status_code=300)

    for path in ("", "/"):
        router.add_api_route(path, versions, methods=["GET"], name=views.VERSIONS_ROUTE,
                             include_in_schema=path == "")

    def version_v3(request: Request) -> Response:
        return JSONBody({"version": views.version_entry(views.identity_url(request))})

    for path in ("/v3", "/v3/"):
        router.add_api_route(path, version_v3, methods=["GET"], name="identity_v3",
                             include_in_schema=path == "/v3")

    def _catalog_for(request: Request, info: TokenInfo) -> list[dict[str, Any]] | None:
        if "nocatalog" in request.query_params or not info.is_scoped:
            return None
        return catalog(views.base_url(request))

    @router.post("/v3/auth/tokens", name="identity_issue_token", status_code=201)
    def issue_token(request: Request, body: RequestBody = None) -> Response:
        auth = parse_auth(body)
        if auth.method == "password":
            assert auth.password is not None
            issued = identity.authenticate_password(
                auth.password, user_id=auth.user_id, user_name=auth.user_name,
                user_domain=auth.user_domain, project_id=auth.project_id,
                project_name=auth.project_name, project_domain=auth.project_domain,
                unscoped=auth.unscoped)
        else:
            assert auth.token is not None
            issued = identity.authenticate_token(
                auth.token, project_id=auth.project_id, project_name=auth.project_name,
                project_domain=auth.project_domain, unscoped=auth.unscoped)
        body_out = views.token_body(issued.info, _catalog_for(request, issued.info))
        return JSONBody(body_out, status_code=201, headers={SUBJECT_HEADER: issued.token})

    def _subject(request: Request, action: str) -> tuple[str, TokenInfo]:
        """The X-Subject-Token and what it says, after checking the caller may look."""
        me = caller(identity, request)
        subject = request.headers.get(SUBJECT_HEADER)
        if not subject:
            raise exceptions.ValidationError(field=SUBJECT_HEADER, detail="Required.")
        try:
            info = identity.validate(subject)
        except exceptions.NotAuthenticated:
            raise exceptions.TokenNotFound("Could not find token.") from None
        if not (me.is_admin or "service" in me.role_names or me.user_id == info.user_id):
            raise forbid(action)
        return subject, info

    # HEAD first: Starlette lets a GET route answer HEAD too.
    @router.head("/v3/auth/tokens", name="identity_check_token")
    def check_token(request: Request) -> Response:
        subject, _info = _subject(request, "check_token")
        return Response(status_code=200, headers={SUBJECT_HEADER: subject})

    @router.get("/v3/auth/tokens", name="identity_validate_token")
    def validate_token(request: Request) -> Response:
        subject, info = _subject(request, "validate_token")
        return JSONBody(views.token_body(info, _catalog_for(request, info)),
                        headers={SUBJECT_HEADER: subject})

    @router.delete("/v3/auth/tokens", name="identity_revoke_token", status_code=204)
    def revoke_token(request: Request) -> Response:
        subject, _info = _subject(request, "revoke_token")
        identity.revoke(subject)
        return Response(status_code=204)

    @router.get("/v3/auth/projects", name="identity_auth_projects")
    def auth_projects(request: Request) -> Response:
        me = caller(identity, request)
        url = views.identity_url(request)
        items = [views.project_view(p, url)
                 for p in identity.list_projects(user_id=me.user_id, enabled=True)]
        return JSONBody(views.collection("projects", items, request))

    @router.get("/v3/auth/catalog", name="identity_auth_catalog")
    def auth_catalog(request: Request) -> Response:
        me = caller(identity, request)
        if not me.is_scoped:
            raise forbid("get_auth_catalog")
        return JSONBody({"catalog": catalog(views.base_url(request)),
                         "links": {"self": str(request.url), "previous": None,
                                   "next": None}})
