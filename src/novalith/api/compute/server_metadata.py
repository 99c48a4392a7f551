"""/servers/{id}/metadata: list, merge (POST), replace (PUT), and one item's
show, set and delete.

Writes need the server unlocked (or an admin) and in active, paused, suspended
or stopped with no task (409 otherwise), as Nova; more items than the project's
``metadata_items`` quota is a 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.api.compute import metadata_rules, move_api
from novalith.api.compute.actions import check_not_locked
from novalith.api.compute.servers import get_instance
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import instances as inst_db
from novalith.objects import states as s

router = APIRouter(prefix="/compute/v2.1", tags=["server metadata"])
CallDep = Annotated[Call, Depends(compute_call)]
_RULE = "os_compute_api:server-metadata:"
_WRITABLE = (s.ACTIVE, s.PAUSED, s.SUSPENDED, s.STOPPED)


class MetadataBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metadata: dict[str, str]


class MetaBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meta: dict[str, str]


def _readable(call: Call, server_id: str, rule: str) -> RowMapping:
    row = get_instance(call, server_id)
    call.authorize(_RULE + rule, {"project_id": row["project_id"], "user_id": row["user_id"]})
    return row


def _update(call: Call, server_id: str, rule: str, change: Any, action: str
            ) -> dict[str, str]:
    """Apply ``change(current) -> new`` to the server's metadata in one write."""
    row = get_instance(call, server_id)
    call.require_writer(_RULE + rule)
    check_not_locked(call, row)
    with call.db.write() as conn:
        current = inst_db.get(conn, row["uuid"])
        if current is None:
            raise exceptions.InstanceNotFound(instance_id=server_id)
        if current["vm_state"] not in _WRITABLE or current["task_state"] is not None:
            bad_task = current["task_state"] is not None
            raise exceptions.InstanceInvalidState(
                action=action, instance_id=server_id,
                attr="task_state" if bad_task else "vm_state",
                state=current["task_state"] if bad_task else current["vm_state"])
        new = change(dict(current["metadata"] or {}))
        move_api.check_metadata_count(conn, call, row["project_id"], len(new))
        inst_db.transition(conn, row["uuid"], {"metadata": new},
                           expected_vm=_WRITABLE, expected_task=[None])
    return dict(new)


@router.get("/servers/{server_id}/metadata")
def list_metadata(call: CallDep, server_id: str) -> JSON:
    row = _readable(call, server_id, "index")
    return JSON({"metadata": row["metadata"] or {}})


@router.post("/servers/{server_id}/metadata")
def merge_metadata(call: CallDep, server_id: str, body: MetadataBody) -> JSON:
    items = metadata_rules.check_metadata(body.metadata)
    return JSON({"metadata": _update(call, server_id, "create",
                                     lambda cur: {**cur, **items}, "update metadata")})


@router.put("/servers/{server_id}/metadata")
def replace_metadata(call: CallDep, server_id: str, body: MetadataBody) -> JSON:
    items = metadata_rules.check_metadata(body.metadata)
    return JSON({"metadata": _update(call, server_id, "update_all",
                                     lambda cur: dict(items), "update metadata")})


@router.get("/servers/{server_id}/metadata/{key}")
def show_metadata_item(call: CallDep, server_id: str, key: str) -> JSON:
    row = _readable(call, server_id, "show")
    meta = row["metadata"] or {}
    if key not in meta:
        raise exceptions.NotFound("Metadata item was not found")
    return JSON({"meta": {key: meta[key]}})


@router.put("/servers/{server_id}/metadata/{key}")
def set_metadata_item(call: CallDep, server_id: str, key: str, body: MetaBody) -> JSON:
    if len(body.meta) != 1:
        raise exceptions.Invalid("Request body contains too many items" if body.meta
                                 else "Malformed request body")
    (name, value), = body.meta.items()
    if name != key:
        raise exceptions.Invalid("Request body and URI mismatch")
    metadata_rules.check_metadata({name: value}, "meta")
    _update(call, server_id, "update", lambda cur: {**cur, key: value}, "update metadata")
    return JSON({"meta": {key: value}})


@router.delete("/servers/{server_id}/metadata/{key}", status_code=204)
def delete_metadata_item(call: CallDep, server_id: str, key: str) -> Response:
    def drop(cur: dict[str, str]) -> dict[str, str]:
        if key not in cur:
            raise exceptions.NotFound("Metadata item was not found")
        return {k: v for k, v in cur.items() if k != key}

    _update(call, server_id, "delete", drop, "delete metadata")
    return Response(status_code=204)
