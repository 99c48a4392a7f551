"""/os-services (admin): list services with their liveness."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from novalith.api.compute.server_views import iso_usec
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import services as svc_db

router = APIRouter(prefix="/compute/v2.1", tags=["services"])
CallDep = Annotated[Call, Depends(compute_call)]


@router.get("/os-services")
def list_services(call: CallDep, request: Request) -> JSON:
    call.require_admin("os_compute_api:os-services:list")
    q = request.query_params
    cfg = call.services.config
    with call.db.read() as conn:
        rows = svc_db.list_services(conn, host=q.get("host"), binary=q.get("binary"))
    out: list[dict[str, Any]] = []
    for r in rows:
        zone = (r["availability_zone"] or cfg.default_availability_zone
                if r["binary"] == "nova-compute" else cfg.internal_availability_zone)
        item = {"id": r["id"], "binary": r["binary"], "host": r["host"], "zone": zone,
                "status": "disabled" if r["disabled"] else "enabled",
                "state": "up" if svc_db.is_up(r, cfg.service_down_time) else "down",
                "updated_at": iso_usec(r["updated_at"]),
                "disabled_reason": r["disabled_reason"]}
        if call.version.at_least("2.11"):
            item["forced_down"] = bool(r["forced_down"])
        out.append(item)
    return JSON({"services": out})
