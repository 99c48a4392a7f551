"""FakeDriver: instances are records in memory; capacity, latency and failures are set
in the ``[fake_driver]`` config group.

Several FakeDriver objects live side by side in one process (one per simulated
compute host); each keeps its own instances, keyed by uuid, under its own lock.
Power states move by the table ``_MOVES`` below; each boot (spawn, reboot,
power-on) raises the instance's boot counter and writes a console line
``fake console: booted N times``.

With ``[fake_driver] disk_images`` the driver also builds real instance disks through
the host's image cache (:mod:`novalith.virt.images`): the image is fetched through the
compute callbacks into ``_base`` once per host, and each instance gets its qcow2
overlay, ephemeral and swap disks, removed again by ``destroy``. Without it an
instance has no files at all. Either way ``snapshot`` writes a real qcow2 file: the
flattened root disk, or an empty qcow2 of the root disk's size.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import os
import random
import threading
import time
from typing import Any, Self

import msgspec
from oslo_config import cfg

from novalith import exceptions
from novalith.objects.specs import InstanceSpec
from novalith.objects.states import PowerState
from novalith.virt.driver import (
    REBOOT_TYPES,
    ComputeCallbacks,
    ComputeDriver,
    ConsoleSupport,
    HostResources,
    ImageCacheSupport,
    InstanceInfo,
    PauseSupport,
    SnapshotSupport,
    SuspendSupport,
)
from novalith.virt.fake.moves import FakeMoves
from novalith.virt.fake.persist import GuestFiles
from novalith.virt.images import disks, qcow2
from novalith.virt.images import manager as cache_manager
from novalith.virt.images.cache import CacheSettings, ImageCache

LOG = logging.getLogger(__name__)

_CONSOLE_LINES = 200  # console output kept per instance (its tail)

_P = PowerState
# operation -> (power states it may start from, power state it ends in). Starting
# in the end state already is success (idempotent) and changes nothing.
_MOVES: dict[str, tuple[frozenset[int], int]] = {
    "power_off": (frozenset({_P.RUNNING, _P.PAUSED, _P.SUSPENDED, _P.CRASHED, _P.NOSTATE}),
                  _P.SHUTDOWN),
    "power_on": (frozenset({_P.SHUTDOWN, _P.CRASHED, _P.NOSTATE}), _P.RUNNING),
    "pause": (frozenset({_P.RUNNING}), _P.PAUSED),
    "unpause": (frozenset({_P.PAUSED}), _P.RUNNING),
    "suspend": (frozenset({_P.RUNNING, _P.PAUSED}), _P.SUSPENDED),
    "resume": (frozenset({_P.SUSPENDED}), _P.RUNNING),
}
_BOOTING = frozenset({"power_on"})  # moves that boot the guest anew


class FakeSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The ``[fake_driver]`` options, typed and validated."""

    vcpus: int = 1000
    memory_mb: int = 1048576
    local_gb: int = 100000
    hypervisor_type: str = "fake"
    hypervisor_version: int = 1000
    spawn_delay: float = 0.0
    spawn_fail_hosts: tuple[str, ...] = ()
    spawn_fail_rate: float = 0.0
    #: Where guests are kept across compute restarts (virt.fake.persist); "" = memory only.
    state_dir: str = ""
    disk_images: bool = False
    snapshot_fail_hosts: tuple[str, ...] = ()
    #: Move steps that fail: "step" on every host, "host:step" on one (virt.fake.moves).
    fail_operations: tuple[str, ...] = ()
    live_migration_delay: float = 0.0
    #: Where disks and the image cache live (required with ``disk_images``).
    cache: CacheSettings | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.disk_images and self.cache is None:
            problems.append("disk_images needs the image cache settings")
        if self.vcpus < 1:
            problems.append(f"vcpus={self.vcpus} must be >= 1")
        if self.memory_mb < 1:
            problems.append(f"memory_mb={self.memory_mb} must be >= 1")
        if self.local_gb < 0:
            problems.append(f"local_gb={self.local_gb} must be >= 0")
        if not self.hypervisor_type:
            problems.append("hypervisor_type must not be empty")
        if self.hypervisor_version < 0:
            problems.append(f"hypervisor_version={self.hypervisor_version} must be >= 0")
        if not (self.spawn_delay >= 0 and math.isfinite(self.spawn_delay)):
            problems.append(f"spawn_delay={self.spawn_delay} must be a finite number >= 0")
        if not 0.0 <= self.spawn_fail_rate <= 1.0:
            problems.append(f"spawn_fail_rate={self.spawn_fail_rate} must be within 0..1")
        if not (self.live_migration_delay >= 0 and math.isfinite(self.live_migration_delay)):
            problems.append(f"live_migration_delay={self.live_migration_delay} must be a "
                            "finite number >= 0")
        if problems:
            raise exceptions.Invalid("Invalid [fake_driver] settings: " + "; ".join(problems))

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> FakeSettings:
        group = conf.fake_driver
        return cls(vcpus=group.vcpus, memory_mb=group.memory_mb, local_gb=group.local_gb,
                   hypervisor_type=group.hypervisor_type,
                   hypervisor_version=group.hypervisor_version,
                   spawn_delay=group.spawn_delay,
                   spawn_fail_hosts=tuple(h for h in group.spawn_fail_hosts if h),
                   spawn_fail_rate=group.spawn_fail_rate,
                   state_dir=group.state_dir,
                   disk_images=group.disk_images,
                   snapshot_fail_hosts=tuple(h for h in group.snapshot_fail_hosts if h),
                   cache=CacheSettings.from_conf(conf) if group.disk_images else None,
                   fail_operations=tuple(op.strip() for op in group.fail_operations
                                         if op.strip()),
                   live_migration_delay=group.live_migration_delay)


