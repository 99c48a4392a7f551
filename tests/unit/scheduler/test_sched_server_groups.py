"""Server group filters and weighers, alone and through the selector over a batch."""

from __future__ import annotations

import random

import pytest

from novalith.conf.scheduler import DEFAULT_FILTERS, DEFAULT_WEIGHERS, SchedulerConfig
from novalith.exceptions import NoValidHost
from novalith.scheduler.filters.server_group_affinity import ServerGroupAffinityFilter
from novalith.scheduler.filters.server_group_anti_affinity import ServerGroupAntiAffinityFilter
from novalith.scheduler.plugins import load_filters, load_weighers
from novalith.scheduler.selector import HostSelector
from novalith.scheduler.weighers import total_weights
from novalith.scheduler.weighers.server_group_soft_affinity import (
    ServerGroupSoftAffinityWeigher,
)
from novalith.scheduler.weighers.server_group_soft_anti_affinity import (
    ServerGroupSoftAntiAffinityWeigher,
)


def _hosts(make_host, n: int = 3):
    return [make_host(f"h{i}", node_id=i) for i in range(1, n + 1)]


def _names(hosts) -> list[str]:
    return [h.host for h in hosts]


def test_filters_ignore_requests_without_a_group(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    spec = make_spec(group_hosts=["h1"])  # no policy: not a group request
    for filt in (ServerGroupAffinityFilter(), ServerGroupAntiAffinityFilter()):
        assert filt.filter_all(hosts, spec) is hosts
        assert all(filt.host_passes(h, spec) for h in hosts)


def test_anti_affinity_drops_hosts_with_members(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    spec = make_spec(group_policy="anti-affinity", group_hosts=["h1", "h3"])
    filt = ServerGroupAntiAffinityFilter()
    assert _names(filt.filter_all(hosts, spec)) == ["h2"]
    assert [filt.host_passes(h, spec) for h in hosts] == [False, True, False]
    # An affinity request is not this filter's business.
    other = make_spec(group_policy="affinity", group_hosts=["h1"])
    assert filt.filter_all(hosts, other) is hosts


def test_affinity_keeps_the_members_host_once_there_is_one(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    filt = ServerGroupAffinityFilter()
    first = make_spec(group_policy="affinity", group_hosts=[])
    assert filt.filter_all(hosts, first) is hosts
    spec = make_spec(group_policy="affinity", group_hosts=["h2", "h2"])
    assert _names(filt.filter_all(hosts, spec)) == ["h2"]
    assert [filt.host_passes(h, spec) for h in hosts] == [False, True, False]


def test_soft_weighers_count_members_per_host(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    spec = make_spec(group_policy="soft-affinity", group_hosts=["h1", "h3", "h3"])
    assert ServerGroupSoftAffinityWeigher().weigh(hosts, spec) == [1.0, 0.0, 2.0]
    assert ServerGroupSoftAntiAffinityWeigher().weigh(hosts, spec) == [0.0, 0.0, 0.0]
    anti = make_spec(group_policy="soft-anti-affinity", group_hosts=["h1", "h3", "h3"])
    assert ServerGroupSoftAntiAffinityWeigher().weigh(hosts, anti) == [-1.0, 0.0, -2.0]
    assert ServerGroupSoftAffinityWeigher().weigh(hosts, anti) == [0.0, 0.0, 0.0]


def test_soft_multipliers_come_from_config(make_host, make_spec) -> None:
    config = SchedulerConfig(soft_affinity_weight_multiplier=3.0,
                             soft_anti_affinity_weight_multiplier=0.0)
    hosts = _hosts(make_host)
    spec = make_spec(group_policy="soft-affinity", group_hosts=["h2"])
    weights = total_weights([ServerGroupSoftAffinityWeigher(config),
                             ServerGroupSoftAntiAffinityWeigher(config)], hosts, spec)
    assert weights == [0.0, 3.0, 0.0]


def _default_selector() -> HostSelector:
    config = SchedulerConfig()
    return HostSelector(load_filters(DEFAULT_FILTERS, config),
                        load_weighers(DEFAULT_WEIGHERS, config), config, random.Random(1))


def test_defaults_include_the_group_plugins() -> None:
    assert {"ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter"} <= set(DEFAULT_FILTERS)
    assert {"ServerGroupSoftAffinityWeigher",
            "ServerGroupSoftAntiAffinityWeigher"} <= set(DEFAULT_WEIGHERS)


def test_batch_of_three_anti_affinity_members_spreads_and_a_fourth_fails(
        make_host, make_spec) -> None:
    selector = _default_selector()
    hosts = _hosts(make_host)
    spec = make_spec(instance_uuids=["a", "b", "c"], group_policy="anti-affinity")
    picks = [sel[0].host for sel in selector.select(hosts, spec, 3)]
    assert sorted(picks) == ["h1", "h2", "h3"]
    fourth = make_spec(group_policy="anti-affinity", group_hosts=picks)
    with pytest.raises(NoValidHost, match="ServerGroupAntiAffinityFilter"):
        selector.select(hosts, fourth, 1)
    # The failed selection consumed nothing.
    assert [h.num_instances for h in hosts] == [1, 1, 1]


def test_batch_of_affinity_members_stays_on_one_host(make_host, make_spec) -> None:
    selector = _default_selector()
    hosts = _hosts(make_host)
    spec = make_spec(instance_uuids=["a", "b", "c", "d"], group_policy="affinity")
    picks = {sel[0].host for sel in selector.select(hosts, spec, 4)}
    assert len(picks) == 1


def test_soft_anti_affinity_spreads_while_it_can(make_host, make_spec) -> None:
    config = SchedulerConfig(soft_anti_affinity_weight_multiplier=10.0)
    selector = HostSelector(load_filters(DEFAULT_FILTERS, config),
                            load_weighers(DEFAULT_WEIGHERS, config), config)
    hosts = _hosts(make_host)
    spec = make_spec(instance_uuids=list("abcdef"), group_policy="soft-anti-affinity")
    picks = [sel[0].host for sel in selector.select(hosts, spec, 6)]
    assert sorted(picks) == ["h1", "h1", "h2", "h2", "h3", "h3"]
