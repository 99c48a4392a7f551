"""What only the fake driver promises: configured capacity, latency and failures."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.objects.specs import FlavorSpec, InstanceSpec, instance_name
from novalith.objects.states import PowerState
from novalith.virt.fake import FakeDriver, FakeSettings
from novalith.virt.loader import load_driver


class Callbacks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        self.calls.append((uuid, power_state))


def spec(vcpus: int = 2, memory_mb: int = 2048, root_gb: int = 20, ephemeral_gb: int = 0,
         swap: int = 0) -> InstanceSpec:
    flavor = FlavorSpec(flavorid="f", name="f", vcpus=vcpus, memory_mb=memory_mb,
                        root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap=swap)
    iid = random.randrange(1, 1 << 30)
    return InstanceSpec(uuid=str(uuid.uuid4()), id=iid, name=instance_name(iid),
                        display_name="vm", hostname="vm", project_id="p", user_id="u",
                        flavor=flavor)


def fake(host: str = "fake-1", **fake_driver: Any) -> FakeDriver:
    conf = make_conf(overrides={"fake_driver": fake_driver})
    drv = load_driver("fake", conf, host, Callbacks())
    assert isinstance(drv, FakeDriver)
    drv.init_host()
    return drv


@pytest.fixture
def drv() -> Iterator[FakeDriver]:
    d = fake()
    yield d
    d.cleanup_host()


def console(drv: FakeDriver, s: InstanceSpec) -> list[str]:
    return drv.get_console_output(s).splitlines()


# -- settings -----------------------------------------------------------------


def test_settings_from_conf() -> None:
    conf = make_conf(overrides={"fake_driver": {
        "vcpus": 8, "memory_mb": 4096, "local_gb": 50, "hypervisor_type": "qemu",
        "hypervisor_version": 7, "spawn_delay": 0.5, "spawn_fail_hosts": ["a", "b"],
        "spawn_fail_rate": 0.25}})
    assert FakeSettings.from_conf(conf) == FakeSettings(
        vcpus=8, memory_mb=4096, local_gb=50, hypervisor_type="qemu", hypervisor_version=7,
        spawn_delay=0.5, spawn_fail_hosts=("a", "b"), spawn_fail_rate=0.25)


def test_defaults() -> None:
    assert FakeSettings.from_conf(make_conf()) == FakeSettings()
    assert FakeSettings() == FakeSettings(vcpus=1000, memory_mb=1048576, local_gb=100000,
                                          hypervisor_type="fake", hypervisor_version=1000)


@pytest.mark.parametrize("bad", [
    {"vcpus": 0}, {"memory_mb": -1}, {"local_gb": -1}, {"hypervisor_type": ""},
    {"spawn_delay": -0.1}, {"spawn_delay": float("inf")}, {"spawn_fail_rate": 1.5},
    {"spawn_fail_rate": -0.5}, {"hypervisor_version": -1},
])
def test_bad_settings_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(exceptions.Invalid, match=r"\[fake_driver\]"):
        FakeSettings(**bad)


def test_out_of_range_option_is_rejected_by_config() -> None:
    with pytest.raises(ValueError):
        make_conf(overrides={"fake_driver": {"spawn_fail_rate": 2.0}})


def test_operations_need_init_host() -> None:
    drv = FakeDriver(FakeSettings(), "fake-1", Callbacks())
    with pytest.raises(exceptions.ServiceUnavailable):
        drv.spawn(spec(), None)
    drv.init_host()
    drv.spawn(s := spec(), None)
    drv.cleanup_host()
    with pytest.raises(exceptions.ServiceUnavailable):
        drv.get_info(s)


# -- capacity -----------------------------------------------------------------


def test_capacity_and_usage_reported() -> None:
    drv = fake(vcpus=8, memory_mb=16384, local_gb=200, hypervisor_type="qemu",
               hypervisor_version=6002000)
    res = drv.get_available_resource()
    assert (res.vcpus, res.memory_mb, res.local_gb) == (8, 16384, 200)
    assert (res.vcpus_used, res.memory_mb_used, res.local_gb_used, res.running_vms) == (0, 0, 0, 0)
    assert res.hypervisor_hostname == "fake-1"
    assert (res.hypervisor_type, res.hypervisor_version) == ("qemu", 6002000)
    assert res.supported_instances == [("x86_64", "qemu", "hvm")]

    a, b = spec(vcpus=2, memory_mb=2048, root_gb=20), spec(
        vcpus=4, memory_mb=512, root_gb=10, ephemeral_gb=5, swap=1536)
    drv.spawn(a, None)
    drv.spawn(b, None)
    drv.power_off(b)  # a stopped instance still holds its resources
    res = drv.get_available_resource()
    assert (res.vcpus_used, res.memory_mb_used, res.running_vms) == (6, 2560, 2)
    assert res.local_gb_used == 20 + 10 + 5 + 2  # swap 1536 MiB rounds up to 2 GiB
    assert res.disk_available_least == 200 - 37
    drv.destroy(a)
    drv.destroy(b)
    res = drv.get_available_resource()
    assert (res.vcpus_used, res.memory_mb_used, res.local_gb_used) == (0, 0, 0)


def test_drivers_in_one_process_keep_separate_state() -> None:
    one, two = fake("fake-1"), fake("fake-2")
    s = spec()
    one.spawn(s, None)
    assert one.list_instances() == [s.uuid]
    assert two.list_instances() == []
    with pytest.raises(exceptions.InstanceNotFound):
        two.get_info(s)
    two.spawn(s, None)  # same uuid on another host is that host's business
    one.destroy(s)
    assert two.list_instances() == [s.uuid]


# -- injected failures and latency -------------------------------------------


def test_failure_on_listed_host_leaves_nothing() -> None:
    drv = fake("fake-1", spawn_fail_hosts=["fake-1", "fake-9"])
    s = spec()
    with pytest.raises(exceptions.BuildFailed) as err:
        drv.spawn(s, "pw")
    assert err.value.kwargs["reason"] == "injected failure on host fake-1"
    assert s.uuid in str(err.value)
    assert drv.list_instances() == []
    with pytest.raises(exceptions.InstanceNotFound):
        drv.get_info(s)
    res = drv.get_available_resource()
    assert (res.vcpus_used, res.memory_mb_used, res.local_gb_used, res.running_vms) == (0, 0, 0, 0)
    # A failed build frees the uuid: destroy is a no-op, nothing is half-made.
    drv.destroy(s)


def test_failure_only_on_listed_hosts() -> None:
    drv = fake("fake-2", spawn_fail_hosts=["fake-1"])
    drv.spawn(s := spec(), None)
    assert drv.list_instances() == [s.uuid]


@pytest.mark.parametrize("rate,fails", [(1.0, True), (0.0, False)])
def test_fail_rate_extremes(rate: float, fails: bool) -> None:
    drv = fake(spawn_fail_rate=rate)
    outcomes = []
    for _ in range(20):
        try:
            drv.spawn(spec(), None)
            outcomes.append(False)
        except exceptions.BuildFailed:
            outcomes.append(True)
    assert outcomes == [fails] * 20
    assert len(drv.list_instances()) == (0 if fails else 20)


def test_fail_rate_uses_its_random_source() -> None:
    drv = FakeDriver(FakeSettings(spawn_fail_rate=0.5), "fake-1", Callbacks(),
                     rng=random.Random(42))
    drv.init_host()
    failed = 0
    for _ in range(200):
        try:
            drv.spawn(spec(), None)
        except exceptions.BuildFailed:
            failed += 1
    assert 60 < failed < 140
    assert len(drv.list_instances()) == 200 - failed


def spawn_in_thread(drv: FakeDriver, s: InstanceSpec, errors: list[BaseException]
                    ) -> threading.Thread:
    def run() -> None:
        try:
            drv.spawn(s, None)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_spawn_delay_is_honoured_without_serialising_spawns() -> None:
    drv = fake(spawn_delay=0.3)
    specs = [spec() for _ in range(6)]
    errors: list[BaseException] = []
    start = time.monotonic()
    threads = [spawn_in_thread(drv, s, errors) for s in specs]
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert errors == []
    assert 0.3 <= elapsed < 1.2  # one after another would take 1.8 s
    assert sorted(drv.list_instances()) == sorted(s.uuid for s in specs)


def test_building_instance_is_unlisted_but_its_uuid_is_taken() -> None:
    drv = fake(spawn_delay=0.6)
    s = spec()
    errors: list[BaseException] = []
    thread = spawn_in_thread(drv, s, errors)
    time.sleep(0.2)
    assert drv.list_instances() == []
    with pytest.raises(exceptions.Duplicate):
        drv.spawn(s, None)
    thread.join()
    assert errors == []
    assert drv.list_instances() == [s.uuid]


def test_delayed_failure_leaves_nothing() -> None:
    drv = fake(spawn_delay=0.05, spawn_fail_rate=1.0)
    start = time.monotonic()
    with pytest.raises(exceptions.BuildFailed):
        drv.spawn(s := spec(), None)
    assert time.monotonic() - start >= 0.05
    assert drv.list_instances() == []
    with pytest.raises(exceptions.InstanceNotFound):
        drv.get_info(s)


# -- power states, boots and console -----------------------------------------


def test_boot_counter_in_console(drv: FakeDriver) -> None:
    s = spec()
    drv.spawn(s, None)
    assert console(drv, s)[-1] == "fake console: booted 1 times"
    drv.reboot(s, "SOFT")
    assert console(drv, s)[-1] == "fake console: booted 2 times"
    drv.reboot(s, "HARD")
    assert console(drv, s)[-1] == "fake console: booted 3 times"
    drv.power_off(s)
    assert console(drv, s)[-1] == "fake console: power off"
    drv.power_on(s)
    drv.power_on(s)  # already running: no new boot
    assert console(drv, s)[-1] == "fake console: booted 4 times"
    drv.pause(s)
    drv.unpause(s)
    drv.suspend(s)
    drv.resume(s)  # the same boot carries on
    lines = console(drv, s)
    assert lines[-4:] == ["fake console: pause", "fake console: unpause",
                          "fake console: suspend", "fake console: resume"]
    assert sum("booted" in line for line in lines) == 4


@pytest.mark.parametrize("setup,operation", [
    (["power_off"], "pause"),
    (["suspend"], "pause"),
    (["power_off"], "unpause"),
    (["suspend"], "unpause"),
    (["power_off"], "suspend"),
    (["power_off"], "resume"),
    (["pause"], "resume"),
    (["pause"], "power_on"),
    (["suspend"], "power_on"),
])
def test_invalid_transitions(drv: FakeDriver, setup: list[str], operation: str) -> None:
    s = spec()
    drv.spawn(s, None)
    for step in setup:
        getattr(drv, step)(s)
    before = drv.get_info(s).power_state
    with pytest.raises(exceptions.InstanceInvalidState) as err:
        getattr(drv, operation)(s)
    assert err.value.status == 409
    assert f"'{operation}'" in str(err.value) and "power_state" in str(err.value)
    assert drv.get_info(s).power_state == before


def test_suspend_from_paused_and_power_off_from_anywhere(drv: FakeDriver) -> None:
    s = spec()
    drv.spawn(s, None)
    drv.pause(s)
    drv.suspend(s)
    assert drv.get_info(s).power_state == PowerState.SUSPENDED
    drv.power_off(s)
    assert drv.get_info(s).power_state == PowerState.SHUTDOWN


@pytest.mark.parametrize("operation", ["pause", "unpause", "suspend", "resume",
                                       "get_console_output"])
def test_optional_operations_on_unknown_instance(drv: FakeDriver, operation: str) -> None:
    with pytest.raises(exceptions.InstanceNotFound):
        getattr(drv, operation)(spec())


def test_info_carries_platform_name(drv: FakeDriver) -> None:
    s = spec()
    drv.spawn(s, None)
    assert drv.get_info(s).internal_id == s.name


def test_out_of_band_power_change_reaches_callbacks(drv: FakeDriver) -> None:
    s = spec()
    drv.spawn(s, None)
    drv.simulate_power_change(s.uuid, PowerState.CRASHED)
    assert drv.get_info(s).power_state == PowerState.CRASHED
    assert isinstance(drv.callbacks, Callbacks)
    assert drv.callbacks.calls == [(s.uuid, PowerState.CRASHED)]
    drv.power_on(s)
    assert drv.get_info(s).power_state == PowerState.RUNNING
    with pytest.raises(exceptions.InstanceNotFound):
        drv.simulate_power_change(spec().uuid, PowerState.SHUTDOWN)
    with pytest.raises(exceptions.Invalid):
        drv.simulate_power_change(s.uuid, 42)


def test_capabilities(drv: FakeDriver) -> None:
    caps = drv.capabilities
    assert caps.supports_pause and caps.supports_suspend and caps.supports_console
    assert caps.supports_snapshot
    assert caps.supports_migration and caps.supports_live_migration  # virt.fake.moves
    assert not caps.supports_config_drive
