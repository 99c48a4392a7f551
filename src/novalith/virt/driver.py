"""The one contract between the compute service and a hypervisor.

A driver is a class that subclasses :class:`ComputeDriver` (the required core)
and, for each optional family of operations it supports, one small mixin ABC:

====================  ===========================================  ==================
interface             methods                                      capability field
====================  ===========================================  ==================
ComputeDriver (core)  from_conf, init_host, cleanup_host, spawn,    (always)
                      destroy, reboot, power_off, power_on,
                      get_info, list_instances,
                      get_available_resource
PauseSupport          pause, unpause                               supports_pause
SuspendSupport        suspend, resume                              supports_suspend
ConsoleSupport        get_console_output                           supports_console
SnapshotSupport       snapshot                                     supports_snapshot
ImageCacheSupport     manage_image_cache                           (none: periodic)
MigrationSupport      migrate_disk_and_power_off, finish_migration,  supports_migration
                      confirm_migration, revert_migration,
                      finish_revert_migration
LiveMigrationSupport  check_can_live_migrate_destination/_source,  supports_live_migration
                      pre_live_migration, live_migration,
                      live_migration_abort/_force_complete,
                      post_live_migration(_at_destination),
                      rollback_live_migration_at_destination
====================  ===========================================  ==================

Further optional interfaces will follow the same pattern when their operations
are built: volume and network-interface attach/detach.

Rebuild and evacuation need no interface of their own: compute rebuilds with
``destroy`` then ``spawn`` (on the same host, or on the evacuation's destination).

Images: a driver that keeps disks as files builds them with
:mod:`novalith.virt.images` (the host's ``_base`` cache, qcow2 overlays) and gets
image data only through :meth:`ComputeCallbacks.fetch_image`; it never talks to the
image service. A snapshot likewise ends at a file, in the formats the driver
declares (``SnapshotSupport.snapshot_disk_format``/``_container_format``):
compute uploads it.

Callers never probe a driver with ``hasattr``: they call :func:`require`, which
returns the driver typed as the interface or raises
:class:`~novalith.exceptions.NotSupported` (HTTP 409)::

    require(driver, PauseSupport, "pause").pause(instance)

Rules every driver follows
--------------------------
* Threading: every method is synchronous and thread-safe. The compute service
  calls the driver from a pool of native threads, at most one operation at a time
  per instance (compute holds a per-instance lock) but many instances at once.
* Identity: instances are keyed by ``InstanceSpec.uuid``. A driver maps the UUID
  to its platform id (domain name, container id, node id) itself and never finds
  an instance by its display name.
* Layers: a driver reaches the compute service only through the
  :class:`ComputeCallbacks` it is given; it never imports compute, api or db code.
* Configuration: :meth:`ComputeDriver.from_conf` turns the config into a typed,
  validated settings object (first check); :meth:`ComputeDriver.init_host` checks
  those settings against the host (second check). ``__init__`` never sees the
  ConfigOpts.
* Errors: only errors of :mod:`novalith.exceptions`. A platform error is mapped
  to the nearest one (InstanceNotFound, InstanceInvalidState, BuildFailed, ...);
  anything else is a bug.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, Self, TypeVar, cast

import msgspec
from oslo_config import cfg

from novalith import exceptions
from novalith.objects.specs import FlavorSpec, InstanceSpec

__all__ = [
    "REBOOT_HARD",
    "REBOOT_SOFT",
    "REBOOT_TYPES",
    "ComputeCallbacks",
    "ComputeDriver",
    "ConsoleSupport",
    "DriverCapabilities",
    "HostResources",
    "InstanceInfo",
    "ImageCacheSupport",
    "LiveMigrationSupport",
    "MigrateData",
    "MigrationSupport",
    "PauseSupport",
    "SnapshotSupport",
    "SuspendSupport",
    "require",
]

REBOOT_SOFT = "SOFT"
REBOOT_HARD = "HARD"
REBOOT_TYPES = (REBOOT_SOFT, REBOOT_HARD)


class InstanceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a driver knows about one of its instances right now.

    ``power_state`` is one of :class:`~novalith.objects.states.PowerState`;
    ``internal_id`` is the driver's own id for it (domain name, container id...).
    """

    power_state: int
    internal_id: str | None = None


