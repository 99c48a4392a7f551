"""What the host offers: settings checked against it, the KVM probe, its resources.

The KVM probe
-------------
``/dev/kvm`` existing, and even ``KVM_CREATE_VM`` succeeding, does not mean KVM
runs guest code: under nested virtualisation without support a KVM guest may
exist and burn CPU yet never get anywhere. So the probe boots a guest: a 64 KiB
firmware image (``<loader type='rom'>``, no BIOS) whose reset vector jumps to a
50-million-iteration countdown loop and then writes ``K`` to the serial port. A
working accelerator finishes in milliseconds, TCG in well under a second; a
broken one never prints. The guest is transient and destroyed afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from typing import Any

from novalith import exceptions
from novalith.virt.driver import HostResources
from novalith.virt.libvirt import domain_xml
from novalith.virt.libvirt.config import LibvirtSettings

LOG = logging.getLogger(__name__)

PROBE_DIR = "_kvm_probe"
_LOOPS = 50_000_000


def probe_rom() -> bytes:
    """The probe firmware: count down, then print ``K`` on COM1 and halt."""
    rom = bytearray(b"\xf4" * 65536)  # hlt everywhere else
    code = (bytes([0x66, 0xB9]) + _LOOPS.to_bytes(4, "little")  # mov ecx, _LOOPS
            + bytes([0x66, 0x49, 0x75, 0xFC])                   # l: dec ecx; jnz l
            + bytes([0xBA, 0xF8, 0x03, 0xB0, 0x4B, 0xEE])       # mov dx,0x3f8; mov al,'K'; out
            + bytes([0xF4, 0xEB, 0xFD]))                        # hlt; jmp back to hlt
    rom[0:len(code)] = code
    rom[0xFFF0:0xFFF5] = bytes([0xEA, 0x00, 0x00, 0x00, 0xF0])  # reset: jmp f000:0000
    return bytes(rom)


def guest_domain_types(capabilities_xml: str) -> set[str]:
    """Domain types (kvm, qemu, ...) the host's capabilities offer for x86_64 hvm guests."""
    root = ET.fromstring(capabilities_xml)
    found: set[str] = set()
    for guest in root.findall("guest"):
        if guest.findtext("os_type") not in ("hvm", "exe"):
            continue
        for dom in guest.findall("arch/domain"):
            if dom.get("type"):
                found.add(str(dom.get("type")))
    return found


def probe_kvm(conn: Any, instances_path: str, timeout: float, host: str) -> bool:
    """Whether a KVM guest on ``conn`` runs code (see the module docstring)."""
    workdir = os.path.join(instances_path, PROBE_DIR)
    os.makedirs(workdir, exist_ok=True)
    os.chmod(workdir, 0o755)
    rom = os.path.join(workdir, "probe.rom")
    with open(rom + ".tmp", "wb") as fh:
        fh.write(probe_rom())
    os.replace(rom + ".tmp", rom)
    log = os.path.join(workdir, f"probe-{os.getpid()}-{uuidlib.uuid4().hex[:8]}.log")
    cfg = domain_xml.DomainConfig(
        virt_type="kvm", name=f"novalith-kvm-probe-{uuidlib.uuid4().hex[:12]}",
        uuid=str(uuidlib.uuid4()), memory_mib=16, vcpus=1, rom_loader=rom, console_log=log)
    dom = conn.createXML(domain_xml.to_xml(cfg), 0)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(FileNotFoundError):
                with open(log, "rb") as fh:
                    if b"K" in fh.read():
                        return True
            time.sleep(0.05)
        return False
    finally:
        with contextlib.suppress(Exception):
            dom.destroy()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log)


