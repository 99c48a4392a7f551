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

# Build: the API creates the row as building/scheduling; compute moves it on.
BUILD_START = (s.BUILDING, s.SCHEDULING)
BUILD_SPAWN = (s.BUILDING, s.SPAWNING)

# Task states a restarted compute must resolve (see compute.reconcile).
TRANSIENT_TASKS = frozenset(a.task_state for a in ACTIONS.values()) | {
    s.SCHEDULING, s.SPAWNING, s.NETWORKING, s.BLOCK_DEVICE_MAPPING, s.DELETING,
    s.REBOOT_PENDING, s.REBOOT_STARTED, s.REBOOT_PENDING_HARD, s.REBOOT_STARTED_HARD}
