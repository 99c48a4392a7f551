"""The fake driver's move steps: the record travels between fake hosts through what
compute hands over, failures are injected per step and host, live migrations can be
watched, forced to complete and aborted."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import msgspec
import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.objects.specs import FlavorSpec, InstanceSpec, instance_name
from novalith.objects.states import PowerState
from novalith.virt.driver import (
    LiveMigrationSupport,
    MigrateData,
    MigrationSupport,
    require,
)
from novalith.virt.fake import FakeDriver
from novalith.virt.loader import load_driver

SMALL = FlavorSpec(flavorid="1", name="small", vcpus=1, memory_mb=512, root_gb=10)
BIG = FlavorSpec(flavorid="2", name="big", vcpus=2, memory_mb=1024, root_gb=20)


class Callbacks:
    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        pass

    def fetch_image(self, image_id: str, dest: str) -> None:
        raise AssertionError("no images here")


def fake(host: str, **fake_driver: Any) -> FakeDriver:
    drv = load_driver("fake", make_conf(overrides={"fake_driver": fake_driver}), host,
                      Callbacks())
    assert isinstance(drv, FakeDriver)
    drv.init_host()
    return drv


def spec(flavor: FlavorSpec = SMALL) -> InstanceSpec:
    return InstanceSpec(uuid=str(uuid.uuid4()), id=7, name=instance_name(7), display_name="vm",
                        hostname="vm", project_id="p", user_id="u", flavor=flavor)


def power(drv: FakeDriver, s: InstanceSpec) -> int:
    return drv.get_info(s).power_state


def test_capabilities_declare_both_interfaces() -> None:
    caps = fake("h").capabilities
    assert caps.supports_migration and caps.supports_live_migration
    assert require(fake("h"), MigrationSupport, "resize")


def test_resize_to_another_host_confirmed() -> None:
    src, dst = fake("h1"), fake("h2")
    s = spec()
    src.spawn(s, None)
    info = src.migrate_disk_and_power_off(s, "h2", BIG)
    assert info["power_state"] == PowerState.SHUTDOWN
    assert s.uuid in src.list_instances()  # the source keeps its copy, apart
    with pytest.raises(exceptions.InstanceNotFound):
        src.get_info(s)
    big = msgspec.structs.replace(s, flavor=BIG)
    dst.finish_migration(big, info, resize_instance=True, power_on=True)
    assert power(dst, big) == PowerState.RUNNING
    assert "booted 2 times" in dst.get_console_output(big)  # the history came along
    src.confirm_migration(s)
    src.confirm_migration(s)  # idempotent
    assert s.uuid not in src.list_instances()
    assert dst.get_available_resource().vcpus_used == 2


def test_resize_reverted_brings_the_source_back() -> None:
    src, dst = fake("h1"), fake("h2")
    s = spec()
    src.spawn(s, None)
    info = src.migrate_disk_and_power_off(s, "h2", BIG)
    dst.finish_migration(msgspec.structs.replace(s, flavor=BIG), info, True, True)
    dst.revert_migration(s)
    assert s.uuid not in dst.list_instances()
    src.finish_revert_migration(s, power_on=True)
    assert power(src, s) == PowerState.RUNNING
    with pytest.raises(exceptions.InstanceNotFound):
        src.finish_revert_migration(s, power_on=True)


def test_resize_to_the_same_host_keeps_the_two_apart() -> None:
    drv = fake("h1")
    s = spec()
    drv.spawn(s, None)
    info = drv.migrate_disk_and_power_off(s, "h1", BIG)
    drv.finish_migration(msgspec.structs.replace(s, flavor=BIG), info, True, False)
    assert power(drv, s) == PowerState.SHUTDOWN
    drv.revert_migration(s)  # drops only the new guest
    drv.finish_revert_migration(s, power_on=False)
    assert power(drv, s) == PowerState.SHUTDOWN
    drv.migrate_disk_and_power_off(s, "h1", BIG)
    drv.destroy(s)  # destroy removes the kept copy too
    assert drv.list_instances() == []


def test_resize_down_the_disk_is_refused_and_changes_nothing() -> None:
    drv = fake("h1")
    s = spec(BIG)
    drv.spawn(s, None)
    with pytest.raises(exceptions.ResizeError, match="resize disk down"):
        drv.migrate_disk_and_power_off(s, "h2", SMALL)
    assert power(drv, s) == PowerState.RUNNING


@pytest.mark.parametrize(("setting", "host", "fails"), [
    (["finish_migration"], "h1", True), (["h2:finish_migration"], "h1", False),
    (["h2:finish_migration"], "h2", True), ([" h1:finish_migration "], "h1", True)])
def test_failures_are_injected_per_step_and_host(setting: list[str], host: str,
                                                 fails: bool) -> None:
    drv = fake(host, fail_operations=setting)
    s = spec()
    if fails:
        with pytest.raises(exceptions.MigrationError, match=f"finish_migration on host {host}"):
            drv.finish_migration(s, {}, False, True)
        assert drv.list_instances() == []
    else:
        drv.finish_migration(s, {}, False, True)
        assert drv.list_instances() == [s.uuid]


def test_live_migration_moves_the_record() -> None:
    src, dst = fake("h1"), fake("h2")
    s = spec()
    src.spawn(s, None)
    src.pause(s)
    check = dst.check_can_live_migrate_destination(s, None, False)
    assert check.block_migration is True  # "auto" on hosts without shared storage
    data = src.check_can_live_migrate_source(s, check)
    data = dst.pre_live_migration(s, data)
    data = src.live_migration(s, "h2", data)
    dst.post_live_migration_at_destination(s, data)
    src.post_live_migration(s, data)
    assert s.uuid not in src.list_instances()
    assert power(dst, s) == PowerState.PAUSED


def test_live_migration_waits_and_can_be_forced_or_aborted() -> None:
    src = fake("h1", live_migration_delay=30.0)
    s = spec()
    src.spawn(s, None)
    with pytest.raises(exceptions.InstanceInvalidState):
        src.live_migration_abort(s)  # nothing runs yet
    outcome: list[Any] = []

    def migrate() -> None:
        try:
            outcome.append(src.live_migration(s, "h2", MigrateData()))
        except exceptions.NovalithError as exc:
            outcome.append(exc)

    for finish, expected in ((src.live_migration_force_complete, MigrateData),
                             (src.live_migration_abort, exceptions.MigrationAborted)):
        outcome.clear()
        started = time.monotonic()
        worker = threading.Thread(target=migrate)
        worker.start()
        while s.uuid not in src._jobs:
            time.sleep(0.01)
        finish(s)
        worker.join(5)
        assert time.monotonic() - started < 5
        assert isinstance(outcome[0], expected)
    assert power(src, s) == PowerState.RUNNING  # an aborted guest still runs at the source


def test_live_migration_check_failure_is_a_precheck_error() -> None:
    dst = fake("h2", fail_operations=["check_can_live_migrate_destination"])
    with pytest.raises(exceptions.MigrationPreCheckError):
        dst.check_can_live_migrate_destination(spec(), None, False)
    assert isinstance(dst, LiveMigrationSupport)


def test_bad_live_migration_delay_is_refused() -> None:
    from novalith.virt.fake import FakeSettings

    with pytest.raises(exceptions.Invalid, match="live_migration_delay"):
        FakeSettings(live_migration_delay=float("inf"))
