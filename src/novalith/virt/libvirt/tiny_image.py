"""A cirros-like test guest built from the Debian packages this machine can reach.

:func:`build` makes three files, cached under one directory and rebuilt only when
one is missing:

* ``vmlinuz``: the Debian cloud kernel (``linux-image-cloud-amd64``);
* ``initramfs.gz``: busybox-static plus the few kernel modules the guest needs
  (virtio disk, CD-ROM and ISO 9660 for the config drive, ACPI button), packed as
  a gzip'd ``newc`` cpio archive by this module (no ``cpio`` binary needed);
* ``disk.raw``: a 1 MiB root disk whose first sector holds the boot counter.

The guest's ``/init`` prints a banner with the boot counter (kept on the root
disk, so reboots raise it and a snapshot carries it), reads the config drive
(label ``config-2``) and prints hostname, user data, public keys and injected
files to ttyS0, powers off cleanly on the ACPI power button, and then idles.

:func:`register` uploads the three as kernel (aki), ramdisk (ari) and a raw disk
image carrying ``kernel_id``, ``ramdisk_id`` and ``os_command_line``, through any
:class:`~novalith.image.client.ImageClient`; it reuses images already registered
for the same build.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from novalith import exceptions
from novalith.virt.deb_packages import download as _download
from novalith.virt.deb_packages import run as _run

LOG = logging.getLogger(__name__)

KERNEL_PACKAGE = "linux-image-cloud-amd64"
BUSYBOX_PACKAGE = "busybox-static"
DISK_SIZE = 1024 * 1024
IMAGE_NAME = "novalith-tiny"
KERNEL_IMAGE_NAME = "novalith-tiny-kernel"
RAMDISK_IMAGE_NAME = "novalith-tiny-ramdisk"
# no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can fail
# and panic ("IO-APIC + timer doesn't work!"); virtual machines skip it.
COMMAND_LINE = "console=ttyS0 quiet no_timer_check"
BANNER = "=== Novalith tiny guest"
#: Bumped whenever the initramfs layout or /init changes, so caches rebuild.
FORMAT_VERSION = "8"
# Modules the guest loads, in dependency order (dependencies are resolved from
# each module's own ``depends=`` field, so this lists only what we want).
WANTED_MODULES = ("virtio_pci", "virtio_blk", "ata_piix", "sr_mod", "isofs", "evdev", "button")

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /etc/modules); do insmod /lib/modules/$m.ko 2>/dev/null; done
# The root disk's first sector holds "NOVALITH-TINY boots=N".
boots=0
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.1; done
if [ -b /dev/vda ]; then
  n=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -n 1 \
      | sed -n 's/^NOVALITH-TINY boots=\([0-9]*\).*/\1/p')
  boots=$(( ${n:-0} + 1 ))
  printf 'NOVALITH-TINY boots=%d\n' "$boots" \
      | dd of=/dev/vda bs=512 count=1 conv=sync,notrunc 2>/dev/null
  sync
  disk="on /dev/vda"
else
  boots=1
  disk="(no root disk: counter not kept)"
fi
echo "=== Novalith tiny guest: boot $boots $disk ==="
echo "kernel $(uname -r)"
cfg=""
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  cfg=$(findfs LABEL=config-2 2>/dev/null) && break
  sleep 0.1
done
if [ -n "$cfg" ] && mount -t iso9660 -o ro "$cfg" /mnt/config 2>/dev/null; then
  md=/mnt/config/openstack/latest/meta_data.json
  echo "config drive: $cfg"
  host=$(sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p' "$md")
  hostname "$host"
  echo "hostname: $host"
  echo "uuid: $(sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p' "$md")"
  grep -q '"admin_pass"' "$md" && echo "admin password: set"
  keys=$(sed -n 's/.*"public_keys": *{\([^}]*\)}.*/\1/p' "$md" | tr ',' '\n')
  for k in $(echo "$keys" | sed -n 's/^ *"\([^"]*\)":.*/\1/p'); do
    echo "public key: $k"
  done
  if [ -f /mnt/config/openstack/latest/user_data ]; then
    echo "user data:"
    cat /mnt/config/openstack/latest/user_data
    echo
    echo "end of user data"
  else
    echo "user data: (none)"
  fi
  for f in /mnt/config/openstack/content/*; do
    [ -f "$f" ] || continue
    c=/content/${f##*/}
    p=$(sed -n "s|.*\"content_path\": *\"$c\", *\"path\": *\"\([^\"]*\)\".*|\1|p" "$md")
    echo "injected file $p:"
    cat "$f"
    echo
  done
else
  echo "config drive: (none)"
  echo "hostname: $(hostname)"
fi
# -f: stay in the foreground (a daemonized acpid leaves /etc/acpi and finds no
# action); the shell backgrounds it instead.
acpid -f -c /etc/acpi -l /dev/null &
echo "=== Novalith tiny guest: boot $boots finished; idling ==="
while :; do sleep 3600; done
"""