class HostResources(msgspec.Struct, frozen=True, kw_only=True):
    """The host's capacity and use as the hypervisor itself sees it.

    Sizes are in MiB (memory) and GiB (disk). The ``*_used`` figures are the
    hypervisor's view; the compute resource tracker keeps its own, claim-based
    account. ``supported_instances`` lists ``(arch, hypervisor_type, vm_mode)``
    triples, e.g. ``("x86_64", "qemu", "hvm")``. ``running_vms`` counts the
    instances the driver holds, in any power state.
    """

    hypervisor_hostname: str
    hypervisor_type: str
    hypervisor_version: int
    vcpus: int
    memory_mb: int
    local_gb: int
    vcpus_used: int
    memory_mb_used: int
    local_gb_used: int
    disk_available_least: int | None = None
    host_ip: str | None = None
    cpu_info: dict[str, Any] = {}
    supported_instances: list[tuple[str, str, str]] = []
    running_vms: int = 0


class DriverCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a driver can do: a typed record, not a dict of strings.

    The ``supports_pause/suspend/console`` fields follow from the interfaces the
    driver class implements; the others are declared by the driver in its
    ``declared_capabilities`` class attribute.
    """

    supports_pause: bool = False
    supports_suspend: bool = False
    supports_console: bool = False
    supports_snapshot: bool = False
    supports_migration: bool = False
    supports_live_migration: bool = False
    supports_config_drive: bool = False


class ComputeCallbacks(Protocol):
    """The only way a driver reaches the compute service."""

    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        """The driver noticed an out-of-band power change of instance ``uuid``.

        May be called from any driver thread; must not block for long and must
        not call back into the driver synchronously.
        """

    def fetch_image(self, image_id: str, dest: str) -> None:
        """Write the data of image ``image_id`` to the new file ``dest``.

        The file appears only once complete and verified against the image's hash;
        on failure there is no file. Blocks for the whole download. Raises
        :class:`~novalith.exceptions.ImageNotFound`,
        :class:`~novalith.exceptions.Invalid` (hash mismatch),
        :class:`~novalith.exceptions.Conflict` (image not active) or
        :class:`~novalith.exceptions.ServiceUnavailable` (no image service).
        """


class ComputeDriver(abc.ABC):
    """The required core every hypervisor driver implements.

    Unless a method says otherwise, its preconditions are that :meth:`init_host`
    has returned and :meth:`cleanup_host` has not been called; a driver that is
    not connected raises :class:`~novalith.exceptions.ServiceUnavailable`.
    Every method that takes an instance raises
    :class:`~novalith.exceptions.InstanceNotFound` when the driver does not hold
    it, except :meth:`destroy` (idempotent) and :meth:`spawn` (creates it).
    """

    #: Entry point name of the driver (``compute_driver`` in the config).
    name: ClassVar[str]
    #: Declared flags; interface-derived fields set here are ignored.
    declared_capabilities: ClassVar[DriverCapabilities] = DriverCapabilities()

    def __init__(self, host: str, callbacks: ComputeCallbacks) -> None:
        self.host = host
        self.callbacks = callbacks

    @classmethod
    @abc.abstractmethod
    def from_conf(cls, conf: cfg.ConfigOpts, host: str, callbacks: ComputeCallbacks) -> Self:
        """Build the driver from configuration (first settings check).

        Reads the driver's own option group into a typed settings object,
        validates it, and calls ``__init__`` with it. Does not touch the
        hypervisor. Raises :class:`~novalith.exceptions.Invalid` for bad settings.
        """

    @property
    def capabilities(self) -> DriverCapabilities:
        """What this driver supports: its interfaces plus its declared flags."""
        return msgspec.structs.replace(
            self.declared_capabilities,
            supports_pause=isinstance(self, PauseSupport),
            supports_suspend=isinstance(self, SuspendSupport),
            supports_console=isinstance(self, ConsoleSupport),
            supports_snapshot=isinstance(self, SnapshotSupport),
            supports_migration=isinstance(self, MigrationSupport),
            supports_live_migration=isinstance(self, LiveMigrationSupport),
        )

    # -- life of the driver ------------------------------------------------

    @abc.abstractmethod
    def init_host(self) -> None:
        """Connect to the hypervisor and check the settings against the host.

        Called once at compute start-up before any other method (second
        settings check). Blocks until connected; bounded by the driver's own
        connection timeout. Raises :class:`~novalith.exceptions.Invalid` when the
        host cannot honour the settings, or
        :class:`~novalith.exceptions.ServiceUnavailable` when the hypervisor does
        not answer; compute then refuses to start.
        """

    @abc.abstractmethod
    def cleanup_host(self) -> None:
        """Disconnect at compute shutdown. Instances keep running. Idempotent."""

    # -- instance life cycle -----------------------------------------------

    @abc.abstractmethod
    def spawn(self, instance: InstanceSpec, admin_password: str | None,
              network_info: list[Any] | None = None) -> None:
        """Create and start ``instance``; return once it is RUNNING.

        Precondition: the driver holds no instance with this uuid, else
        :class:`~novalith.exceptions.Duplicate` and nothing changes.
        Blocks for as long as the build takes (image fetch, disk creation, boot
        start), not for the guest OS to finish booting.
        Not idempotent. On any failure the driver removes everything it created
        for the instance (disks, domain, ports it plugged) before raising
        :class:`~novalith.exceptions.BuildFailed` (the conductor may reschedule)
        or another NovalithError (the build is not retried).
        """

    @abc.abstractmethod
    def destroy(self, instance: InstanceSpec, destroy_disks: bool = True) -> None:
        """Stop ``instance`` hard and remove it from the hypervisor.

        Idempotent: an instance the driver does not hold is success. With
        ``destroy_disks=False`` the disks stay on the host (e.g. for
        evacuation). Blocks until the instance is gone. Best effort on partial
        failure: what could not be removed is logged, and the error raised.
        """

    @abc.abstractmethod
    def reboot(self, instance: InstanceSpec, reboot_type: str) -> None:
        """Restart ``instance``; return once it is RUNNING again.

        ``reboot_type`` is ``"SOFT"`` (ask the guest; a driver falls back to
        HARD when the guest is not running or does not comply) or ``"HARD"``
        (power cycle). Valid from any power state. Blocks until the instance
        runs again (the guest OS may still be booting); SOFT waits at most the
        driver's graceful timeout before falling back to HARD. Not idempotent
        (every call restarts). On failure the instance is left SHUTDOWN or in
        its previous state, never half-defined. Raises
        :class:`~novalith.exceptions.Invalid` for another reboot_type.
        """

    @abc.abstractmethod
    def power_off(self, instance: InstanceSpec, timeout: int = 0) -> None:
        """Stop ``instance``; return once it is SHUTDOWN.

        ``timeout > 0``: ask the guest to shut down and wait up to ``timeout``
        seconds before forcing it; ``0``: force at once. Idempotent: an instance
        already SHUTDOWN is success. Disks and resources stay allocated.
        """

    @abc.abstractmethod
    def power_on(self, instance: InstanceSpec) -> None:
        """Start a SHUTDOWN or CRASHED ``instance``; return once it is RUNNING.

        Idempotent: a RUNNING instance is success. A PAUSED or SUSPENDED one
        raises :class:`~novalith.exceptions.InstanceInvalidState` (use unpause
        or resume).
        """

    # -- inspection (never changes anything) -------------------------------

    @abc.abstractmethod
    def get_info(self, instance: InstanceSpec) -> InstanceInfo:
        """The current power state of ``instance``. Does not block for long."""

    @abc.abstractmethod
    def list_instances(self) -> list[str]:
        """UUIDs of every instance the driver holds, in any power state.

        Instances the driver did not create (other tenants of the hypervisor)
        are not listed.
        """

    @abc.abstractmethod
    def get_available_resource(self) -> HostResources:
        """Capacity and use of the host, as the hypervisor sees it."""


# -- optional interfaces --------------------------------------------------


class PauseSupport(abc.ABC):
    """Freeze an instance in memory and thaw it again."""

    @abc.abstractmethod
    def pause(self, instance: InstanceSpec) -> None:
        """RUNNING -> PAUSED. Idempotent when already PAUSED.

        Another state raises :class:`~novalith.exceptions.InstanceInvalidState`;
        an unknown instance :class:`~novalith.exceptions.InstanceNotFound`.
        Returns once the instance is paused.
        """

    @abc.abstractmethod
    def unpause(self, instance: InstanceSpec) -> None:
        """PAUSED -> RUNNING. Idempotent when already RUNNING; else as pause."""


class SuspendSupport(abc.ABC):
    """Save an instance's memory to disk and stop it; restore it later."""

    @abc.abstractmethod
    def suspend(self, instance: InstanceSpec) -> None:
        """RUNNING or PAUSED -> SUSPENDED. Idempotent when already SUSPENDED.

        Another state raises :class:`~novalith.exceptions.InstanceInvalidState`.
        Blocks while memory is written out (seconds per GiB on real hosts).
        On failure the instance is left in its previous state.
        """

    @abc.abstractmethod
    def resume(self, instance: InstanceSpec) -> None:
        """SUSPENDED -> RUNNING. Idempotent when already RUNNING; else as suspend."""


