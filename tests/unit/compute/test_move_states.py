"""The moves' entries of the state-machine table and the statuses they show."""

from __future__ import annotations

import pytest

from novalith.compute import state_machine as sm
from novalith.objects import states as s
from novalith.objects.states import status_from_state


@pytest.mark.parametrize(("vm_state", "task_state", "status"), [
    (s.ACTIVE, s.RESIZE_PREP, "RESIZE"), (s.ACTIVE, s.RESIZE_MIGRATING, "RESIZE"),
    (s.ACTIVE, s.RESIZE_MIGRATED, "RESIZE"), (s.ACTIVE, s.RESIZE_FINISH, "RESIZE"),
    (s.STOPPED, s.RESIZE_PREP, "RESIZE"), (s.RESIZED, None, "VERIFY_RESIZE"),
    (s.RESIZED, s.RESIZE_CONFIRMING, "VERIFY_RESIZE"),
    (s.RESIZED, s.RESIZE_REVERTING, "REVERT_RESIZE"), (s.ACTIVE, s.MIGRATING, "MIGRATING"),
    (s.PAUSED, s.MIGRATING, "MIGRATING"), (s.ACTIVE, s.REBUILDING, "REBUILD"),
    (s.STOPPED, s.REBUILDING, "REBUILD"), (s.ERROR, s.REBUILDING, "REBUILD"),
])
def test_move_statuses(vm_state: str, task_state: str | None, status: str) -> None:
    assert status_from_state(vm_state, task_state) == status


def test_every_move_starts_from_a_stable_state_and_shows_a_move_status() -> None:
    for key, move in sm.MOVES.items():
        assert move.task_states == frozenset({None}), key
        for vm_state in move.vm_states:
            assert status_from_state(vm_state, move.task_state) in (
                "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "MIGRATING", "REBUILD"), key
            for step in move.steps:
                assert status_from_state(vm_state, step) == "RESIZE", (key, step)


def test_move_tasks_are_left_to_move_recovery() -> None:
    assert not sm.MOVE_TASKS & sm.TRANSIENT_TASKS
    assert {s.RESIZE_PREP, s.RESIZE_FINISH, s.MIGRATING, s.REBUILDING} <= sm.MOVE_TASKS