POWER_SCRIPT = r"""#!/bin/sh
echo "=== Novalith tiny guest: ACPI power button, shutting down ===" > /dev/console
umount /mnt/config 2>/dev/null
sync
poweroff -f
"""


@dataclass(frozen=True)
class TinyImage:
    """The three files of a built tiny guest, and the build's identity."""

    directory: Path
    kernel: Path
    ramdisk: Path
    disk: Path
    kernel_version: str
    build_id: str


def default_cache_dir() -> Path:
    base = os.environ.get("NOVALITH_TINY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "novalith", "tiny")
    return Path(base)


def cached(cache_dir: Path | None = None) -> TinyImage | None:
    """The build in ``cache_dir`` if it is complete, else None."""
    directory = (cache_dir or default_cache_dir()).resolve()
    manifest = directory / "manifest.json"
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if data.get("format") != FORMAT_VERSION:
        return None
    image = TinyImage(directory=directory, kernel=directory / "vmlinuz",
                      ramdisk=directory / "initramfs.gz", disk=directory / "disk.raw",
                      kernel_version=data["kernel_version"], build_id=data["build_id"])
    if all(p.is_file() for p in (image.kernel, image.ramdisk, image.disk)):
        return image
    return None


def build(cache_dir: Path | None = None, *, force: bool = False) -> TinyImage:
    """Build the tiny guest into ``cache_dir`` unless a complete build is there.

    Downloads ``linux-image-cloud-amd64`` (and the versioned kernel package it
    depends on) and ``busybox-static`` with ``apt-get download``, unpacks them
    with ``dpkg-deb -x``. Raises :class:`~novalith.exceptions.NovalithError` with
    the failing command's output when a step fails; leaves no partial build.
    """
    directory = (cache_dir or default_cache_dir()).resolve()
    if not force and (done := cached(directory)) is not None:
        return done
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tiny-build-", dir=directory) as tmp:
        work = Path(tmp)
        kernel_deb = _download_kernel(work)
        busybox_deb = _download(work, BUSYBOX_PACKAGE)
        root = work / "root"
        (root / "kernel").mkdir(parents=True)
        (root / "busybox").mkdir()
        _run(["dpkg-deb", "-x", str(kernel_deb), str(root / "kernel")])
        _run(["dpkg-deb", "-x", str(busybox_deb), str(root / "busybox")])
        vmlinuz = next((root / "kernel" / "boot").glob("vmlinuz-*"), None)
        if vmlinuz is None:
            raise exceptions.NovalithError(f"{kernel_deb.name} holds no /boot/vmlinuz-*")
        version = vmlinuz.name.removeprefix("vmlinuz-")
        modules = _module_order(root / "kernel" / "lib" / "modules" / version, WANTED_MODULES)
        busybox = root / "busybox" / "bin" / "busybox"
        initramfs = _initramfs(busybox.read_bytes(), modules)
        staged = work / "out"
        staged.mkdir()
        shutil.copyfile(vmlinuz, staged / "vmlinuz")
        (staged / "initramfs.gz").write_bytes(initramfs)
        (staged / "disk.raw").write_bytes(_disk())
        digest = hashlib.sha256(COMMAND_LINE.encode())
        for name in ("vmlinuz", "initramfs.gz", "disk.raw"):
            digest.update((staged / name).read_bytes())
        build_id = digest.hexdigest()[:16]
        for name in ("vmlinuz", "initramfs.gz", "disk.raw"):
            os.replace(staged / name, directory / name)
        manifest = {"format": FORMAT_VERSION, "kernel_version": version, "build_id": build_id,
                    "modules": [m.stem for m in modules]}
        tmp_manifest = directory / "manifest.json.tmp"
        tmp_manifest.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp_manifest, directory / "manifest.json")
    done = cached(directory)
    assert done is not None
    LOG.info("Built the tiny guest (kernel %s) in %s", version, directory)
    return done


def _download_kernel(work: Path) -> Path:
    """The versioned kernel package the ``linux-image-cloud-amd64`` metapackage names."""
    meta = _download(work, KERNEL_PACKAGE)
    depends = _run(["dpkg-deb", "-f", str(meta), "Depends"])
    match = re.search(r"(linux-image-[0-9][^\s,(]*)", depends)
    if match is None:
        raise exceptions.NovalithError(f"{meta.name} depends on no kernel package: {depends!r}")
    return _download(work, match.group(1))