class ConsoleSupport(abc.ABC):
    """Read what an instance wrote to its serial console."""

    @abc.abstractmethod
    def get_console_output(self, instance: InstanceSpec) -> str:
        """The console log of ``instance`` (possibly truncated to its tail).

        Valid in any power state; raises
        :class:`~novalith.exceptions.InstanceNotFound` for an unknown instance.
        """


class SnapshotSupport(abc.ABC):
    """Capture an instance's root disk as an image file (createImage, createBackup).

    The file's format is declared by the driver class: ``snapshot_disk_format`` and
    ``snapshot_container_format``, the Image API's ``disk_format`` and
    ``container_format`` of every snapshot it writes. The default is a flattened
    qcow2 (``qcow2``/``bare``); a container driver declares e.g. ``raw``/``docker``
    for a ``docker save`` tarball. The API creates the image as ``qcow2``/``bare``;
    compute corrects the formats from these attributes (while the image is still
    ``queued``) before it uploads the file.
    """

    #: The ``disk_format`` of the images :meth:`snapshot` writes.
    snapshot_disk_format: ClassVar[str] = "qcow2"
    #: The ``container_format`` of the images :meth:`snapshot` writes.
    snapshot_container_format: ClassVar[str] = "bare"

    @abc.abstractmethod
    def snapshot(self, instance: InstanceSpec, dest: str) -> None:
        """Write a self-contained image of the root disk of ``instance``, in the
        formats the class declares (by default a flattened qcow2 with no backing
        file), to the new file ``dest`` (a path compute chose, in a directory that
        exists).

        Valid in any power state; the instance keeps its power state (a driver that
        must pause the guest for a consistent copy resumes it before returning).
        Blocks while the disk is copied (seconds per GiB). Not idempotent: each call
        writes a new copy. On failure the driver removes ``dest`` if it wrote any of
        it, then raises :class:`~novalith.exceptions.InstanceNotFound` or
        :class:`~novalith.exceptions.DiskOperationFailed`. Compute uploads the file;
        the driver never talks to the image service.
        """


