"""/images: the Compute API's read-only proxy to the image service (microversions <= 2.35).

Deprecated upstream in 2.36 (the route answers 404 from then on), but clients that
send no microversion still use it: openstacksdk's ``conn.compute.find_image`` and
``images()`` do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import or_, select

from novalith import exceptions
from novalith.api.compute import params
from novalith.api.compute.links import next_link
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import images as image_db

router = APIRouter(prefix="/compute/v2.1", tags=["images"])
CallDep = Annotated[Call, Depends(compute_call)]
IMG = image_db.IMG
# Image service status -> (Compute API status, progress).
_STATUS = {"active": ("ACTIVE", 100), "queued": ("SAVING", 25), "saving": ("SAVING", 50),
           "importing": ("SAVING", 50), "uploading": ("SAVING", 25),
           "killed": ("ERROR", 0), "deleted": ("DELETED", 0), "pending_delete": ("DELETED", 0),
           "deactivated": ("ERROR", 0)}


def _require_proxy_version(call: Call) -> None:
    """The proxy stops at 2.35: from 2.36 on the routes answer 404, as in Nova."""
    if call.version.at_least("2.36"):
        raise exceptions.NotFound()


def _iso(ts: Any) -> str:
    return str(ts.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _links(call: Call, image_id: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{call.base}/images/{image_id}"},
            {"rel": "bookmark", "href": f"{call.bookmark}/images/{image_id}"},
            {"rel": "alternate", "type": "application/vnd.openstack.image",
             "href": f"{call.root}/image/images/{image_id}"}]


def _summary(call: Call, row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "links": _links(call, row["id"])}


def _detail(call: Call, row: Any) -> dict[str, Any]:
    status, progress = _STATUS.get(row["status"], ("UNKNOWN", 0))
    return {**_summary(call, row), "status": status, "progress": progress,
            "minDisk": row["min_disk"] or 0, "minRam": row["min_ram"] or 0,
            "created": _iso(row["created_at"]), "updated": _iso(row["updated_at"]),
            "metadata": dict(row["properties"] or {}), "OS-EXT-IMG-SIZE:size": row["size"]}


def _list(call: Call, request: Request, detail: bool) -> JSON:
    _require_proxy_version(call)
    q = request.query_params
    stmt = select(IMG).order_by(IMG.c.created_at.desc(), IMG.c.id.desc())
    if not call.ctx.is_admin:  # what the image service lists by default (Glance's rules)
        stmt = stmt.where(image_db.listed_condition(call.ctx.project_id))
    stmt = stmt.where(IMG.c.os_hidden == False)  # noqa: E712
    if "name" in q:
        stmt = stmt.where(IMG.c.name == q["name"])
    if "status" in q:
        stmt = stmt.where(IMG.c.status == q["status"].lower())
    for key, col in (("minRam", IMG.c.min_ram), ("minDisk", IMG.c.min_disk)):
        if key in q:
            try:
                stmt = stmt.where(col >= int(q[key]))
            except ValueError:
                raise exceptions.Invalid(f"Invalid {key} filter [{q[key]}]") from None
    limit = params.limit(request, call.services.config.max_limit)
    with call.db.read() as conn:
        marker = q.get("marker")
        if marker is not None:
            mrow = image_db.visible(conn, marker, call.ctx.project_id, call.ctx.is_admin)
            if mrow is None:
                raise exceptions.Invalid(f"marker [{marker}] not found")
            stmt = stmt.where(or_(IMG.c.created_at < mrow["created_at"],
                                  (IMG.c.created_at == mrow["created_at"])
                                  & (IMG.c.id < mrow["id"])))
        rows = list(conn.execute(stmt.limit(limit)).mappings())
    view = _detail if detail else _summary
    body: dict[str, Any] = {"images": [view(call, r) for r in rows]}
    if rows and len(rows) == limit:
        path = "images/detail" if detail else "images"
        body["images_links"] = next_link(call, path, list(q.multi_items()), rows[-1]["id"])
    return JSON(body)


@router.get("/images")
def list_images(call: CallDep, request: Request) -> JSON:
    return _list(call, request, detail=False)


@router.get("/images/detail")
def list_images_detail(call: CallDep, request: Request) -> JSON:
    return _list(call, request, detail=True)


@router.get("/images/{image_id}")
def show_image(call: CallDep, image_id: str) -> JSON:
    _require_proxy_version(call)
    with call.db.read() as conn:
        row = image_db.visible(conn, image_id, call.ctx.project_id, call.ctx.is_admin)
    if row is None:
        raise exceptions.ImageNotFound(image_id=image_id)
    return JSON({"image": _detail(call, row)})