def _module_depends(path: Path) -> list[str]:
    """The ``depends=`` list in a module's .modinfo strings."""
    data = path.read_bytes()
    match = re.search(rb"\x00depends=([^\x00]*)\x00", data)
    if match is None or not match.group(1):
        return []
    return match.group(1).decode().split(",")


def _module_order(moddir: Path, wanted: tuple[str, ...]) -> list[Path]:
    """``wanted`` and their dependencies, each after what it depends on."""
    index: dict[str, Path] = {}
    for path in moddir.rglob("*.ko"):
        index[path.stem.replace("-", "_")] = path
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        key = name.replace("-", "_")
        if key in seen:
            return
        seen.add(key)
        path = index.get(key)
        if path is None:
            # Built into this kernel (or absent): nothing to load.
            return
        for dep in _module_depends(path):
            visit(dep)
        order.append(path)

    for name in wanted:
        visit(name)
    return order


class _Cpio:
    """A minimal writer of the ``newc`` cpio format the kernel unpacks."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        encoded = name.encode() + b"\x00"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
        self.ino += 1
        self.buf.write(header + encoded)
        self.buf.write(b"\x00" * (-(len(header) + len(encoded)) % 4))
        self.buf.write(data)
        self.buf.write(b"\x00" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, 0o100000 | mode, data)

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def _initramfs(busybox: bytes, modules: list[Path]) -> bytes:
    archive = _Cpio()
    for directory in ("bin", "dev", "proc", "sys", "mnt", "mnt/config", "etc", "etc/acpi",
                      "etc/acpi/PWRF", "lib", "lib/modules", "tmp"):
        archive.directory(directory)
    archive.file("bin/busybox", busybox, 0o755)
    archive.file("init", INIT.encode(), 0o755)
    # busybox acpid runs <confdir>/PWRF/00000080 on the power button.
    archive.file("etc/acpi/PWRF/00000080", POWER_SCRIPT.encode(), 0o755)
    archive.file("etc/modules", "".join(m.stem + "\n" for m in modules).encode())
    for module in modules:
        archive.file(f"lib/modules/{module.name}", module.read_bytes())
    return gzip.compress(archive.finish(), compresslevel=6, mtime=0)


def _disk() -> bytes:
    header = b"NOVALITH-TINY boots=0\n"
    return header + b"\x00" * (DISK_SIZE - len(header))


# -- registration in the image service ---------------------------------------------------


@dataclass(frozen=True)
class RegisteredTiny:
    kernel_id: str
    ramdisk_id: str
    image_id: str


def register(client: Any, ctx: Any, image: TinyImage, *, visibility: str = "public"
             ) -> RegisteredTiny:
    """Upload the build as kernel, ramdisk and disk images (reusing a previous upload).

    ``client`` is an :class:`~novalith.image.client.ImageClient`. The disk image
    is raw with ``kernel_id``, ``ramdisk_id`` and ``os_command_line`` properties,
    so compute boots it by direct kernel boot.
    """
    tag = {"novalith_tiny_build": image.build_id}

    def existing(name: str) -> str | None:
        for record in client.list(ctx, name=name):
            if (record.status == "active"
                    and record.properties.get("novalith_tiny_build") == image.build_id):
                return str(record.id)
        return None

    def upload(name: str, disk_format: str, container_format: str, path: Path,
               properties: dict[str, Any]) -> str:
        found = existing(name)
        if found:
            return found
        record = client.create(ctx, name=name, disk_format=disk_format,
                               container_format=container_format, visibility=visibility,
                               properties={**tag, **properties})
        try:
            client.upload(ctx, record.id, str(path))
        except BaseException:
            client.delete(ctx, record.id)
            raise
        return str(record.id)

    kernel_id = upload(KERNEL_IMAGE_NAME, "aki", "aki", image.kernel, {})
    ramdisk_id = upload(RAMDISK_IMAGE_NAME, "ari", "ari", image.ramdisk, {})
    image_id = upload(IMAGE_NAME, "raw", "bare", image.disk, {
        "kernel_id": kernel_id, "ramdisk_id": ramdisk_id, "os_command_line": COMMAND_LINE,
        "hw_disk_bus": "virtio"})
    return RegisteredTiny(kernel_id=kernel_id, ramdisk_id=ramdisk_id, image_id=image_id)
