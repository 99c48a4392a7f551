"""/os-services (admin): list with liveness; enable, disable (with a reason), force
down (2.11) and delete, in the forms of microversions up to 2.52.

A disabled or forced-down compute service gets no new servers (ComputeFilter); a
forced-down one is also ``down`` at once, whatever its heartbeat says, so its
servers may be evacuated. Each change asks the schedulers to reload the host.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select, update

from novalith import exceptions
from novalith.api.compute.availability_zones import service_zone
from novalith.api.compute.host_refresh import refresh_hosts
from novalith.api.compute.server_views import iso_usec
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import aggregates as agg_db
from novalith.db import services as svc_db
from novalith.db.base import utcnow
from novalith.db.instances import INST

router = APIRouter(prefix="/compute/v2.1", tags=["services"])
CallDep = Annotated[Call, Depends(compute_call)]
Name = Annotated[str, Field(min_length=1, max_length=255)]


class ServiceUpdate(BaseModel):
    """The body of PUT /os-services/{enable,disable,disable-log-reason,force-down}."""

    model_config = ConfigDict(extra="forbid")
    host: Name
    binary: Name
    disabled_reason: Name | None = None
    forced_down: bool | None = None


@router.get("/os-services")
def list_services(call: CallDep, request: Request,
                  host: Annotated[str | None, Query()] = None,
                  binary: Annotated[str | None, Query()] = None) -> JSON:
    call.require_admin("os_compute_api:os-services:list")
    cfg = call.services.config
    with call.db.read() as conn:
        rows = svc_db.list_services(conn, host=host, binary=binary)
        zones = agg_db.host_zones(conn)
    out: list[dict[str, Any]] = []
    for r in rows:
        item = {"id": r["id"], "binary": r["binary"], "host": r["host"],
                "zone": service_zone(call, r, zones),
                "status": "disabled" if r["disabled"] else "enabled",
                "state": "up" if svc_db.is_up(r, cfg.service_down_time) else "down",
                "updated_at": iso_usec(r["updated_at"]),
                "disabled_reason": r["disabled_reason"]}
        if call.version.at_least("2.11"):
            item["forced_down"] = bool(r["forced_down"])
        out.append(item)
    return JSON({"services": out})


@router.put("/os-services/{action}")
def update_service(call: CallDep,
                   action: Literal["enable", "disable", "disable-log-reason", "force-down"],
                   body: ServiceUpdate) -> JSON:
    call.require_admin("os_compute_api:os-services:update")
    if action == "force-down" and not call.version.at_least("2.11"):
        raise exceptions.NotFound("Unknown action: force-down")
    values: dict[str, Any] = {}
    reply: dict[str, Any] = {"host": body.host, "binary": body.binary}
    if action == "enable":
        values = {"disabled": False, "disabled_reason": None}
        reply["status"] = "enabled"
    elif action == "disable":
        values = {"disabled": True}
        reply["status"] = "disabled"
    elif action == "disable-log-reason":
        if body.disabled_reason is None or not body.disabled_reason.strip():
            raise exceptions.Invalid("Missing disabled reason field")
        values = {"disabled": True, "disabled_reason": body.disabled_reason}
        reply.update(status="disabled", disabled_reason=body.disabled_reason)
    else:
        if body.forced_down is None:
            raise exceptions.ValidationError(field="service",
                                             detail="'forced_down' is a required property")
        values = {"forced_down": body.forced_down}
        reply["forced_down"] = body.forced_down
    with call.db.write() as conn:
        done = conn.execute(update(svc_db.SVC).where(
            svc_db.SVC.c.host == body.host, svc_db.SVC.c.binary == body.binary)
            .values(updated_at=utcnow(), **values)).rowcount
    if not done:
        raise exceptions.NotFound(f"Compute host {body.host} with binary {body.binary} "
                                  "could not be found.")
    refresh_hosts(call, [body.host])
    return JSON({"service": reply})


@router.delete("/os-services/{service_id}", status_code=204)
def delete_service(call: CallDep,
                   service_id: Annotated[int, Path(ge=0, le=2**31 - 1)]) -> Response:
    """Delete a service row; a compute service also loses its nodes and its aggregate
    memberships, and is refused (409) while it still hosts servers."""
    call.require_admin("os_compute_api:os-services:delete")
    SVC, CN = svc_db.SVC, svc_db.CN
    with call.db.write() as conn:
        row = conn.execute(select(SVC).where(SVC.c.id == service_id)).mappings().first()
        if row is None:
            raise exceptions.ServiceNotFound(service_id=service_id)
        if row["binary"] == "nova-compute":
            hosted = conn.execute(select(func.count()).select_from(INST).where(
                INST.c.host == row["host"], INST.c.deleted == False)).scalar()  # noqa: E712
            if hosted:
                raise exceptions.Conflict("Unable to delete compute service that is hosting "
                                          "instances. Migrate or delete the instances first.")
            conn.execute(delete(CN).where(CN.c.service_id == service_id))
            conn.execute(delete(agg_db.AHOST).where(agg_db.AHOST.c.host == row["host"]))
        conn.execute(delete(SVC).where(SVC.c.id == service_id))
    refresh_hosts(call, [row["host"]])
    return Response(status_code=204)
