from __future__ import annotations

import random

import pytest

from novalith.conf.scheduler import SchedulerConfig
from novalith.exceptions import NoValidHost
from novalith.scheduler.filters.availability_zone import AvailabilityZoneFilter
from novalith.scheduler.filters.compute import ComputeFilter
from novalith.scheduler.filters.core import CoreFilter
from novalith.scheduler.filters.disk import DiskFilter
from novalith.scheduler.filters.image_properties import ImagePropertiesFilter
from novalith.scheduler.filters.ram import RamFilter
from novalith.scheduler.selector import HostSelector, best_indices
from novalith.scheduler.weighers.cpu import CPUWeigher
from novalith.scheduler.weighers.ram import RAMWeigher


def _selector(config: SchedulerConfig | None = None, seed: int = 0) -> HostSelector:
    config = config or SchedulerConfig()
    filters = [ComputeFilter(config), AvailabilityZoneFilter(config), RamFilter(config),
               CoreFilter(config), DiskFilter(config), ImagePropertiesFilter(config)]
    return HostSelector(filters, [RAMWeigher(config), CPUWeigher(config)], config,
                        rng=random.Random(seed))


def _names(selection) -> list[str]:
    return [h.host for h in selection]


def _four_hosts(make_host):
    # Free RAM decides: d > b > c > a (equal vCPUs).
    return [make_host("a", memory_mb=2048), make_host("b", memory_mb=8192),
            make_host("c", memory_mb=4096), make_host("d", memory_mb=16384)]


def test_best_host_first_then_alternates(make_host, make_spec) -> None:
    [selection] = _selector().select(_four_hosts(make_host), make_spec(), 1)
    assert _names(selection) == ["d", "b", "c"]  # max_attempts=3


def test_max_attempts_limits_alternates(make_host, make_spec) -> None:
    [selection] = _selector(SchedulerConfig(max_attempts=1)).select(
        _four_hosts(make_host), make_spec(), 1)
    assert _names(selection) == ["d"]
    [selection] = _selector(SchedulerConfig(max_attempts=10)).select(
        _four_hosts(make_host), make_spec(), 1)
    assert _names(selection) == ["d", "b", "c", "a"]


def test_alternates_only_from_passing_hosts(make_host, make_spec) -> None:
    hosts = _four_hosts(make_host)
    hosts[1].service_up = False
    [selection] = _selector().select(hosts, make_spec(memory_mb=3000), 1)
    assert _names(selection) == ["d", "c"]


def test_chosen_host_is_consumed(make_host, make_spec) -> None:
    hosts = _four_hosts(make_host)
    _selector().select(hosts, make_spec(memory_mb=1024, vcpus=2, root_gb=5), 1)
    assert (hosts[3].memory_mb_used, hosts[3].vcpus_used, hosts[3].local_gb_used) == (1024, 2, 5)
    assert hosts[3].num_instances == 1
    assert all(h.memory_mb_used == 0 for h in hosts[:3])


def test_batch_spreads_over_equal_hosts(make_host, make_spec) -> None:
    hosts = [make_host(name) for name in ("a", "b", "c")]
    selections = _selector().select(hosts, make_spec(instance_uuids=["1", "2", "3"]), 3)
    assert sorted(s[0].host for s in selections) == ["a", "b", "c"]
    assert all(h.num_instances == 1 for h in hosts)


def test_batch_stacks_with_negative_multipliers(make_host, make_spec) -> None:
    config = SchedulerConfig(ram_weight_multiplier=-1.0, cpu_weight_multiplier=-1.0)
    hosts = [make_host(name) for name in ("a", "b", "c")]
    selections = _selector(config).select(hosts, make_spec(), 3)
    assert [s[0].host for s in selections] == ["a", "a", "a"]


def test_batch_consumption_makes_later_instances_skip_full_host(make_host, make_spec) -> None:
    hosts = [make_host("a", memory_mb=4096, vcpus=16), make_host("b", memory_mb=2048)]
    selections = _selector().select(hosts, make_spec(memory_mb=2048), 3)
    assert [s[0].host for s in selections] == ["a", "a", "b"]
    assert _names(selections[1]) == ["a", "b"] and _names(selections[2]) == ["b"]


