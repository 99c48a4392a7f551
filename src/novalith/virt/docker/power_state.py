"""Container states -> Nova's power states.

=============  ===========  ==================================================
container      power state  why
=============  ===========  ==================================================
running        RUNNING
restarting     RUNNING      the engine is starting it again (a restart policy);
                            like a guest rebooting, it is on its way up
paused         PAUSED       frozen by the cgroup freezer (``docker pause``)
created        SHUTDOWN     made but never started (or its start failed)
exited         SHUTDOWN     its main process ended (stopped, or it finished)
exited + OOM   CRASHED      the kernel's OOM killer ended it (flavor memory)
removing       SHUTDOWN     being removed: it runs no process any more
dead           CRASHED      the engine failed to remove it; it cannot start
(missing)      -            the driver raises InstanceNotFound
anything else  NOSTATE
=============  ===========  ==================================================

There is no SUSPENDED: the engine here cannot checkpoint a container (no CRIU).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from novalith.objects.states import PowerState

RUNNING = "running"
RESTARTING = "restarting"
PAUSED = "paused"
CREATED = "created"
EXITED = "exited"
REMOVING = "removing"
DEAD = "dead"

STATUS_TO_POWER: dict[str, int] = {
    RUNNING: PowerState.RUNNING,
    RESTARTING: PowerState.RUNNING,
    PAUSED: PowerState.PAUSED,
    CREATED: PowerState.SHUTDOWN,
    EXITED: PowerState.SHUTDOWN,
    REMOVING: PowerState.SHUTDOWN,
    DEAD: PowerState.CRASHED,
}

#: Statuses in which the container has a running (or frozen) process.
ACTIVE = frozenset({RUNNING, RESTARTING, PAUSED})


def power_state(status: str, oom_killed: bool = False) -> int:
    """Nova's power state of a container whose ``State.Status`` is ``status``."""
    if status == EXITED and oom_killed:
        return PowerState.CRASHED
    return STATUS_TO_POWER.get(status, PowerState.NOSTATE)


def from_inspect(state: Mapping[str, Any]) -> int:
    """The power state from the ``State`` object of a container inspect."""
    return power_state(str(state.get("Status") or ""), bool(state.get("OOMKilled")))
