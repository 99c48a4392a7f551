"""[DEFAULT] options shared by every service."""

from __future__ import annotations

import socket

from oslo_config import cfg

OPTS: list[cfg.Opt] = [
    cfg.StrOpt("host", default=socket.gethostname(), sample_default="<hostname>",
               help="Name of this node; the compute service's host name."),
    cfg.StrOpt("state_path", default="./novalith-data",
               help="Data directory: SQLite database, image store, clouds.yaml."),
    cfg.StrOpt("instances_path", default="$state_path/instances",
               help="Where instance disks and the _base image cache live."),
    cfg.StrOpt("compute_driver", default="fake",
               help="Compute driver entry point name (novalith.compute_drivers)."),
    cfg.StrOpt("transport_url", default="inproc://",
               help="RPC transport: inproc:// (one process) or rabbit://user:pass@host:port/."),
    cfg.IntOpt("rpc_response_timeout", default=60, min=1,
               help="Seconds an RPC call waits for its answer."),
    cfg.StrOpt("default_availability_zone", default="nova",
               help="Availability zone of compute hosts not in an AZ aggregate."),
    cfg.StrOpt("internal_service_availability_zone", default="internal",
               help="Availability zone shown for non-compute services."),
    cfg.IntOpt("service_down_time", default=60, min=1,
               help="Seconds since the last heartbeat after which a service is down."),
    cfg.IntOpt("report_interval", default=10, min=1,
               help="Seconds between service heartbeats."),
    cfg.IntOpt("update_resources_interval", default=60, min=1,
               help="Seconds between periodic host resource reports."),
    cfg.IntOpt("sync_power_state_interval", default=600, min=-1,
               help="Seconds between power state syncs; -1 disables."),
    cfg.FloatOpt("ram_allocation_ratio", default=1.5, min=0.0,
                 help="Virtual RAM to physical RAM ratio of this compute host."),
    cfg.FloatOpt("cpu_allocation_ratio", default=16.0, min=0.0,
                 help="Virtual CPU to physical CPU ratio of this compute host."),
    cfg.FloatOpt("disk_allocation_ratio", default=1.0, min=0.0,
                 help="Virtual disk to physical disk ratio of this compute host."),
    cfg.IntOpt("reserved_host_memory_mb", default=512, min=0,
               help="Memory kept for the host itself, never claimed by instances."),
    cfg.IntOpt("reserved_host_disk_mb", default=0, min=0,
               help="Disk kept for the host itself."),
    cfg.IntOpt("reserved_host_cpus", default=0, min=0, help="CPUs kept for the host itself."),
    cfg.BoolOpt("enable_instance_password", default=True,
                help="Return a generated adminPass when a server is created."),
    cfg.ListOpt("non_inheritable_image_properties", default=["cache_in_nova", "bittorrent"],
                help="Image properties a snapshot does not copy from the server's image "
                     "(besides the image signature and volume encryption key properties, "
                     "which never pass on)."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [(None, OPTS)]
