"""Image members (``/v2/images/{id}/members``): share a ``shared`` image with projects."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from novalith.api.image.common import GlanceRoute, call, context, json_body, run
from novalith.api.responses import JSON

router = APIRouter(route_class=GlanceRoute)


@router.post("/v2/images/{image_id}/members", response_model=None)
async def add_member(request: Request, image_id: str) -> Response:
    ctx = await context(request)
    body = await json_body(request)
    member: Any = body.get("member") if isinstance(body, dict) else None
    return JSON(await call(request, ctx, lambda svc, ctx: svc.add_member(ctx, image_id,
                                                                         member)))


@router.get("/v2/images/{image_id}/members", response_model=None)
async def list_members(request: Request, image_id: str) -> Response:
    members = await run(request, lambda svc, ctx: svc.list_members(ctx, image_id))
    return JSON({"members": members, "schema": "/v2/schemas/members"})


@router.get("/v2/images/{image_id}/members/{member_id}", response_model=None)
async def show_member(request: Request, image_id: str, member_id: str) -> Response:
    return JSON(await run(request, lambda svc, ctx: svc.show_member(ctx, image_id, member_id)))


@router.put("/v2/images/{image_id}/members/{member_id}", response_model=None)
async def update_member(request: Request, image_id: str, member_id: str) -> Response:
    ctx = await context(request)
    body = await json_body(request)
    return JSON(await call(request, ctx, lambda svc, ctx: svc.update_member(ctx, image_id,
                                                                            member_id, body)))


@router.delete("/v2/images/{image_id}/members/{member_id}", status_code=204,
               response_model=None)
async def delete_member(request: Request, image_id: str, member_id: str) -> Response:
    await run(request, lambda svc, ctx: svc.delete_member(ctx, image_id, member_id))
    return Response(status_code=204)
