"""Nova's state vocabulary: vm_state, task_state, power_state, and the API status."""

from __future__ import annotations

# vm_state
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# task_state
SCHEDULING = "scheduling"
BLOCK_DEVICE_MAPPING = "block_device_mapping"
NETWORKING = "networking"
SPAWNING = "spawning"
REBOOTING = "rebooting"
REBOOT_PENDING = "reboot_pending"
REBOOT_STARTED = "reboot_started"
REBOOTING_HARD = "rebooting_hard"
REBOOT_PENDING_HARD = "reboot_pending_hard"
REBOOT_STARTED_HARD = "reboot_started_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
DELETING = "deleting"
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_BACKUP = "image_backup"
IMAGE_PENDING_UPLOAD = "image_pending_upload"
IMAGE_UPLOADING = "image_uploading"
REBUILDING = "rebuilding"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
MIGRATING = "migrating"


class PowerState:
    """Nova's power_state integers (as the API shows them)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7

    NAMES = {0: "NOSTATE", 1: "RUNNING", 3: "PAUSED", 4: "SHUTDOWN", 6: "CRASHED",
             7: "SUSPENDED"}


_REBOOT: dict[str | None, str] = {
    REBOOTING: "REBOOT", REBOOT_PENDING: "REBOOT", REBOOT_STARTED: "REBOOT",
    REBOOTING_HARD: "HARD_REBOOT", REBOOT_PENDING_HARD: "HARD_REBOOT",
    REBOOT_STARTED_HARD: "HARD_REBOOT"}
_RESIZE: dict[str | None, str] = {
    RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE", RESIZE_MIGRATED: "RESIZE",
    RESIZE_FINISH: "RESIZE"}

_STATUS: dict[str, dict[str | None, str]] = {
    ACTIVE: {None: "ACTIVE", **_REBOOT, **_RESIZE, MIGRATING: "MIGRATING",
             REBUILDING: "REBUILD", "update_password": "PASSWORD"},
    BUILDING: {None: "BUILD"},
    STOPPED: {None: "SHUTOFF", **_RESIZE, REBUILDING: "REBUILD"},
    RESIZED: {None: "VERIFY_RESIZE", RESIZE_REVERTING: "REVERT_RESIZE"},
    PAUSED: {None: "PAUSED", MIGRATING: "MIGRATING"},
    SUSPENDED: {None: "SUSPENDED"},
    RESCUED: {None: "RESCUE"},
    ERROR: {None: "ERROR", REBUILDING: "REBUILD"},
    DELETED: {None: "DELETED"},
    SOFT_DELETED: {None: "SOFT_DELETED"},
    SHELVED: {None: "SHELVED"},
    SHELVED_OFFLOADED: {None: "SHELVED_OFFLOADED"},
}


def status_from_state(vm_state: str, task_state: str | None) -> str:
    """The API ``status`` of a server, derived as Nova derives it."""
    by_task = _STATUS.get(vm_state)
    if by_task is None:
        return "UNKNOWN"
    return by_task.get(task_state) or by_task[None]


def states_for_status(status: str) -> list[tuple[str, str | None, bool]]:
    """(vm_state, task_state, task_state_is_any) pairs that render as ``status``.

    ``task_state_is_any`` is True where the status is the vm_state's default, so
    a filter must also accept task states that do not change the status.
    """
    out: list[tuple[str, str | None, bool]] = []
    for vm, by_task in _STATUS.items():
        for task, st in by_task.items():
            if st == status:
                out.append((vm, task, task is None))
    return out
