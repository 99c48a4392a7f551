"""/servers/{id}/os-instance-actions: what was done to a server, and its events.

Events (with their tracebacks) are shown only where policy
``os_compute_api:os-instance-actions:events`` allows (admins by default); before
microversion 2.51 other callers see actions without events. From 2.21 the
actions of a deleted server stay readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from novalith import exceptions
from novalith.api.compute.server_views import iso_usec
from novalith.api.compute.servers import get_instance
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import instances as inst_db

router = APIRouter(prefix="/compute/v2.1", tags=["instance actions"])
CallDep = Annotated[Call, Depends(compute_call)]
_RULE = "os_compute_api:os-instance-actions:"
ACTION, EVENT = inst_db.ACTION, inst_db.EVENT


def _view(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {"action": row["action"], "instance_uuid": row["instance_uuid"],
            "message": row["message"], "project_id": row["project_id"],
            "request_id": row["request_id"], "start_time": iso_usec(row["start_time"]),
            "user_id": row["user_id"]}


def _server(call: Call, server_id: str, rule: str) -> Mapping[Any, Any]:
    row = get_instance(call, server_id, read_deleted=call.version.at_least("2.21"))
    call.authorize(_RULE + rule, {"project_id": row["project_id"], "user_id": row["user_id"]})
    return row


@router.get("/servers/{server_id}/os-instance-actions")
def list_actions(call: CallDep, server_id: str) -> JSON:
    row = _server(call, server_id, "list")
    with call.db.read() as conn:
        rows = conn.execute(select(ACTION).where(ACTION.c.instance_uuid == row["uuid"])
                            .order_by(ACTION.c.start_time.desc(), ACTION.c.id.desc())
                            ).mappings()
        return JSON({"instanceActions": [_view(r) for r in rows]})


@router.get("/servers/{server_id}/os-instance-actions/{request_id}")
def show_action(call: CallDep, server_id: str, request_id: str) -> JSON:
    row = _server(call, server_id, "show")
    with call.db.read() as conn:
        action = conn.execute(select(ACTION).where(ACTION.c.instance_uuid == row["uuid"],
                                                   ACTION.c.request_id == request_id)
                              .order_by(ACTION.c.id.desc()).limit(1)).mappings().first()
        if action is None:
            raise exceptions.NotFound(f"Action for request_id {request_id} on instance "
                                      f"{row['uuid']} not found")
        body = _view(action)
        target = {"project_id": row["project_id"], "user_id": row["user_id"]}
        if call.allowed(_RULE + "events", target):
            events = conn.execute(select(EVENT).where(EVENT.c.action_id == action["id"])
                                  .order_by(EVENT.c.start_time.desc(), EVENT.c.id.desc())
                                  ).mappings()
            body["events"] = [{"event": e["event"], "start_time": iso_usec(e["start_time"]),
                               "finish_time": iso_usec(e["finish_time"]),
                               "result": e["result"], "traceback": e["traceback"]}
                              for e in events]
    return JSON({"instanceAction": body})
