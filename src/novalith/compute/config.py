"""The compute service's settings, read once from the config at construction."""

from __future__ import annotations

from dataclasses import dataclass

from oslo_config import cfg


@dataclass(frozen=True)
class ComputeConfig:
    host: str
    default_availability_zone: str
    report_interval: int
    update_resources_interval: int
    sync_power_state_interval: int
    shutdown_timeout: int
    build_workers: int
    ram_allocation_ratio: float
    cpu_allocation_ratio: float
    disk_allocation_ratio: float
    reserved_host_memory_mb: int
    reserved_host_disk_mb: int
    reserved_host_cpus: int
    rpc_timeout: int
    instances_path: str = "instances"
    image_cache_manager_interval: int = 2400
    resize_confirm_window: int = 0  # seconds; 0: never auto-confirm (compute.move_recovery)
    # [workarounds]: skip the late server-group check before a build (compute.group_policy)
    disable_group_policy_check_upcall: bool = False
    # [workarounds]: apply the driver's life-cycle events (compute.power_events)
    handle_virt_lifecycle_events: bool = True

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, host: str | None = None) -> ComputeConfig:
        return cls(
            host=host or conf.host,
            default_availability_zone=conf.default_availability_zone,
            report_interval=conf.report_interval,
            update_resources_interval=conf.update_resources_interval,
            sync_power_state_interval=conf.sync_power_state_interval,
            shutdown_timeout=conf.compute.shutdown_timeout,
            build_workers=conf.compute.build_workers,
            ram_allocation_ratio=conf.ram_allocation_ratio,
            cpu_allocation_ratio=conf.cpu_allocation_ratio,
            disk_allocation_ratio=conf.disk_allocation_ratio,
            reserved_host_memory_mb=conf.reserved_host_memory_mb,
            reserved_host_disk_mb=conf.reserved_host_disk_mb,
            reserved_host_cpus=conf.reserved_host_cpus,
            rpc_timeout=conf.rpc_response_timeout,
            instances_path=conf.instances_path,
            # Nova: 0 means the default periodic interval (60 s), -1 never.
            image_cache_manager_interval=(conf.image_cache.manager_interval
                                          if conf.image_cache.manager_interval != 0 else 60),
            resize_confirm_window=conf.resize_confirm_window,
            disable_group_policy_check_upcall=(
                conf.workarounds.disable_group_policy_check_upcall),
            handle_virt_lifecycle_events=conf.workarounds.handle_virt_lifecycle_events,
        )
