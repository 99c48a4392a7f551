"""Container states -> power states: the documented table, and the OOM case."""

from __future__ import annotations

import pytest

from novalith.objects.states import PowerState
from novalith.virt.docker import power_state as ps


@pytest.mark.parametrize("status,power", [
    ("running", PowerState.RUNNING),
    ("restarting", PowerState.RUNNING),
    ("paused", PowerState.PAUSED),
    ("created", PowerState.SHUTDOWN),
    ("exited", PowerState.SHUTDOWN),
    ("removing", PowerState.SHUTDOWN),
    ("dead", PowerState.CRASHED),
    ("something new", PowerState.NOSTATE),
    ("", PowerState.NOSTATE),
])
def test_status_maps_to_power_state(status: str, power: int) -> None:
    assert ps.power_state(status) == power


def test_an_oom_killed_container_crashed() -> None:
    assert ps.from_inspect({"Status": "exited", "OOMKilled": True}) == PowerState.CRASHED
    assert ps.from_inspect({"Status": "exited", "OOMKilled": False}) == PowerState.SHUTDOWN
    # Only an ended container counts as crashed; a running one that once hit OOM runs.
    assert ps.from_inspect({"Status": "running", "OOMKilled": True}) == PowerState.RUNNING


def test_no_container_state_means_suspended() -> None:
    assert PowerState.SUSPENDED not in ps.STATUS_TO_POWER.values()


def test_active_states_are_those_with_a_process() -> None:
    assert ps.ACTIVE == {"running", "restarting", "paused"}
