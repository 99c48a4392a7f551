"""[fake_driver] options: capacity, latency and injected failures of the fake driver."""

from __future__ import annotations

from oslo_config import cfg

OPTS = [
    cfg.IntOpt("vcpus", default=1000, min=1, help="vCPUs each fake host reports."),
    cfg.IntOpt("memory_mb", default=1048576, min=1, help="Memory (MiB) each fake host reports."),
    cfg.IntOpt("local_gb", default=100000, min=0, help="Local disk (GiB) each fake host reports."),
    cfg.StrOpt("hypervisor_type", default="fake",
               help="Hypervisor type reported, also in supported_instances (x86_64, "
                    "<type>, hvm) as matched by the ImagePropertiesFilter."),
    cfg.IntOpt("hypervisor_version", default=1000, min=0, help="Hypervisor version reported."),
    cfg.FloatOpt("spawn_delay", default=0.0, min=0.0,
                 help="Seconds each spawn takes (sleeps without holding any lock)."),
    cfg.ListOpt("spawn_fail_hosts", default=[],
                help="Host names on which every spawn fails with BuildFailed."),
    cfg.FloatOpt("spawn_fail_rate", default=0.0, min=0.0, max=1.0,
                 help="Probability (0..1) that a spawn fails with BuildFailed."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("fake_driver", OPTS)]
