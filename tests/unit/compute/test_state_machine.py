"""The one table of instance actions: consistent with itself, the states and the driver."""

from __future__ import annotations

import pytest

from novalith.compute import state_machine as sm
from novalith.objects import states as s
from novalith.objects.states import PowerState, status_from_state

KNOWN_VM_STATES = {s.ACTIVE, s.BUILDING, s.PAUSED, s.SUSPENDED, s.STOPPED, s.RESCUED,
                   s.RESIZED, s.SOFT_DELETED, s.DELETED, s.ERROR, s.SHELVED,
                   s.SHELVED_OFFLOADED}

# What Nova's compute API allows (check_instance_state) and where each action ends.
NOVA = {
    "reboot_soft": ({s.ACTIVE}, s.ACTIVE, PowerState.RUNNING, "reboot"),
    "reboot_hard": ({s.ACTIVE, s.STOPPED, s.PAUSED, s.SUSPENDED, s.ERROR}, s.ACTIVE,
                    PowerState.RUNNING, "reboot"),
    "stop": ({s.ACTIVE, s.ERROR}, s.STOPPED, PowerState.SHUTDOWN, "stop"),
    "start": ({s.STOPPED}, s.ACTIVE, PowerState.RUNNING, "start"),
    "pause": ({s.ACTIVE}, s.PAUSED, PowerState.PAUSED, "pause"),
    "unpause": ({s.PAUSED}, s.ACTIVE, PowerState.RUNNING, "unpause"),
    "suspend": ({s.ACTIVE}, s.SUSPENDED, PowerState.SUSPENDED, "suspend"),
    "resume": ({s.SUSPENDED}, s.ACTIVE, PowerState.RUNNING, "resume"),
}


def test_the_table_holds_exactly_the_known_actions() -> None:
    assert set(sm.ACTIONS) == set(NOVA)


@pytest.mark.parametrize("name", sorted(NOVA))
def test_action_matches_nova(name: str) -> None:
    action = sm.ACTIONS[name]
    vm_states, done_vm, done_power, record = NOVA[name]
    assert action.vm_states == vm_states
    assert action.done_vm_state == done_vm
    assert action.done_power_state == done_power
    assert action.record == record
    assert action.event == f"compute_{record}_instance"


@pytest.mark.parametrize("name", sorted(NOVA))
def test_action_states_are_known_and_its_task_is_transient(name: str) -> None:
    action = sm.ACTIONS[name]
    assert action.vm_states <= KNOWN_VM_STATES
    assert action.done_vm_state in KNOWN_VM_STATES
    assert action.task_state in sm.TRANSIENT_TASKS
    assert None in action.task_states
    assert action.done_power_state in PowerState.NAMES


def test_only_hard_reboot_may_interrupt_a_reboot() -> None:
    for name, action in sm.ACTIONS.items():
        if name == "reboot_hard":
            assert {s.REBOOTING, s.REBOOTING_HARD, s.REBOOT_PENDING,
                    s.REBOOT_STARTED} <= action.task_states
        else:
            assert action.task_states == frozenset({None}), name


def test_task_states_of_running_actions_are_distinct_except_for_reboot() -> None:
    tasks = [a.task_state for a in sm.ACTIONS.values()]
    assert len(set(tasks)) == len(tasks)


@pytest.mark.parametrize("name", sorted(NOVA))
def test_the_done_state_shows_the_expected_status(name: str) -> None:
    action = sm.ACTIONS[name]
    assert status_from_state(action.done_vm_state, None) in {
        "ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"}


def test_reboot_shows_reboot_status_while_running() -> None:
    assert status_from_state(s.ACTIVE, sm.ACTIONS["reboot_soft"].task_state) == "REBOOT"
    assert status_from_state(s.ACTIVE, sm.ACTIONS["reboot_hard"].task_state) == "HARD_REBOOT"


def test_build_and_transient_tasks() -> None:
    assert sm.BUILD_START == (s.BUILDING, s.SCHEDULING)
    assert sm.BUILD_SPAWN == (s.BUILDING, s.SPAWNING)
    assert {s.SCHEDULING, s.SPAWNING, s.DELETING, s.REBOOT_STARTED_HARD} <= sm.TRANSIENT_TASKS
    assert None not in sm.TRANSIENT_TASKS
    # A snapshot interrupted by a compute restart is cleared too (issue 3).
    assert {s.IMAGE_SNAPSHOT, s.IMAGE_BACKUP, s.IMAGE_PENDING_UPLOAD,
            s.IMAGE_UPLOADING} <= sm.TRANSIENT_TASKS


def test_image_actions_keep_the_server_status() -> None:
    for act in sm.IMAGE_ACTIONS.values():
        assert act.vm_states == {s.ACTIVE, s.STOPPED, s.PAUSED, s.SUSPENDED}
        assert act.task_states == {None}
        for task in (act.task_state, *act.steps):
            assert status_from_state(s.ACTIVE, task) == "ACTIVE"
            assert status_from_state(s.STOPPED, task) == "SHUTOFF"


def test_actions_are_immutable() -> None:
    with pytest.raises(AttributeError):
        sm.ACTIONS["stop"].task_state = "x"  # type: ignore[misc]
