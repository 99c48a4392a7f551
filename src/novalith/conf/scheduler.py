"""[filter_scheduler] and [scheduler] options, and the typed SchedulerConfig built from them."""

from __future__ import annotations

import dataclasses

from oslo_config import cfg

DEFAULT_FILTERS = (
    "ComputeFilter",
    "AvailabilityZoneFilter",
    "RamFilter",
    "CoreFilter",
    "DiskFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)
DEFAULT_WEIGHERS = ("RAMWeigher", "CPUWeigher", "ServerGroupSoftAffinityWeigher",
                    "ServerGroupSoftAntiAffinityWeigher")

FILTER_SCHEDULER_OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "enabled_filters",
        default=list(DEFAULT_FILTERS),
        # Nova has accepted this option in [scheduler] too; keep old configs working.
        deprecated_opts=[cfg.DeprecatedOpt("enabled_filters", group="scheduler")],
        help="Filter names (entry points in novalith.scheduler.filters), applied in order.",
    ),
    cfg.ListOpt(
        "weight_classes",
        default=list(DEFAULT_WEIGHERS),
        help="Weigher names (entry points in novalith.scheduler.weighers).",
    ),
    cfg.FloatOpt(
        "ram_weight_multiplier",
        default=1.0,
        help="Multiplier of the free-RAM weight: positive spreads, negative stacks.",
    ),
    cfg.FloatOpt(
        "cpu_weight_multiplier",
        default=1.0,
        help="Multiplier of the free-vCPU weight: positive spreads, negative stacks.",
    ),
    cfg.FloatOpt(
        "soft_affinity_weight_multiplier",
        default=1.0,
        min=0.0,
        help="Multiplier of the weight favouring hosts with more members of the "
        "request's soft-affinity server group.",
    ),
    cfg.FloatOpt(
        "soft_anti_affinity_weight_multiplier",
        default=1.0,
        min=0.0,
        help="Multiplier of the weight favouring hosts with fewer members of the "
        "request's soft-anti-affinity server group.",
    ),
    cfg.IntOpt(
        "host_subset_size",
        default=1,
        min=1,
        help="Pick at random among this many best-weighed hosts; 1 always takes the best. "
        "Larger values lower claim races between several schedulers.",
    ),
]

SCHEDULER_OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "max_attempts",
        default=3,
        min=1,
        help="Hosts tried per instance: the chosen one plus max_attempts - 1 alternates.",
    ),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("filter_scheduler", FILTER_SCHEDULER_OPTS), ("scheduler", SCHEDULER_OPTS)]


@dataclasses.dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """The scheduler's options as a typed value, built once at service start."""

    enabled_filters: tuple[str, ...] = DEFAULT_FILTERS
    weight_classes: tuple[str, ...] = DEFAULT_WEIGHERS
    ram_weight_multiplier: float = 1.0
    cpu_weight_multiplier: float = 1.0
    soft_affinity_weight_multiplier: float = 1.0
    soft_anti_affinity_weight_multiplier: float = 1.0
    host_subset_size: int = 1
    max_attempts: int = 3

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> SchedulerConfig:
        fs = conf.filter_scheduler
        return cls(
            enabled_filters=tuple(fs.enabled_filters),
            weight_classes=tuple(fs.weight_classes),
            ram_weight_multiplier=float(fs.ram_weight_multiplier),
            cpu_weight_multiplier=float(fs.cpu_weight_multiplier),
            soft_affinity_weight_multiplier=float(fs.soft_affinity_weight_multiplier),
            soft_anti_affinity_weight_multiplier=float(fs.soft_anti_affinity_weight_multiplier),
            host_subset_size=int(fs.host_subset_size),
            max_attempts=int(conf.scheduler.max_attempts),
        )
