"""Image records: list, create, show, JSON-patch, delete, deactivate/reactivate, tags."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response

from novalith import exceptions
from novalith.api.deps import root_url
from novalith.api.image.common import (
    GlanceRoute,
    call,
    context,
    json_body,
    media_type,
    run,
    services_of,
)
from novalith.api.responses import JSON
from novalith.image.patch import MEDIA_TYPES as PATCH_TYPES

router = APIRouter(route_class=GlanceRoute)


@router.get("/v2/images", response_model=None)
async def list_images(request: Request) -> Response:
    params = list(request.query_params.multi_items())
    images, limit = await run(request, lambda svc, ctx: svc.list_images(ctx, params))
    kept = [(k, v) for k, v in params if k != "marker"]
    body = {"images": images, "schema": "/v2/schemas/images",
            "first": "/v2/images" + (f"?{urlencode(kept)}" if kept else "")}
    if images and len(images) == limit:
        nxt = [(k, v) for k, v in kept if k != "limit"] + [("limit", str(limit)),
                                                           ("marker", images[-1]["id"])]
        body["next"] = f"/v2/images?{urlencode(nxt)}"
    return JSON(body)


@router.post("/v2/images", response_model=None)
async def create_image(request: Request) -> Response:
    ctx = await context(request)
    body = await json_body(request)
    image = await call(request, ctx, lambda svc, ctx: svc.create(ctx, body))
    root = root_url(request, services_of(request).config)
    return JSON(image, status_code=201,
                headers={"Location": f"{root}/image/v2/images/{image['id']}"})


@router.get("/v2/images/{image_id}", response_model=None)
async def show_image(request: Request, image_id: str) -> Response:
    return JSON(await run(request, lambda svc, ctx: svc.show(ctx, image_id)))


@router.patch("/v2/images/{image_id}", response_model=None)
async def update_image(request: Request, image_id: str) -> Response:
    ctx = await context(request)
    kind = media_type(request)
    if kind not in PATCH_TYPES:
        raise exceptions.UnsupportedMediaType(
            f"Unsupported Content-Type {kind or '(none)'}: use one of {', '.join(PATCH_TYPES)}.")
    body = await json_body(request)
    return JSON(await call(request, ctx, lambda svc, ctx: svc.update(ctx, image_id, body, kind)))


@router.delete("/v2/images/{image_id}", status_code=204, response_model=None)
async def delete_image(request: Request, image_id: str) -> Response:
    await run(request, lambda svc, ctx: svc.delete(ctx, image_id))
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/deactivate", status_code=204, response_model=None)
async def deactivate(request: Request, image_id: str) -> Response:
    await run(request, lambda svc, ctx: svc.deactivate(ctx, image_id))
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/reactivate", status_code=204, response_model=None)
async def reactivate(request: Request, image_id: str) -> Response:
    await run(request, lambda svc, ctx: svc.reactivate(ctx, image_id))
    return Response(status_code=204)


@router.put("/v2/images/{image_id}/tags/{tag}", status_code=204, response_model=None)
async def add_tag(request: Request, image_id: str, tag: str) -> Response:
    await run(request, lambda svc, ctx: svc.add_tag(ctx, image_id, tag))
    return Response(status_code=204)


@router.delete("/v2/images/{image_id}/tags/{tag}", status_code=204, response_model=None)
async def delete_tag(request: Request, image_id: str, tag: str) -> Response:
    await run(request, lambda svc, ctx: svc.delete_tag(ctx, image_id, tag))
    return Response(status_code=204)
