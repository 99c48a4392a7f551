"""/os-availability-zone: the zones users may boot into; ``/detail`` (admin) adds hosts.

A compute host's zone is the ``availability_zone`` metadata of its aggregate, else
``[DEFAULT] default_availability_zone``; other services are in the internal zone,
which only the detail view shows. A zone is available while one of its compute
services is enabled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import RowMapping

from novalith.api.compute.server_views import iso_usec
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import aggregates as agg_db
from novalith.db import services as svc_db

router = APIRouter(prefix="/compute/v2.1", tags=["availability zones"])
CallDep = Annotated[Call, Depends(compute_call)]
COMPUTE = "nova-compute"


def service_zone(call: Call, row: Mapping[Any, Any], host_zones: Mapping[str, str]) -> str:
    """The zone a service row is in, as every API shows it."""
    cfg = call.services.config
    if row["binary"] != COMPUTE:
        return cfg.internal_availability_zone
    return host_zones.get(row["host"]) or row["availability_zone"] or \
        cfg.default_availability_zone


def _zones(call: Call) -> tuple[Sequence[RowMapping], dict[str, str]]:
    with call.db.read() as conn:
        return svc_db.list_services(conn), agg_db.host_zones(conn)


@router.get("/os-availability-zone")
def list_zones(call: CallDep) -> JSON:
    call.authorize("os_compute_api:os-availability-zone:list")
    services, host_zones = _zones(call)
    state: dict[str, bool] = {}
    for row in services:
        if row["binary"] == COMPUTE:
            zone = service_zone(call, row, host_zones)
            state[zone] = state.get(zone, False) or not row["disabled"]
    return JSON({"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": available}, "hosts": None}
        for zone, available in sorted(state.items(), key=lambda kv: (not kv[1], kv[0]))]})


@router.get("/os-availability-zone/detail")
def list_zones_detail(call: CallDep) -> JSON:
    call.authorize("os_compute_api:os-availability-zone:detail")
    services, host_zones = _zones(call)
    down_time = call.services.config.service_down_time
    zones: dict[str, dict[str, Any]] = {}
    for row in services:
        zone = service_zone(call, row, host_zones)
        info = zones.setdefault(zone, {"available": False, "hosts": {}})
        info["available"] = info["available"] or not row["disabled"]
        info["hosts"].setdefault(row["host"], {})[row["binary"]] = {
            "available": svc_db.is_up(row, down_time), "active": not row["disabled"],
            "updated_at": iso_usec(row["updated_at"])}
    return JSON({"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": info["available"]},
         "hosts": info["hosts"]}
        for zone, info in sorted(zones.items(), key=lambda kv: (not kv[1]["available"], kv[0]))]})