def test_ignore_hosts(make_host, make_spec) -> None:
    [selection] = _selector().select(_four_hosts(make_host), make_spec(ignore_hosts=["d"]), 1)
    assert _names(selection) == ["b", "c", "a"]


def test_requested_host_and_node(make_host, make_spec) -> None:
    hosts = [*_four_hosts(make_host), make_host("a", nodename="a.second", memory_mb=4096)]
    [selection] = _selector().select(hosts, make_spec(requested_host="a"), 1)
    assert [h.nodename for h in selection] == ["a.second", "a.node"]
    [selection] = _selector().select(hosts, make_spec(requested_host="a",
                                                      requested_node="a.node"), 1)
    assert [h.nodename for h in selection] == ["a.node"]


def test_requested_host_still_filtered(make_host, make_spec) -> None:
    with pytest.raises(NoValidHost, match="RamFilter"):
        _selector().select(_four_hosts(make_host), make_spec(requested_host="a",
                                                             memory_mb=4096), 1)


def test_requested_host_ignored_or_unknown(make_host, make_spec) -> None:
    hosts = _four_hosts(make_host)
    with pytest.raises(NoValidHost, match="requested host"):
        _selector().select(hosts, make_spec(requested_host="zz"), 1)
    with pytest.raises(NoValidHost, match="requested host"):
        _selector().select(hosts, make_spec(requested_host="a", ignore_hosts=["a"]), 1)


def test_no_valid_host_names_the_filter(make_host, make_spec) -> None:
    hosts = _four_hosts(make_host)
    with pytest.raises(NoValidHost) as info:
        _selector().select(hosts, make_spec(availability_zone="elsewhere"), 1)
    message = str(info.value)
    assert message.startswith("No valid host was found. There are not enough hosts available.")
    assert "AvailabilityZoneFilter" in message
    assert info.value.kwargs["filter_name"] == "AvailabilityZoneFilter"
    assert info.value.kwargs["counts"] == [("ComputeFilter", 4), ("AvailabilityZoneFilter", 0)]


def test_no_hosts_at_all(make_spec) -> None:
    with pytest.raises(NoValidHost, match="No compute hosts"):
        _selector().select([], make_spec(), 1)


def test_failed_batch_releases_what_it_consumed(make_host, make_spec) -> None:
    hosts = [make_host("a", memory_mb=4096), make_host("b", memory_mb=2048)]
    with pytest.raises(NoValidHost, match=r"RamFilter .*instance 4 of 4"):
        _selector().select(hosts, make_spec(memory_mb=2048), 4)
    assert [(h.memory_mb_used, h.num_instances) for h in hosts] == [(0, 0), (0, 0)]


def test_host_subset_size_picks_among_the_best(make_host, make_spec) -> None:
    config = SchedulerConfig(host_subset_size=2)
    chosen = set()
    for seed in range(30):
        [selection] = _selector(config, seed).select(_four_hosts(make_host), make_spec(), 1)
        chosen.add(selection[0].host)
        assert len(selection) == 3 and len(set(_names(selection))) == 3
        assert set(_names(selection)) <= {"d", "b", "c"}
    assert chosen == {"d", "b"}


def test_subset_larger_than_hosts(make_host, make_spec) -> None:
    config = SchedulerConfig(host_subset_size=50)
    [selection] = _selector(config).select([make_host("only")], make_spec(), 1)
    assert _names(selection) == ["only"]


def test_zero_instances(make_host, make_spec) -> None:
    assert _selector().select(_four_hosts(make_host), make_spec(), 0) == []


@pytest.mark.parametrize(("weights", "count", "expected"), [
    ([1.0, 5.0, 3.0, 5.0, 0.0], 3, [1, 3, 2]),
    ([1.0, 5.0, 3.0, 5.0, 0.0], 1, [1]),
    ([2.0, 2.0, 2.0, 2.0], 2, [0, 1]),
    ([0.5, 0.9], 5, [1, 0]),
    ([], 3, []),
    ([1.0, 2.0, 3.0], 0, []),
    ([3.0, 1.0, 2.0, 1.0, 1.0, 0.0], 4, [0, 2, 1, 3]),
])
def test_best_indices(weights, count, expected) -> None:
    assert best_indices(weights, count) == expected
