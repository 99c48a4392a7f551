"""The Docker driver's event handling without an engine: which events count, what power
state each one means, and how a burst of events of one container settles into one
report."""

from __future__ import annotations

from typing import Any

import pytest

from novalith.objects.states import PowerState as P
from novalith.virt.docker import events as ev

HOST = "host-a"
UUID = "6c1f3d0e-0000-4000-8000-000000000001"


def event(action: str, *, host: str = HOST, uuid: str | None = UUID,
          kind: str = "container", **attributes: str) -> dict[str, Any]:
    """An engine event as ``GET /events`` sends it (API 1.22 and later)."""
    labels = {"novalith.host": host, "image": "novalith-image/x:1", "name": "i-1",
              **attributes}
    if uuid is not None:
        labels["novalith.instance_uuid"] = uuid
    return {"Type": kind, "Action": action, "status": action, "id": "c0ffee" * 10,
            "Actor": {"ID": "c0ffee" * 10, "Attributes": labels},
            "time": 1_700_000_123, "timeNano": 1_700_000_123_000_000_000}


@pytest.mark.parametrize(("action", "power"), [
    ("start", P.RUNNING),
    ("restart", P.RUNNING),
    ("unpause", P.RUNNING),
    ("pause", P.PAUSED),
    ("stop", P.SHUTDOWN),
    ("destroy", P.NOSTATE),
    # The event alone does not say: the container is inspected once.
    ("die", None),
    ("kill", None),
    ("oom", None),
])
def test_each_followed_event_maps_to_a_power_state_or_an_inspect(action: str,
                                                                 power: int | None) -> None:
    found = ev.parse(event(action), HOST)
    assert found == ev.ContainerEvent(uuid=UUID, container_id="c0ffee" * 10, action=action,
                                      time=1_700_000_123)
    assert ev.EVENT_POWER[found.action] == power


@pytest.mark.parametrize("unwanted", [
    event("start", host="host-b"),              # another compute host's container
    event("start", uuid=None),                  # not an instance (no uuid label)
    event("create"),                            # not a power change
    event("exec_start: /bin/sh -c true"),       # an exec, not the container
    event("health_status: healthy"),
    event("start", kind="network"),
    {"Type": "container", "Action": "start"},   # no actor at all
])
def test_events_of_others_or_without_meaning_are_ignored(unwanted: dict[str, Any]) -> None:
    assert ev.parse(unwanted, HOST) is None


def test_the_subscription_asks_only_for_followed_events_of_this_host() -> None:
    watcher = ev.EventWatcher(engine=None, host=HOST, report=lambda u, p: None)  # type: ignore[arg-type]
    filters = watcher._filters()
    assert filters["type"] == ["container"]
    assert filters["label"] == [f"novalith.host={HOST}"]
    assert set(filters["event"]) == set(ev.EVENT_POWER)


@pytest.mark.parametrize(("state", "power"), [
    ("running", P.RUNNING),
    ("restarting", P.RUNNING),
    ("paused", P.PAUSED),
    ("created", P.SHUTDOWN),
    ("dead", P.CRASHED),
    ("exited", None),  # OOM-killed or not: only the inspect knows
])
def test_a_full_pass_takes_the_state_from_the_summary(state: str, power: int | None) -> None:
    assert ev.summary_power({"Id": "x", "State": state, "Status": "..."}) == power


# ---- debounce ------------------------------------------------------------------------------

def test_a_restart_burst_is_reported_once_with_its_final_state() -> None:
    d = ev.Debouncer(settle=0.5, settle_off=2.0, max_delay=5.0)
    for at, action in enumerate(("kill", "die", "stop", "start", "restart")):
        d.add(UUID, "c1", ev.EVENT_POWER[action], now=100.0 + at * 0.1)
    assert d.pop_due(100.8) == []           # the last event came 0.4 s ago
    assert d.next_due() == pytest.approx(100.9)
    (change,) = d.pop_due(100.9)
    assert (change.uuid, change.power) == (UUID, P.RUNNING)
    assert len(d) == 0 and d.next_due() is None


def test_an_off_event_waits_longer_for_a_start_that_may_follow() -> None:
    """The die of a restart, with the engine slow to start the container again: no
    SHUTDOWN may go out in between."""
    d = ev.Debouncer(settle=0.5, settle_off=2.0, max_delay=5.0)
    d.add(UUID, "c1", ev.EVENT_POWER["die"], now=0.0)
    d.add(UUID, "c1", ev.EVENT_POWER["stop"], now=0.05)
    assert d.pop_due(1.5) == []
    d.add(UUID, "c1", ev.EVENT_POWER["start"], now=1.5)
    (change,) = d.pop_due(2.0)
    assert change.power == P.RUNNING


def test_a_stop_alone_is_reported_after_the_longer_wait() -> None:
    d = ev.Debouncer(settle=0.5, settle_off=2.0, max_delay=5.0)
    for at, action in enumerate(("kill", "die", "stop")):
        d.add(UUID, "c1", ev.EVENT_POWER[action], now=at * 0.01)
    assert d.pop_due(2.0) == []
    (change,) = d.pop_due(2.02)
    assert change.power == P.SHUTDOWN


def test_a_kill_that_ends_the_container_is_inspected() -> None:
    d = ev.Debouncer(settle=0.5, settle_off=2.0, max_delay=5.0)
    d.add(UUID, "c1", ev.EVENT_POWER["kill"], now=0.0)
    d.add(UUID, "c1", ev.EVENT_POWER["die"], now=0.2)
    (change,) = d.pop_due(2.2)
    assert change.power is None and change.container_id == "c1"


def test_a_container_that_never_settles_is_reported_after_max_delay() -> None:
    d = ev.Debouncer(settle=1.0, settle_off=1.0, max_delay=3.0)
    now = 0.0
    reported = []
    while now < 10.0:  # an event every 0.5 s, forever (a crash loop)
        d.add(UUID, "c1", P.RUNNING, now)
        reported += [now for _ in d.pop_due(now)]
        now += 0.5
    # Each report opens a new window: its first event + max_delay.
    assert reported == [3.0, 6.5]


def test_containers_settle_independently() -> None:
    d = ev.Debouncer(settle=1.0, settle_off=1.0, max_delay=5.0)
    d.add("a", "ca", P.PAUSED, now=0.0)
    d.add("b", "cb", P.SHUTDOWN, now=0.6)
    assert [(c.uuid, c.power) for c in d.pop_due(1.0)] == [("a", P.PAUSED)]
    assert [(c.uuid, c.power) for c in d.pop_due(1.6)] == [("b", P.SHUTDOWN)]
