"""/servers/{id}/tags (microversion 2.26): list, replace, check, add, delete one or all.

A server carries at most 50 tags of 1-60 characters without ``/`` or ``,``
(400 otherwise). Changing tags needs the server in active, paused, suspended,
stopped, shelved or shelved_offloaded (409 otherwise), as Nova.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, RowMapping

from novalith import exceptions
from novalith.api.compute.servers import get_instance
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import instances as inst_db
from novalith.db import tags as tag_db
from novalith.objects import states as s

router = APIRouter(prefix="/compute/v2.1", tags=["server tags"])
CallDep = Annotated[Call, Depends(compute_call)]
MAX_TAGS = 50
MAX_TAG_LENGTH = 60
_RULE = "os_compute_api:os-server-tags:"
_WRITABLE = frozenset({s.ACTIVE, s.PAUSED, s.SUSPENDED, s.STOPPED, s.SHELVED,
                       s.SHELVED_OFFLOADED})


class TagsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[str]


def check_tag(tag: str) -> str:
    if not 1 <= len(tag) <= MAX_TAG_LENGTH or "/" in tag or "," in tag:
        raise exceptions.ValidationError(
            field="tags", detail=f"Tag {tag[:100]!r} is invalid: 1 to {MAX_TAG_LENGTH} "
                                 "characters, without '/' or ','.")
    return tag


def _server(call: Call, server_id: str) -> RowMapping:
    if not call.version.at_least("2.26"):
        raise exceptions.NotFound("The resource could not be found.")
    return get_instance(call, server_id)


def _readable(call: Call, server_id: str, rule: str) -> RowMapping:
    row = _server(call, server_id)
    call.authorize(_RULE + rule, {"project_id": row["project_id"], "user_id": row["user_id"]})
    return row


def _writable(call: Call, server_id: str, rule: str, action: str) -> RowMapping:
    row = _server(call, server_id)
    call.require_writer(_RULE + rule)
    if row["vm_state"] not in _WRITABLE:
        raise exceptions.InstanceInvalidState(action=action, instance_id=server_id,
                                              attr="vm_state", state=row["vm_state"])
    return row


def _still_writable(conn: Connection, uuid: str) -> None:
    current = inst_db.get(conn, uuid)
    if current is None:
        raise exceptions.InstanceNotFound(instance_id=uuid)
    if current["vm_state"] not in _WRITABLE:
        raise exceptions.InstanceInvalidState(action="update tags", instance_id=uuid,
                                              attr="vm_state", state=current["vm_state"])


@router.get("/servers/{server_id}/tags")
def list_tags(call: CallDep, server_id: str) -> JSON:
    row = _readable(call, server_id, "index")
    with call.db.read() as conn:
        return JSON({"tags": tag_db.get(conn, row["uuid"])})


@router.put("/servers/{server_id}/tags")
def replace_tags(call: CallDep, server_id: str, body: TagsBody) -> JSON:
    tags = [check_tag(t) for t in body.tags]
    if len(set(tags)) > MAX_TAGS:
        raise exceptions.Invalid(f"The number of tags exceeded the per-server limit "
                                 f"{MAX_TAGS}")
    row = _writable(call, server_id, "update_all", "update tags")
    with call.db.write() as conn:
        _still_writable(conn, row["uuid"])
        return JSON({"tags": tag_db.replace(conn, row["uuid"], tags)})


@router.delete("/servers/{server_id}/tags", status_code=204)
def delete_all_tags(call: CallDep, server_id: str) -> Response:
    row = _writable(call, server_id, "delete_all", "delete tags")
    with call.db.write() as conn:
        _still_writable(conn, row["uuid"])
        tag_db.replace(conn, row["uuid"], [])
    return Response(status_code=204)


@router.get("/servers/{server_id}/tags/{tag}", status_code=204)
def check_server_tag(call: CallDep, server_id: str, tag: str) -> Response:
    row = _readable(call, server_id, "show")
    with call.db.read() as conn:
        if tag not in tag_db.get(conn, row["uuid"]):
            raise exceptions.NotFound(f"Tag {tag} could not be found.")
    return Response(status_code=204)


@router.put("/servers/{server_id}/tags/{tag}", status_code=201)
def add_tag(call: CallDep, server_id: str, tag: str) -> Response:
    check_tag(tag)
    row = _writable(call, server_id, "update", "update tags")
    with call.db.write() as conn:
        _still_writable(conn, row["uuid"])
        added = tag_db.add(conn, row["uuid"], tag, MAX_TAGS)
    if added is None:
        raise exceptions.Invalid(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    if not added:
        return Response(status_code=204)
    return Response(status_code=201,
                    headers={"Location": f"{call.base}/servers/{row['uuid']}/tags/{quote(tag)}"})


@router.delete("/servers/{server_id}/tags/{tag}", status_code=204)
def delete_tag(call: CallDep, server_id: str, tag: str) -> Response:
    row = _writable(call, server_id, "delete", "delete tags")
    with call.db.write() as conn:
        _still_writable(conn, row["uuid"])
        if not tag_db.remove(conn, row["uuid"], tag):
            raise exceptions.NotFound(f"Tag {tag} could not be found.")
    return Response(status_code=204)
