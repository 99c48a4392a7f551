"""The tiny guest's build pieces that need no Debian download: cpio, modules, init."""

from __future__ import annotations

import gzip
from pathlib import Path

from novalith.virt.libvirt import tiny_image


def parse_newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    out: dict[str, tuple[int, bytes]] = {}
    pos = 0
    while True:
        assert data[pos:pos + 6] == b"070701"
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start:name_start + namesize - 1].decode()
        body = name_start + namesize
        body += -body % 4
        out[name] = (mode, data[body:body + size])
        pos = body + size
        pos += -pos % 4
        if name == "TRAILER!!!":
            return out


def fake_module(path: Path, depends: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF junk\x00license=GPL\x00depends=" + depends.encode()
                     + b"\x00name=" + path.stem.encode() + b"\x00")
    return path


def test_modules_come_after_their_dependencies(tmp_path: Path) -> None:
    fake_module(tmp_path / "kernel/a/virtio_ring.ko", "")
    fake_module(tmp_path / "kernel/a/virtio.ko", "virtio_ring")
    fake_module(tmp_path / "kernel/b/virtio_blk.ko", "virtio,virtio_ring")
    fake_module(tmp_path / "kernel/c/button.ko", "")
    order = tiny_image._module_order(tmp_path, ("virtio_blk", "button", "not_built"))
    assert [p.stem for p in order] == ["virtio_ring", "virtio", "virtio_blk", "button"]


def test_initramfs_holds_init_busybox_modules_and_acpi_action(tmp_path: Path) -> None:
    mod = fake_module(tmp_path / "evdev.ko", "")
    archive = parse_newc(gzip.decompress(tiny_image._initramfs(b"BUSYBOX", [mod])))
    mode, init = archive["init"]
    assert mode & 0o777 == 0o755 and init.startswith(b"#!/bin/busybox sh")
    assert archive["bin/busybox"][1] == b"BUSYBOX"
    assert archive["etc/modules"][1] == b"evdev\n"
    assert archive["lib/modules/evdev.ko"][1] == mod.read_bytes()
    assert b"poweroff -f" in archive["etc/acpi/PWRF/00000080"][1]
    assert archive["dev"][0] & 0o170000 == 0o040000


def test_init_prints_what_the_tests_look_for() -> None:
    assert "Novalith tiny guest: boot $boots" in tiny_image.INIT
    assert "LABEL=config-2" in tiny_image.INIT
    assert "hostname: $host" in tiny_image.INIT and "user data:" in tiny_image.INIT


def test_disk_starts_with_a_zero_counter() -> None:
    disk = tiny_image._disk()
    assert len(disk) == tiny_image.DISK_SIZE and disk.startswith(b"NOVALITH-TINY boots=0\n")


def test_cached_needs_every_file(tmp_path: Path) -> None:
    assert tiny_image.cached(tmp_path) is None
    (tmp_path / "manifest.json").write_text(
        f'{{"format": "{tiny_image.FORMAT_VERSION}", "kernel_version": "6", "build_id": "b"}}')
    for name in ("vmlinuz", "initramfs.gz"):
        (tmp_path / name).write_bytes(b"x")
    assert tiny_image.cached(tmp_path) is None
    (tmp_path / "disk.raw").write_bytes(b"x")
    found = tiny_image.cached(tmp_path)
    assert found is not None and found.build_id == "b"


class RecordingImages:
    """An ImageClient that keeps records in memory (register() only needs four calls)."""

    def __init__(self) -> None:
        self.records: dict[str, object] = {}
        self.uploads: list[tuple[str, str]] = []

    def list(self, ctx: object, **filters: object) -> list[object]:
        return [r for r in self.records.values() if getattr(r, "name", None) == filters["name"]]

    def create(self, ctx: object, **kw: object) -> object:
        from novalith.image.client import ImageRecord

        rid = f"id-{len(self.records)}"
        record = ImageRecord(id=rid, status="active", name=str(kw["name"]),
                             disk_format=str(kw["disk_format"]),
                             properties=dict(kw["properties"]))  # type: ignore[arg-type]
        self.records[rid] = record
        return record

    def upload(self, ctx: object, image_id: str, src: str) -> None:
        self.uploads.append((image_id, src))

    def delete(self, ctx: object, image_id: str) -> None:
        self.records.pop(image_id)


def test_register_links_the_disk_to_kernel_and_ramdisk_once(tmp_path: Path) -> None:
    image = tiny_image.TinyImage(directory=tmp_path, kernel=tmp_path / "k",
                                 ramdisk=tmp_path / "r", disk=tmp_path / "d",
                                 kernel_version="6", build_id="b1")
    client = RecordingImages()
    first = tiny_image.register(client, None, image)
    disk = client.records[first.image_id]
    props = disk.properties  # type: ignore[attr-defined]
    assert props["kernel_id"] == first.kernel_id and props["ramdisk_id"] == first.ramdisk_id
    assert props["os_command_line"] == tiny_image.COMMAND_LINE
    assert client.records[first.kernel_id].disk_format == "aki"  # type: ignore[attr-defined]
    again = tiny_image.register(client, None, image)
    assert again == first and len(client.uploads) == 3
