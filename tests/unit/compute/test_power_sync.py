"""Compute's power sync rules, and the driver's life-cycle events applied at once.

The rules are checked as a table (:func:`power_sync.decide`); the event path runs
the real compute service on one host (the harness of test_compute_manager: SQLite,
the fake driver, whose ``simulate_power_change`` reports through the callbacks as a
real driver's event thread does). Periodic syncs are off in the harness, so every
change seen here came from an event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from test_compute_manager import (  # noqa: F401 (fixtures)
    Harness,
    compute,
    ctx,
    make_harness,
)

from novalith import exceptions
from novalith.compute import power_sync, reconcile
from novalith.db import instances as inst_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import InstanceSpec
from novalith.objects.states import PowerState as P
from novalith.virt.driver import InstanceInfo

IDLE = 5.0  # seconds the event thread may take to drain its queue


# ---- the rules -------------------------------------------------------------------------

@pytest.mark.parametrize(("vm", "db", "hv", "values", "power_off"), [
    # Stopped by itself (docker stop, the guest's shutdown, its process ended).
    (s.ACTIVE, P.RUNNING, P.SHUTDOWN, {"power_state": P.SHUTDOWN, "vm_state": s.STOPPED},
     False),
    (s.ACTIVE, P.RUNNING, P.CRASHED, {"power_state": P.CRASHED, "vm_state": s.STOPPED},
     False),
    # Suspended behind our back: Nova stops it.
    (s.ACTIVE, P.RUNNING, P.SUSPENDED, {"power_state": P.SHUTDOWN, "vm_state": s.STOPPED},
     True),
    # Paused behind our back: only the power state (Nova ignores it too).
    (s.ACTIVE, P.RUNNING, P.PAUSED, {"power_state": P.PAUSED}, False),
    (s.ACTIVE, P.PAUSED, P.RUNNING, {"power_state": P.RUNNING}, False),
    # Gone from the hypervisor: recorded, nothing else (it may be mid-migration).
    (s.ACTIVE, P.RUNNING, P.NOSTATE, {"power_state": P.NOSTATE}, False),
    (s.ACTIVE, P.RUNNING, P.RUNNING, {}, False),
    # A paused server whose container was stopped.
    (s.PAUSED, P.PAUSED, P.SHUTDOWN, {"power_state": P.SHUTDOWN, "vm_state": s.STOPPED},
     False),
    (s.PAUSED, P.PAUSED, P.RUNNING, {"power_state": P.RUNNING}, False),
    # The DB says stopped: whatever runs is powered off.
    (s.STOPPED, P.SHUTDOWN, P.RUNNING, {}, True),
    (s.STOPPED, P.SHUTDOWN, P.PAUSED, {}, True),
    (s.STOPPED, P.CRASHED, P.RUNNING, {"power_state": P.SHUTDOWN}, True),
    (s.STOPPED, P.SHUTDOWN, P.CRASHED, {"power_state": P.CRASHED}, False),
    (s.STOPPED, P.SHUTDOWN, P.NOSTATE, {"power_state": P.NOSTATE}, False),
    # Other vm_states: only the power state.
    (s.RESIZED, P.RUNNING, P.SHUTDOWN, {"power_state": P.SHUTDOWN}, False),
    (s.SUSPENDED, P.SUSPENDED, P.SHUTDOWN, {"power_state": P.SHUTDOWN}, False),
])
def test_rules(vm: str, db: int, hv: int, values: dict[str, object], power_off: bool) -> None:
    assert power_sync.decide(vm, db, hv) == power_sync.Decision(values=values,
                                                                power_off=power_off)


@pytest.mark.parametrize(("vm", "task", "applies"), [
    (s.ACTIVE, None, True),
    (s.STOPPED, None, True),
    (s.PAUSED, None, True),
    (s.ACTIVE, s.POWERING_OFF, False),   # our own stop: its outcome is its own to write
    (s.STOPPED, s.POWERING_ON, False),
    (s.ACTIVE, s.REBOOTING, False),
    (s.ACTIVE, s.PAUSING, False),
    (s.ACTIVE, s.IMAGE_UPLOADING, False),
    (s.ACTIVE, s.MIGRATING, False),
    (s.BUILDING, None, False),
    (s.ERROR, None, False),
])
def test_what_the_sync_may_touch(vm: str, task: str | None, applies: bool) -> None:
    assert power_sync.applies(vm, task) is applies


# ---- events, applied at once ---------------------------------------------------------------

def _states(h: Harness, u: str) -> tuple[str, str | None, int]:
    row = h.row(u)
    return row["vm_state"], row["task_state"], row["power_state"]


def _active(h: Harness, context: RequestContext) -> str:
    u = h.new_instance(context)
    h.build(context, u)
    assert _states(h, u) == (s.ACTIVE, None, P.RUNNING)
    return u


def _idle(h: Harness) -> None:
    assert h.manager.power_events.wait_idle(IDLE), "events not applied in time"


def test_out_of_band_stop_crash_and_pause_are_applied_without_a_periodic_sync(
        compute: Harness, ctx: RequestContext) -> None:  # noqa: F811
    stopped, crashed, paused = (_active(compute, ctx) for _ in range(3))
    compute.driver.simulate_power_change(stopped, P.SHUTDOWN)
    compute.driver.simulate_power_change(crashed, P.CRASHED)
    compute.driver.simulate_power_change(paused, P.PAUSED)
    _idle(compute)
    assert _states(compute, stopped) == (s.STOPPED, None, P.SHUTDOWN)
    assert _states(compute, crashed) == (s.STOPPED, None, P.CRASHED)
    assert _states(compute, paused) == (s.ACTIVE, None, P.PAUSED)
    # Unpaused again out of band: the power state follows.
    compute.driver.simulate_power_change(paused, P.RUNNING)
    _idle(compute)
    assert _states(compute, paused) == (s.ACTIVE, None, P.RUNNING)


def test_a_stopped_instance_started_out_of_band_is_powered_off(
        compute: Harness, ctx: RequestContext) -> None:  # noqa: F811
    u = _active(compute, ctx)
    assert compute.act(ctx, u, "stop")
    compute.driver.simulate_power_change(u, P.RUNNING)  # `docker start` behind our back
    _idle(compute)
    assert _states(compute, u) == (s.STOPPED, None, P.SHUTDOWN)
    assert compute.driver.get_info(compute.spec(u)).power_state == P.SHUTDOWN


def test_an_instance_with_a_task_is_left_to_its_operation(
        compute: Harness, ctx: RequestContext) -> None:  # noqa: F811
    u = _active(compute, ctx)
    with compute.db.write() as conn:
        inst_db.transition(conn, u, {"task_state": s.REBOOTING})
    compute.driver.simulate_power_change(u, P.SHUTDOWN)
    _idle(compute)
    assert _states(compute, u) == (s.ACTIVE, s.REBOOTING, P.RUNNING)


def test_events_of_our_own_start_do_not_fight_it(compute: Harness, ctx: RequestContext,  # noqa: F811
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The events a real driver emits while compute starts an instance (the stale
    "stopped" of before, then "running") are applied while the start is still in the
    driver: the instance is STOPPED in the DB and runs. A sync that ignored the task
    would power it off again."""
    u = _active(compute, ctx)
    assert compute.act(ctx, u, "stop")
    driver = compute.driver
    real_power_on = driver.power_on
    reported: list[bool] = []

    def power_on_with_events(instance: InstanceSpec) -> None:
        real_power_on(instance)
        compute.manager.instance_power_changed(instance.uuid, P.SHUTDOWN)
        compute.manager.instance_power_changed(instance.uuid, P.RUNNING)
        reported.append(compute.manager.power_events.wait_idle(IDLE))

    monkeypatch.setattr(driver, "power_on", power_on_with_events)
    assert compute.act(ctx, u, "start")
    assert reported == [True]  # applied (and skipped) while the start was in the driver
    _idle(compute)
    assert _states(compute, u) == (s.ACTIVE, None, P.RUNNING)
    assert driver.get_info(compute.spec(u)).power_state == P.RUNNING


