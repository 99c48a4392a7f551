"""POST /servers/{id}/action: routes to the handler registered for the action's name."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from novalith import exceptions

# Importing the action modules registers their handlers.
from novalith.api.compute.actions import HANDLERS, console, power  # noqa: F401
from novalith.api.compute.actions import force_delete as _force_delete  # noqa: F401
from novalith.api.compute.actions import live as _live  # noqa: F401
from novalith.api.compute.actions import lock as _lock  # noqa: F401
from novalith.api.compute.actions import rebuild as _rebuild  # noqa: F401
from novalith.api.compute.actions import resize as _resize  # noqa: F401
from novalith.api.compute.actions import snapshot as _snapshot  # noqa: F401
from novalith.api.compute.servers import get_instance
from novalith.api.deps import Call, compute_call

router = APIRouter(prefix="/compute/v2.1", tags=["server actions"])
CallDep = Annotated[Call, Depends(compute_call)]


@router.post("/servers/{server_id}/action", response_model=None)
def server_action(call: CallDep, server_id: str,
                  body: Annotated[dict[str, Any], Body()]) -> Response:
    if len(body) != 1:
        raise exceptions.Invalid("Exactly one action is expected in the request body.")
    name, args = next(iter(body.items()))
    row = get_instance(call, server_id)
    handler = HANDLERS.get(name)
    if handler is None:
        raise exceptions.Invalid(f"There is no such action: {name}")
    return handler(call, row, args)
