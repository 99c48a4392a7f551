"""The fake driver's cold/live migration steps (MigrationSupport, LiveMigrationSupport).

Each fake host is its own FakeDriver; an instance's record travels between them
the way a real guest's disks and memory would: the source hands its state
(boot count, console, power state) to compute as ``disk_info`` or as the
``MigrateData`` payload, and compute gives it to the destination. A resize to
the same host keeps the source record apart (``_kept``) from the new one.

Failures are injected per step with ``[fake_driver] fail_operations``: a step
name (``finish_migration``) fails on every host, ``host-2:finish_migration``
only there. ``[fake_driver] live_migration_delay`` makes ``live_migration`` last
that long, so it can be watched, aborted or forced to complete.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from novalith import exceptions
from novalith.objects.specs import FlavorSpec, InstanceSpec
from novalith.objects.states import PowerState
from novalith.virt.driver import LiveMigrationSupport, MigrateData, MigrationSupport


class _LiveJob:
    """One running live migration: force_complete and abort end its wait early."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.aborted = False


def _state(record: Any) -> dict[str, Any]:
    return {"boots": record.boots, "console": list(record.console),
            "power_state": record.power_state}


class FakeMoves(MigrationSupport, LiveMigrationSupport):
    """Mixed into FakeDriver, whose lock, records and settings it uses."""

    # Provided by FakeDriver:
    host: str
    settings: Any
    _lock: threading.Lock
    _instances: dict[str, Any]
    _record_type: Callable[..., Any]

    def _check_connected(self) -> None:
        raise NotImplementedError

    def _get(self, uuid: str) -> Any:
        raise NotImplementedError

    def _init_moves(self) -> None:
        self._kept: dict[str, Any] = {}
        self._jobs: dict[str, _LiveJob] = {}
        self._incoming: set[str] = set()

    def _forget_moves(self, uuid: str) -> None:
        """destroy: an instance leaves nothing of a move behind (caller holds the lock)."""
        self._kept.pop(uuid, None)
        self._incoming.discard(uuid)

    def _maybe_fail(self, operation: str, error: type[exceptions.NovalithError]
                    = exceptions.MigrationError) -> None:
        self._check_connected()
        wanted = self.settings.fail_operations
        if operation in wanted or f"{self.host}:{operation}" in wanted:
            reason = f"injected failure of {operation} on host {self.host}"
            raise error(reason=reason)

    def _restore(self, instance: InstanceSpec, state: dict[str, Any], power_on: bool,
                 line: str) -> Any:
        record = self._record_type(spec=instance)
        record.boots = int(state.get("boots", 0))
        record.console.extend(state.get("console", []))
        record.log(line)
        if power_on:
            record.boot()
        else:
            record.power_state = int(state.get("power_state", PowerState.SHUTDOWN))
        return record

    # -- cold migration / resize -----------------------------------------------------------

    def migrate_disk_and_power_off(self, instance: InstanceSpec, dest_host: str,
                                   flavor: FlavorSpec, timeout: int = 0) -> dict[str, Any]:
        self._maybe_fail("migrate_disk_and_power_off")
        with self._lock:
            record = self._get(instance.uuid)
            if flavor.root_gb < record.spec.flavor.root_gb:
                raise exceptions.ResizeError(reason="Unable to resize disk down.")
            record.power_state = PowerState.SHUTDOWN
            record.log(f"migrating to {dest_host}")
            self._kept[instance.uuid] = self._instances.pop(instance.uuid)
            state = _state(record)
        state["source_host"] = self.host
        return state

    def finish_migration(self, instance: InstanceSpec, disk_info: dict[str, Any],
                         resize_instance: bool, power_on: bool) -> None:
        self._maybe_fail("finish_migration")
        source = disk_info.get("source_host", "?")
        record = self._restore(instance, {**disk_info, "power_state": PowerState.SHUTDOWN},
                               power_on, f"migrated from {source}"
                               + (f" as {instance.flavor.name}" if resize_instance else ""))
        with self._lock:
            if instance.uuid in self._instances:
                raise exceptions.Duplicate(what="Instance", key="uuid", value=instance.uuid)
            self._instances[instance.uuid] = record

    def confirm_migration(self, instance: InstanceSpec) -> None:
        self._maybe_fail("confirm_migration")
        with self._lock:
            self._kept.pop(instance.uuid, None)

    def revert_migration(self, instance: InstanceSpec) -> None:
        self._maybe_fail("revert_migration")
        with self._lock:
            self._instances.pop(instance.uuid, None)

    def finish_revert_migration(self, instance: InstanceSpec, power_on: bool) -> None:
        self._maybe_fail("finish_revert_migration")
        with self._lock:
            record = self._kept.pop(instance.uuid, None)
            if record is None:
                raise exceptions.InstanceNotFound(instance_id=instance.uuid)
            record.spec = instance
            record.log("migration reverted")
            if power_on:
                record.boot()
            self._instances[instance.uuid] = record

    # -- live migration ---------------------------------------------------------------------

    def check_can_live_migrate_destination(self, instance: InstanceSpec,
                                           block_migration: bool | None,
                                           disk_over_commit: bool) -> MigrateData:
        self._maybe_fail("check_can_live_migrate_destination", exceptions.MigrationPreCheckError)
        # Fake hosts share no storage: "auto" means a block migration.
        return MigrateData(block_migration=True if block_migration is None else block_migration)

    def check_can_live_migrate_source(self, instance: InstanceSpec,
                                      dest_check: MigrateData) -> MigrateData:
        self._maybe_fail("check_can_live_migrate_source", exceptions.MigrationPreCheckError)
        with self._lock:
            self._get(instance.uuid)
        return dest_check

    def pre_live_migration(self, instance: InstanceSpec, data: MigrateData) -> MigrateData:
        self._maybe_fail("pre_live_migration")
        with self._lock:
            if instance.uuid in self._instances:
                raise exceptions.Duplicate(what="Instance", key="uuid", value=instance.uuid)
            self._incoming.add(instance.uuid)
        return data

    def live_migration(self, instance: InstanceSpec, dest_host: str,
                       data: MigrateData) -> MigrateData:
        self._maybe_fail("live_migration")
        job = _LiveJob()
        with self._lock:
            self._get(instance.uuid)
            if instance.uuid in self._jobs:
                raise exceptions.InstanceInvalidState(
                    action="live_migration", instance_id=instance.uuid, attr="task_state",
                    state="migrating")
            self._jobs[instance.uuid] = job
        try:
            job.done.wait(self.settings.live_migration_delay)
        finally:
            with self._lock:
                self._jobs.pop(instance.uuid, None)
        if job.aborted:
            raise exceptions.MigrationAborted(instance_uuid=instance.uuid)
        with self._lock:
            record = self._get(instance.uuid)
            record.log(f"live-migrated to {dest_host}")
            state = _state(record)
        state["source_host"] = self.host
        return MigrateData(block_migration=data.block_migration,
                           is_shared_storage=data.is_shared_storage, payload=state)

    def _job(self, uuid: str, action: str) -> _LiveJob:
        with self._lock:
            job = self._jobs.get(uuid)
        if job is None:
            raise exceptions.InstanceInvalidState(action=action, instance_id=uuid,
                                                  attr="migration", state="not running")
        return job

    def live_migration_abort(self, instance: InstanceSpec) -> None:
        self._check_connected()
        job = self._job(instance.uuid, "abort live migration")
        job.aborted = True
        job.done.set()

    def live_migration_force_complete(self, instance: InstanceSpec) -> None:
        self._check_connected()
        self._job(instance.uuid, "force complete live migration").done.set()

    def post_live_migration(self, instance: InstanceSpec, data: MigrateData) -> None:
        self._check_connected()
        with self._lock:
            self._instances.pop(instance.uuid, None)

    def post_live_migration_at_destination(self, instance: InstanceSpec,
                                           data: MigrateData) -> None:
        self._maybe_fail("post_live_migration_at_destination")
        state = data.payload
        record = self._restore(instance, state, False,
                               f"live-migrated from {state.get('source_host', '?')}")
        with self._lock:
            self._incoming.discard(instance.uuid)
            self._instances.setdefault(instance.uuid, record)

    def rollback_live_migration_at_destination(self, instance: InstanceSpec,
                                               data: MigrateData) -> None:
        self._check_connected()
        with self._lock:
            self._incoming.discard(instance.uuid)
