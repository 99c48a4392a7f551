"""ComputeFilter, AvailabilityZoneFilter, RamFilter, CoreFilter, DiskFilter."""

from __future__ import annotations

import pytest

from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.filters.availability_zone import AvailabilityZoneFilter
from novalith.scheduler.filters.compute import ComputeFilter
from novalith.scheduler.filters.core import CoreFilter
from novalith.scheduler.filters.disk import DiskFilter
from novalith.scheduler.filters.ram import RamFilter


def _check(filt: BaseFilter, host, spec, expected: bool) -> None:
    """host_passes and filter_all must agree."""
    assert filt.host_passes(host, spec) is expected
    assert filt.filter_all([host], spec) == ([host] if expected else [])


@pytest.mark.parametrize(("up", "disabled", "expected"), [
    (True, False, True), (False, False, False), (True, True, False), (False, True, False),
])
def test_compute_filter(make_host, make_spec, up, disabled, expected) -> None:
    _check(ComputeFilter(), make_host(service_up=up, service_disabled=disabled),
           make_spec(), expected)


@pytest.mark.parametrize(("zone", "expected"), [(None, True), ("nova", True), ("az2", False)])
def test_availability_zone_filter(make_host, make_spec, zone, expected) -> None:
    _check(AvailabilityZoneFilter(), make_host(availability_zone="nova"),
           make_spec(availability_zone=zone), expected)


def test_availability_zone_filter_keeps_order(make_host, make_spec) -> None:
    hosts = [make_host("a", availability_zone="z1"), make_host("b", availability_zone="z2"),
             make_host("c", availability_zone="z1")]
    passed = AvailabilityZoneFilter().filter_all(hosts, make_spec(availability_zone="z1"))
    assert [h.host for h in passed] == ["a", "c"]


@pytest.mark.parametrize(("requested", "expected"), [(3072, True), (3073, False)])
def test_ram_filter_exact_fit(make_host, make_spec, requested, expected) -> None:
    host = make_host(memory_mb=4096, memory_mb_used=1024)
    _check(RamFilter(), host, make_spec(memory_mb=requested), expected)


@pytest.mark.parametrize(("requested", "expected"), [(2048, True), (2049, False)])
def test_ram_filter_reserved_and_ratio(make_host, make_spec, requested, expected) -> None:
    # (4096 - 1024) * 1.5 = 4608 capacity, 2560 used: 2048 free.
    host = make_host(memory_mb=4096, reserved_host_memory_mb=1024, ram_allocation_ratio=1.5,
                     memory_mb_used=2560)
    _check(RamFilter(), host, make_spec(memory_mb=requested), expected)


def test_ram_filter_overcommitted_host_fails(make_host, make_spec) -> None:
    host = make_host(memory_mb=4096, memory_mb_used=8192)  # ratio lowered after claims
    _check(RamFilter(), host, make_spec(memory_mb=1), False)


@pytest.mark.parametrize(("requested", "expected"), [(4, True), (5, False)])
def test_core_filter_reserved_and_ratio(make_host, make_spec, requested, expected) -> None:
    # (4 - 2) * 4.0 = 8 capacity, 4 used: 4 free.
    host = make_host(vcpus=4, reserved_host_cpus=2, cpu_allocation_ratio=4.0, vcpus_used=4)
    _check(CoreFilter(), host, make_spec(vcpus=requested), expected)


def test_core_filter_without_overcommit(make_host, make_spec) -> None:
    host = make_host(vcpus=8, cpu_allocation_ratio=1.0, vcpus_used=7)
    _check(CoreFilter(), host, make_spec(vcpus=1), True)
    _check(CoreFilter(), host, make_spec(vcpus=2), False)


def test_disk_filter_counts_root_ephemeral_and_swap(make_host, make_spec) -> None:
    # 100 - ceil(1/1024) = 99 GB capacity, 50 used: 49 free.
    host = make_host(local_gb=100, local_gb_used=50, reserved_host_disk_mb=1)
    _check(DiskFilter(), host, make_spec(root_gb=40, ephemeral_gb=8, swap=1024), True)
    _check(DiskFilter(), host, make_spec(root_gb=40, ephemeral_gb=8, swap=1025), False)


def test_disk_filter_ratio(make_host, make_spec) -> None:
    host = make_host(local_gb=100, local_gb_used=150, disk_allocation_ratio=2.0)
    _check(DiskFilter(), host, make_spec(root_gb=50), True)
    _check(DiskFilter(), host, make_spec(root_gb=51), False)


def test_base_filter_default_filter_all(make_host, make_spec) -> None:
    class OddIds(BaseFilter):
        def host_passes(self, host, spec) -> bool:
            return host.node_id % 2 == 1

    hosts = [make_host(f"h{i}", node_id=i) for i in range(5)]
    assert [h.node_id for h in OddIds().filter_all(hosts, make_spec())] == [1, 3]
    assert OddIds().name == "OddIds"
