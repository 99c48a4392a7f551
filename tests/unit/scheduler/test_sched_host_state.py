from __future__ import annotations

import datetime as dt

import pytest

from novalith.objects.specs import FlavorSpec
from novalith.scheduler.host_state import HostState, requested_disk_gb


def _flavor(memory_mb: int = 1024, vcpus: int = 2, root_gb: int = 10, ephemeral_gb: int = 0,
            swap: int = 0) -> FlavorSpec:
    return FlavorSpec(flavorid="f", name="f", memory_mb=memory_mb, vcpus=vcpus,
                      root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap=swap)


def test_requested_disk_rounds_swap_up() -> None:
    assert requested_disk_gb(_flavor(root_gb=10, ephemeral_gb=5, swap=1)) == 16
    assert requested_disk_gb(_flavor(root_gb=10, ephemeral_gb=0, swap=2048)) == 12
    assert requested_disk_gb(_flavor(root_gb=0)) == 0


def test_free_figures_apply_reserved_and_ratios(make_host) -> None:
    host = make_host(memory_mb=4096, memory_mb_used=1000, reserved_host_memory_mb=512,
                     ram_allocation_ratio=1.5, vcpus=8, vcpus_used=10, reserved_host_cpus=2,
                     cpu_allocation_ratio=4.0, local_gb=100, local_gb_used=20,
                     reserved_host_disk_mb=1025, disk_allocation_ratio=2.0)
    assert host.ram_capacity_mb == (4096 - 512) * 1.5
    assert host.free_ram_mb == (4096 - 512) * 1.5 - 1000
    assert host.free_vcpus == (8 - 2) * 4.0 - 10
    # 1025 MB reserved rounds up to 2 GB.
    assert host.disk_capacity_gb == (100 - 2) * 2.0
    assert host.free_disk_gb == 98 * 2.0 - 20


def test_setting_an_input_recomputes_free(make_host) -> None:
    host = make_host(memory_mb=4096)
    host.memory_mb_used = 1024
    assert host.free_ram_mb == 3072
    host.ram_allocation_ratio = 2.0
    assert host.free_ram_mb == 4096 * 2 - 1024
    host.reserved_host_cpus = 4
    assert host.free_vcpus == 4
    host.local_gb_used = 30
    assert host.free_disk_gb == 70


def test_consume_and_release(make_host) -> None:
    host = make_host(memory_mb=4096, vcpus=4, local_gb=50)
    flavor = _flavor(memory_mb=1024, vcpus=2, root_gb=10, swap=512)
    host.consume(flavor)
    assert (host.memory_mb_used, host.vcpus_used, host.local_gb_used) == (1024, 2, 11)
    assert host.num_instances == 1
    assert host.free_ram_mb == 3072 and host.free_vcpus == 2 and host.free_disk_gb == 39
    host.release(flavor)
    assert (host.memory_mb_used, host.vcpus_used, host.local_gb_used) == (0, 0, 0)
    assert host.num_instances == 0 and host.free_ram_mb == 4096


def test_fits_uses_used_plus_requested_le_capacity(make_host) -> None:
    host = make_host(memory_mb=2048, memory_mb_used=1024, vcpus=2, local_gb=10)
    assert host.fits(_flavor(memory_mb=1024, vcpus=2, root_gb=10))
    assert not host.fits(_flavor(memory_mb=1025, vcpus=1, root_gb=1))


def test_free_figure_matches_claim_formula_with_inexact_ratio(make_host) -> None:
    # (1000 - 0) * 1.1 is 1100.0000000000002 in binary; both forms must agree.
    host = make_host(memory_mb=1000, ram_allocation_ratio=1.1, memory_mb_used=100)
    for requested in (999, 1000, 1001):
        assert (host.free_ram_mb >= requested) == (100 + requested <= 1000 * 1.1)


def test_from_mapping_accepts_db_column_names() -> None:
    now = dt.datetime(2024, 1, 1)
    row = {
        "id": 7, "uuid": "u7", "host": "c1", "hypervisor_hostname": "c1.node",
        "hypervisor_type": "QEMU", "hypervisor_version": 8002000, "availability_zone": "az1",
        "service_disabled": False, "service_up": True, "vcpus": 16, "vcpus_used": 2,
        "memory_mb": 32768, "memory_mb_used": 2048, "local_gb": 500, "local_gb_used": 40,
        "reserved_host_memory_mb": 512, "reserved_host_disk_mb": 0, "reserved_host_cpus": 0,
        "cpu_allocation_ratio": 16.0, "ram_allocation_ratio": 1.5, "disk_allocation_ratio": 1.0,
        "supported_instances": [["X86_64", "QEMU", "HVM"]], "running_vms": 3,
        "updated_at": now, "stats": {"ignored": 1},
    }
    host = HostState.from_mapping(row)
    assert (host.node_id, host.node_uuid, host.nodename, host.num_instances) == (
        7, "u7", "c1.node", 3)
    assert host.supported_instances == (("x86_64", "qemu", "hvm"),)
    assert host.aggregate_metadata == {} and host.updated_at == now
    assert host.free_ram_mb == (32768 - 512) * 1.5 - 2048


def test_from_mapping_defaults_and_missing_required() -> None:
    row = {"node_id": 1, "node_uuid": "u", "host": "h", "nodename": "n",
           "hypervisor_type": "fake", "availability_zone": "nova",
           "vcpus": 4, "memory_mb": 1024, "local_gb": 10,
           "cpu_allocation_ratio": None, "supported_instances": None}
    host = HostState.from_mapping(row)
    assert host.cpu_allocation_ratio == 1.0 and host.supported_instances == ()
    assert host.service_up and not host.service_disabled
    del row["vcpus"]
    with pytest.raises(KeyError, match="vcpus"):
        HostState.from_mapping(row)


def test_update_from_mapping_refreshes_in_place(make_host) -> None:
    host = make_host(memory_mb=4096)
    host.aggregate_metadata["k"] = {"v"}
    host.update_from_mapping({"memory_mb_used": 1024, "service_up": False,
                              "supported_instances": [["aarch64", "kvm", "hvm"]]})
    assert host.free_ram_mb == 3072 and not host.service_up
    assert host.supported_instances == (("aarch64", "kvm", "hvm"),)
    assert host.aggregate_metadata == {"k": {"v"}}


def test_equal_supported_instances_share_a_key(make_host) -> None:
    a = make_host("a", supported_instances=[["x86_64", "kvm", "hvm"]])
    b = make_host("b", supported_instances=[("X86_64", "KVM", "HVM")])
    c = make_host("c", supported_instances=[["aarch64", "kvm", "hvm"]])
    assert a.supported_instances_key == b.supported_instances_key
    assert a.supported_instances_key != c.supported_instances_key
