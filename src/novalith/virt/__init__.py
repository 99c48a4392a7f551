"""Compute drivers: the contract (:mod:`novalith.virt.driver`) and its implementations.

Each driver is a subpackage (``fake``, later ``libvirt``, ``docker``, ...) found by
entry point in ``novalith.compute_drivers`` and built by :func:`load_driver`.
"""

from __future__ import annotations

from novalith.virt.driver import (
    REBOOT_HARD,
    REBOOT_SOFT,
    ComputeCallbacks,
    ComputeDriver,
    ConsoleSupport,
    DriverCapabilities,
    HostResources,
    ImageCacheSupport,
    InstanceInfo,
    PauseSupport,
    SnapshotSupport,
    SuspendSupport,
    require,
)
from novalith.virt.loader import installed_drivers, load_driver

__all__ = [
    "REBOOT_HARD",
    "REBOOT_SOFT",
    "ComputeCallbacks",
    "ComputeDriver",
    "ConsoleSupport",
    "DriverCapabilities",
    "HostResources",
    "ImageCacheSupport",
    "InstanceInfo",
    "PauseSupport",
    "SnapshotSupport",
    "SuspendSupport",
    "installed_drivers",
    "load_driver",
    "require",
]
