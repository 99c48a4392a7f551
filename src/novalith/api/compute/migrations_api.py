"""/os-migrations (admin) and /servers/{id}/migrations (live migrations in progress).

Microversions: 2.22 ``force_complete``, 2.23 ``migration_type`` and links in
os-migrations and the server migrations list/show, 2.24 abort (DELETE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict

from novalith import exceptions
from novalith.api.compute.server_views import iso_usec
from novalith.api.compute.servers import get_instance
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.compute.rpcapi import MoveOp
from novalith.db import moves as moves_db
from novalith.objects import states as s

router = APIRouter(prefix="/compute/v2.1", tags=["migrations"])
CallDep = Annotated[Call, Depends(compute_call)]
_FILTERS = ("host", "status", "instance_uuid", "source_compute", "migration_type", "hidden")


class ForceCompleteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force_complete: None


def _common(m: Mapping[Any, Any]) -> dict[str, Any]:
    return {"created_at": iso_usec(m["created_at"]), "dest_compute": m["dest_compute"],
            "dest_host": m["dest_host"], "dest_node": m["dest_node"], "id": m["id"],
            "source_compute": m["source_compute"], "source_node": m["source_node"],
            "status": m["status"], "updated_at": iso_usec(m["updated_at"])}


def _in_progress(m: Mapping[Any, Any]) -> bool:
    return m["migration_type"] == moves_db.LIVE and m["status"] in moves_db.LIVE_IN_PROGRESS


@router.get("/os-migrations")
def list_migrations(call: CallDep, request: Request) -> JSON:
    call.require_admin("os_compute_api:os-migrations:index")
    filters = {k: v for k, v in request.query_params.items() if k in _FILTERS}
    v223 = call.version.at_least("2.23")
    with call.db.read() as conn:
        rows = moves_db.listing(conn, filters)
    out = []
    for m in rows:
        item = _common(m)
        item.update(instance_uuid=m["instance_uuid"],
                    old_instance_type_id=m["old_instance_type_id"],
                    new_instance_type_id=m["new_instance_type_id"])
        if v223:
            item["migration_type"] = m["migration_type"]
            if _in_progress(m):
                path = f"servers/{m['instance_uuid']}/migrations/{m['id']}"
                item["links"] = [{"rel": "self", "href": f"{call.base}/{path}"},
                                 {"rel": "bookmark", "href": f"{call.bookmark}/{path}"}]
        out.append(item)
    return JSON({"migrations": out})


def _server_view(m: Mapping[Any, Any]) -> dict[str, Any]:
    item = _common(m)
    item["server_uuid"] = m["instance_uuid"]
    for key in ("memory_total_bytes", "memory_processed_bytes", "memory_remaining_bytes",
                "disk_total_bytes", "disk_processed_bytes", "disk_remaining_bytes"):
        item[key] = m[key]
    return item


def _require(call: Call, version: str) -> None:
    if not call.version.at_least(version):
        raise exceptions.NotFound("The resource could not be found.")


def _migration_id(migration_id: str) -> int:
    try:
        return int(migration_id)
    except ValueError:
        raise exceptions.MigrationNotFound(migration_id=migration_id) from None


@router.get("/servers/{server_id}/migrations")
def list_server_migrations(call: CallDep, server_id: str) -> JSON:
    _require(call, "2.23")
    call.require_admin("os_compute_api:servers:migrations:index")
    row = get_instance(call, server_id)
    with call.db.read() as conn:
        rows = moves_db.for_instance(conn, row["uuid"], statuses=moves_db.LIVE_IN_PROGRESS,
                                     types=[moves_db.LIVE])
    return JSON({"migrations": [_server_view(m) for m in rows]})


@router.get("/servers/{server_id}/migrations/{migration_id}")
def show_server_migration(call: CallDep, server_id: str, migration_id: str) -> JSON:
    _require(call, "2.23")
    call.require_admin("os_compute_api:servers:migrations:show")
    row = get_instance(call, server_id)
    mid = _migration_id(migration_id)
    with call.db.read() as conn:
        m = moves_db.get(conn, mid)
    if m is None or m["instance_uuid"] != row["uuid"] or m["deleted"] or not _in_progress(m):
        raise exceptions.NotFound(f"In-progress live migration {migration_id} is not found "
                                  f"for server {row['uuid']}.")
    return JSON({"migration": _server_view(m)})


def _running(call: Call, server_id: str, migration_id: str, method: str
             ) -> tuple[Mapping[Any, Any], Mapping[Any, Any]]:
    """The instance live-migrating now and its running migration (409, 404, 400 else)."""
    row = get_instance(call, server_id)
    if row["task_state"] != s.MIGRATING:
        raise exceptions.InstanceInvalidState(action=method, instance_id=row["uuid"],
                                              attr="task_state", state=row["task_state"])
    mid = _migration_id(migration_id)
    with call.db.read() as conn:
        m = moves_db.get(conn, mid)
    if m is None or m["instance_uuid"] != row["uuid"] or m["deleted"]:
        raise exceptions.NotFound(f"Migration {migration_id} not found for instance "
                                  f"{row['uuid']}")
    if m["migration_type"] != moves_db.LIVE or m["status"] != moves_db.RUNNING:
        raise exceptions.InvalidMigrationState(migration_id=migration_id,
                                               instance_uuid=row["uuid"],
                                               state=m["status"], method=method)
    return row, m


@router.post("/servers/{server_id}/migrations/{migration_id}/action", status_code=202)
def force_complete(call: CallDep, server_id: str, migration_id: str,
                   body: ForceCompleteBody) -> Response:
    _require(call, "2.22")
    call.require_admin("os_compute_api:servers:migrations:force_complete")
    row, m = _running(call, server_id, migration_id, "force complete")
    call.services.compute.cast(call.ctx, "live_migration_force_complete",
                               MoveOp(instance_uuid=row["uuid"], migration_id=m["id"]),
                               server=m["source_compute"])
    return Response(status_code=202)


@router.delete("/servers/{server_id}/migrations/{migration_id}", status_code=202)
def abort_migration(call: CallDep, server_id: str, migration_id: str) -> Response:
    _require(call, "2.24")
    call.require_admin("os_compute_api:servers:migrations:delete")
    row, m = _running(call, server_id, migration_id, "abort live migration")
    call.services.compute.cast(call.ctx, "live_migration_abort",
                               MoveOp(instance_uuid=row["uuid"], migration_id=m["id"]),
                               server=m["source_compute"])
    return Response(status_code=202)
