"""/servers: create, list, detail, show, update, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.api.compute import move_api, params, server_create, server_query
from novalith.api.compute.links import links, next_link
from novalith.api.compute.server_schemas import ServerCreateBody, ServerUpdateBody
from novalith.api.compute.server_views import ServerView
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.compute import delete as compute_delete
from novalith.compute.rpcapi import InstanceOp
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.db import services as svc_db
from novalith.objects import states

router = APIRouter(prefix="/compute/v2.1", tags=["servers"])
CallDep = Annotated[Call, Depends(compute_call)]


def get_instance(call: Call, server_id: str, read_deleted: bool = False) -> RowMapping:
    """The instance if the caller may see it; 404 otherwise (never leaks existence)."""
    with call.db.read() as conn:
        row = inst_db.get(conn, server_id, read_deleted=read_deleted,
                          project_id=None if call.ctx.is_admin else call.ctx.project_id)
    if row is None:
        raise exceptions.InstanceNotFound(instance_id=server_id)
    return row


def _host_status(call: Call) -> dict[str, str]:
    """Per host: UP, DOWN, MAINTENANCE (disabled), as 2.16 shows admins."""
    if not (call.ctx.is_admin and call.version.at_least("2.16")):
        return {}
    with call.db.read() as conn:
        rows = svc_db.list_services(conn, binary="nova-compute")
    out = {}
    for r in rows:
        if not svc_db.is_up(r, call.services.config.service_down_time):
            out[r["host"]] = "DOWN"
        elif r["disabled"]:
            out[r["host"]] = "MAINTENANCE"
        else:
            out[r["host"]] = "UP"
    return out


@router.post("/servers", status_code=202)
def create_server(call: CallDep, body: ServerCreateBody) -> JSON:
    created = server_create.create(call, body)
    if body.server.return_reservation_id:
        return JSON({"reservation_id": created.reservation_id}, status_code=202)
    first = created.uuids[0]
    server: dict[str, Any] = {"id": first, "links": links(call, "servers", first),
                              "OS-DCF:diskConfig": "MANUAL",
                              "security_groups": [{"name": "default"}]}
    if created.admin_password is not None:
        server["adminPass"] = created.admin_password
    return JSON({"server": server}, status_code=202,
                          headers={"Location": f"{call.base}/servers/{first}"})


def _list(call: Call, request: Request, detail: bool) -> JSON:
    call.authorize("os_compute_api:servers:detail" if detail else "os_compute_api:servers:index")
    q = request.query_params
    stmt, sort = server_query.build(call, q, detail)
    limit = params.limit(request, call.services.config.max_limit)
    view = ServerView(call, _host_status(call) if detail else None)
    with call.db.read() as conn:
        marker_id = q.get("marker")
        if marker_id is not None:
            marker = inst_db.get(conn, marker_id, read_deleted=True,
                                 project_id=None if call.ctx.is_admin else call.ctx.project_id)
            if marker is None:
                raise exceptions.Invalid(f"marker [{marker_id}] not found")
            stmt = server_query.after_marker(stmt, sort, marker)
        ordered = stmt.order_by(*server_query.order_by(sort, call.db.backend)).limit(limit)
        rows = list(conn.execute(ordered).mappings())
        faults = {}
        if detail:
            faulty = [r["uuid"] for r in rows if r["vm_state"] in (states.ERROR, states.DELETED)]
            faults = inst_db.latest_faults(conn, faulty)
    if detail:
        servers = [view.detail(r, faults.get(r["uuid"])) for r in rows]
    else:
        servers = [view.summary(r) for r in rows]
    body: dict[str, Any] = {"servers": servers}
    if rows and len(rows) == limit:
        body["servers_links"] = next_link(call, "servers/detail" if detail else "servers",
                                          list(q.multi_items()), rows[-1]["uuid"])
    return JSON(body)


@router.get("/servers")
def list_servers(call: CallDep, request: Request) -> JSON:
    return _list(call, request, detail=False)


@router.get("/servers/detail")
def list_servers_detail(call: CallDep, request: Request) -> JSON:
    return _list(call, request, detail=True)


def show_body(call: Call, row: RowMapping) -> dict[str, Any]:
    fault = None
    if row["vm_state"] in (states.ERROR, states.DELETED):
        with call.db.read() as conn:
            fault = inst_db.latest_faults(conn, [row["uuid"]]).get(row["uuid"])
    return {"server": ServerView(call, _host_status(call)).detail(row, fault)}


@router.get("/servers/{server_id}")
def show_server(call: CallDep, server_id: str) -> JSON:
    call.authorize("os_compute_api:servers:show")
    return JSON(show_body(call, get_instance(call, server_id)))


@router.put("/servers/{server_id}")
def update_server(call: CallDep, server_id: str, body: ServerUpdateBody) -> JSON:
    call.require_writer("os_compute_api:servers:update")
    row = get_instance(call, server_id)
    upd = body.server
    if upd.description is not None and not call.version.at_least("2.19"):
        raise exceptions.ValidationError(field="description",
                                         detail="Additional properties are not allowed.")
    values: dict[str, Any] = {}
    if upd.name is not None:
        if not upd.name.strip():
            raise exceptions.ValidationError(field="name", detail="The name must not be blank.")
        values["display_name"] = upd.name
    if "description" in upd.model_fields_set:
        values["display_description"] = upd.description
    if upd.accessIPv4 is not None:
        values["access_ip_v4"] = upd.accessIPv4
    if upd.accessIPv6 is not None:
        values["access_ip_v6"] = upd.accessIPv6
    if values:
        with call.db.write() as conn:
            inst_db.transition(conn, row["uuid"], values)
    return JSON(show_body(call, get_instance(call, server_id)))


@router.delete("/servers/{server_id}", status_code=204)
def delete_server(call: CallDep, server_id: str) -> Response:
    call.require_writer("os_compute_api:servers:delete")
    row = get_instance(call, server_id)
    if row["locked"] and not call.ctx.is_admin:
        raise exceptions.Conflict(f"Instance {server_id} is locked")
    with call.db.write() as conn:
        inst_db.start_action(conn, row["uuid"], "delete", call.ctx)
        if _delete_locally(call, conn, row):
            return Response(status_code=204)
        inst_db.transition(conn, row["uuid"], {"task_state": states.DELETING})
    move_api.abort_live_migration_for_delete(call, row)
    try:
        call.services.compute.cast(call.ctx, "terminate_instance",
                                   InstanceOp(instance_uuid=row["uuid"], action="delete"),
                                   server=row["host"])
    except exceptions.ServiceUnavailable:
        # Not delivered (broker unreachable): undo, so the delete can be asked again.
        with call.db.write() as conn:
            inst_db.transition(conn, row["uuid"], {"task_state": row["task_state"]},
                               expected_task=[states.DELETING])
        raise
    return Response(status_code=204)


def _delete_locally(call: Call, conn: Any, row: RowMapping) -> bool:
    """Delete in the DB alone when no compute holds the instance (never scheduled, or
    its compute service is down); a restarted compute removes leftovers itself."""
    host = row["host"]
    if host is not None:
        svc = svc_db.list_services(conn, host=host, binary="nova-compute")
        if svc and svc_db.is_up(svc[0], call.services.config.service_down_time):
            return False
    cond = inst_db.INST.c.host.is_(None) if host is None else inst_db.INST.c.host == host
    done = conn.execute(inst_db.INST.update().where(inst_db.INST.c.uuid == row["uuid"], cond)
                        .values(**compute_delete.deleted_values())).rowcount == 1
    if done:
        claims.release(conn, row["uuid"])  # the migrations' claims too
        moves_db.soft_delete_for_instance(conn, row["uuid"])
        inst_db.finish_event(conn, row["uuid"], call.ctx.request_id, "api_delete")
    return done

