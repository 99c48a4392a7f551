"""The host image cache and instance disks, on real files with the real qemu-img."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from images_helpers import (
    GiB,
    MiB,
    make_cache,
    qcow2_bytes,
    qemu_info,
    raw_bytes,
    require_qemu_img,
    spec,
)

from fixtures.memory_images import MemoryImageClient
from novalith import exceptions
from novalith.objects.specs import ImageMeta
from novalith.virt.images import disks, qcow2
from novalith.virt.images.cache import base_name

pytestmark = pytest.mark.usefixtures("qemu")


@pytest.fixture
def qemu() -> None:
    require_qemu_img()


def meta(record: object) -> ImageMeta:
    return ImageMeta(id=record.id, disk_format=record.disk_format)  # type: ignore[attr-defined]


def base_files(tmp_path: Path) -> list[str]:
    base = tmp_path / "instances" / "_base"
    return sorted(os.listdir(base)) if base.exists() else []


# ---- download once ---------------------------------------------------------------------------

def test_concurrent_users_of_one_image_share_one_download(tmp_path: Path) -> None:
    client = MemoryImageClient(download_delay=0.2)
    image = client.add(raw_bytes())
    cache = make_cache(tmp_path, client)
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def use() -> None:
        try:
            start.wait()
            results.append(cache.ensure(image.id, "raw").path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert client.downloads[image.id] == 1
    assert set(results) == {str(tmp_path / "instances" / "_base" / base_name(image.id))}
    assert base_files(tmp_path) == [base_name(image.id), base_name(image.id) + ".info"]


def test_base_is_named_by_the_sha1_of_the_image_id(tmp_path: Path) -> None:
    import hashlib

    client = MemoryImageClient()
    image = client.add(raw_bytes())
    base = make_cache(tmp_path, client).ensure(image.id)
    assert os.path.basename(base.path) == hashlib.sha1(image.id.encode()).hexdigest()
    assert base.format == "raw" and base.virtual_size == MiB


def test_a_cache_hit_touches_the_base(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    cache = make_cache(tmp_path, client)
    path = cache.ensure(image.id).path
    os.utime(path, (1000, 1000))
    cache.ensure(image.id)
    assert os.stat(path).st_mtime > 1000
    assert client.downloads[image.id] == 1


# ---- failures leave nothing ---------------------------------------------------------------

def test_failed_download_leaves_no_partial_base(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())

    def broken_fetch(image_id: str, dest: str) -> None:
        with open(dest, "wb") as fh:  # a client breaking its promise: a partial file
            fh.write(b"half")
        raise exceptions.ServiceUnavailable("connection reset")

    from novalith.virt.images.cache import ImageCache

    cache = make_cache(tmp_path, client)
    broken = ImageCache(cache.settings, broken_fetch)
    with pytest.raises(exceptions.ServiceUnavailable):
        broken.ensure(image.id)
    assert base_files(tmp_path) == []
    # The next try downloads afresh and succeeds.
    assert cache.ensure(image.id).virtual_size == MiB


def test_hash_mismatch_from_the_client_leaves_nothing(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    client.data[image.id] = raw_bytes(marker=b"TAMPERED")
    with pytest.raises(exceptions.Invalid):
        make_cache(tmp_path, client).ensure(image.id)
    assert base_files(tmp_path) == []


def test_image_with_a_backing_file_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.qcow2"
    os.system(f"qemu-img create -q -f qcow2 -b /etc/hostname -F raw {evil} 1M")
    client = MemoryImageClient()
    image = client.add(evil.read_bytes(), disk_format="qcow2")
    with pytest.raises(exceptions.ImageUnacceptable, match="refers to another file"):
        make_cache(tmp_path, client).ensure(image.id, "qcow2")
    assert base_files(tmp_path) == []


def test_data_not_in_its_declared_format_is_refused(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(qcow2_bytes(tmp_path, raw_bytes()), disk_format="raw")
    with pytest.raises(exceptions.ImageUnacceptable, match="disk_format is raw"):
        make_cache(tmp_path, client).ensure(image.id, "raw")
    assert base_files(tmp_path) == []


def test_failed_conversion_leaves_nothing(tmp_path: Path) -> None:
    good = qcow2_bytes(tmp_path, raw_bytes())
    # A valid header on truncated data: qemu-img info accepts it, convert cannot read it.
    client = MemoryImageClient()
    image = client.add(good[:len(good) // 2] + b"\xff" * 4096, disk_format="qcow2")
    with pytest.raises((exceptions.DiskOperationFailed, exceptions.ImageUnacceptable)):
        make_cache(tmp_path, client).ensure(image.id, "qcow2")
    assert base_files(tmp_path) == []


# ---- raw conversion --------------------------------------------------------------------------

def test_qcow2_is_converted_to_raw_by_default(tmp_path: Path) -> None:
    raw = raw_bytes(2 * MiB, b"CONVERT-ME")
    client = MemoryImageClient()
    image = client.add(qcow2_bytes(tmp_path, raw), disk_format="qcow2")
    base = make_cache(tmp_path, client).ensure(image.id, "qcow2")
    assert base.format == "raw"
    assert qemu_info(base.path)["format"] == "raw"
    assert Path(base.path).read_bytes() == raw


def test_qcow2_stays_qcow2_without_force_raw(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(qcow2_bytes(tmp_path, raw_bytes()), disk_format="qcow2")
    cache = make_cache(tmp_path, client, force_raw_images=False)
    instance = spec(meta(image), root_gb=1)
    made = disks.create(cache, instance)
    base = cache.ensure(image.id)
    assert base.format == "qcow2"
    info = qemu_info(made.root)
    assert info["backing-filename"] == base.path
    assert info["backing-filename-format"] == "qcow2"


def test_a_raw_base_is_never_probed_again(tmp_path: Path) -> None:
    """A raw disk whose guest wrote a qcow2 header at offset 0 must stay raw."""
    inner = qcow2_bytes(tmp_path, raw_bytes())
    client = MemoryImageClient()
    # Declared qcow2 wrapping a disk whose *content* is a qcow2 file: converting gives a
    # raw base that starts with a qcow2 header.
    image = client.add(qcow2_bytes(tmp_path, inner + b"\0" * (MiB - len(inner) % MiB)),
                       disk_format="qcow2")
    cache = make_cache(tmp_path, client)
    first = cache.ensure(image.id, "qcow2")
    assert first.format == "raw"
    assert Path(first.path).read_bytes()[:4] == qcow2.MAGIC
    made = disks.create(cache, spec(meta(image), root_gb=1))
    assert qemu_info(made.root)["backing-filename-format"] == "raw"


# ---- root disk size rules --------------------------------------------------------------------

def test_root_disk_is_an_overlay_grown_to_the_flavor(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    cache = make_cache(tmp_path, client)
    made = disks.create(cache, spec(meta(image), root_gb=2))
    info = qemu_info(made.root)
    assert made.root == str(tmp_path / "instances" / made.directory.rsplit("/", 1)[1] / "disk")
    assert info["format"] == "qcow2"
    assert info["virtual-size"] == 2 * GiB
    assert info["backing-filename"] == cache.path_of(base_name(image.id))
    assert info["backing-filename-format"] == "raw"


def test_root_gb_zero_keeps_the_image_size(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes(3 * MiB))
    made = disks.create(make_cache(tmp_path, client), spec(meta(image), root_gb=0))
    assert qemu_info(made.root)["virtual-size"] == 3 * MiB


def test_root_disk_smaller_than_the_image_is_refused(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(qcow2_bytes(tmp_path, raw_bytes(), virtual_size=2 * GiB),
                       disk_format="qcow2")
    instance = spec(meta(image), root_gb=1)
    with pytest.raises(exceptions.FlavorDiskSmallerThanImage):
        disks.create(make_cache(tmp_path, client), instance)
    assert not (tmp_path / "instances" / instance.uuid).exists()


def test_equal_size_is_not_resized(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(qcow2_bytes(tmp_path, raw_bytes(), virtual_size=GiB),
                       disk_format="qcow2")
    made = disks.create(make_cache(tmp_path, client), spec(meta(image), root_gb=1))
    assert qemu_info(made.root)["virtual-size"] == GiB


# ---- ephemeral and swap ----------------------------------------------------------------------

def test_ephemeral_and_swap_disks(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    cache = make_cache(tmp_path, client)
    made = disks.create(cache, spec(meta(image), root_gb=1, ephemeral_gb=1, swap=32))
    assert made.ephemeral and made.swap
    eph, swap = qemu_info(made.ephemeral), qemu_info(made.swap)
    assert eph["virtual-size"] == GiB
    assert eph["backing-filename"] == cache.path_of("ephemeral_1_ext4")
    assert swap["virtual-size"] == 32 * MiB
    assert swap["backing-filename"] == cache.path_of("swap_32")
    with open(cache.path_of("ephemeral_1_ext4"), "rb") as fh:
        fh.seek(1024 + 0x38)
        assert fh.read(2) == b"\x53\xef"  # ext2/3/4 superblock magic
    with open(cache.path_of("swap_32"), "rb") as fh:
        fh.seek(4096 - 10)
        assert fh.read(10) == b"SWAPSPACE2"
    # A second instance reuses both blank bases.
    again = disks.create(cache, spec(meta(image), root_gb=1, ephemeral_gb=1, swap=32))
    assert qemu_info(again.swap or "")["backing-filename"] == cache.path_of("swap_32")


def test_unformatted_ephemeral(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    cache = make_cache(tmp_path, client, ephemeral_format="none")
    made = disks.create(cache, spec(meta(image), root_gb=1, ephemeral_gb=1))
    info = qemu_info(made.ephemeral or "")
    assert info["virtual-size"] == GiB and "backing-filename" not in info


def test_remove_is_idempotent(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    instance = spec(meta(image))
    made = disks.create(make_cache(tmp_path, client), instance)
    disks.remove(str(tmp_path / "instances"), instance.uuid)
    assert not os.path.exists(made.directory)
    disks.remove(str(tmp_path / "instances"), instance.uuid)


def test_instance_dir_refuses_non_uuids(tmp_path: Path) -> None:
    with pytest.raises(exceptions.Invalid):
        disks.instance_dir(str(tmp_path), "../_base")


def test_snapshot_flattens_the_overlay(tmp_path: Path) -> None:
    raw = raw_bytes(MiB, b"SNAP-ME")
    client = MemoryImageClient()
    image = client.add(raw)
    instance = spec(meta(image), root_gb=1)
    disks.create(make_cache(tmp_path, client), instance)
    dest = tmp_path / "snap.qcow2"
    disks.snapshot_root(str(tmp_path / "instances"), instance, str(dest))
    info = qemu_info(dest)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] == GiB
    flat = tmp_path / "flat.raw"
    os.system(f"qemu-img convert -f qcow2 -O raw {dest} {flat}")
    with open(flat, "rb") as fh:
        assert fh.read(MiB) == raw


# ---- qcow2 header helpers ----------------------------------------------------------------

def test_empty_qcow2_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.qcow2"
    qcow2.write_empty(str(path), 5 * GiB)
    assert os.system(f"qemu-img check -q {path}") == 0
    info = qemu_info(path)
    assert info["format"] == "qcow2" and info["virtual-size"] == 5 * GiB
    header = qcow2.read_header(str(path))
    assert header is not None and header.virtual_size == 5 * GiB
    assert header.backing_file is None


def test_read_header_of_an_overlay_and_of_raw(tmp_path: Path) -> None:
    raw = tmp_path / "b.raw"
    raw.write_bytes(raw_bytes())
    over = tmp_path / "o.qcow2"
    os.system(f"qemu-img create -q -f qcow2 -b {raw} -F raw {over}")
    assert qcow2.backing_file(str(over)) == str(raw)
    assert qcow2.read_header(str(raw)) is None
    assert qcow2.read_header(str(tmp_path / "missing")) is None
