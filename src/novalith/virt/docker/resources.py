"""The host's capacity as the Docker engine sees it (pure functions of engine answers).

* vcpus / memory: the engine's ``NCPU`` and ``MemTotal`` (``docker info``).
* disk: the file system of the engine's ``DockerRootDir`` (image layers and container
  layers live there); when that path is not visible here, ``instances_path``'s.
* used: the vcpus and memory of the flavors of every active (running or paused)
  Novalith container on the engine, whichever compute host made it: they all use
  this machine's CPUs and memory. The figures come from container labels, so one
  list call answers it.
* hypervisor_type ``docker``; hypervisor_version the server version as an integer,
  major * 1,000,000 + minor * 1,000 + patch (20.10.24 -> 20010024), as libvirt
  reports its versions; supported_instances ``(arch, "docker", "exe")`` with the
  engine's architecture normalised (amd64 -> x86_64).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from novalith.virt.docker import container_spec as cs
from novalith.virt.docker import power_state as ps
from novalith.virt.driver import HostResources

HYPERVISOR_TYPE = "docker"
VM_MODE = "exe"
_ARCH = {"amd64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64", "armv8": "aarch64",
         "386": "i686", "i386": "i686", "armhf": "armv7l", "ppc64el": "ppc64le"}


def version_number(text: str) -> int:
    """``"20.10.24+dfsg1"`` -> 20010024; 0 when the text holds no version."""
    match = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text or "")
    if match is None:
        return 0
    major, minor, patch = (int(g or 0) for g in match.groups())
    return major * 1_000_000 + minor * 1_000 + patch


def normalise_arch(arch: str) -> str:
    value = (arch or "x86_64").strip().lower()
    return _ARCH.get(value, value)


def _label_int(labels: Mapping[str, str], key: str) -> int:
    try:
        return max(int(labels.get(key) or 0), 0)
    except ValueError:
        return 0


def usage(containers: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """``(vcpus, memory MiB)`` of the active Novalith containers in a container list."""
    vcpus = memory = 0
    for container in containers:
        if str(container.get("State") or "") not in ps.ACTIVE:
            continue
        labels = container.get("Labels") or {}
        vcpus += _label_int(labels, cs.LABEL_VCPUS)
        memory += _label_int(labels, cs.LABEL_MEMORY)
    return vcpus, memory


def disk_path(info: Mapping[str, Any], fallback: str) -> str:
    root = str(info.get("DockerRootDir") or "")
    return root if root and os.path.isdir(root) else fallback


def host_resources(info: Mapping[str, Any], version: Mapping[str, Any],
                   containers: Sequence[Mapping[str, Any]], host: str, running_vms: int,
                   disk: os.statvfs_result) -> HostResources:
    """HostResources from ``docker info``, ``docker version``, the Novalith containers
    on the engine and the statvfs of the engine's storage."""
    total_gb = disk.f_blocks * disk.f_frsize // (1 << 30)
    free_gb = disk.f_bavail * disk.f_frsize // (1 << 30)
    vcpus_used, memory_used = usage(containers)
    arch = normalise_arch(str(info.get("Architecture") or ""))
    return HostResources(
        hypervisor_hostname=host,
        hypervisor_type=HYPERVISOR_TYPE,
        hypervisor_version=version_number(str(version.get("Version") or "")),
        vcpus=int(info.get("NCPU") or 0),
        memory_mb=int(info.get("MemTotal") or 0) // (1 << 20),
        local_gb=total_gb,
        vcpus_used=vcpus_used,
        memory_mb_used=memory_used,
        local_gb_used=max(total_gb - free_gb, 0),
        disk_available_least=free_gb,
        host_ip="127.0.0.1",
        cpu_info={"arch": arch, "kernel_version": str(info.get("KernelVersion") or ""),
                  "operating_system": str(info.get("OperatingSystem") or ""),
                  "storage_driver": str(info.get("Driver") or ""),
                  "cgroup_version": str(info.get("CgroupVersion") or "")},
        supported_instances=[(arch, HYPERVISOR_TYPE, VM_MODE)],
        running_vms=running_vms,
    )