class ImageCacheSupport(abc.ABC):
    """Keep a host-local image cache and prune it (run by a compute periodic task)."""

    @abc.abstractmethod
    def manage_image_cache(self, images_in_use: frozenset[str]) -> None:
        """Remove cached images no instance uses any more, once unused for longer than
        the configured minimum age; never one in ``images_in_use`` (the image ids of
        every instance compute holds on this host, building ones included) nor one
        an instance disk on the host is backed by. Idempotent; logs what it removes;
        a problem with one file does not stop the pass.
        """


class MigrationSupport(abc.ABC):
    """Cold migration and resize: move a stopped guest's disks to another host (or to
    this one with another flavor), let the user confirm or revert.

    The steps, in order, and where they run::

        migrate_disk_and_power_off   source  -> disk_info, handed to
        finish_migration             dest       (the guest now runs at dest)
        then either
          confirm_migration          source     (drop what the source kept)
        or
          revert_migration           dest       (drop the guest finish_migration made)
          finish_revert_migration    source     (bring the kept guest back)

    Source and destination may be the same host (resize to the same host): the
    driver then keeps the source guest apart from the new one. ``destroy`` of an
    instance removes both.
    """

    @abc.abstractmethod
    def migrate_disk_and_power_off(self, instance: InstanceSpec, dest_host: str,
                                   flavor: FlavorSpec, timeout: int = 0) -> dict[str, Any]:
        """Power ``instance`` off (gracefully up to ``timeout`` s) and make its disks
        available to ``dest_host``, sized for ``flavor``; the source keeps its copy
        until confirm or revert.

        Returns the driver's ``disk_info``, a JSON-able dict compute hands to
        :meth:`finish_migration` on the destination. Blocks while disks are copied.
        Raises :class:`~novalith.exceptions.ResizeError` when the move cannot be done
        (e.g. a root disk would shrink); on any failure the instance is left as it
        was (running if it ran), nothing is left at the destination.
        """

    @abc.abstractmethod
    def finish_migration(self, instance: InstanceSpec, disk_info: dict[str, Any],
                         resize_instance: bool, power_on: bool) -> None:
        """On the destination: create the guest of ``instance`` (already carrying the
        new flavor) from ``disk_info``; start it if ``power_on``.

        ``resize_instance`` says the flavor changed (disks to grow). Not idempotent:
        the driver holds no guest of this uuid here, except a kept source copy of a
        resize to the same host. On failure it removes what it created here before
        raising (compute then reverts to the source).
        """

    @abc.abstractmethod
    def confirm_migration(self, instance: InstanceSpec) -> None:
        """On the source: the move is confirmed, remove the copy the source kept.

        Idempotent (nothing kept is success). Raises only when leftovers could not
        be removed.
        """

    @abc.abstractmethod
    def revert_migration(self, instance: InstanceSpec) -> None:
        """On the destination: remove the guest :meth:`finish_migration` created, but
        not a kept source copy (resize to the same host). Idempotent."""

    @abc.abstractmethod
    def finish_revert_migration(self, instance: InstanceSpec, power_on: bool) -> None:
        """On the source: bring back the kept guest with its old flavor (``instance``
        carries it) and start it if ``power_on``. Raises
        :class:`~novalith.exceptions.InstanceNotFound` when nothing was kept.
        """