def test_a_stale_event_changes_nothing(compute: Harness, ctx: RequestContext) -> None:  # noqa: F811
    """An event that no longer matches the guest (it stopped and was started again
    before compute got to it): compute goes by what the driver says now."""
    u = _active(compute, ctx)
    compute.manager.instance_power_changed(u, P.SHUTDOWN)
    _idle(compute)
    assert _states(compute, u) == (s.ACTIVE, None, P.RUNNING)


def test_events_of_deleted_or_unknown_instances_are_ignored(
        compute: Harness, ctx: RequestContext, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    gone = _active(compute, ctx)
    compute.delete(ctx, gone)
    elsewhere = compute.new_instance(ctx, vm_state=s.ACTIVE, task_state=None, host="c2")
    asked: list[str] = []
    real_get_info = compute.driver.get_info

    def counting_get_info(instance: InstanceSpec) -> InstanceInfo:
        asked.append(instance.uuid)
        return real_get_info(instance)

    monkeypatch.setattr(compute.driver, "get_info", counting_get_info)
    for u in (gone, elsewhere, "00000000-0000-4000-8000-00000000dead"):
        compute.manager.instance_power_changed(u, P.SHUTDOWN)
    _idle(compute)
    assert asked == []
    assert _states(compute, elsewhere) == (s.ACTIVE, None, 0)


def test_a_failing_driver_does_not_stop_the_event_thread(
        compute: Harness, ctx: RequestContext, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    u = _active(compute, ctx)
    real_get_info = compute.driver.get_info
    calls: list[str] = []

    def flaky_get_info(instance: InstanceSpec) -> InstanceInfo:
        calls.append(instance.uuid)
        if len(calls) == 1:
            raise exceptions.ServiceUnavailable("the hypervisor hiccupped")
        return real_get_info(instance)

    monkeypatch.setattr(compute.driver, "get_info", flaky_get_info)
    compute.driver.simulate_power_change(u, P.SHUTDOWN)
    _idle(compute)
    assert _states(compute, u) == (s.ACTIVE, None, P.RUNNING)  # not applied: no state
    compute.driver.simulate_power_change(u, P.SHUTDOWN)
    _idle(compute)
    assert _states(compute, u) == (s.STOPPED, None, P.SHUTDOWN)
    assert calls == [u, u]


def test_with_the_workaround_only_the_periodic_sync_applies_changes(
        make_harness: Callable[..., Harness], ctx: RequestContext) -> None:  # noqa: F811
    h = make_harness()
    h.manager.deps.config = dataclasses.replace(h.manager.deps.config,
                                                handle_virt_lifecycle_events=False)
    h.start()
    u = _active(h, ctx)
    h.driver.simulate_power_change(u, P.SHUTDOWN)
    _idle(h)
    assert _states(h, u) == (s.ACTIVE, None, P.RUNNING)
    reconcile.sync_power_states(h.manager.deps)
    assert _states(h, u) == (s.STOPPED, None, P.SHUTDOWN)


def test_the_periodic_sync_rereads_the_row_under_the_lock(
        compute: Harness, ctx: RequestContext, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """An instance started while the periodic sync had an old (STOPPED) copy of its row:
    the sync must not power it off."""
    u = _active(compute, ctx)
    assert compute.act(ctx, u, "stop")
    with compute.db.read() as conn:
        old_rows = inst_db.on_host(conn, compute.manager.deps.host)
    assert compute.act(ctx, u, "start")
    monkeypatch.setattr(inst_db, "on_host", lambda conn, host: old_rows)
    reconcile.sync_power_states(compute.manager.deps)
    assert _states(compute, u) == (s.ACTIVE, None, P.RUNNING)
    assert compute.driver.get_info(compute.spec(u)).power_state == P.RUNNING
