"""LibvirtDriver: QEMU/KVM guests through libvirt (entry point ``libvirt``).

The driver implements the core contract plus pause, suspend (managed save),
console, snapshot, image cache and cold migration/resize
(:mod:`.migration`). Live migration is not offered: it needs two libvirt hosts,
and a host here runs one libvirtd (the capability says so honestly).

Instances are domains whose UUID is the instance UUID, named ``instance-%08x``,
carrying Novalith metadata that names the compute host; the driver finds its
domains by UUID and that metadata, never by name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from typing import Any, Self

from oslo_config import cfg

from novalith import exceptions
from novalith.objects.specs import FlavorSpec, InstanceSpec
from novalith.virt.driver import (
    REBOOT_HARD,
    REBOOT_TYPES,
    ComputeCallbacks,
    ComputeDriver,
    ConsoleSupport,
    DriverCapabilities,
    HostResources,
    ImageCacheSupport,
    InstanceInfo,
    MigrationSupport,
    PauseSupport,
    SnapshotSupport,
    SuspendSupport,
)
from novalith.virt.images import disks as disk_files
from novalith.virt.images import manager as cache_manager
from novalith.virt.images.cache import CacheSettings, ImageCache
from novalith.virt.libvirt import blueprint, config_drive, domain_xml, guest, host, migration
from novalith.virt.libvirt import power_state as ps
from novalith.virt.libvirt.config import LibvirtSettings
from novalith.virt.libvirt.connection import Connection, libvirt_module
from novalith.virt.libvirt.lifecycle_delay import StopEventDelay

LOG = logging.getLogger(__name__)


class LibvirtDriver(ComputeDriver, PauseSupport, SuspendSupport, ConsoleSupport,
                    SnapshotSupport, ImageCacheSupport, MigrationSupport):
    """Guests of one compute host on the hypervisor at ``[libvirt] connection_uri``."""

    name = "libvirt"
    declared_capabilities = DriverCapabilities(supports_config_drive=True)

    def __init__(self, settings: LibvirtSettings, cache_settings: CacheSettings, host_name: str,
                 callbacks: ComputeCallbacks) -> None:
        super().__init__(host_name, callbacks)
        self.settings = settings
        self.cache = ImageCache(cache_settings, self._fetch)
        # Off events are held back so a reboot or quick stop+start is no SHUTOFF.
        self._events = StopEventDelay(settings.lifecycle_event_delay, self._domain_event)
        self.conn = Connection(settings.connection_uri, settings.connection_timeout,
                               on_domain_event=self._events.event)
        self.virt_type = settings.virt_type
        self.cache_mode = "none"
        self._lock = threading.Lock()
        self._building: set[str] = set()

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, host: str, callbacks: ComputeCallbacks) -> Self:
        return cls(LibvirtSettings.from_conf(conf), CacheSettings.from_conf(conf), host,
                   callbacks)

    @property
    def instances_path(self) -> str:
        return self.settings.instances_path

    def _fetch(self, image_id: str, dest: str) -> None:
        self.callbacks.fetch_image(image_id, dest)

    # -- life of the driver ------------------------------------------------

    def init_host(self) -> None:
        libvirt_module()  # a clear error when libvirt-python is missing
        self._events.open()
        self.conn.open()
        os.makedirs(self.instances_path, exist_ok=True)
        self.virt_type = self.conn.call(
            lambda c: host.choose_virt_type(self.settings, c, self.host))
        if not self.settings.is_test_driver:
            self.cache.settings.check_host()
            host.warn_if_unreachable_by_qemu(self.instances_path)
        self.cache_mode = "none" if _supports_direct_io(self.instances_path) else "writethrough"
        LOG.info("libvirt driver of %s: %s, virt_type %s, disk cache %s", self.host,
                 self.settings.connection_uri, self.virt_type, self.cache_mode)

    def cleanup_host(self) -> None:
        self._events.close()
        self.conn.close()

    # -- helpers -----------------------------------------------------------

    def _lookup(self, conn: Any, uuid: str) -> Any | None:
        return guest.lookup(conn, uuid, self.host)

    def _domain(self, instance: InstanceSpec) -> Any:
        dom = self.conn.call(lambda c: self._lookup(c, instance.uuid))
        if dom is None:
            raise exceptions.InstanceNotFound(instance_id=instance.uuid)
        return dom

    def _do(self, instance: InstanceSpec, action: str, fn: Any) -> Any:
        """Run ``fn(dom)`` on the instance's domain, reconnecting once if libvirtd
        restarted, with libvirt errors mapped to Novalith's."""
        def call(conn: Any) -> Any:
            dom = self._lookup(conn, instance.uuid)
            if dom is None:
                raise exceptions.InstanceNotFound(instance_id=instance.uuid)
            return fn(dom)

        try:
            return self.conn.call(call)
        except exceptions.NovalithError:
            raise
        except Exception as err:
            raise guest.translate(err, instance.uuid, action) from err

    def _domain_event(self, uuid: str) -> None:
        try:
            dom = self.conn.call(lambda c: self._lookup(c, uuid))
            if dom is not None:
                self.callbacks.instance_power_changed(uuid, guest.power(dom))
        except Exception:
            LOG.debug("No power state for event of %s", uuid, exc_info=True)

    def _uses_config_drive(self, instance: InstanceSpec) -> bool:
        return instance.config_drive or self.settings.force_config_drive

    def _config(self, instance: InstanceSpec) -> domain_xml.DomainConfig:
        return blueprint.domain_config(
            instance, host=self.host, virt_type=self.virt_type,
            instances_path=self.instances_path, cache_mode=self.cache_mode,
            config_drive=self._uses_config_drive(instance),
            name=self.settings.domain_name(instance.id))

    def _write_xml(self, instance: InstanceSpec) -> str:
        xml = domain_xml.to_xml(self._config(instance))
        path = blueprint.paths(self.instances_path, instance.uuid).xml
        with open(path + ".tmp", "w") as fh:
            fh.write(xml)
        os.replace(path + ".tmp", path)
        return xml

    # -- spawn -------------------------------------------------------------

    def spawn(self, instance: InstanceSpec, admin_password: str | None,
              network_info: list[Any] | None = None) -> None:
        uuid = instance.uuid
        with self._lock:
            if uuid in self._building:
                raise exceptions.Duplicate(what="Instance", key="uuid", value=uuid)
            self._building.add(uuid)
        try:
            if self.conn.call(lambda c: _any_domain(c, uuid)):
                raise exceptions.Duplicate(what="Instance", key="uuid", value=uuid)
            where = blueprint.paths(self.instances_path, uuid)
            if os.path.exists(where.directory):
                # Files without a domain: a leftover of a crash; not ours to reuse.
                disk_files.remove(self.instances_path, uuid)
            try:
                self._create_files(instance, admin_password, network_info)
                xml = self._write_xml(instance)
                self.conn.call(lambda c: c.defineXML(xml).create())
            except BaseException as err:
                LOG.warning("Spawn of %s failed, cleaning up: %s", uuid, err)
                self._remove_everything(uuid)
                if isinstance(err, exceptions.NovalithError) or not isinstance(err, Exception):
                    raise
                raise exceptions.BuildFailed(instance_uuid=uuid, reason=_reason(err)) from err
        finally:
            with self._lock:
                self._building.discard(uuid)

    def _create_files(self, instance: InstanceSpec, admin_password: str | None,
                      network_info: list[Any] | None) -> None:
        where = blueprint.paths(self.instances_path, instance.uuid)
        if instance.image is None:
            # No image (a driver test boots nothing): a blank root disk of the flavor.
            os.makedirs(where.directory, exist_ok=True)
            files = disk_files.paths(self.instances_path, instance)
            from novalith.virt.images import qemu_img
            qemu_img.create(files.root, "qcow2", max(instance.flavor.root_gb, 1) << 30)
        else:
            disk_files.create(self.cache, instance)
        os.chmod(where.directory, 0o755)
        self._fetch_boot_files(instance)
        if self._uses_config_drive(instance):
            content = config_drive.content_for(instance, admin_password, network_info)
            config_drive.write_iso(content, where.config_drive)

    def _fetch_boot_files(self, instance: InstanceSpec) -> None:
        """Kernel and ramdisk images, through the image cache, copied into the instance
        directory (libvirt relabels what a guest uses; the shared base stays as is)."""
        where = blueprint.paths(self.instances_path, instance.uuid)
        props = blueprint.image_properties(instance)
        for key, dest in (("kernel_id", where.kernel), ("ramdisk_id", where.ramdisk)):
            image_id = props.get(key)
            if not image_id:
                continue
            with self.cache.use(str(image_id)) as base:
                shutil.copyfile(base.path, dest + ".tmp")
            os.replace(dest + ".tmp", dest)

    def _remove_everything(self, uuid: str) -> None:
        """Domain (whatever its state) and instance directory; never the shared base."""
        try:
            self.conn.call(lambda c: _remove_domain(c, uuid, self.host))
        except Exception:
            LOG.exception("Could not remove the domain of %s", uuid)
        disk_files.remove(self.instances_path, uuid)

    # -- destroy / reboot / power --------------------------------------------

    def destroy(self, instance: InstanceSpec, destroy_disks: bool = True) -> None:
        uuid = instance.uuid
        try:
            self.conn.call(lambda c: _remove_domain(c, uuid, self.host))
        except exceptions.NovalithError:
            raise
        except Exception as err:
            raise guest.translate(err, uuid, "destroy") from err
        if destroy_disks:
            disk_files.remove(self.instances_path, uuid)
            migration.remove_kept(self.instances_path, uuid)

    def reboot(self, instance: InstanceSpec, reboot_type: str) -> None:
        if reboot_type not in REBOOT_TYPES:
            raise exceptions.Invalid(f"reboot_type must be SOFT or HARD, not {reboot_type!r}.")
        dom = self._domain(instance)
        if reboot_type != REBOOT_HARD and guest.state(dom) in (ps.VIR_RUNNING, ps.VIR_BLOCKED):
            timeout = self.settings.wait_soft_reboot_seconds
            if self._do(instance, "reboot", lambda d: guest.graceful_stop(d, timeout)):
                self._do(instance, "reboot", lambda d: d.create())
                return
            LOG.warning("Soft reboot of %s: the guest did not shut down within %s s; "
                        "rebooting hard", instance.uuid, timeout)
        self._hard_reboot(instance)

    def _hard_reboot(self, instance: InstanceSpec) -> None:
        """Destroy, define again from the saved XML (or a fresh one), start."""
        where = blueprint.paths(self.instances_path, instance.uuid)
        try:
            with open(where.xml) as fh:
                xml = fh.read()
        except FileNotFoundError:
            xml = self._write_xml(instance)

        def run(dom: Any) -> None:
            guest.force_stop(dom)
            if dom.hasManagedSaveImage(0):
                dom.managedSaveRemove(0)
            dom.connect().defineXML(xml).create()

        self._do(instance, "reboot", run)

    def power_off(self, instance: InstanceSpec, timeout: int = 0) -> None:
        def run(dom: Any) -> None:
            current = guest.state(dom)
            if current == ps.VIR_SHUTOFF:
                if dom.hasManagedSaveImage(0):
                    dom.managedSaveRemove(0)
                return
            if timeout > 0 and guest.graceful_stop(dom, timeout):
                return
            guest.force_stop(dom)

        self._do(instance, "power off", run)

    def power_on(self, instance: InstanceSpec) -> None:
        def run(dom: Any) -> None:
            current = guest.state(dom)
            if current in (ps.VIR_RUNNING, ps.VIR_BLOCKED):
                return
            if current in (ps.VIR_PAUSED, ps.VIR_PMSUSPENDED) or (
                    current == ps.VIR_SHUTOFF and dom.hasManagedSaveImage(0)):
                raise guest.invalid_state("power on", instance.uuid, dom)
            guest.force_stop(dom)  # a CRASHED or shutting-down guest
            dom.create()

        self._do(instance, "power on", run)

    # -- pause / suspend -------------------------------------------------------

    def pause(self, instance: InstanceSpec) -> None:
        def run(dom: Any) -> None:
            current = guest.state(dom)
            if current == ps.VIR_PAUSED:
                return
            if current not in (ps.VIR_RUNNING, ps.VIR_BLOCKED):
                raise guest.invalid_state("pause", instance.uuid, dom)
            dom.suspend()

        self._do(instance, "pause", run)

    def unpause(self, instance: InstanceSpec) -> None:
        def run(dom: Any) -> None:
            current = guest.state(dom)
            if current in (ps.VIR_RUNNING, ps.VIR_BLOCKED):
                return
            if current != ps.VIR_PAUSED:
                raise guest.invalid_state("unpause", instance.uuid, dom)
            dom.resume()

        self._do(instance, "unpause", run)

    def suspend(self, instance: InstanceSpec) -> None:
        libvirt = libvirt_module()

        def run(dom: Any) -> None:
            current = guest.state(dom)
            if current == ps.VIR_SHUTOFF and dom.hasManagedSaveImage(0):
                return
            if current not in (ps.VIR_RUNNING, ps.VIR_BLOCKED, ps.VIR_PAUSED):
                raise guest.invalid_state("suspend", instance.uuid, dom)
            # Saved as running: resume brings the guest back running, as Nova does.
            dom.managedSave(libvirt.VIR_DOMAIN_SAVE_RUNNING)

        self._do(instance, "suspend", run)

    def resume(self, instance: InstanceSpec) -> None:
        def run(dom: Any) -> None:
            current = guest.state(dom)
            if current in (ps.VIR_RUNNING, ps.VIR_BLOCKED):
                return
            if not (current == ps.VIR_SHUTOFF and dom.hasManagedSaveImage(0)):
                raise guest.invalid_state("resume", instance.uuid, dom)
            dom.create()  # restores the managed-save image

        self._do(instance, "resume", run)

    # -- inspection ------------------------------------------------------------

    def get_info(self, instance: InstanceSpec) -> InstanceInfo:
        def run(dom: Any) -> InstanceInfo:
            return InstanceInfo(power_state=guest.power(dom), internal_id=dom.name())

        return self._do(instance, "get info", run)  # type: ignore[no-any-return]

    def list_instances(self) -> list[str]:
        def run(conn: Any) -> list[str]:
            found = []
            for dom in conn.listAllDomains(0):
                meta = guest.metadata(dom)
                if meta is not None and meta.host == self.host:
                    found.append(dom.UUIDString())
            return found

        return self.conn.call(run)

    def get_console_output(self, instance: InstanceSpec) -> str:
        self._domain(instance)
        path = blueprint.paths(self.instances_path, instance.uuid).console
        limit = self.settings.console_log_max_bytes
        try:
            with open(path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(size - limit, 0))
                data = fh.read()
        except FileNotFoundError:
            return ""
        return data.decode("utf-8", errors="replace")

    def get_available_resource(self) -> HostResources:
        def run(conn: Any) -> HostResources:
            active: list[tuple[int, int, int]] = []
            ours = 0
            for dom in conn.listAllDomains(0):
                meta = guest.metadata(dom)
                if meta is not None and meta.host == self.host:
                    ours += 1
                if dom.isActive():
                    st, _max, mem, vcpus, _cpu = dom.info()
                    active.append((st, vcpus, mem))
            return host.resources(conn, self.settings, self.host, self.virt_type, active, ours)

        return self.conn.call(run)

    # -- snapshot / image cache --------------------------------------------------

    def snapshot(self, instance: InstanceSpec, dest: str) -> None:
        """Flatten the root disk into ``dest`` with the guest paused for a consistent
        copy; a running guest runs again afterwards."""
        dom = self._domain(instance)
        was_running = guest.state(dom) in (ps.VIR_RUNNING, ps.VIR_BLOCKED)
        if was_running:
            self._do(instance, "snapshot", lambda d: d.suspend())
        try:
            disk_files.snapshot_root(self.instances_path, instance, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)
            raise
        finally:
            if was_running:
                self._do(instance, "snapshot", lambda d: d.resume())

    def manage_image_cache(self, images_in_use: frozenset[str]) -> None:
        cache_manager.run_pass(self.cache, images_in_use)

    # -- cold migration / resize (see migration.py) ---------------------------------

    def migrate_disk_and_power_off(self, instance: InstanceSpec, dest_host: str,
                                   flavor: FlavorSpec, timeout: int = 0) -> dict[str, Any]:
        return migration.migrate_disk_and_power_off(self, instance, dest_host, flavor, timeout)

    def finish_migration(self, instance: InstanceSpec, disk_info: dict[str, Any],
                         resize_instance: bool, power_on: bool) -> None:
        migration.finish_migration(self, instance, disk_info, resize_instance, power_on)

    def confirm_migration(self, instance: InstanceSpec) -> None:
        migration.confirm_migration(self, instance)

    def revert_migration(self, instance: InstanceSpec) -> None:
        migration.revert_migration(self, instance)

    def finish_revert_migration(self, instance: InstanceSpec, power_on: bool) -> None:
        migration.finish_revert_migration(self, instance, power_on)


def _any_domain(conn: Any, uuid: str) -> bool:
    """Whether any domain (ours or not) has this UUID."""
    libvirt = libvirt_module()
    try:
        conn.lookupByUUIDString(uuid)
        return True
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise


def _remove_domain(conn: Any, uuid: str, host_name: str) -> None:
    dom = guest.lookup(conn, uuid, host_name)
    if dom is not None:
        guest.remove(dom)


def _supports_direct_io(path: str) -> bool:
    """Whether files under ``path`` open with O_DIRECT (QEMU's cache=none needs it)."""
    probe = os.path.join(path, f".directio-{os.getpid()}")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | getattr(os, "O_DIRECT", 0), 0o600)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def _reason(err: BaseException) -> str:
    libvirt = libvirt_module()
    if isinstance(err, libvirt.libvirtError):
        return str(err.get_error_message())
    return str(err) or type(err).__name__
