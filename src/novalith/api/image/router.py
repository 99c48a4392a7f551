"""Glance v2 read API: version discovery, list and show images.

The image service issue adds create/upload/download/patch/delete and members
here; until then images are registered by ``novalith up`` (and tests) in the DB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Table, or_, select

from novalith import exceptions
from novalith.api.deps import ApiServices, authenticate, root_url
from novalith.api.responses import JSON
from novalith.db import images as image_db
from novalith.db.models import Image
from novalith.objects.context import RequestContext

router = APIRouter(prefix="/image", tags=["images"])
IMG: Table = Image.__table__  # type: ignore[assignment]
_CORE = ("id", "name", "status", "disk_format", "container_format", "size", "virtual_size",
         "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "visibility",
         "protected", "os_hidden", "owner")


def _iso(ts: Any) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def view(row: Mapping[Any, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {k: row[k] for k in _CORE}
    body.update(row["properties"] or {})
    body.update({"tags": [], "created_at": _iso(row["created_at"]),
                 "updated_at": _iso(row["updated_at"]),
                 "self": f"/v2/images/{row['id']}", "file": f"/v2/images/{row['id']}/file",
                 "schema": "/v2/schemas/image"})
    return body


def _error(status: int, title: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "title": title, "message": message},
                        status_code=status)


def _ctx(request: Request) -> tuple[ApiServices, RequestContext]:
    services: ApiServices = request.app.state.services
    return services, authenticate(request, services)


@router.get("")
@router.get("/")
def versions(request: Request) -> JSON:
    services: ApiServices = request.app.state.services
    root = root_url(request, services.config)
    values = [{"id": "v2.16", "status": "CURRENT",
               "links": [{"rel": "self", "href": f"{root}/image/v2/"}]}]
    return JSON({"versions": values}, status_code=300)


@router.get("/v2/images", response_model=None)
def list_images(request: Request) -> Response:
    try:
        services, ctx = _ctx(request)
    except exceptions.NotAuthenticated:
        return _error(401, "Unauthorized", "The request you have made requires authentication.")
    q = request.query_params
    stmt = select(IMG).order_by(IMG.c.created_at.desc(), IMG.c.id.desc())
    if not ctx.is_admin:
        stmt = stmt.where(or_(IMG.c.visibility.in_(["public", "community"]),
                              IMG.c.owner == ctx.project_id))
    for key in ("name", "status", "visibility", "disk_format", "container_format", "owner"):
        if key in q:
            stmt = stmt.where(IMG.c[key] == q[key])
    try:
        limit = min(int(q.get("limit", "25")), 1000)
    except ValueError:
        return _error(400, "Bad Request", "limit param must be an integer")
    with services.db.read() as conn:
        if "marker" in q:
            marker = conn.execute(select(IMG).where(IMG.c.id == q["marker"])).mappings().first()
            if marker is None:
                return _error(400, "Bad Request", f"Invalid marker {q['marker']}")
            stmt = stmt.where(or_(IMG.c.created_at < marker["created_at"],
                                  (IMG.c.created_at == marker["created_at"])
                                  & (IMG.c.id < marker["id"])))
        rows = list(conn.execute(stmt.limit(limit)).mappings())
    body: dict[str, Any] = {"images": [view(r) for r in rows], "first": "/v2/images",
                            "schema": "/v2/schemas/images"}
    if len(rows) == limit and rows:
        body["next"] = f"/v2/images?marker={rows[-1]['id']}&limit={limit}"
    return JSON(body)


@router.get("/v2/images/{image_id}", response_model=None)
def show_image(request: Request, image_id: str) -> Response:
    try:
        services, ctx = _ctx(request)
    except exceptions.NotAuthenticated:
        return _error(401, "Unauthorized", "The request you have made requires authentication.")
    with services.db.read() as conn:
        row = image_db.visible(conn, image_id, ctx.project_id, ctx.is_admin)
    if row is None:
        return _error(404, "Not Found", f"No image found with ID {image_id}")
    return JSON(view(row))
