"""Host resources from engine answers: versions, architectures, use from labels."""

from __future__ import annotations

import os
from typing import Any

import pytest

from novalith.virt.docker import resources


@pytest.mark.parametrize("text,number", [
    ("20.10.24+dfsg1", 20010024), ("24.0.7", 24000007), ("v25.0", 25000000), ("28", 28000000),
    ("", 0), ("dev", 0),
])
def test_version_number(text: str, number: int) -> None:
    assert resources.version_number(text) == number


@pytest.mark.parametrize("arch,canonical", [
    ("x86_64", "x86_64"), ("amd64", "x86_64"), ("aarch64", "aarch64"), ("arm64", "aarch64"),
    ("", "x86_64"), ("s390x", "s390x"),
])
def test_architecture_is_normalised(arch: str, canonical: str) -> None:
    assert resources.normalise_arch(arch) == canonical


def container(state: str, vcpus: Any, memory: Any) -> dict[str, Any]:
    return {"State": state, "Labels": {"novalith.vcpus": vcpus, "novalith.memory_mb": memory}}


def test_use_counts_active_containers_only() -> None:
    listed = [container("running", "2", "512"), container("paused", "1", "128"),
              container("exited", "8", "4096"), container("created", "4", "64"),
              container("running", "bogus", None), {"State": "running"}]
    assert resources.usage(listed) == (3, 640)


def test_host_resources(tmp_path: Any) -> None:
    info = {"NCPU": 2, "MemTotal": 4 << 30, "Architecture": "x86_64",
            "DockerRootDir": "/nonexistent/docker", "KernelVersion": "6.1", "Driver": "overlay2"}
    disk = os.statvfs(str(tmp_path))
    res = resources.host_resources(info, {"Version": "20.10.24"},
                                   [container("running", "1", "256")], "host-a", 1, disk)
    assert (res.vcpus, res.memory_mb, res.vcpus_used, res.memory_mb_used) == (2, 4096, 1, 256)
    assert (res.hypervisor_type, res.hypervisor_version) == ("docker", 20010024)
    assert res.supported_instances == [("x86_64", "docker", "exe")]
    assert res.hypervisor_hostname == "host-a" and res.running_vms == 1
    assert res.local_gb == disk.f_blocks * disk.f_frsize >> 30
    assert res.cpu_info["storage_driver"] == "overlay2"


def test_disk_is_the_engine_root_when_visible(tmp_path: Any) -> None:
    assert resources.disk_path({"DockerRootDir": str(tmp_path)}, "/fallback") == str(tmp_path)
    assert resources.disk_path({"DockerRootDir": "/not/here"}, "/fallback") == "/fallback"
    assert resources.disk_path({}, "/fallback") == "/fallback"
