"""Pure-ASGI middleware: request id and microversion headers on every response."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from novalith.objects.context import new_request_id

LOG = logging.getLogger(__name__)


class RequestHeaders:
    """Gives each request an id (``x-openstack-request-id``) and, for the Compute
    API, echoes the microversion the route used."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        rid = new_request_id()
        state["request_id"] = rid

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-openstack-request-id", rid.encode()))
                version = state.get("microversion")
                if version is not None:
                    v = str(version).encode()
                    headers.append((b"openstack-api-version", b"compute " + v))
                    headers.append((b"x-openstack-nova-api-version", v))
                    headers.append((b"vary", b"OpenStack-API-Version, "
                                             b"X-OpenStack-Nova-API-Version"))
                message["headers"] = headers
            await send(message)

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send_with_headers(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            LOG.exception("Request %s failed unexpectedly", rid)
            if started:
                raise
            body = orjson.dumps({"computeFault": {
                "code": 500, "message": "Unexpected API Error. Please report this with the "
                                        f"request id {rid} and the API log."}})
            await send_with_headers({"type": "http.response.start", "status": 500,
                                     "headers": [(b"content-type", b"application/json"),
                                                 (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
