"""What every Image API route shares: Glance-shaped errors, the caller, JSON bodies.

Errors are written here and only here for the Image API, in the shape Glance's
WSGI stack gives JSON clients: ``{"code": "404 Not Found", "title": "Not Found",
"message": ...}``; a 401 is keystonemiddleware's body, as in front of Glance.
Routes use :class:`GlanceRoute`, so any ``NovalithError`` raised by a route, its
dependencies or the service below becomes that body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from novalith import exceptions
from novalith.api import errors
from novalith.api.deps import ApiServices, authenticate
from novalith.api.responses import JSON
from novalith.objects.context import RequestContext

LOG = logging.getLogger(__name__)
T = TypeVar("T")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSON:
    phrase = HTTPStatus(status).phrase
    return JSON({"code": f"{status} {phrase}", "title": phrase, "message": message},
                status_code=status, headers=headers)


def handle(request: Request, exc: Exception) -> Response:
    """The response for an exception a route raised."""
    if isinstance(exc, exceptions.NotAuthenticated):
        return errors.unauthorized(request)
    if isinstance(exc, RequestValidationError):
        return error(400, "Malformed JSON in request body.")
    if isinstance(exc, exceptions.NovalithError) and exc.safe:
        if exc.status < 500 or isinstance(exc, exceptions.ServiceUnavailable):
            return error(exc.status, exc.text)
    rid = errors.request_id(request)
    LOG.error("Image API request %s failed", rid, exc_info=exc)
    status = exc.status if isinstance(exc, exceptions.NovalithError) else 500
    return error(status, "The server has either erred or is incapable of performing the "
                         f"requested operation (request {rid}).")


class GlanceRoute(APIRoute):
    """An APIRoute whose errors come out in Glance's shape (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:  # every error, expected or not, gets Glance's shape
                return handle(request, exc)

        return route


def services_of(request: Request) -> ApiServices:
    services: ApiServices = request.app.state.services
    return services


async def context(request: Request) -> RequestContext:
    """The authenticated caller (401 first, as keystonemiddleware answers before Glance)."""
    services = services_of(request)
    return await run_in_threadpool(authenticate, request, services)


async def call(request: Request, ctx: RequestContext, fn: Callable[[Any, RequestContext], T]
               ) -> T:
    """``fn(image_service, ctx)`` on a worker thread (it blocks on the database)."""
    service = services_of(request).image
    if service is None:
        raise exceptions.ServiceUnavailable("The image service is not configured here.")
    return await run_in_threadpool(fn, service, ctx)


async def run(request: Request, fn: Callable[[Any, RequestContext], T]) -> T:
    """Authenticate, then ``fn(image_service, ctx)`` on a worker thread."""
    return await call(request, await context(request), fn)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise exceptions.Invalid("Malformed JSON in request body.") from None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()
