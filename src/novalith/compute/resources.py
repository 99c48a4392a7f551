"""Report this host's capacity (from the driver) into its compute node record."""

from __future__ import annotations

import msgspec

from novalith.compute.deps import ComputeDeps
from novalith.db import services as svc_db


def capabilities_dict(deps: ComputeDeps) -> dict[str, object]:
    caps = deps.driver.capabilities
    return msgspec.to_builtins(caps) if isinstance(caps, msgspec.Struct) else dict(vars(caps))


def report(deps: ComputeDeps, service_id: int) -> int:
    """Write totals and hypervisor facts; used figures stay owned by claims."""
    res = deps.driver.get_available_resource()
    cfg = deps.config
    values = {
        "hypervisor_hostname": res.hypervisor_hostname,
        "hypervisor_type": res.hypervisor_type,
        "hypervisor_version": res.hypervisor_version,
        "host_ip": res.host_ip,
        "cpu_info": res.cpu_info,
        "supported_instances": [list(t) for t in res.supported_instances],
        "vcpus": res.vcpus,
        "memory_mb": res.memory_mb,
        "local_gb": res.local_gb,
        "disk_available_least": res.disk_available_least,
        "ram_allocation_ratio": cfg.ram_allocation_ratio,
        "cpu_allocation_ratio": cfg.cpu_allocation_ratio,
        "disk_allocation_ratio": cfg.disk_allocation_ratio,
        "reserved_host_memory_mb": cfg.reserved_host_memory_mb,
        "reserved_host_disk_mb": cfg.reserved_host_disk_mb,
        "reserved_host_cpus": cfg.reserved_host_cpus,
        "stats": {"capabilities": capabilities_dict(deps), "driver": deps.driver.name},
    }
    with deps.db.write() as conn:
        deps.node_id = svc_db.upsert_node(conn, service_id, deps.host, values)
    return deps.node_id
