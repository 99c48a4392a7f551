"""The compute host's image cache, whole stack: the fake driver with real disks
(``[fake_driver] disk_images``) fetching from the real image service."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.memory_images import CountingImageClient
from novalith.compute import image_cache
from novalith.objects.context import RequestContext
from novalith.virt.images import qemu_img
from novalith.virt.images.cache import base_name

MiB = 1 << 20


def qemu_info(path: str | Path) -> dict[str, Any]:
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)],
                         capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def disk_cloud(tmp_path: Path, **image_cache_opts: Any) -> RunningCloud:
    if not qemu_img.available():
        pytest.skip("qemu-img is not installed and could not be installed "
                    "(scripts/ensure-tools.sh installs qemu-utils)")
    overrides: dict[str, dict[str, Any]] = {"fake_driver": {"disk_images": True}}
    if image_cache_opts:
        overrides["image_cache"] = image_cache_opts
    return start_cloud(tmp_path, overrides=overrides)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningCloud]:
    cloud = disk_cloud(tmp_path)
    yield cloud
    cloud.close()


def instances_path(running: RunningCloud) -> Path:
    return Path(running.cloud.conf.instances_path).resolve()


def add_image(running: RunningCloud, data: bytes, name: str, disk_format: str = "raw") -> str:
    """An active public image with ``data``, through the image service."""
    service = running.cloud.image_service
    admin = RequestContext(project_id="admin-project", roles=("admin", "member", "reader"))
    created = service.create(admin, {"name": name, "disk_format": disk_format,
                                     "container_format": "bare", "visibility": "public"})
    upload = service.begin_upload(admin, created["id"])
    upload.write(data)
    upload.commit()
    return str(created["id"])


def test_ten_instances_of_one_image_download_it_once(running: RunningCloud) -> None:
    compute = running.cloud.computes[0]
    counting = CountingImageClient(running.cloud.image_client, delay=0.3)
    compute.deps.image_client = counting
    with running.client() as client:
        resp = client.post("/servers", json={"server": {
            "name": "many", "flavorRef": "1", "imageRef": running.image_id,
            "networks": "none", "min_count": 10, "max_count": 10}},
            headers={"OpenStack-API-Version": "compute 2.37"})
        assert resp.status_code == 202, resp.text
        servers = client.get("/servers", params={"name": "many"}).json()["servers"]
        assert len(servers) == 10
        for server in servers:
            running.wait_status(client, server["id"], {"ACTIVE"})
    assert counting.downloads == {running.image_id: 1}
    base = instances_path(running) / "_base" / base_name(running.image_id)
    assert qemu_info(base)["format"] == "raw"
    backing = set()
    for server in servers:
        info = qemu_info(instances_path(running) / server["id"] / "disk")
        assert info["format"] == "qcow2"
        assert info["virtual-size"] == 1 << 30  # m1.tiny: root_gb 1
        backing.add(info["backing-filename"])
    assert backing == {str(base)}


def test_delete_removes_the_instance_disks(running: RunningCloud) -> None:
    with running.client() as client:
        server_id = running.boot(client, "short")
        running.wait_status(client, server_id, {"ACTIVE"})
        directory = instances_path(running) / server_id
        assert (directory / "disk").exists()
        assert client.delete(f"/servers/{server_id}").status_code == 204
        deadline = time.monotonic() + 10
        while directory.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert not directory.exists()
    # The base stays cached for the next boot.
    assert (instances_path(running) / "_base" / base_name(running.image_id)).exists()


def test_ephemeral_and_swap_disks_follow_the_flavor(running: RunningCloud) -> None:
    with running.client() as client:
        resp = client.post("/flavors", json={"flavor": {
            "name": "eph", "ram": 256, "vcpus": 1, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 1,
            "swap": 64, "id": "eph"}})
        assert resp.status_code == 200, resp.text
        server_id = running.boot(client, "eph", flavor="eph")
        running.wait_status(client, server_id, {"ACTIVE"})
    directory = instances_path(running) / server_id
    assert sorted(os.listdir(directory)) == ["disk", "disk.eph0", "disk.swap"]
    assert qemu_info(directory / "disk.eph0")["virtual-size"] == 1 << 30
    assert qemu_info(directory / "disk.swap")["virtual-size"] == 64 * MiB


def test_image_too_big_for_the_flavor_ends_in_error(running: RunningCloud) -> None:
    # A qcow2 whose virtual size (2 GiB) exceeds m1.tiny's 1 GiB root disk while its
    # file is small enough for the API's size check.
    tmp = instances_path(running).parent / "big.qcow2"
    qemu_img.create(str(tmp), "qcow2", 2 << 30)
    image_id = add_image(running, tmp.read_bytes(), "too-big", "qcow2")
    with running.client() as client:
        resp = client.post("/servers", json={"server": {
            "name": "big", "flavorRef": "1", "imageRef": image_id, "networks": "none"}},
            headers={"OpenStack-API-Version": "compute 2.37"})
        assert resp.status_code == 202, resp.text
        server_id = resp.json()["server"]["id"]
        server = running.wait_status(client, server_id, {"ERROR"})
    assert "too small" in server["fault"]["message"]
    assert not (instances_path(running) / server_id).exists()


def test_cache_manager_removes_an_unused_base_and_keeps_a_used_one(tmp_path: Path) -> None:
    running = disk_cloud(tmp_path, manager_interval=1,
                         remove_unused_original_minimum_age_seconds=1)
    try:
        other = add_image(running, b"\x01" * MiB, "other")
        used_base = instances_path(running) / "_base" / base_name(running.image_id)
        other_base = instances_path(running) / "_base" / base_name(other)
        with running.client() as client:
            keep = running.boot(client, "keep")
            gone = client.post("/servers", json={"server": {
                "name": "gone", "flavorRef": "1", "imageRef": other, "networks": "none"}},
                headers={"OpenStack-API-Version": "compute 2.37"}).json()["server"]["id"]
            running.wait_status(client, keep, {"ACTIVE"})
            running.wait_status(client, gone, {"ACTIVE"})
            assert other_base.exists()
            assert client.delete(f"/servers/{gone}").status_code == 204
            deadline = time.monotonic() + 15
            while other_base.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not other_base.exists(), "the periodic manager did not remove the base"
            assert not Path(str(other_base) + ".info").exists()
            assert used_base.exists()
            # The server still using the kept base boots again fine.
            resp = client.post(f"/servers/{keep}/action", json={"reboot": {"type": "HARD"}})
            assert resp.status_code == 202
            running.wait_status(client, keep, {"ACTIVE"})
    finally:
        running.close()


def test_manager_pass_counts_building_instances_as_users(running: RunningCloud) -> None:
    compute = running.cloud.computes[0]
    with running.client() as client:
        server_id = running.boot(client, "b")
        running.wait_status(client, server_id, {"ACTIVE"})
    assert image_cache.images_in_use(compute.deps) == {running.image_id}
    base = instances_path(running) / "_base" / base_name(running.image_id)
    os.utime(base, (0, 0))
    os.remove(instances_path(running) / server_id / "disk")  # only the DB says "in use"
    image_cache.manage(compute.deps)
    assert base.exists()