@dataclasses.dataclass(slots=True)
class _FakeInstance:
    spec: InstanceSpec
    power_state: int = _P.NOSTATE
    boots: int = 0
    console: collections.deque[str] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=_CONSOLE_LINES))

    def log(self, line: str) -> None:
        self.console.append(f"fake console: {line}")

    def boot(self) -> None:
        self.power_state = _P.RUNNING
        self.boots += 1
        self.log(f"booted {self.boots} times")


class FakeDriver(ComputeDriver, PauseSupport, SuspendSupport, ConsoleSupport, SnapshotSupport,
                 ImageCacheSupport, FakeMoves):
    """An in-memory hypervisor implementing the core, pause, suspend, console, snapshot
    and (with real disks) the image cache."""

    name = "fake"
    _record_type = _FakeInstance  # records FakeMoves creates on a destination

    def __init__(self, settings: FakeSettings, host: str, callbacks: ComputeCallbacks,
                 *, rng: random.Random | None = None) -> None:
        super().__init__(host, callbacks)
        self.settings = settings
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._instances: dict[str, _FakeInstance] = {}
        self._building: set[str] = set()
        self._connected = False
        self._guests = GuestFiles(settings.state_dir, host) if settings.state_dir else None
        self._init_moves()
        self.image_cache: ImageCache | None = None
        if settings.disk_images and settings.cache is not None:
            self.image_cache = ImageCache(settings.cache, callbacks.fetch_image)

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, host: str, callbacks: ComputeCallbacks) -> Self:
        return cls(FakeSettings.from_conf(conf), host, callbacks)

    # -- life of the driver ------------------------------------------------

    def init_host(self) -> None:
        # A fake host has nothing to check the settings against; say loudly
        # when they make every build here fail.
        if self.host in self.settings.spawn_fail_hosts:
            LOG.warning("fake driver: every spawn on host %s will fail "
                        "([fake_driver] spawn_fail_hosts)", self.host)
        if self.image_cache is not None:
            self.image_cache.settings.check_host()
        if self._guests is not None:  # guests that outlived the last compute process
            with self._lock:
                for guest in self._guests.load():
                    record = _FakeInstance(spec=guest.spec)
                    if guest.built:
                        record.boot()
                    self._instances.setdefault(guest.spec.uuid, record)
        self._connected = True

    def cleanup_host(self) -> None:
        self._connected = False

    def _check_connected(self) -> None:
        if not self._connected:
            raise exceptions.ServiceUnavailable(
                f"The fake driver of host {self.host} is not connected (init_host not run).")

    def _get(self, uuid: str) -> _FakeInstance:
        # Caller holds self._lock.
        record = self._instances.get(uuid)
        if record is None:
            raise exceptions.InstanceNotFound(instance_id=uuid)
        return record

    # -- instance life cycle -----------------------------------------------

    def spawn(self, instance: InstanceSpec, admin_password: str | None,
              network_info: list[Any] | None = None) -> None:
        self._check_connected()
        uuid = instance.uuid
        rate = self.settings.spawn_fail_rate
        with self._lock:
            if uuid in self._instances or uuid in self._building:
                raise exceptions.Duplicate(what="Instance", key="uuid", value=uuid)
            self._building.add(uuid)
            if self._guests is not None:
                self._guests.save(instance, built=False)
            fail = (self.host in self.settings.spawn_fail_hosts
                    or (rate > 0 and self._rng.random() < rate))
        try:
            if self.settings.spawn_delay:
                time.sleep(self.settings.spawn_delay)
            if fail:
                raise exceptions.BuildFailed(instance_uuid=uuid,
                                             reason=f"injected failure on host {self.host}")
            if self.image_cache is not None:
                self._create_disks(instance)
            record = _FakeInstance(spec=instance)
            record.boot()
            with self._lock:
                self._instances[uuid] = record
            if self._guests is not None:
                self._guests.save(instance, built=True)
        finally:
            with self._lock:
                self._building.discard(uuid)

    def _create_disks(self, instance: InstanceSpec) -> None:
        """Disks through the image cache; removes them itself on failure (disks.create)."""
        assert self.image_cache is not None
        try:
            disks.create(self.image_cache, instance)
        except (exceptions.DiskOperationFailed, exceptions.ServiceUnavailable) as exc:
            # Another host (or a later try) may do better: let the conductor reschedule.
            raise exceptions.BuildFailed(instance_uuid=instance.uuid, reason=str(exc)) from exc

    def destroy(self, instance: InstanceSpec, destroy_disks: bool = True) -> None:
        self._check_connected()
        with self._lock:
            self._instances.pop(instance.uuid, None)
            self._forget_moves(instance.uuid)
        if self._guests is not None:
            self._guests.remove(instance.uuid)
        if destroy_disks and self.image_cache is not None and instance.uuid:
            disks.remove(self.image_cache.settings.instances_path, instance.uuid)

    def reboot(self, instance: InstanceSpec, reboot_type: str) -> None:
        self._check_connected()
        if reboot_type not in REBOOT_TYPES:
            raise exceptions.Invalid(f"reboot_type must be SOFT or HARD, not {reboot_type!r}.")
        with self._lock:
            record = self._get(instance.uuid)
            record.log(f"{reboot_type.lower()} reboot")
            record.boot()

    def power_off(self, instance: InstanceSpec, timeout: int = 0) -> None:
        self._move(instance, "power_off")

    def power_on(self, instance: InstanceSpec) -> None:
        self._move(instance, "power_on")

    def pause(self, instance: InstanceSpec) -> None:
        self._move(instance, "pause")

    def unpause(self, instance: InstanceSpec) -> None:
        self._move(instance, "unpause")

    def suspend(self, instance: InstanceSpec) -> None:
        self._move(instance, "suspend")

    def resume(self, instance: InstanceSpec) -> None:
        self._move(instance, "resume")

    def _move(self, instance: InstanceSpec, operation: str) -> None:
        sources, target = _MOVES[operation]
        self._check_connected()
        with self._lock:
            record = self._get(instance.uuid)
            if record.power_state == target:
                return
            if record.power_state not in sources:
                raise exceptions.InstanceInvalidState(
                    action=operation, instance_id=instance.uuid, attr="power_state",
                    state=PowerState.NAMES.get(record.power_state, str(record.power_state)))
            if operation in _BOOTING:
                record.boot()
            else:
                record.power_state = target
                record.log(operation.replace("_", " "))

    # -- images --------------------------------------------------------------

    def snapshot(self, instance: InstanceSpec, dest: str) -> None:
        self._check_connected()
        with self._lock:
            self._get(instance.uuid)
        try:
            if self.host in self.settings.snapshot_fail_hosts:
                with open(dest, "wb") as fh:
                    fh.write(b"QFI\xfb partial")
                raise exceptions.DiskOperationFailed(
                    reason=f"injected snapshot failure on host {self.host}")
            if self.image_cache is not None:
                disks.snapshot_root(self.image_cache.settings.instances_path, instance, dest)
            else:
                size = instance.flavor.root_gb * disks.GiB or (
                    instance.image.size if instance.image and instance.image.size else 0)
                qcow2.write_empty(dest, size or disks.GiB)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)
            raise
        with self._lock:
            record = self._instances.get(instance.uuid)
            if record is not None:
                record.log("snapshot taken")

    def manage_image_cache(self, images_in_use: frozenset[str]) -> None:
        if self.image_cache is not None:
            cache_manager.run_pass(self.image_cache, images_in_use)

    # -- inspection --------------------------------------------------------

    def get_info(self, instance: InstanceSpec) -> InstanceInfo:
        self._check_connected()
        with self._lock:
            record = self._get(instance.uuid)
            return InstanceInfo(power_state=record.power_state, internal_id=record.spec.name)

    def list_instances(self) -> list[str]:
        self._check_connected()
        with self._lock:
            return [*self._instances, *self._kept]

    def get_console_output(self, instance: InstanceSpec) -> str:
        self._check_connected()
        with self._lock:
            record = self._get(instance.uuid)
            return "".join(line + "\n" for line in record.console)

    def get_available_resource(self) -> HostResources:
        self._check_connected()
        with self._lock:
            flavors = [record.spec.flavor for record in self._instances.values()]
        s = self.settings
        disk_used = sum(f.root_gb + f.ephemeral_gb + math.ceil(f.swap / 1024) for f in flavors)
        return HostResources(
            hypervisor_hostname=self.host,
            hypervisor_type=s.hypervisor_type,
            hypervisor_version=s.hypervisor_version,
            vcpus=s.vcpus,
            memory_mb=s.memory_mb,
            local_gb=s.local_gb,
            vcpus_used=sum(f.vcpus for f in flavors),
            memory_mb_used=sum(f.memory_mb for f in flavors),
            local_gb_used=disk_used,
            disk_available_least=s.local_gb - disk_used,
            host_ip="127.0.0.1",
            cpu_info={"arch": "x86_64", "model": "fake", "vendor": "Novalith",
                      "topology": {"sockets": 1, "cores": s.vcpus, "threads": 1},
                      "features": []},
            supported_instances=[("x86_64", s.hypervisor_type, "hvm")],
            running_vms=len(flavors),
        )

    # -- test hooks (not part of the contract) -----------------------------

    def simulate_power_change(self, uuid: str, power_state: int) -> None:
        """Change an instance's power state out of band (guest shut down, crashed...)
        and tell compute through the callbacks, as a real driver's event loop would."""
        if power_state not in PowerState.NAMES:
            raise exceptions.Invalid(f"Unknown power state {power_state!r}.")
        with self._lock:
            record = self._get(uuid)
            record.power_state = power_state
            record.log(f"out-of-band power state {PowerState.NAMES[power_state]}")
        self.callbacks.instance_power_changed(uuid, power_state)
