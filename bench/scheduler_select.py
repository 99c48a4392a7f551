"""Latency of HostSelector.select for one instance over simulated compute nodes.

Builds heterogeneous HostStates (sizes, usage, allocation ratios, zones,
hypervisors, a few disabled or down), then times single-instance selections
with every default filter and weigher. The chosen host is released after each
run (outside the timing) so capacity never runs out.

    python bench/scheduler_select.py [--hosts 1000 10000] [--runs 500] [--seed 42]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from typing import Any

from novalith.conf.scheduler import SchedulerConfig
from novalith.objects.specs import FlavorSpec, ImageMeta, RequestSpec
from novalith.scheduler.host_state import HostState
from novalith.scheduler.plugins import load_filters, load_weighers
from novalith.scheduler.selector import HostSelector

ZONES = ["nova"] * 7 + ["az1"] * 2 + ["az2"]
SUPPORTED = [
    [("x86_64", "kvm", "hvm"), ("i686", "kvm", "hvm")],
    [("x86_64", "qemu", "hvm")],
    [("x86_64", "kvm", "hvm")],
    [("aarch64", "kvm", "hvm")],
    [("x86_64", "qemu", "hvm"), ("aarch64", "qemu", "hvm")],
]
FLAVORS = [
    FlavorSpec(flavorid="1", name="m1.small", memory_mb=2048, vcpus=1, root_gb=20),
    FlavorSpec(flavorid="2", name="m1.medium", memory_mb=4096, vcpus=2, root_gb=40,
               ephemeral_gb=10, swap=1024),
    FlavorSpec(flavorid="3", name="m1.large", memory_mb=8192, vcpus=4, root_gb=80),
]


def make_hosts(count: int, rng: random.Random) -> list[HostState]:
    hosts = []
    for i in range(count):
        memory_mb = rng.choice((65536, 131072, 262144, 524288))
        vcpus = rng.choice((16, 32, 48, 64, 128))
        local_gb = rng.choice((500, 1000, 2000, 4000))
        load = rng.random()
        hosts.append(HostState(
            node_id=i + 1, node_uuid=str(uuid.UUID(int=rng.getrandbits(128))),
            host=f"compute-{i:05d}", nodename=f"compute-{i:05d}.example",
            hypervisor_type="QEMU", hypervisor_version=rng.choice((6002000, 7002000, 8002000)),
            availability_zone=rng.choice(ZONES),
            service_disabled=rng.random() < 0.02, service_up=rng.random() > 0.01,
            vcpus=vcpus, vcpus_used=int(vcpus * 4 * load),
            memory_mb=memory_mb, memory_mb_used=int(memory_mb * load),
            local_gb=local_gb, local_gb_used=int(local_gb * load * 0.9),
            reserved_host_memory_mb=512, reserved_host_disk_mb=rng.choice((0, 10240)),
            reserved_host_cpus=rng.choice((0, 2)),
            cpu_allocation_ratio=rng.choice((4.0, 16.0)),
            ram_allocation_ratio=rng.choice((1.0, 1.5)),
            disk_allocation_ratio=1.0,
            supported_instances=rng.choice(SUPPORTED),
            num_instances=int(40 * load),
        ))
    return hosts


SCENARIOS: dict[str, dict[str, Any]] = {
    "plain": dict(availability_zone=None, image=None),
    "az+image": dict(
        availability_zone="nova",
        image=ImageMeta(id="img", properties={
            "hw_architecture": "amd64", "img_hv_type": "kvm", "hw_vm_mode": "hvm",
            "img_hv_requested_version": ">=7000000",
        }),
    ),
}


def run(count: int, runs: int, seed: int) -> None:
    rng = random.Random(seed)
    hosts = make_hosts(count, rng)
    config = SchedulerConfig()
    selector = HostSelector(load_filters(config.enabled_filters, config),
                            load_weighers(config.weight_classes, config), config,
                            rng=random.Random(seed))
    for label, extra in SCENARIOS.items():
        specs = [RequestSpec(instance_uuids=[f"i-{n}"], project_id="p",
                             flavor=FLAVORS[n % len(FLAVORS)], **extra)
                 for n in range(runs)]
        for spec in specs[:20]:  # warm-up
            selector.select(hosts, spec, 1)[0][0].release(spec.flavor)
        samples = []
        for spec in specs:
            start = time.perf_counter_ns()
            chosen = selector.select(hosts, spec, 1)[0][0]
            samples.append((time.perf_counter_ns() - start) / 1e6)
            chosen.release(spec.flavor)
        q = statistics.quantiles(samples, n=100, method="inclusive")
        print(f"hosts={count:>6}  scenario={label:<9} runs={runs}  "
              f"p50={statistics.median(samples):.3f} ms  p99={q[98]:.3f} ms  "
              f"max={max(samples):.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    for count in args.hosts:
        run(count, args.runs, args.seed)


if __name__ == "__main__":
    main()
