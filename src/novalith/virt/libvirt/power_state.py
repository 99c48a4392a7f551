"""libvirt domain states -> Nova's power states.

A shut-off domain with a managed-save image is a suspended instance (its memory
is on disk and ``start`` resumes it), so it maps to SUSPENDED, not SHUTDOWN.
"""

from __future__ import annotations

from novalith.objects.states import PowerState

# virDomainState values (libvirt.VIR_DOMAIN_*), spelled out so this module needs no
# libvirt import and can be tested anywhere.
VIR_NOSTATE = 0
VIR_RUNNING = 1
VIR_BLOCKED = 2
VIR_PAUSED = 3
VIR_SHUTDOWN = 4
VIR_SHUTOFF = 5
VIR_CRASHED = 6
VIR_PMSUSPENDED = 7

LIBVIRT_TO_POWER: dict[int, int] = {
    VIR_NOSTATE: PowerState.NOSTATE,
    VIR_RUNNING: PowerState.RUNNING,
    VIR_BLOCKED: PowerState.RUNNING,
    VIR_PAUSED: PowerState.PAUSED,
    VIR_SHUTDOWN: PowerState.SHUTDOWN,
    VIR_SHUTOFF: PowerState.SHUTDOWN,
    VIR_CRASHED: PowerState.CRASHED,
    VIR_PMSUSPENDED: PowerState.SUSPENDED,
}


def power_state(libvirt_state: int, has_managed_save: bool = False) -> int:
    """Nova's power state for a domain in ``libvirt_state``; unknown values -> NOSTATE."""
    if libvirt_state == VIR_SHUTOFF and has_managed_save:
        return PowerState.SUSPENDED
    return LIBVIRT_TO_POWER.get(libvirt_state, PowerState.NOSTATE)


def is_active(libvirt_state: int) -> bool:
    """Whether a QEMU process exists for a domain in this state."""
    return libvirt_state in (VIR_RUNNING, VIR_BLOCKED, VIR_PAUSED, VIR_SHUTDOWN,
                             VIR_PMSUSPENDED)
