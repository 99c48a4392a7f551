"""HostSelector.check_host: may an instance stay on its host with a new image?

Only the filters with ``run_on_rebuild`` judge (the instance's flavor is already
accounted for on that host); nothing is consumed.
"""

from __future__ import annotations

import pytest

from novalith.conf.scheduler import SchedulerConfig
from novalith.scheduler.filters.availability_zone import AvailabilityZoneFilter
from novalith.scheduler.filters.compute import ComputeFilter
from novalith.scheduler.filters.core import CoreFilter
from novalith.scheduler.filters.disk import DiskFilter
from novalith.scheduler.filters.image_properties import ImagePropertiesFilter
from novalith.scheduler.filters.ram import RamFilter
from novalith.scheduler.plugins import FILTER_NAMESPACE, installed, load_filters
from novalith.scheduler.selector import HostSelector
from novalith.scheduler.weighers.ram import RAMWeigher

DOCKER = [["x86_64", "docker", "hvm"]]
QEMU = [["x86_64", "qemu", "hvm"]]


def _selector() -> HostSelector:
    config = SchedulerConfig()
    filters = [ComputeFilter(config), AvailabilityZoneFilter(config), RamFilter(config),
               CoreFilter(config), DiskFilter(config), ImagePropertiesFilter(config)]
    return HostSelector(filters, [RAMWeigher(config)], config)


def test_only_image_filters_judge_a_full_disabled_down_host(make_host, make_spec) -> None:
    full = make_host("a", memory_mb=1024, memory_mb_used=1024, vcpus=1, vcpus_used=1,
                     local_gb=10, local_gb_used=10, service_disabled=True, service_up=False,
                     availability_zone="az-1", supported_instances=DOCKER)
    spec = make_spec(requested_host="a", availability_zone="az-2",
                     image_props={"hypervisor_type": "docker"})
    assert _selector().check_host([full], spec) is None
    assert (full.free_ram_mb, full.num_instances) == (0, 0)  # nothing consumed


def test_an_image_the_host_cannot_run_names_the_filter(make_host, make_spec) -> None:
    hosts = [make_host("a", supported_instances=DOCKER), make_host("b")]  # b would do
    spec = make_spec(requested_host="a", image_props={"hypervisor_type": "qemu"})
    assert _selector().check_host(hosts, spec) == (
        "the server's host does not pass ImagePropertiesFilter")


def test_the_requested_node_is_the_one_judged(make_host, make_spec) -> None:
    hosts = [make_host("a", nodename="a.vm", supported_instances=QEMU),
             make_host("a", nodename="a.ctr", supported_instances=DOCKER)]
    spec = make_spec(requested_host="a", image_props={"hypervisor_type": "docker"})
    assert _selector().check_host(hosts, spec) is None  # some node of a passes
    on_vm = make_spec(requested_host="a", requested_node="a.vm",
                      image_props={"hypervisor_type": "docker"})
    assert "ImagePropertiesFilter" in (_selector().check_host(hosts, on_vm) or "")


def test_an_unknown_host_fails(make_host, make_spec) -> None:
    spec = make_spec(requested_host="gone", image_props={})
    assert _selector().check_host([make_host("a")], spec) == (
        "the server's host is unknown to the scheduler")


def test_a_check_needs_a_requested_host(make_host, make_spec) -> None:
    with pytest.raises(ValueError, match="requested_host"):
        _selector().check_host([make_host("a")], make_spec())


def test_image_filters_run_on_rebuild_capacity_state_and_group_filters_do_not() -> None:
    filters = {f.name: f for f in load_filters(installed(FILTER_NAMESPACE), SchedulerConfig())}
    assert filters["ImagePropertiesFilter"].run_on_rebuild
    for name in ("ComputeFilter", "AvailabilityZoneFilter", "RamFilter", "CoreFilter",
                 "DiskFilter", "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter",
                 "AggregateInstanceExtraSpecsFilter"):
        assert not filters[name].run_on_rebuild, name
