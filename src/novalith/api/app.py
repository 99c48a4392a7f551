"""The HTTP application: Compute, Identity and Image APIs behind one ASGI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from novalith import exceptions
from novalith.api import errors
from novalith.api.compute import (
    aggregates,
    availability_zones,
    flavors,
    hypervisors,
    images,
    instance_actions,
    keypairs,
    migrations_api,
    quota_sets,
    server_actions,
    server_groups,
    server_metadata,
    server_tags,
    servers,
    services_api,
    versions,
)
from novalith.api.deps import ApiServices
from novalith.api.identity.router import build_identity_router
from novalith.api.image.router import router as image_router
from novalith.api.middleware import RequestHeaders
from novalith.api.responses import JSON


def catalog_for(public_endpoint: str) -> Any:
    """The service catalog tokens carry, rooted where clients reach us."""

    def catalog(base_url: str) -> list[dict[str, Any]]:
        root = public_endpoint or base_url
        entries = (("compute", "nova", f"{root}/compute/v2.1"),
                   ("identity", "keystone", f"{root}/identity"),
                   ("image", "glance", f"{root}/image"))
        return [{"type": kind, "name": name, "id": f"{name}-service",
                 "endpoints": [{"id": f"{name}-public", "interface": "public",
                                "region": "RegionOne", "region_id": "RegionOne", "url": url}]}
                for kind, name, url in entries]

    return catalog


def create_app(services: ApiServices) -> FastAPI:
    app = FastAPI(title="Novalith", version="2.1", openapi_url="/compute/openapi.json",
                  docs_url=None, redoc_url=None, default_response_class=JSON,
                  # Nova reads a request body without Content-Type as JSON.
                  strict_content_type=False)
    app.state.services = services
    app.add_exception_handler(exceptions.NovalithError, errors.handle_novalith_error)
    app.add_exception_handler(RequestValidationError, errors.handle_validation)
    app.add_exception_handler(StarletteHTTPException, errors.handle_http)
    for module in (versions, flavors, images, servers, server_actions, hypervisors,
                   services_api):
        app.include_router(module.router)
    for module in (keypairs, server_groups, availability_zones, aggregates, quota_sets):
        app.include_router(module.router)
    for module in (server_metadata, server_tags, instance_actions, migrations_api):
        app.include_router(module.router)
    app.include_router(image_router)
    app.include_router(build_identity_router(services.identity,
                                             catalog_for(services.config.public_endpoint)),
                       prefix="/identity")
    app.add_middleware(RequestHeaders)
    return app
