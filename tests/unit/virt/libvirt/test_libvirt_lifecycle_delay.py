"""The libvirt driver holds a domain's off events back, as Nova does (lifecycle_delay)."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable

import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.objects.specs import FlavorSpec, InstanceSpec, instance_name
from novalith.virt.libvirt.config import LibvirtSettings
from novalith.virt.libvirt.lifecycle_delay import StopEventDelay

_ids = itertools.count(7000)
DEFINED, STARTED, SUSPENDED, RESUMED, STOPPED, SHUTDOWN = 0, 2, 3, 4, 5, 6


class FakeTimer:
    """Fires only when the test says so."""

    def __init__(self, delay: float, fn: Callable[[], None]) -> None:
        self.delay, self.fn = delay, fn
        self.started = self.cancelled = self.joined = False

    def start(self) -> None:
        self.started = True

    def cancel(self) -> None:
        self.cancelled = True

    def join(self, timeout: float | None = None) -> None:
        self.joined = True

    def fire(self) -> None:
        assert self.started
        if not self.cancelled:
            self.fn()


class Harness:
    def __init__(self, delay: float = 15.0) -> None:
        self.reports: list[str] = []
        self.timers: list[FakeTimer] = []
        self.delay = StopEventDelay(delay, self.reports.append, timer=self.make_timer)

    def make_timer(self, delay: float, fn: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(delay, fn)
        self.timers.append(timer)
        return timer


@pytest.mark.parametrize("event", [STOPPED, SHUTDOWN])
def test_an_off_event_is_reported_only_when_its_delay_is_over(event: int) -> None:
    h = Harness()
    h.delay.event("a", event)
    assert h.reports == [] and h.delay.pending() == {"a"}
    assert [t.delay for t in h.timers] == [15.0]
    h.timers[0].fire()
    assert h.reports == ["a"] and h.delay.pending() == set()


@pytest.mark.parametrize("event", [STARTED, RESUMED])
def test_a_start_cancels_the_held_stop_and_goes_through(event: int) -> None:
    h = Harness()
    h.delay.event("a", STOPPED)
    h.delay.event("a", event)
    assert h.reports == ["a"] and h.timers[0].cancelled
    assert h.delay.pending() == set()
    h.timers[0].fn()  # a timer already due when it was cancelled reports nothing
    assert h.reports == ["a"]


def test_other_events_go_through_at_once() -> None:
    h = Harness()
    for event in (DEFINED, STARTED, SUSPENDED, RESUMED):
        h.delay.event("a", event)
    assert h.reports == ["a"] * 4 and h.timers == []


def test_events_of_other_domains_leave_a_held_stop_alone() -> None:
    h = Harness()
    h.delay.event("a", STOPPED)
    h.delay.event("b", STARTED)
    h.delay.event("c", STOPPED)
    assert h.reports == ["b"] and h.delay.pending() == {"a", "c"}
    h.timers[0].fire()
    assert h.reports == ["b", "a"] and h.delay.pending() == {"c"}


def test_a_second_off_event_holds_from_its_own_arrival() -> None:
    h = Harness()
    h.delay.event("a", SHUTDOWN)
    h.delay.event("a", STOPPED)
    assert h.timers[0].cancelled and not h.timers[1].cancelled
    h.timers[0].fn()
    assert h.reports == []
    h.timers[1].fire()
    assert h.reports == ["a"]


def test_delay_zero_reports_at_once() -> None:
    h = Harness(delay=0)
    h.delay.event("a", STOPPED)
    assert h.reports == ["a"] and h.timers == []


def test_close_cancels_and_joins_every_timer_and_holds_no_more() -> None:
    h = Harness()
    h.delay.event("a", STOPPED)
    h.delay.event("b", SHUTDOWN)
    h.delay.close()
    assert all(t.cancelled and t.joined for t in h.timers)
    assert h.delay.pending() == set()
    h.delay.event("c", STOPPED)
    assert len(h.timers) == 2 and h.reports == []
    h.delay.open()
    h.delay.event("c", STOPPED)
    assert h.delay.pending() == {"c"}


def test_a_failing_report_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def report(uuid: str) -> None:
        raise RuntimeError("boom")

    StopEventDelay(0, report).event("a", STOPPED)
    assert "Life-cycle event handler failed for a" in caplog.text


def test_real_timer_reports_on_its_thread_and_close_leaves_no_thread() -> None:
    fired = threading.Event()
    threads: list[threading.Thread] = []

    def report(uuid: str) -> None:
        threads.append(threading.current_thread())
        fired.set()

    delay = StopEventDelay(0.01, report)
    delay.event("a", STOPPED)
    assert fired.wait(10)
    assert threads[0].name == "libvirt-stop-delay" and threads[0].daemon
    threads[0].join(10)
    assert not threads[0].is_alive()
    # A long-held event: close cancels its timer, whose thread ends.
    held = StopEventDelay(3600, report)
    held.event("b", STOPPED)
    timer = next(t for t in threading.enumerate() if t.name == "libvirt-stop-delay")
    held.close()
    assert not timer.is_alive() and len(threads) == 1


def test_option_default_and_validation() -> None:
    conf = make_conf(overrides={"DEFAULT": {"instances_path": "/srv/i"},
                                "libvirt": {"lifecycle_event_delay": 0.5}})
    assert LibvirtSettings.from_conf(conf).lifecycle_event_delay == 0.5
    assert LibvirtSettings(instances_path="/srv/i").lifecycle_event_delay == 15.0
    with pytest.raises(exceptions.Invalid, match="lifecycle_event_delay"):
        LibvirtSettings(instances_path="/srv/i", lifecycle_event_delay=-1)
    with pytest.raises(ValueError):
        make_conf(overrides={"DEFAULT": {"instances_path": "/srv/i"},
                             "libvirt": {"lifecycle_event_delay": -1}})


class PowerLog:
    """The driver's callbacks: each instance_power_changed, waited for by condition."""

    def __init__(self) -> None:
        self.changes: list[tuple[str, int]] = []
        self.cond = threading.Condition()

    def instance_power_changed(self, uuid_: str, power_state: int) -> None:
        with self.cond:
            self.changes.append((uuid_, power_state))
            self.cond.notify_all()

    def fetch_image(self, image_id: str, dest: str) -> None:
        raise exceptions.ImageNotFound(image_id=image_id)

    def wait_for(self, change: tuple[str, int]) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: change in self.changes, 10), self.changes


