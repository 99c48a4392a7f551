"""An instance's files on the host and the domain config that ties them together.

Layout of ``<instances_path>/<uuid>/`` (as Nova lays it out)::

    disk, disk.eph0, disk.swap   qcow2 overlays (novalith.virt.images.disks)
    kernel, ramdisk              copies of the cached kernel/ramdisk images
    disk.config                  the config drive (ISO 9660, label config-2)
    libvirt.xml                  the domain XML as last defined
    console.log                  the serial console, appended across boots
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from novalith.objects.specs import InstanceSpec
from novalith.virt.images import disks as disk_files
from novalith.virt.libvirt import domain_xml

DEFAULT_CMDLINE = "root=/dev/vda console=tty0 console=ttyS0"
KERNEL = "kernel"
RAMDISK = "ramdisk"
CONFIG_DRIVE = "disk.config"
XML = "libvirt.xml"
CONSOLE = "console.log"
RESIZE_SUFFIX = "_resize"


@dataclass(frozen=True)
class InstancePaths:
    directory: str

    def file(self, name: str) -> str:
        return os.path.join(self.directory, name)

    @property
    def xml(self) -> str:
        return self.file(XML)

    @property
    def console(self) -> str:
        return self.file(CONSOLE)

    @property
    def config_drive(self) -> str:
        return self.file(CONFIG_DRIVE)

    @property
    def kernel(self) -> str:
        return self.file(KERNEL)

    @property
    def ramdisk(self) -> str:
        return self.file(RAMDISK)


def paths(instances_path: str, uuid: str) -> InstancePaths:
    return InstancePaths(disk_files.instance_dir(instances_path, uuid))


def resize_dir(instances_path: str, uuid: str) -> str:
    """Where a migration's source keeps the instance's files until confirm/revert."""
    return disk_files.instance_dir(instances_path, uuid) + RESIZE_SUFFIX


def image_properties(instance: InstanceSpec) -> dict[str, object]:
    return dict(instance.image.properties) if instance.image is not None else {}


def wants_direct_boot(instance: InstanceSpec) -> bool:
    return bool(image_properties(instance).get("kernel_id"))


def domain_config(instance: InstanceSpec, *, host: str, virt_type: str, instances_path: str,
                  cache_mode: str, config_drive: bool, name: str | None = None
                  ) -> domain_xml.DomainConfig:
    """The domain of ``instance`` given the files already in its directory."""
    where = paths(instances_path, instance.uuid)
    files = disk_files.paths(instances_path, instance)
    props = image_properties(instance)
    disks = [domain_xml.Disk(source=files.root, target_dev="vda", cache=cache_mode)]
    if files.ephemeral:
        disks.append(domain_xml.Disk(source=files.ephemeral, target_dev="vdb", cache=cache_mode))
    if files.swap:
        disks.append(domain_xml.Disk(source=files.swap, target_dev="vdc", cache=cache_mode))
    if config_drive:
        disks.append(domain_xml.Disk(source=where.config_drive, target_dev="hda", bus="ide",
                                     driver_type="raw", device="cdrom", readonly=True,
                                     cache=cache_mode))
    boot = None
    if props.get("kernel_id"):
        boot = domain_xml.DirectBoot(
            kernel=where.kernel,
            initrd=where.ramdisk if props.get("ramdisk_id") else None,
            cmdline=str(props.get("os_command_line") or DEFAULT_CMDLINE))
    flavor = instance.flavor
    meta = domain_xml.InstanceMetadata(
        uuid=instance.uuid, host=host, display_name=instance.display_name,
        flavor=flavor.name, memory_mb=flavor.memory_mb, vcpus=flavor.vcpus,
        root_gb=flavor.root_gb, project_id=instance.project_id, user_id=instance.user_id,
        image_id=instance.image.id if instance.image is not None else "")
    return domain_xml.DomainConfig(
        virt_type=virt_type, name=name or instance.name, uuid=instance.uuid,
        memory_mib=flavor.memory_mb, vcpus=flavor.vcpus, disks=tuple(disks),
        console_log=where.console, direct_boot=boot, metadata=meta)
