from __future__ import annotations

import pytest

from novalith.conf.scheduler import SchedulerConfig
from novalith.scheduler.weighers import BaseWeigher, normalise, total_weights
from novalith.scheduler.weighers.cpu import CPUWeigher
from novalith.scheduler.weighers.ram import RAMWeigher


def test_normalise() -> None:
    assert normalise([]) == []
    assert normalise([5, 5, 5]) == [0.0, 0.0, 0.0]
    assert normalise([10, 20, 15]) == [0.0, 1.0, 0.5]
    assert normalise([-4.0, 0.0]) == [0.0, 1.0]


def _hosts(make_host):
    return [
        make_host("small", memory_mb=4096, vcpus=4),
        make_host("big", memory_mb=16384, vcpus=2),
        make_host("mid", memory_mb=8192, vcpus=8),
    ]


def test_raw_values(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    assert RAMWeigher().weigh(hosts, make_spec()) == [4096, 16384, 8192]
    assert CPUWeigher().weigh(hosts, make_spec()) == [4, 2, 8]


def test_ram_weigher_spreads_by_default(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    weights = total_weights([RAMWeigher()], hosts, make_spec())
    assert weights == pytest.approx([0.0, 1.0, 4096 / 12288])
    assert hosts[weights.index(max(weights))].host == "big"


def test_ram_weigher_stacks_with_negative_multiplier(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    weigher = RAMWeigher(SchedulerConfig(ram_weight_multiplier=-1.0))
    assert weigher.multiplier == -1.0
    weights = total_weights([weigher], hosts, make_spec())
    assert weights == pytest.approx([0.0, -1.0, -4096 / 12288])
    assert hosts[weights.index(max(weights))].host == "small"


def test_cpu_weigher_spread_and_stack(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    spread = total_weights([CPUWeigher()], hosts, make_spec())
    assert hosts[spread.index(max(spread))].host == "mid"
    stack = total_weights([CPUWeigher(SchedulerConfig(cpu_weight_multiplier=-2.0))],
                          hosts, make_spec())
    assert stack == pytest.approx([-2 * (2 / 6), 0.0, -2.0])
    assert hosts[stack.index(max(stack))].host == "big"


def test_total_is_sum_of_multiplied_normalised(make_host, make_spec) -> None:
    hosts = _hosts(make_host)
    config = SchedulerConfig(ram_weight_multiplier=2.0, cpu_weight_multiplier=0.5)
    weighers = [RAMWeigher(config), CPUWeigher(config)]
    spec = make_spec()
    ram = normalise(RAMWeigher().weigh(hosts, spec))
    cpu = normalise(CPUWeigher().weigh(hosts, spec))
    expected = [2.0 * r + 0.5 * c for r, c in zip(ram, cpu, strict=True)]
    assert total_weights(weighers, hosts, spec) == pytest.approx(expected)
    ranking = total_weights(weighers, hosts, spec, ranking_only=True)
    assert sorted(range(3), key=ranking.__getitem__) == sorted(range(3), key=expected.__getitem__)


class _Instances(BaseWeigher):
    def weigh(self, hosts, spec):
        return [float(h.num_instances) for h in hosts]


def test_three_weighers(make_host, make_spec) -> None:
    hosts = [make_host("a", memory_mb=4096, vcpus=4, num_instances=0),
             make_host("b", memory_mb=8192, vcpus=8, num_instances=4),
             make_host("c", memory_mb=6144, vcpus=4, num_instances=1)]
    weights = total_weights([RAMWeigher(), CPUWeigher(), _Instances()], hosts, make_spec())
    assert weights == pytest.approx([0.0, 3.0, 0.5 + 0.0 + 0.25])


def test_zero_multiplier_and_equal_values_add_nothing(make_host, make_spec) -> None:
    hosts = [make_host("a", vcpus=2, num_instances=0), make_host("b", vcpus=4, num_instances=4)]
    config = SchedulerConfig(cpu_weight_multiplier=0.0)
    spec = make_spec()
    weights = total_weights([RAMWeigher(config), CPUWeigher(config), _Instances()], hosts, spec)
    assert weights == pytest.approx([0.0, 1.0])  # RAM equal, CPU weight off
    assert total_weights([], hosts, spec) == [0.0, 0.0]
    assert total_weights([RAMWeigher()], [], spec) == []
