"""The Image API (a Glance v2 subset) under ``/image``: version discovery here, the
rest in one module per resource (images, data, members, schemas)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from novalith.api.deps import ApiServices, root_url
from novalith.api.image import data, images, members, schemas
from novalith.api.image.common import GlanceRoute
from novalith.api.responses import JSON

router = APIRouter(prefix="/image", tags=["images"], route_class=GlanceRoute)
#: The Image API version we claim: image, data, members, tags, deactivation, os_hidden.
VERSION = "v2.16"
_SUPPORTED = ("v2.15", "v2.14", "v2.13", "v2.12", "v2.11", "v2.10", "v2.9", "v2.8", "v2.7",
              "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")


def _versions(request: Request) -> dict[str, object]:
    services: ApiServices = request.app.state.services
    href = f"{root_url(request, services.config)}/image/v2/"
    values = [{"id": VERSION, "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]
    values += [{"id": v, "status": "SUPPORTED", "links": [{"rel": "self", "href": href}]}
               for v in _SUPPORTED]
    return {"versions": values}


@router.get("")
@router.get("/")
def versions(request: Request) -> JSON:
    return JSON(_versions(request), status_code=300)


@router.get("/versions")
def versions_list(request: Request) -> JSON:
    return JSON(_versions(request))


for _module in (images, data, members, schemas):
    router.include_router(_module.router)