@pytest.mark.parametrize("delay", [0, 3600])
def test_driver_stop_then_start_is_no_shutdown_unless_delay_is_zero(
        tmp_path: object, delay: float) -> None:
    pytest.importorskip("libvirt")
    from novalith.objects.states import PowerState
    from novalith.virt.libvirt.driver import LibvirtDriver

    log = PowerLog()
    conf = make_conf(overrides={
        "DEFAULT": {"instances_path": f"{tmp_path}/h"},
        "libvirt": {"connection_uri": "test:///default", "virt_type": "qemu",
                    "lifecycle_event_delay": delay}})
    drv = LibvirtDriver.from_conf(conf, "h-delay", log)  # type: ignore[arg-type]
    handled: list[tuple[str, int]] = []
    handler = drv.conn._on_domain_event
    assert handler is not None

    def counting(uuid_: str, event: int) -> None:  # knows when an event was handled
        handler(uuid_, event)
        with log.cond:
            handled.append((uuid_, event))
            log.cond.notify_all()

    def wait_handled(event: int, count: int) -> None:
        with log.cond:
            assert log.cond.wait_for(
                lambda: handled.count((inst.uuid, event)) >= count, 10), handled

    drv.conn._on_domain_event = counting
    drv.init_host()
    iid = next(_ids)
    inst = InstanceSpec(uuid=str(uuid.uuid4()), id=iid, name=instance_name(iid),
                        display_name="t", hostname="t", project_id="p", user_id="u",
                        flavor=FlavorSpec(flavorid="1", name="t", memory_mb=64, vcpus=1,
                                          root_gb=1))
    try:
        drv.spawn(inst, None)
        wait_handled(STARTED, 1)
        with log.cond:  # the spawn's reports (its DEFINED one may read "shut off")
            log.changes.clear()
        drv.power_off(inst)
        wait_handled(STOPPED, 1)
        # Held (nothing reported while the delay runs), or reported at once.
        stopped = (inst.uuid, PowerState.SHUTDOWN) in log.changes
        assert stopped is (delay == 0), (handled, log.changes)
        assert drv._events.pending() == ({inst.uuid} if delay else set())
        drv.power_on(inst)  # the start drops the held stop and is reported at once
        wait_handled(STARTED, 2)
        assert drv._events.pending() == set()
        assert log.changes[-1] == (inst.uuid, PowerState.RUNNING)
        assert ((inst.uuid, PowerState.SHUTDOWN) in log.changes) is (delay == 0)
        if delay:
            drv.power_off(inst)  # held until cleanup_host drops it
            wait_handled(STOPPED, 2)
            assert drv._events.pending() == {inst.uuid}
    finally:
        drv.cleanup_host()
        drv.conn.open()
        drv.destroy(inst)
        drv.conn.close()
    assert drv._events.pending() == set()
