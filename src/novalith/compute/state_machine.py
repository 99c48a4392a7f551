"""Every instance action, the states it is valid in, and where it leads.

The API checks and sets the in-progress task_state in one conditional UPDATE
(so two racing requests cannot both start); the compute service writes the
final states when the driver call returns. The table is the single source of
both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from novalith.objects import states as s
from novalith.objects.states import PowerState

_REBOOT_TASKS = frozenset({s.REBOOTING, s.REBOOT_PENDING, s.REBOOT_STARTED, s.REBOOTING_HARD,
                           s.REBOOT_PENDING_HARD, s.REBOOT_STARTED_HARD})


@dataclass(frozen=True)
class Action:
    record: str                       # name in os-instance-actions
    vm_states: frozenset[str]         # where the action may start
    task_states: frozenset[str | None]
    task_state: str                   # task_state while it runs
    done_vm_state: str
    done_power_state: int
    event: str                        # instance action event name


def _a(record: str, vm: set[str], task: str, done_vm: str, done_power: int,
       tasks: frozenset[str | None] = frozenset({None})) -> Action:
    return Action(record, frozenset(vm), tasks, task, done_vm, done_power,
                  f"compute_{record}_instance")


ACTIONS: dict[str, Action] = {
    "reboot_soft": _a("reboot", {s.ACTIVE}, s.REBOOTING, s.ACTIVE, PowerState.RUNNING),
    "reboot_hard": _a("reboot", {s.ACTIVE, s.STOPPED, s.PAUSED, s.SUSPENDED, s.ERROR},
                      s.REBOOTING_HARD, s.ACTIVE, PowerState.RUNNING,
                      frozenset({None, s.PAUSING, s.UNPAUSING, s.SUSPENDING, s.RESUMING})
                      | _REBOOT_TASKS),
    "stop": _a("stop", {s.ACTIVE, s.ERROR}, s.POWERING_OFF, s.STOPPED, PowerState.SHUTDOWN),
    "start": _a("start", {s.STOPPED}, s.POWERING_ON, s.ACTIVE, PowerState.RUNNING),
    "pause": _a("pause", {s.ACTIVE}, s.PAUSING, s.PAUSED, PowerState.PAUSED),
    "unpause": _a("unpause", {s.PAUSED}, s.UNPAUSING, s.ACTIVE, PowerState.RUNNING),
    "suspend": _a("suspend", {s.ACTIVE}, s.SUSPENDING, s.SUSPENDED, PowerState.SUSPENDED),
    "resume": _a("resume", {s.SUSPENDED}, s.RESUMING, s.ACTIVE, PowerState.RUNNING),
}

# createImage / createBackup: the API sets task_state (image_snapshot / image_backup);
# compute moves it to image_pending_upload (the driver writes the file), then
# image_uploading, then None. vm_state and power_state do not change.
SNAPSHOT_VM_STATES = frozenset({s.ACTIVE, s.STOPPED, s.PAUSED, s.SUSPENDED})


@dataclass(frozen=True)
class ImageAction:
    record: str                       # name in os-instance-actions
    task_state: str                   # set by the API
    event: str                        # instance action event name
    vm_states: frozenset[str] = SNAPSHOT_VM_STATES
    task_states: frozenset[str | None] = frozenset({None})
    steps: tuple[str, ...] = (s.IMAGE_PENDING_UPLOAD, s.IMAGE_UPLOADING)


IMAGE_ACTIONS: dict[str, ImageAction] = {
    "snapshot": ImageAction("createImage", s.IMAGE_SNAPSHOT, "compute_snapshot_instance"),
    "backup": ImageAction("createBackup", s.IMAGE_BACKUP, "compute_backup_instance"),
}
IMAGE_TASKS = frozenset(t for a in IMAGE_ACTIONS.values() for t in (a.task_state, *a.steps))

# Build: the API creates the row as building/scheduling; compute moves it on.
BUILD_START = (s.BUILDING, s.SCHEDULING)
BUILD_SPAWN = (s.BUILDING, s.SPAWNING)

# Task states a restarted compute must resolve (see compute.reconcile).
TRANSIENT_TASKS = frozenset(a.task_state for a in ACTIONS.values()) | {
    s.SCHEDULING, s.SPAWNING, s.NETWORKING, s.BLOCK_DEVICE_MAPPING, s.DELETING,
    s.REBOOT_PENDING, s.REBOOT_STARTED, s.REBOOT_PENDING_HARD, s.REBOOT_STARTED_HARD} | IMAGE_TASKS


# ---- moves: resize, cold and live migration, evacuation, rebuild -------------------------
# The API checks ``vm_states``/``task_states`` and sets ``task_state`` (with the instance
# action and, for a migration type, the migrations row) in one write; compute then
# walks ``steps`` in order. Where each move ends (vm_state, host, claims) is written in
# compute.resize, compute.live_migrate and compute.rebuild.


@dataclass(frozen=True)
class Move:
    record: str                       # name in os-instance-actions
    vm_states: frozenset[str]         # where the move may start
    task_state: str                   # task_state the API sets
    migration_type: str | None = None
    task_states: frozenset[str | None] = frozenset({None})
    steps: tuple[str, ...] = ()       # task states compute walks through after task_state


_RESIZE_STEPS = (s.RESIZE_MIGRATING, s.RESIZE_MIGRATED, s.RESIZE_FINISH)

MOVES: dict[str, Move] = {
    "resize": Move("resize", frozenset({s.ACTIVE, s.STOPPED}), s.RESIZE_PREP, "resize",
                   steps=_RESIZE_STEPS),
    "migrate": Move("migrate", frozenset({s.ACTIVE, s.STOPPED}), s.RESIZE_PREP, "migration",
                    steps=_RESIZE_STEPS),
    "confirmResize": Move("confirmResize", frozenset({s.RESIZED}), s.RESIZE_CONFIRMING),
    "revertResize": Move("revertResize", frozenset({s.RESIZED}), s.RESIZE_REVERTING),
    "live-migration": Move("live-migration", frozenset({s.ACTIVE, s.PAUSED}), s.MIGRATING,
                           "live-migration"),
    "evacuate": Move("evacuate", frozenset({s.ACTIVE, s.STOPPED, s.ERROR}), s.REBUILDING,
                     "evacuation"),
    "rebuild": Move("rebuild", frozenset({s.ACTIVE, s.STOPPED, s.ERROR}), s.REBUILDING),
}

# Task states of moves: a restarted compute resolves them in compute.move_recovery.
MOVE_TASKS = frozenset(m.task_state for m in MOVES.values()) | frozenset(
    t for m in MOVES.values() for t in m.steps)
