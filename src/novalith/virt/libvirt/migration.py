"""Cold migration and resize for the libvirt driver.

Source (``migrate_disk_and_power_off``): power the guest off, undefine its domain
(one libvirtd may serve both hosts, and a domain UUID exists once per libvirtd) and
rename ``<uuid>/`` to ``<uuid>_resize/``, which keeps disks and ``libvirt.xml`` for a
revert. ``disk_info`` names that directory.

Destination (``finish_migration``): copy the disks out of the source's kept
directory into its own ``<uuid>/``. When both hosts use the same instances_path
the qcow2 overlays are copied as they are (their base is the same file); otherwise
each disk is flattened with ``qemu-img convert`` into a self-contained qcow2, so
the destination shares nothing with the source. Then the root disk grows to the
new flavor, kernel/ramdisk and config drive are made again, and the domain is
defined (and started when asked) with the new vCPUs and memory.

The copy reads the source's files by path: this works for compute hosts on one
machine (as the tests run them) or with the source's instances_path reachable at
the same path; copying between machines over the network is not implemented.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from typing import TYPE_CHECKING, Any

from novalith import exceptions
from novalith.objects.specs import FlavorSpec, InstanceSpec
from novalith.virt.images import disks as disk_files
from novalith.virt.images import qemu_img
from novalith.virt.libvirt import blueprint, guest
from novalith.virt.libvirt import power_state as ps

if TYPE_CHECKING:
    from novalith.virt.libvirt.driver import LibvirtDriver

LOG = logging.getLogger(__name__)
GiB = 1 << 30
DISK_NAMES = (disk_files.ROOT, disk_files.EPHEMERAL, disk_files.SWAP)


def remove_kept(instances_path: str, uuid: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(blueprint.resize_dir(instances_path, uuid))


def migrate_disk_and_power_off(drv: LibvirtDriver, instance: InstanceSpec, dest_host: str,
                               flavor: FlavorSpec, timeout: int) -> dict[str, Any]:
    old = instance.flavor
    if flavor.root_gb and flavor.root_gb < old.root_gb:
        raise exceptions.ResizeError(reason=f"the root disk cannot shrink from {old.root_gb} "
                                            f"to {flavor.root_gb} GiB")
    if flavor.ephemeral_gb < old.ephemeral_gb:
        raise exceptions.ResizeError(reason="the ephemeral disk cannot shrink")
    dom = drv._domain(instance)
    was_running = guest.state(dom) in (ps.VIR_RUNNING, ps.VIR_BLOCKED)
    drv.power_off(instance, timeout)
    src = blueprint.paths(drv.instances_path, instance.uuid).directory
    kept = blueprint.resize_dir(drv.instances_path, instance.uuid)
    remove_kept(drv.instances_path, instance.uuid)
    try:
        os.rename(src, kept)
        drv._do(instance, "migrate", guest.undefine)
    except BaseException:
        LOG.exception("Migration of %s failed on the source; restoring it", instance.uuid)
        if os.path.isdir(kept) and not os.path.exists(src):
            os.rename(kept, src)
        if was_running:
            with contextlib.suppress(Exception):
                drv.power_on(instance)
        raise
    disks = {name: os.path.join(kept, name) for name in DISK_NAMES
             if os.path.exists(os.path.join(kept, name))}
    return {"source_host": drv.host, "source_instances_path": drv.instances_path,
            "source_dir": kept, "disks": disks, "was_running": was_running}


def finish_migration(drv: LibvirtDriver, instance: InstanceSpec, disk_info: dict[str, Any],
                     resize_instance: bool, power_on: bool) -> None:
    where = blueprint.paths(drv.instances_path, instance.uuid)
    if os.path.exists(where.directory):
        raise exceptions.Duplicate(what="Instance directory", key="path",
                                   value=where.directory)
    same_store = os.path.realpath(str(disk_info.get("source_instances_path", ""))) == \
        os.path.realpath(drv.instances_path)
    try:
        os.makedirs(where.directory)
        os.chmod(where.directory, 0o755)
        for name, src in dict(disk_info.get("disks", {})).items():
            if name not in DISK_NAMES:
                continue
            dest = where.file(name)
            if same_store:
                shutil.copyfile(src, dest)
            else:
                qemu_img.convert(src, dest, src_format="qcow2", out_format="qcow2",
                                 force_share=True)
        root = where.file(disk_files.ROOT)
        size = instance.flavor.root_gb * GiB
        if resize_instance and size and size > qemu_img.info(root, "qcow2").virtual_size:
            qemu_img.resize(root, "qcow2", size)
        drv._fetch_boot_files(instance)
        if drv._uses_config_drive(instance):
            from novalith.virt.libvirt import config_drive

            config_drive.write_iso(config_drive.content_for(instance, None), where.config_drive)
        xml = drv._write_xml(instance)

        def define(conn: Any) -> None:
            dom = conn.defineXML(xml)
            if power_on:
                dom.create()

        drv.conn.call(define)
    except BaseException:
        LOG.exception("finish_migration of %s failed; removing what it made", instance.uuid)
        drv._remove_everything(instance.uuid)
        raise


def confirm_migration(drv: LibvirtDriver, instance: InstanceSpec) -> None:
    remove_kept(drv.instances_path, instance.uuid)


def revert_migration(drv: LibvirtDriver, instance: InstanceSpec) -> None:
    drv._remove_everything(instance.uuid)


def finish_revert_migration(drv: LibvirtDriver, instance: InstanceSpec, power_on: bool) -> None:
    kept = blueprint.resize_dir(drv.instances_path, instance.uuid)
    where = blueprint.paths(drv.instances_path, instance.uuid)
    if not os.path.isdir(kept):
        raise exceptions.InstanceNotFound(instance_id=instance.uuid)
    if os.path.exists(where.directory):
        drv._remove_everything(instance.uuid)
    os.rename(kept, where.directory)
    xml = drv._write_xml(instance)  # the old flavor: instance carries it

    def define(conn: Any) -> None:
        dom = conn.defineXML(xml)
        if power_on:
            dom.create()

    drv.conn.call(define)
