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
    cfg.StrOpt("state_dir", default="",
               help="Directory where each fake host keeps a file per guest, so guests "
                    "(half-built ones too) outlive the compute process as a real "
                    "hypervisor's do; empty keeps them in memory only."),
    cfg.BoolOpt("disk_images", default=False,
                help="Create real instance disks through the image cache (download into "
                     "instances_path/_base, qcow2 overlays, ephemeral and swap disks; needs "
                     "qemu-img). Off: instances have no disks and a snapshot is an empty "
                     "qcow2 of the root disk's size."),
    cfg.ListOpt("fail_operations", default=[],
                help="Move steps of the driver that fail with an injected error, e.g. "
                     "finish_migration (every host) or host-2:live_migration (one host). "
                     "Steps: migrate_disk_and_power_off, finish_migration, "
                     "confirm_migration, revert_migration, finish_revert_migration, "
                     "check_can_live_migrate_destination, check_can_live_migrate_source, "
                     "pre_live_migration, live_migration, "
                     "post_live_migration_at_destination."),
    cfg.FloatOpt("live_migration_delay", default=0.0, min=0.0,
                 help="Seconds each live migration takes (force_complete ends it early, "
                      "abort cancels it)."),
    cfg.ListOpt("snapshot_fail_hosts", default=[],
                help="Host names on which every snapshot fails (after writing part of "
                     "the file), to test the clean-up."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [("fake_driver", OPTS)]
