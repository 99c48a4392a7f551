"""Version discovery: GET /compute/ and GET /compute/v2.1/."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from novalith.api.deps import ApiServices, root_url
from novalith.api.microversion import MAX_VERSION, MIN_VERSION
from novalith.api.responses import JSON

router = APIRouter()
UPDATED = "2013-07-23T11:33:21Z"


def _v21(root: str) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": str(MAX_VERSION),
            "min_version": str(MIN_VERSION), "updated": UPDATED,
            "links": [{"rel": "self", "href": f"{root}/compute/v2.1/"}]}


def _root(request: Request) -> str:
    services: ApiServices = request.app.state.services
    return root_url(request, services.config)


@router.get("/compute", include_in_schema=False)
@router.get("/compute/")
def versions(request: Request) -> JSON:
    return JSON({"versions": [_v21(_root(request))]})


@router.get("/compute/v2.1", include_in_schema=False)
@router.get("/compute/v2.1/")
def version(request: Request) -> JSON:
    root = _root(request)
    doc = _v21(root)
    doc["links"] = [{"rel": "self", "href": f"{root}/compute/v2.1/"},
                    {"rel": "describedby", "type": "text/html",
                     "href": "https://docs.openstack.org/"}]
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2.1"}]
    return JSON({"version": doc})
