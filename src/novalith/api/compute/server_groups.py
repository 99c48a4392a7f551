"""/os-server-groups: create, list, show, delete (the ``policies`` form, up to 2.63).

Policies: affinity and anti-affinity; soft-affinity and soft-anti-affinity from
2.15. 2.13 shows project_id and user_id. A server joins a group at boot with the
``group`` scheduler hint; the scheduler's filters and weighers enforce the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from novalith import exceptions
from novalith.api.compute import params
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import quotas as quota_db
from novalith.db import server_groups as group_db

router = APIRouter(prefix="/compute/v2.1", tags=["server groups"])
CallDep = Annotated[Call, Depends(compute_call)]
_RULE = "os_compute_api:os-server-groups:"
SOFT = ("soft-affinity", "soft-anti-affinity")
Policy = Literal["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"]


class ServerGroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    policies: list[Policy] = Field(min_length=1, max_length=1)


class ServerGroupCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    server_group: ServerGroupCreate


def _view(call: Call, row: Mapping[Any, Any], members: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row["uuid"], "name": row["name"],
                            "policies": [row["policy"]], "members": members, "metadata": {}}
    if call.version.at_least("2.13"):
        body["project_id"] = row["project_id"]
        body["user_id"] = row["user_id"]
    return body


def _get(call: Call, group_id: str) -> Mapping[Any, Any]:
    """The group if the caller's project owns it (any group for an admin); else 404."""
    with call.db.read() as conn:
        row = group_db.get(conn, group_id)
    if row is None or not call.allowed(_RULE + "show", {"project_id": row["project_id"],
                                                         "user_id": row["user_id"]}):
        raise exceptions.NotFound(f"Instance group {group_id} could not be found.")
    return row


@router.post("/os-server-groups")
def create_server_group(call: CallDep, body: ServerGroupCreateBody) -> JSON:
    call.authorize(_RULE + "create")
    group = body.server_group
    policy = group.policies[0]
    if policy in SOFT and not call.version.at_least("2.15"):
        raise exceptions.ValidationError(
            field="policies", detail=f"'{policy}' is not one of ['anti-affinity', 'affinity']")
    if not group.name.strip():
        raise exceptions.ValidationError(field="name", detail="The name must not be blank.")
    project_id = call.ctx.project_id or ""
    with call.db.write() as conn:
        cap = quota_db.limits(conn, project_id,
                              call.services.config.quota.defaults)["server_groups"]
        if cap != quota_db.UNLIMITED:
            quota_db.lock(conn, [f"project:{project_id}"])
            if quota_db.project_usage(conn, project_id)["server_groups"] >= cap:
                raise exceptions.QuotaExceeded("Quota exceeded, too many server groups.")
        uuid = group_db.create(conn, {"name": group.name, "policy": policy,
                                      "project_id": project_id,
                                      "user_id": call.ctx.user_id or ""})
        row = group_db.get(conn, uuid)
    assert row is not None
    return JSON({"server_group": _view(call, row, [])})


@router.get("/os-server-groups")
def list_server_groups(
        call: CallDep,
        all_projects: Annotated[str | None, Query(description="admin: every project")] = None,
        limit: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
        offset: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None) -> JSON:
    call.authorize(_RULE + "index")
    project: str | None = call.ctx.project_id
    if all_projects is not None and params.boolean(all_projects, "all_projects") and \
            call.allowed(_RULE + "index:all_projects"):
        project = None
    max_limit = call.services.config.max_limit
    with call.db.read() as conn:
        rows = group_db.list_groups(conn, project,
                                    min(limit if limit is not None else max_limit, max_limit),
                                    offset or 0)
        members = group_db.members(conn, [r["id"] for r in rows])
    return JSON({"server_groups": [_view(call, r, members[r["id"]]) for r in rows]})


@router.get("/os-server-groups/{group_id}")
def show_server_group(call: CallDep, group_id: str) -> JSON:
    call.authorize(_RULE + "show")
    row = _get(call, group_id)
    with call.db.read() as conn:
        members = group_db.members(conn, [row["id"]])[row["id"]]
    return JSON({"server_group": _view(call, row, members)})


@router.delete("/os-server-groups/{group_id}", status_code=204)
def delete_server_group(call: CallDep, group_id: str) -> Response:
    call.authorize(_RULE + "delete")
    row = _get(call, group_id)
    call.authorize(_RULE + "delete", {"project_id": row["project_id"],
                                      "user_id": row["user_id"]})
    with call.db.write() as conn:
        group_db.remove(conn, row["id"])
    return Response(status_code=204)
