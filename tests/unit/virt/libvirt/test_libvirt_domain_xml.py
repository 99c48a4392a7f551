"""Domain XML rendered from typed config objects, and read back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from novalith.virt.libvirt import domain_xml as dx

META = dx.InstanceMetadata(uuid="6b0d2b8e-52a3-4a4c-9a55-3c8d21a6c111", host="h1",
                           display_name="vm <1> & co", flavor="m1.tiny", memory_mb=128,
                           vcpus=2, root_gb=1, project_id="p", user_id="u", image_id="img")


def config(**kw: object) -> dx.DomainConfig:
    base: dict[str, object] = dict(
        virt_type="qemu", name="instance-0000000a", uuid=META.uuid, memory_mib=128, vcpus=2,
        disks=(dx.Disk(source="/i/disk", target_dev="vda"),
               dx.Disk(source="/i/disk.config", target_dev="hda", bus="ide",
                       driver_type="raw", device="cdrom", readonly=True)),
        console_log="/i/console.log",
        direct_boot=dx.DirectBoot(kernel="/i/kernel", initrd="/i/ramdisk",
                                  cmdline="console=ttyS0"),
        metadata=META)
    base.update(kw)
    return dx.DomainConfig(**base)  # type: ignore[arg-type]


def test_renders_a_complete_domain() -> None:
    root = ET.fromstring(dx.to_xml(config()))
    assert root.get("type") == "qemu"
    assert root.findtext("name") == "instance-0000000a"
    assert root.findtext("uuid") == META.uuid
    assert root.find("memory").get("unit") == "MiB" and root.findtext("memory") == "128"
    assert root.findtext("vcpu") == "2"
    assert root.findtext("os/kernel") == "/i/kernel"
    assert root.findtext("os/initrd") == "/i/ramdisk"
    assert root.findtext("os/cmdline") == "console=ttyS0"
    assert root.find("os/boot") is None
    disks = root.findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["vda", "hda"]
    assert disks[1].get("device") == "cdrom" and disks[1].find("readonly") is not None
    serial = root.find("devices/serial")
    assert serial.get("type") == "file"
    assert serial.find("source").get("path") == "/i/console.log"
    assert serial.find("source").get("append") == "on"


def test_boots_from_disk_without_a_kernel() -> None:
    root = ET.fromstring(dx.to_xml(config(direct_boot=None)))
    assert root.find("os/boot").get("dev") == "hd"
    assert root.find("os/kernel") is None


def test_text_is_escaped_not_templated() -> None:
    xml = dx.to_xml(config())
    assert "vm &lt;1&gt; &amp; co" in xml
    assert dx.read_metadata(xml) == META


def test_metadata_as_libvirt_returns_it() -> None:
    # virDomainGetMetadata returns the element alone, without its namespace.
    raw = ('<instance uuid="u1" host="h2"><name>x</name>'
           '<flavor memory_mb="64" vcpus="1" root_gb="0">f</flavor>'
           '<owner project="p" user="u"/><image id="i"/></instance>')
    meta = dx.read_metadata(raw)
    assert meta is not None and meta.uuid == "u1" and meta.host == "h2"
    assert meta.memory_mb == 64 and meta.flavor == "f" and meta.image_id == "i"


@pytest.mark.parametrize("xml", ["<domain/>", "not xml", "<instance host='h'/>"])
def test_foreign_domains_have_no_metadata(xml: str) -> None:
    assert dx.read_metadata(xml) is None


def test_summary() -> None:
    summary = dx.summary(dx.to_xml(config()))
    assert summary == {"vcpus": 2, "memory_mib": 128,
                       "disks": ["/i/disk", "/i/disk.config"]}
    assert dx.summary("<domain><memory unit='KiB'>262144</memory><vcpu>1</vcpu>"
                      "</domain>")["memory_mib"] == 256


@pytest.mark.parametrize("kw", [{"memory_mib": 0}, {"vcpus": 0}])
def test_rejects_impossible_sizes(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        config(**kw)


def test_rejects_unknown_disk_kinds() -> None:
    with pytest.raises(ValueError):
        dx.Disk(source="/x", target_dev="vda", device="floppy")
    with pytest.raises(ValueError):
        dx.Disk(source="/x", target_dev="vda", driver_type="vmdk")


def test_probe_rom_domain_has_a_loader_and_no_boot_device() -> None:
    root = ET.fromstring(dx.to_xml(dx.DomainConfig(
        virt_type="kvm", name="probe", uuid=META.uuid, memory_mib=16, vcpus=1,
        rom_loader="/p/probe.rom", console_log="/p/log")))
    assert root.find("os/loader").get("type") == "rom"
    assert root.find("os/boot") is None
