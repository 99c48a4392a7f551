"""The fake driver with real disks (``[fake_driver] disk_images``) and its snapshot step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from images_helpers import (
    CTX,
    GiB,
    MiB,
    qcow2_bytes,
    qemu_info,
    raw_bytes,
    require_qemu_img,
    settings,
    spec,
)

from fixtures.memory_images import MemoryImageClient
from novalith import exceptions
from novalith.objects.specs import ImageMeta
from novalith.virt.fake import FakeDriver, FakeSettings
from novalith.virt.images.cache import base_name


@pytest.fixture(autouse=True)
def qemu() -> None:
    require_qemu_img()


class Callbacks:
    def __init__(self, client: MemoryImageClient) -> None:
        self.client = client

    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        pass

    def fetch_image(self, image_id: str, dest: str) -> None:
        self.client.download(CTX, image_id, dest)


def driver(tmp_path: Path, client: MemoryImageClient, disk_images: bool = True,
           **extra: object) -> FakeDriver:
    fake = FakeSettings(disk_images=disk_images,
                        cache=settings(tmp_path) if disk_images else None, **extra)
    drv = FakeDriver(fake, "h1", Callbacks(client))
    drv.init_host()
    return drv


def test_spawn_builds_disks_and_destroy_removes_them(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    drv = driver(tmp_path, client)
    instance = spec(ImageMeta(id=image.id, disk_format="raw"), root_gb=1, swap=16)
    drv.spawn(instance, None)
    directory = tmp_path / "instances" / instance.uuid
    assert sorted(os.listdir(directory)) == ["disk", "disk.swap"]
    info = qemu_info(directory / "disk")
    assert info["backing-filename"] == str(tmp_path / "instances" / "_base" / base_name(image.id))
    drv.destroy(instance)
    assert not directory.exists()
    drv.destroy(instance)  # idempotent


def test_spawn_failure_leaves_nothing(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(qcow2_bytes(tmp_path, raw_bytes(), virtual_size=2 * GiB),
                       disk_format="qcow2")
    drv = driver(tmp_path, client)
    instance = spec(ImageMeta(id=image.id, disk_format="qcow2"), root_gb=1)
    with pytest.raises(exceptions.FlavorDiskSmallerThanImage):
        drv.spawn(instance, None)
    assert drv.list_instances() == []
    assert not (tmp_path / "instances" / instance.uuid).exists()


def test_download_trouble_is_a_build_failure_worth_rescheduling(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    client.fail_download = exceptions.ServiceUnavailable("image service down")
    drv = driver(tmp_path, client)
    with pytest.raises(exceptions.BuildFailed):
        drv.spawn(spec(ImageMeta(id=image.id, disk_format="raw")), None)
    assert drv.list_instances() == []


def test_snapshot_of_real_disks_is_the_flattened_root(tmp_path: Path) -> None:
    raw = raw_bytes(MiB, b"FAKE-SNAPSHOT")
    client = MemoryImageClient()
    image = client.add(raw)
    drv = driver(tmp_path, client)
    instance = spec(ImageMeta(id=image.id, disk_format="raw"), root_gb=1)
    drv.spawn(instance, None)
    dest = tmp_path / "snap.qcow2"
    drv.snapshot(instance, str(dest))
    info = qemu_info(dest)
    assert info["format"] == "qcow2" and "backing-filename" not in info
    assert info["virtual-size"] == GiB
    assert "snapshot taken" in drv.get_console_output(instance)


def test_snapshot_without_disks_is_an_empty_qcow2_of_the_root_size(tmp_path: Path) -> None:
    drv = driver(tmp_path, MemoryImageClient(), disk_images=False)
    instance = spec(ImageMeta(id="any", disk_format="raw"), root_gb=3)
    drv.spawn(instance, None)
    dest = tmp_path / "snap.qcow2"
    drv.snapshot(instance, str(dest))
    info = qemu_info(dest)
    assert info["format"] == "qcow2" and info["virtual-size"] == 3 * GiB
    assert os.path.getsize(dest) < MiB
    assert not (tmp_path / "instances").exists()


def test_snapshot_failure_removes_the_partial_file(tmp_path: Path) -> None:
    drv = driver(tmp_path, MemoryImageClient(), disk_images=False, snapshot_fail_hosts=("h1",))
    instance = spec(None)
    drv.spawn(instance, None)
    dest = tmp_path / "snap.qcow2"
    with pytest.raises(exceptions.DiskOperationFailed):
        drv.snapshot(instance, str(dest))
    assert not dest.exists()


def test_snapshot_of_an_unknown_instance(tmp_path: Path) -> None:
    drv = driver(tmp_path, MemoryImageClient(), disk_images=False)
    with pytest.raises(exceptions.InstanceNotFound):
        drv.snapshot(spec(None), str(tmp_path / "x"))


def test_disk_images_needs_cache_settings() -> None:
    with pytest.raises(exceptions.Invalid, match="disk_images"):
        FakeSettings(disk_images=True)


def test_manage_image_cache_prunes_unused_bases(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    drv = driver(tmp_path, client)
    instance = spec(ImageMeta(id=image.id, disk_format="raw"))
    drv.spawn(instance, None)
    drv.destroy(instance)
    base = tmp_path / "instances" / "_base" / base_name(image.id)
    os.utime(base, (0, 0))
    drv.manage_image_cache(frozenset())
    assert not base.exists()
