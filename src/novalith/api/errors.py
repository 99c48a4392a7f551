"""The one place HTTP error bodies of the Compute API are written (Nova's format)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from novalith import exceptions
from novalith.api.deps import compute_call
from novalith.api.responses import JSON

LOG = logging.getLogger(__name__)

_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
                415: "badMediaType", 429: "overLimit", 501: "notImplemented",
                503: "serviceUnavailable"}


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def fault(status: int, message: str, headers: dict[str, str] | None = None) -> JSON:
    name = _FAULT_NAMES.get(status, "computeFault")
    return JSON({name: {"code": status, "message": message}}, status_code=status,
                          headers=headers)


def unauthorized(request: Request) -> JSON:
    """401 as keystonemiddleware writes it in front of Nova."""
    base = str(request.base_url).rstrip("/")
    return JSON(
        {"error": {"code": 401, "title": "Unauthorized",
                   "message": "The request you have made requires authentication."}},
        status_code=401, headers={"WWW-Authenticate": f'Keystone uri="{base}/identity"'})


def handle_novalith_error(request: Request, exc: Exception) -> JSON:
    assert isinstance(exc, exceptions.NovalithError)
    if isinstance(exc, exceptions.NotAuthenticated):
        return unauthorized(request)
    if exc.safe and exc.status < 500 or isinstance(exc, exceptions.ServiceUnavailable):
        return fault(exc.status, exc.text)
    LOG.error("Request %s failed: %s", request_id(request), exc, exc_info=exc)
    return fault(exc.status, _generic(request))


def handle_unexpected(request: Request, exc: Exception) -> JSON:
    LOG.error("Request %s failed unexpectedly", request_id(request), exc_info=exc)
    return fault(500, _generic(request))


def _generic(request: Request) -> str:
    return ("Unexpected API Error. Please report this with the request id "
            f"{request_id(request)} and the API log.")


def handle_validation(request: Request, exc: Exception) -> JSON:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = list(exc.errors())
    if not errors:
        return fault(400, "Invalid request.")
    first = errors[0]
    if first.get("type") in ("json_invalid", "json_type"):
        if request.url.path.startswith("/compute/v2.1/"):
            # FastAPI decodes the body before the route's dependencies run; check the
            # caller and the microversion first, in Nova's order (401, 406, then 400).
            try:
                compute_call(request)
            except exceptions.NovalithError as err:
                return handle_novalith_error(request, err)
        return fault(400, "Malformed request body")
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body",)]
    field = loc[-1] if loc else "body"
    if first.get("type") == "missing":
        parent = loc[-2] if len(loc) > 1 else "body"
        return fault(400, f"Invalid input for field/attribute {parent}."
                          f" Value: None. '{field}' is a required property")
    value = first.get("input")
    return fault(400, f"Invalid input for field/attribute {field}. Value: {value!r}. "
                      f"{first.get('msg', 'Invalid value')}")


def handle_http(request: Request, exc: Exception) -> JSON:
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith("/image/"):
        from novalith.api.image.common import error as glance_error  # the Image API's shape

        return glance_error(exc.status_code, str(exc.detail))
    if exc.status_code == 404:
        return fault(404, "The resource could not be found.")
    if exc.status_code == 405:
        return fault(405, "The method is not allowed for the requested URL.")
    return fault(exc.status_code, str(exc.detail))