class MigrateData(msgspec.Struct, frozen=True, kw_only=True):
    """What the live-migration steps hand each other, through compute and over RPC.

    ``block_migration`` is decided by the destination check (None asked for
    "auto"); ``payload`` is driver-private, JSON-able data: a real hypervisor moves
    the guest itself and leaves it empty, the fake driver carries its record in it.
    """

    block_migration: bool = False
    is_shared_storage: bool = False
    payload: dict[str, Any] = {}


class LiveMigrationSupport(abc.ABC):
    """Move a running (or paused) guest to another host without stopping it.

    The steps, in order, and where they run::

        check_can_live_migrate_destination   dest    -> MigrateData
        check_can_live_migrate_source        source  -> MigrateData
        pre_live_migration                   dest    -> MigrateData
        live_migration                       source  -> MigrateData (blocks)
        then on success
          post_live_migration                source     (clean the source up)
          post_live_migration_at_destination dest       (the guest is here now)
        or on failure / abort
          rollback_live_migration_at_destination  dest  (remove what pre made)

    ``live_migration_abort`` and ``live_migration_force_complete`` may be called
    from another thread while ``live_migration`` blocks.
    """

    @abc.abstractmethod
    def check_can_live_migrate_destination(self, instance: InstanceSpec,
                                           block_migration: bool | None,
                                           disk_over_commit: bool) -> MigrateData:
        """On the destination: can it take ``instance``? Raises
        :class:`~novalith.exceptions.MigrationPreCheckError` if not. No side effect."""

    @abc.abstractmethod
    def check_can_live_migrate_source(self, instance: InstanceSpec,
                                      dest_check: MigrateData) -> MigrateData:
        """On the source: can ``instance`` leave with what the destination said?
        Raises :class:`~novalith.exceptions.MigrationPreCheckError` if not."""

    @abc.abstractmethod
    def pre_live_migration(self, instance: InstanceSpec, data: MigrateData) -> MigrateData:
        """On the destination: prepare to receive the guest (disks for a block
        migration, networking). Cleans up after itself on failure."""

    @abc.abstractmethod
    def live_migration(self, instance: InstanceSpec, dest_host: str,
                       data: MigrateData) -> MigrateData:
        """On the source: copy the running guest to ``dest_host``; return once it runs
        there (the source guest is then paused, to be removed by post_live_migration).

        Blocks for the whole copy. Raises
        :class:`~novalith.exceptions.MigrationAborted` after
        :meth:`live_migration_abort`, another error on failure; either way the guest
        still runs at the source. The returned data goes to the destination's
        :meth:`post_live_migration_at_destination`.
        """

    @abc.abstractmethod
    def live_migration_abort(self, instance: InstanceSpec) -> None:
        """Make a running :meth:`live_migration` of ``instance`` stop and fail. Raises
        :class:`~novalith.exceptions.InstanceInvalidState` when none runs."""

    @abc.abstractmethod
    def live_migration_force_complete(self, instance: InstanceSpec) -> None:
        """Make a running :meth:`live_migration` of ``instance`` finish now (a real
        hypervisor pauses the guest so the copy converges). Raises
        :class:`~novalith.exceptions.InstanceInvalidState` when none runs."""

    @abc.abstractmethod
    def post_live_migration(self, instance: InstanceSpec, data: MigrateData) -> None:
        """On the source, after success: remove the source guest. Idempotent."""

    @abc.abstractmethod
    def post_live_migration_at_destination(self, instance: InstanceSpec,
                                           data: MigrateData) -> None:
        """On the destination, after success: the guest is here and running (or
        paused, as it was). Idempotent."""

    @abc.abstractmethod
    def rollback_live_migration_at_destination(self, instance: InstanceSpec,
                                               data: MigrateData) -> None:
        """On the destination, after a failure or abort: remove whatever
        pre_live_migration or a partial copy left. Idempotent."""


_I = TypeVar("_I")


def require(driver: ComputeDriver, interface: Callable[..., _I], operation: str) -> _I:
    """``driver`` typed as ``interface``, or NotSupported (409) if it lacks it.

    ``interface`` is one of the optional interface classes (PauseSupport, ...);
    ``operation`` names the action for the error message, e.g. ``"pause"``.
    """
    # Annotated as a callable rather than type[_I]: mypy rejects abstract
    # classes where type[...] is expected (error code type-abstract).
    if not isinstance(interface, type):
        raise TypeError(f"require() needs an interface class, not {interface!r}")
    if not isinstance(driver, interface):
        raise exceptions.NotSupported(operation=operation, driver=driver.name)
    return cast(_I, driver)
