"""/os-hypervisors (admin): list, detail, show, statistics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends

from novalith import exceptions
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import services as svc_db

router = APIRouter(prefix="/compute/v2.1", tags=["hypervisors"])
CallDep = Annotated[Call, Depends(compute_call)]


def _state(call: Call, row: Mapping[Any, Any]) -> dict[str, Any]:
    up = svc_db.is_up({"forced_down": row["forced_down"], "last_seen_up": row["last_seen_up"],
                       "updated_at": row["service_updated_at"],
                       "created_at": row["service_created_at"]},
                      call.services.config.service_down_time)
    return {"id": row["id"], "hypervisor_hostname": row["hypervisor_hostname"],
            "state": "up" if up else "down",
            "status": "disabled" if row["service_disabled"] else "enabled"}


def _detail(call: Call, row: Mapping[Any, Any]) -> dict[str, Any]:
    body = _state(call, row)
    reserved_disk = math.ceil(row["reserved_host_disk_mb"] / 1024)
    mem_used = row["memory_mb_used"] + row["reserved_host_memory_mb"]
    disk_used = row["local_gb_used"] + reserved_disk
    cpu_info: Any = row["cpu_info"] or {}
    body.update({
        "cpu_info": cpu_info if call.version.at_least("2.28") else orjson.dumps(cpu_info).decode(),
        "current_workload": 0,
        "disk_available_least": row["disk_available_least"],
        "free_disk_gb": row["local_gb"] - disk_used,
        "free_ram_mb": row["memory_mb"] - mem_used,
        "host_ip": row["host_ip"],
        "hypervisor_type": row["hypervisor_type"],
        "hypervisor_version": row["hypervisor_version"],
        "local_gb": row["local_gb"], "local_gb_used": disk_used,
        "memory_mb": row["memory_mb"], "memory_mb_used": mem_used,
        "running_vms": row["running_vms"],
        "service": {"host": row["host"], "id": row["svc_id"],
                    "disabled_reason": row["service_disabled_reason"]},
        "vcpus": row["vcpus"], "vcpus_used": row["vcpus_used"],
    })
    return body


def _rows(call: Call) -> Sequence[Mapping[Any, Any]]:
    call.require_admin("os_compute_api:os-hypervisors:list")
    with call.db.read() as conn:
        return svc_db.nodes_with_services(conn)


@router.get("/os-hypervisors")
def list_hypervisors(call: CallDep) -> JSON:
    return JSON({"hypervisors": [_state(call, r) for r in _rows(call)]})


@router.get("/os-hypervisors/detail")
def list_hypervisors_detail(call: CallDep) -> JSON:
    return JSON({"hypervisors": [_detail(call, r) for r in _rows(call)]})


@router.get("/os-hypervisors/statistics")
def hypervisor_statistics(call: CallDep) -> JSON:
    details = [_detail(call, r) for r in _rows(call)]
    keys = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb", "local_gb_used",
            "free_ram_mb", "free_disk_gb", "current_workload", "running_vms")
    stats: dict[str, Any] = {k: sum(d[k] for d in details) for k in keys}
    stats["count"] = len(details)
    stats["disk_available_least"] = sum(d["disk_available_least"] or 0 for d in details)
    return JSON({"hypervisor_statistics": stats})


@router.get("/os-hypervisors/{hypervisor_id}")
def show_hypervisor(call: CallDep, hypervisor_id: str) -> JSON:
    for row in _rows(call):
        if str(row["id"]) == hypervisor_id:
            return JSON({"hypervisor": _detail(call, row)})
    raise exceptions.HypervisorNotFound(hypervisor=hypervisor_id)
