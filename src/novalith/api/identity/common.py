"""What every identity route shares: Keystone-format errors, the caller, policy checks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Body, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from novalith import exceptions
from novalith.api.identity.views import error_response
from novalith.identity.records import TokenInfo
from novalith.identity.service import IdentityService

LOG = logging.getLogger(__name__)

AUTH_HEADER = "X-Auth-Token"
SUBJECT_HEADER = "X-Subject-Token"

#: A JSON request body taken whole, as decoded JSON, for the route to check itself.
RequestBody = Annotated[Any, Body()]


class KeystoneRoute(APIRoute):
    """A route whose errors come out in Keystone's format, not the app-wide Nova one.

    NovalithError becomes its own status with ``{"error": {code, title, message}}``;
    a body or parameter FastAPI cannot parse becomes 400; anything else is logged
    and becomes a 500 that shows no detail.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def keystone_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except exceptions.NovalithError as exc:
                if not exc.safe or exc.status >= 500:
                    LOG.error("Identity request %s %s failed: %s", request.method,
                              request.url.path, exc)
                return error_response(exc, request)
            except RequestValidationError as exc:
                return error_response(_validation_error(exc), request)
            except Exception:
                LOG.exception("Identity request %s %s failed", request.method,
                              request.url.path)
                return error_response(exceptions.NovalithError(), request)

        return keystone_errors


def _validation_error(exc: RequestValidationError) -> exceptions.ValidationError:
    errors = exc.errors()
    if not errors:
        return exceptions.ValidationError(field="body", detail="Malformed request.")
    first = errors[0]
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return exceptions.ValidationError(field=field, detail=str(first.get("msg", "")))


def caller(identity: IdentityService, request: Request) -> TokenInfo:
    """The token the request is made with; NotAuthenticated if absent or invalid."""
    token = request.headers.get(AUTH_HEADER)
    if not token:
        raise exceptions.NotAuthenticated()
    return identity.validate(token)


def forbid(action: str) -> exceptions.Forbidden:
    return exceptions.Forbidden(
        f"You are not authorized to perform the requested action: identity:{action}.")


def require_admin(info: TokenInfo, action: str) -> None:
    if not info.is_admin:
        raise forbid(action)


def require_admin_or_self(info: TokenInfo, user_id: str, action: str) -> None:
    if not info.is_admin and info.user_id != user_id:
        raise forbid(action)


def body_object(body: Any, key: str) -> dict[str, Any]:
    """``body[key]`` as a dict, else ValidationError."""
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise exceptions.ValidationError(field=key, detail="Expected an object.")
    value: dict[str, Any] = body[key]
    return value


def field(obj: dict[str, Any], name: str, kind: type, required: bool = False) -> Any:
    """``obj[name]`` checked against ``kind``; None when absent and not required."""
    value = obj.get(name)
    if value is None:
        if required:
            raise exceptions.ValidationError(field=name, detail="Required.")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise exceptions.ValidationError(
            field=name, detail=f"Expected {kind.__name__}, got {type(value).__name__}.")
    return value


def query_bool(request: Request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("", "1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise exceptions.ValidationError(field=name, detail="Expected a boolean.")
