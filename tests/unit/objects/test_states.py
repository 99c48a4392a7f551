"""The API status derived from vm_state and task_state, as Nova derives it."""

from __future__ import annotations

import itertools

import pytest

from novalith.objects import states as s
from novalith.objects.states import PowerState, states_for_status, status_from_state

VM_STATES = [s.ACTIVE, s.BUILDING, s.PAUSED, s.SUSPENDED, s.STOPPED, s.RESCUED, s.RESIZED,
             s.SOFT_DELETED, s.DELETED, s.ERROR, s.SHELVED, s.SHELVED_OFFLOADED]
TASK_STATES: list[str | None] = [None] + sorted(
    v for k, v in vars(s).items() if k.isupper() and isinstance(v, str)
    and v not in VM_STATES) + ["update_password"]


@pytest.mark.parametrize(("vm", "task", "status"), [
    (s.ACTIVE, None, "ACTIVE"),
    (s.BUILDING, None, "BUILD"),
    (s.BUILDING, s.SCHEDULING, "BUILD"),
    (s.BUILDING, s.SPAWNING, "BUILD"),
    (s.BUILDING, s.DELETING, "BUILD"),
    (s.ACTIVE, s.REBOOTING, "REBOOT"),
    (s.ACTIVE, s.REBOOT_PENDING, "REBOOT"),
    (s.ACTIVE, s.REBOOT_STARTED, "REBOOT"),
    (s.ACTIVE, s.REBOOTING_HARD, "HARD_REBOOT"),
    (s.ACTIVE, s.REBOOT_PENDING_HARD, "HARD_REBOOT"),
    (s.ACTIVE, s.REBOOT_STARTED_HARD, "HARD_REBOOT"),
    (s.ACTIVE, s.RESIZE_PREP, "RESIZE"),
    (s.ACTIVE, s.RESIZE_FINISH, "RESIZE"),
    (s.ACTIVE, s.MIGRATING, "MIGRATING"),
    (s.ACTIVE, s.REBUILDING, "REBUILD"),
    (s.ACTIVE, "update_password", "PASSWORD"),
    (s.ACTIVE, s.POWERING_OFF, "ACTIVE"),
    (s.ACTIVE, s.PAUSING, "ACTIVE"),
    (s.ACTIVE, s.DELETING, "ACTIVE"),
    (s.ACTIVE, s.IMAGE_SNAPSHOT, "ACTIVE"),
    (s.STOPPED, None, "SHUTOFF"),
    (s.STOPPED, s.POWERING_ON, "SHUTOFF"),
    (s.STOPPED, s.REBOOTING_HARD, "SHUTOFF"),
    (s.STOPPED, s.RESIZE_PREP, "RESIZE"),
    (s.STOPPED, s.REBUILDING, "REBUILD"),
    (s.RESIZED, None, "VERIFY_RESIZE"),
    (s.RESIZED, s.RESIZE_REVERTING, "REVERT_RESIZE"),
    (s.RESIZED, s.RESIZE_CONFIRMING, "VERIFY_RESIZE"),
    (s.PAUSED, None, "PAUSED"),
    (s.PAUSED, s.UNPAUSING, "PAUSED"),
    (s.PAUSED, s.MIGRATING, "MIGRATING"),
    (s.SUSPENDED, s.RESUMING, "SUSPENDED"),
    (s.RESCUED, None, "RESCUE"),
    (s.ERROR, None, "ERROR"),
    (s.ERROR, s.DELETING, "ERROR"),
    (s.ERROR, s.REBUILDING, "REBUILD"),
    (s.DELETED, None, "DELETED"),
    (s.SOFT_DELETED, None, "SOFT_DELETED"),
    (s.SHELVED, None, "SHELVED"),
    (s.SHELVED_OFFLOADED, None, "SHELVED_OFFLOADED"),
])
def test_status_from_state_matches_nova(vm: str, task: str | None, status: str) -> None:
    assert status_from_state(vm, task) == status


def test_unknown_vm_state_is_unknown() -> None:
    assert status_from_state("no-such-state", None) == "UNKNOWN"
    assert status_from_state("no-such-state", s.SPAWNING) == "UNKNOWN"


def test_unknown_task_state_falls_back_to_the_vm_states_default() -> None:
    assert status_from_state(s.ACTIVE, "some_future_task") == "ACTIVE"


ALL_STATUSES = sorted({status_from_state(vm, t) for vm, t in
                       itertools.product(VM_STATES, TASK_STATES)})


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_states_for_status_describes_exactly_the_pairs_with_that_status(status: str) -> None:
    """Reading the triples as a filter selects exactly the pairs that render as ``status``."""
    triples = states_for_status(status)
    assert triples

    def selected(vm: str, task: str | None) -> bool:
        for t_vm, t_task, is_any in triples:
            if t_vm != vm:
                continue
            if t_task == task and not is_any:
                return True
            if is_any and status_from_state(vm, task) == status:
                return True
        return False

    for vm, task in itertools.product(VM_STATES, TASK_STATES):
        assert selected(vm, task) == (status_from_state(vm, task) == status), (vm, task)


def test_states_for_status_marks_the_default_entries_as_any() -> None:
    assert states_for_status("SHUTOFF") == [(s.STOPPED, None, True)]
    assert sorted(states_for_status("MIGRATING")) == [(s.ACTIVE, s.MIGRATING, False),
                                                      (s.PAUSED, s.MIGRATING, False)]
    assert states_for_status("NO_SUCH_STATUS") == []


def test_power_state_names_cover_every_value() -> None:
    values = {v for k, v in vars(PowerState).items() if k.isupper() and isinstance(v, int)}
    assert set(PowerState.NAMES) == values
    assert PowerState.NAMES[PowerState.SHUTDOWN] == "SHUTDOWN"