def choose_virt_type(settings: LibvirtSettings, conn: Any, host: str) -> str:
    """The domain type to use, checked against the host (the second settings check).

    Raises :class:`~novalith.exceptions.Invalid` with what to change when the host
    cannot honour ``virt_type``.
    """
    if settings.is_test_driver:
        # libvirt's test driver runs no guest code: any type is accepted as is.
        return "qemu" if settings.virt_type == "auto" else settings.virt_type
    if settings.virt_type == "lxc":
        raise exceptions.Invalid(
            "virt_type=lxc is not supported by this driver: it builds QEMU guests "
            "(and libvirt's LXC driver does not run on these hosts). Use qemu or kvm.")
    offered = guest_domain_types(conn.getCapabilities())
    wanted = settings.virt_type
    if wanted == "qemu":
        if "qemu" not in offered:
            raise exceptions.Invalid(f"virt_type=qemu: the hypervisor at "
                                     f"{settings.connection_uri} offers only {sorted(offered)}")
        return "qemu"
    if "kvm" in offered and probe_kvm(conn, settings.instances_path,
                                      settings.kvm_probe_timeout, host):
        return "kvm"
    if wanted == "kvm":
        reason = ("the host's capabilities offer no kvm domain type" if "kvm" not in offered
                  else f"a KVM probe guest printed nothing within "
                       f"{settings.kvm_probe_timeout:g} s (nested KVM that runs no guest code?)")
        raise exceptions.Invalid(f"virt_type=kvm cannot work here: {reason}. "
                                 "Set [libvirt] virt_type = qemu (or auto).")
    if "qemu" not in offered:
        raise exceptions.Invalid(f"The hypervisor at {settings.connection_uri} offers "
                                 f"neither a working kvm nor qemu: {sorted(offered)}")
    LOG.info("virt_type=auto: KVM does not run guests here; using qemu (TCG)")
    return "qemu"


def warn_if_unreachable_by_qemu(path: str) -> None:
    """QEMU runs as an unprivileged user: every directory above instances_path must be
    searchable by others, or every boot fails with "Permission denied"."""
    current = os.path.abspath(path)
    while True:
        try:
            mode = os.stat(current).st_mode
        except FileNotFoundError:
            mode = 0o755
        if not mode & 0o001:
            LOG.warning("%s is not searchable by other users: QEMU (running as its own "
                        "user) may not reach instance disks under %s", current, path)
            return
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent


def _cpu_info(capabilities_xml: str) -> dict[str, Any]:
    root = ET.fromstring(capabilities_xml)
    cpu = root.find("host/cpu")
    if cpu is None:
        return {}
    topo = cpu.find("topology")
    return {
        "arch": cpu.findtext("arch") or "x86_64",
        "model": cpu.findtext("model") or "",
        "vendor": cpu.findtext("vendor") or "",
        "topology": {k: int(topo.get(k, "1")) for k in ("sockets", "cores", "threads")}
        if topo is not None else {},
        "features": sorted(str(f.get("name")) for f in cpu.findall("feature")),
    }


def resources(conn: Any, settings: LibvirtSettings, host: str, virt_type: str,
              domains: list[tuple[int, int, int]], running_vms: int) -> HostResources:
    """Host capacity from libvirt node info and the instances-path file system.

    ``domains`` holds ``(libvirt state, vcpus, memory KiB)`` of the active domains of
    the hypervisor (all of them: they all use this host's CPUs and memory).
    """
    info = conn.getInfo()  # [arch, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
    os.makedirs(settings.instances_path, exist_ok=True)
    vfs = os.statvfs(settings.instances_path)
    total_gb = vfs.f_blocks * vfs.f_frsize // (1 << 30)
    free_gb = vfs.f_bavail * vfs.f_frsize // (1 << 30)
    caps = conn.getCapabilities()
    version = int(conn.getVersion())
    arch = str(info[0])
    return HostResources(
        hypervisor_hostname=host,
        hypervisor_type="QEMU",
        hypervisor_version=version,
        vcpus=int(info[2]),
        memory_mb=int(info[1]),
        local_gb=total_gb,
        vcpus_used=sum(d[1] for d in domains),
        memory_mb_used=sum(d[2] for d in domains) // 1024,
        local_gb_used=max(total_gb - free_gb, 0),
        disk_available_least=free_gb,
        host_ip="127.0.0.1",
        cpu_info=_cpu_info(caps),
        supported_instances=[(arch, virt_type, "hvm")]
        + ([("i686", virt_type, "hvm")] if re.match(r"x86_64", arch) else []),
        running_vms=running_vms,
    )
