"""Domain XML from typed config objects, rendered with :mod:`xml.etree` (no templates).

:class:`DomainConfig` says what a guest is (type, name, uuid, memory, vCPUs, how it
boots, its disks, where its serial console goes, and the Novalith metadata that
marks it as ours); :func:`to_xml` renders it. :func:`read_metadata` reads the
metadata back from a domain's XML, so the driver recognises its own domains by
that record and UUID, never by name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

#: XML namespace of the metadata element that marks a domain as a Novalith instance.
NAMESPACE = "http://novalith.dev/xmlns/libvirt/instance/1.0"
PREFIX = "novalith"
ET.register_namespace(PREFIX, NAMESPACE)


@dataclass(frozen=True)
class Disk:
    """A file-backed disk or CD-ROM."""

    source: str
    target_dev: str
    bus: str = "virtio"
    driver_type: str = "qcow2"
    device: str = "disk"
    readonly: bool = False
    cache: str = "none"

    def __post_init__(self) -> None:
        if self.device not in ("disk", "cdrom"):
            raise ValueError(f"disk device must be disk or cdrom, not {self.device!r}")
        if self.driver_type not in ("qcow2", "raw"):
            raise ValueError(f"disk driver type must be qcow2 or raw, not {self.driver_type!r}")


@dataclass(frozen=True)
class DirectBoot:
    """Direct kernel boot: the host hands QEMU a kernel (and initrd, command line)."""

    kernel: str
    initrd: str | None = None
    cmdline: str | None = None


@dataclass(frozen=True)
class InstanceMetadata:
    """What the driver records in the domain about the instance it belongs to."""

    uuid: str
    host: str
    display_name: str = ""
    flavor: str = ""
    memory_mb: int = 0
    vcpus: int = 0
    root_gb: int = 0
    project_id: str = ""
    user_id: str = ""
    image_id: str = ""


@dataclass(frozen=True)
class DomainConfig:
    """A whole guest. ``virt_type`` is the domain type: kvm, qemu (or test)."""

    virt_type: str
    name: str
    uuid: str
    memory_mib: int
    vcpus: int
    disks: tuple[Disk, ...] = ()
    console_log: str | None = None
    direct_boot: DirectBoot | None = None
    #: A firmware image (``<loader type='rom'>``) instead of the default BIOS.
    rom_loader: str | None = None
    metadata: InstanceMetadata | None = None
    arch: str = "x86_64"
    machine: str | None = None
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "destroy"
    extra_features: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.memory_mib < 1 or self.vcpus < 1:
            raise ValueError("a domain needs memory_mib >= 1 and vcpus >= 1")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    elem = ET.SubElement(parent, tag, attrs)
    if text is not None:
        elem.text = text
    return elem


def _metadata(parent: ET.Element, meta: InstanceMetadata) -> None:
    holder = _sub(parent, "metadata")
    inst = _sub(holder, f"{{{NAMESPACE}}}instance", uuid=meta.uuid, host=meta.host)
    _sub(inst, f"{{{NAMESPACE}}}name", meta.display_name)
    _sub(inst, f"{{{NAMESPACE}}}flavor", meta.flavor, memory_mb=str(meta.memory_mb),
         vcpus=str(meta.vcpus), root_gb=str(meta.root_gb))
    _sub(inst, f"{{{NAMESPACE}}}owner", project=meta.project_id, user=meta.user_id)
    _sub(inst, f"{{{NAMESPACE}}}image", id=meta.image_id)


def _os(parent: ET.Element, cfg: DomainConfig) -> None:
    os_elem = _sub(parent, "os")
    type_attrs = {"arch": cfg.arch}
    if cfg.machine:
        type_attrs["machine"] = cfg.machine
    _sub(os_elem, "type", "hvm", **type_attrs)
    if cfg.rom_loader:
        _sub(os_elem, "loader", cfg.rom_loader, type="rom")
    if cfg.direct_boot is not None:
        _sub(os_elem, "kernel", cfg.direct_boot.kernel)
        if cfg.direct_boot.initrd:
            _sub(os_elem, "initrd", cfg.direct_boot.initrd)
        if cfg.direct_boot.cmdline:
            _sub(os_elem, "cmdline", cfg.direct_boot.cmdline)
    elif not cfg.rom_loader:
        _sub(os_elem, "boot", dev="hd")


def _disk(parent: ET.Element, disk: Disk) -> None:
    elem = _sub(parent, "disk", type="file", device=disk.device)
    _sub(elem, "driver", name="qemu", type=disk.driver_type, cache=disk.cache)
    _sub(elem, "source", file=disk.source)
    _sub(elem, "target", dev=disk.target_dev, bus=disk.bus)
    if disk.readonly:
        _sub(elem, "readonly")


def to_element(cfg: DomainConfig) -> ET.Element:
    root = ET.Element("domain", type=cfg.virt_type)
    _sub(root, "name", cfg.name)
    _sub(root, "uuid", cfg.uuid)
    if cfg.metadata is not None:
        _metadata(root, cfg.metadata)
    _sub(root, "memory", str(cfg.memory_mib), unit="MiB")
    _sub(root, "vcpu", str(cfg.vcpus))
    _os(root, cfg)
    features = _sub(root, "features")
    for name in ("acpi", "apic", *cfg.extra_features):
        _sub(features, name)
    _sub(root, "clock", offset="utc")
    _sub(root, "on_poweroff", cfg.on_poweroff)
    _sub(root, "on_reboot", cfg.on_reboot)
    _sub(root, "on_crash", cfg.on_crash)
    devices = _sub(root, "devices")
    for disk in cfg.disks:
        _disk(devices, disk)
    if cfg.console_log:
        serial = _sub(devices, "serial", type="file")
        # append: every boot's output stays in the log (reboots included).
        _sub(serial, "source", path=cfg.console_log, append="on")
        _sub(serial, "target", port="0")
    # No display, no balloon: a headless guest with a serial console.
    _sub(devices, "memballoon", model="none")
    return root


def to_xml(cfg: DomainConfig) -> str:
    """The domain XML of ``cfg`` (indented, UTF-8 text without declaration)."""
    root = to_element(cfg)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def read_metadata(xml: str) -> InstanceMetadata | None:
    """The Novalith metadata in a domain's XML, or None when the domain is not ours."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    inst = root.find(f"metadata/{{{NAMESPACE}}}instance")
    if inst is None and root.tag in (f"{{{NAMESPACE}}}instance", "instance"):
        # libvirt's metadata() call returns the element itself, namespace dropped.
        inst = root
    if inst is None or not inst.get("uuid"):
        return None
    ns = f"{{{NAMESPACE}}}" if inst.tag.startswith("{") else ""
    flavor = inst.find(f"{ns}flavor")
    owner = inst.find(f"{ns}owner")
    image = inst.find(f"{ns}image")

    def num(elem: ET.Element | None, attr: str) -> int:
        try:
            return int(elem.get(attr, "0")) if elem is not None else 0
        except ValueError:
            return 0

    return InstanceMetadata(
        uuid=inst.get("uuid", ""), host=inst.get("host", ""),
        display_name=inst.findtext(f"{ns}name") or "",
        flavor=(flavor.text or "") if flavor is not None else "",
        memory_mb=num(flavor, "memory_mb"), vcpus=num(flavor, "vcpus"),
        root_gb=num(flavor, "root_gb"),
        project_id=owner.get("project", "") if owner is not None else "",
        user_id=owner.get("user", "") if owner is not None else "",
        image_id=image.get("id", "") if image is not None else "")


def summary(xml: str) -> dict[str, object]:
    """vCPUs, memory (MiB) and disk sources of a domain XML (for checks and reports)."""
    root = ET.fromstring(xml)
    memory = root.find("memory")
    unit = memory.get("unit", "KiB") if memory is not None else "KiB"
    amount = int(memory.text or 0) if memory is not None else 0
    factor = {"KiB": 1 / 1024, "k": 1 / 1024, "MiB": 1, "M": 1, "GiB": 1024, "G": 1024,
              "b": 1 / 1048576, "bytes": 1 / 1048576}.get(unit, 1 / 1024)
    return {
        "vcpus": int(root.findtext("vcpu") or 0),
        "memory_mib": int(amount * factor),
        "disks": [d.get("file") for d in root.findall("devices/disk/source")],
    }
