"""createImage and createBackup, whole stack: API, compute, fake driver, image service."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from fixtures.cloud import RunningCloud, start_cloud
from novalith import exceptions
from novalith.db.models import ComputeNode
from novalith.image.client import ImageRecord
from novalith.objects.context import RequestContext
from novalith.virt.images import qemu_img
from novalith.virt.images.cache import base_name

ADMIN = RequestContext(roles=("admin", "member", "reader"))
V245 = {"OpenStack-API-Version": "compute 2.45"}
CN = ComputeNode.__table__


def needs_qemu_img() -> None:
    if not qemu_img.available():
        pytest.skip("qemu-img is not installed and could not be installed "
                    "(scripts/ensure-tools.sh installs qemu-utils)")


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[RunningCloud]:
    """A cloud whose fake driver keeps real disks (snapshots are real flattened disks)."""
    needs_qemu_img()
    running = start_cloud(tmp_path, overrides={"fake_driver": {"disk_images": True}})
    yield running
    running.close()


def image(running: RunningCloud, image_id: str) -> ImageRecord:
    return running.cloud.image_client.get(ADMIN, image_id)


def images_of(running: RunningCloud, server_id: str) -> list[ImageRecord]:
    return running.cloud.image_client.list(ADMIN, instance_uuid=server_id)


def action(client: httpx.Client, server_id: str, body: dict[str, Any],
           headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(f"/servers/{server_id}/action", json=body, headers=headers or {})


def snapshot(running: RunningCloud, client: httpx.Client, server_id: str, name: str = "snap",
             **extra: Any) -> str:
    resp = action(client, server_id, {"createImage": {"name": name, **extra}}, V245)
    assert resp.status_code == 202, resp.text
    assert "location" not in resp.headers
    image_id = str(resp.json()["image_id"])
    running.wait_status(client, server_id, {"ACTIVE", "SHUTOFF"})
    return image_id


def test_snapshot_then_boot_from_it(disks: RunningCloud, tmp_path: Path) -> None:
    running = disks
    with running.client() as client:
        server_id = running.boot(client, "origin")
        running.wait_status(client, server_id, {"ACTIVE"})
        image_id = snapshot(running, client, server_id, metadata={"purpose": "test"})
        record = image(running, image_id)
        assert record.status == "active"
        assert (record.disk_format, record.container_format) == ("qcow2", "bare")
        assert record.visibility == "private"
        props = record.properties
        assert props["image_type"] == "snapshot"
        assert props["instance_uuid"] == server_id
        assert props["base_image_ref"] == running.image_id
        assert props["purpose"] == "test"
        assert record.min_disk == 1  # m1.tiny's root disk
        # The data is the flattened root disk: a qcow2 with no backing file.
        data = tmp_path / "snap.qcow2"
        running.cloud.image_client.download(ADMIN, image_id, str(data))
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(data)],
                                         capture_output=True, text=True, check=True).stdout)
        assert info["format"] == "qcow2" and "backing-filename" not in info
        assert info["virtual-size"] == 1 << 30
        # The server is usable afterwards.
        assert action(client, server_id, {"reboot": {"type": "SOFT"}}).status_code == 202
        running.wait_status(client, server_id, {"ACTIVE"})
        # A new server boots from the snapshot, its disk backed by the snapshot's base.
        resp = client.post("/servers", json={"server": {
            "name": "clone", "flavorRef": "1", "imageRef": image_id, "networks": "none"}},
            headers={"OpenStack-API-Version": "compute 2.37"})
        assert resp.status_code == 202, resp.text
        clone = resp.json()["server"]["id"]
        shown = running.wait_status(client, clone, {"ACTIVE"})
        assert shown["image"]["id"] == image_id
    instances = Path(running.cloud.conf.instances_path).resolve()
    disk = json.loads(subprocess.run(
        ["qemu-img", "info", "--output=json", "-U", str(instances / clone / "disk")],
        capture_output=True, text=True, check=True).stdout)
    assert disk["backing-filename"] == str(instances / "_base" / base_name(image_id))
    assert disk["backing-filename-format"] == "raw"  # force_raw_images converted it


def test_create_image_before_2_45_answers_with_a_location(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        server_id = cloud.boot(client, "loc")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        resp = action(client, server_id, {"createImage": {"name": "old-style"}})
        assert resp.status_code == 202, resp.text
        assert resp.content == b""
        image_id = resp.headers["location"].rsplit("/", 1)[1]
        assert resp.headers["location"] == f"{cloud.base_url}/image/v2/images/{image_id}"
        cloud.wait_status(client, server_id, {"ACTIVE"})
    record = image(cloud, image_id)
    assert record.status == "active" and record.name == "old-style"
    assert (record.size or 0) > 0  # the fake driver's small real qcow2


def test_snapshot_of_a_stopped_server_keeps_it_stopped(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        server_id = cloud.boot(client, "stopped")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        assert action(client, server_id, {"os-stop": None}).status_code == 202
        cloud.wait_status(client, server_id, {"SHUTOFF"})
        image_id = snapshot(cloud, client, server_id)
        server = client.get(f"/servers/{server_id}").json()["server"]
    assert server["status"] == "SHUTOFF" and server["OS-EXT-STS:power_state"] == 4
    assert image(cloud, image_id).status == "active"


class SlowUploads:
    """The cloud's image client with uploads held until released."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.release = threading.Event()

    def upload(self, ctx: RequestContext, image_id: str, src: str) -> ImageRecord:
        self.release.wait(20)
        result: ImageRecord = self.inner.upload(ctx, image_id, src)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_task_states_during_a_snapshot(cloud: RunningCloud) -> None:
    slow = SlowUploads(cloud.cloud.image_client)
    cloud.cloud.computes[0].deps.image_client = slow
    with cloud.client() as client:
        server_id = cloud.boot(client, "watched")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        resp = action(client, server_id, {"createImage": {"name": "slow"}}, V245)
        assert resp.status_code == 202
        image_id = resp.json()["image_id"]
        deadline = time.monotonic() + 10
        while True:
            server = client.get(f"/servers/{server_id}").json()["server"]
            if server["OS-EXT-STS:task_state"] == "image_uploading":
                break
            assert server["OS-EXT-STS:task_state"] in ("image_snapshot",
                                                        "image_pending_upload")
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert server["status"] == "ACTIVE"
        assert image(cloud, image_id).status == "queued"
        # Another image action, or a power action, waits its turn: 409.
        again = action(client, server_id, {"createImage": {"name": "second"}})
        assert again.status_code == 409
        assert "task_state image_uploading" in again.json()["conflictingRequest"]["message"]
        assert action(client, server_id, {"os-stop": None}).status_code == 409
        slow.release.set()
        cloud.wait_status(client, server_id, {"ACTIVE"})
    assert image(cloud, image_id).status == "active"
    assert [i.id for i in images_of(cloud, server_id)] == [image_id]


def test_backup_rotation_keeps_the_newest(cloud: RunningCloud) -> None:
    made = []
    with cloud.client() as client:
        server_id = cloud.boot(client, "backed-up")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        for n in range(4):
            resp = action(client, server_id, {"createBackup": {
                "name": f"daily-{n}", "backup_type": "daily", "rotation": 2}})
            assert resp.status_code == 202, resp.text
            image_id = resp.headers["location"].rsplit("/", 1)[1]
            assert resp.headers["location"] == f"{cloud.compute_url}/images/{image_id}"
            made.append(image_id)
            cloud.wait_status(client, server_id, {"ACTIVE"})
        weekly = action(client, server_id, {"createBackup": {
            "name": "weekly", "backup_type": "weekly", "rotation": "1"}}, V245)
        assert weekly.status_code == 202, weekly.text
        weekly_id = weekly.json()["image_id"]
        cloud.wait_status(client, server_id, {"ACTIVE"})
        # Rotation 0 keeps no backup of that type at all, not even the new one.
        zero = action(client, server_id, {"createBackup": {
            "name": "hourly", "backup_type": "hourly", "rotation": 0}})
        assert zero.status_code == 202 and "location" not in zero.headers
        cloud.wait_status(client, server_id, {"ACTIVE"})
    left = {i.id: i for i in images_of(cloud, server_id)}
    assert set(left) == {made[2], made[3], weekly_id}
    for record in left.values():
        assert record.properties["image_type"] == "backup"
        assert record.status == "active"
    assert left[made[3]].properties["backup_type"] == "daily"
    assert left[weekly_id].properties["backup_type"] == "weekly"


def test_failed_snapshot_deletes_the_image_and_clears_the_task(tmp_path: Path) -> None:
    running = start_cloud(tmp_path, overrides={"fake_driver": {"snapshot_fail_hosts": ["host"]}})
    try:
        with running.client() as client:
            server_id = running.boot(client, "unlucky")
            running.wait_status(client, server_id, {"ACTIVE"})
            resp = action(client, server_id, {"createImage": {"name": "doomed"}}, V245)
            assert resp.status_code == 202
            image_id = resp.json()["image_id"]
            server = running.wait_status(client, server_id, {"ACTIVE"})
            assert server["OS-EXT-STS:power_state"] == 1
            with pytest.raises(exceptions.ImageNotFound):
                image(running, image_id)
            assert images_of(running, server_id) == []
            # Still usable.
            assert action(client, server_id, {"pause": None}).status_code == 202
            running.wait_status(client, server_id, {"PAUSED"})
        snaps = Path(running.cloud.conf.instances_path) / "snapshots"
        assert not snaps.exists() or list(snaps.iterdir()) == []
    finally:
        running.close()


BAD_BODIES: list[dict[str, Any]] = [
    {"createImage": {}},
    {"createImage": {"name": ""}},
    {"createImage": {"name": " padded "}},
    {"createImage": {"name": "x" * 256}},
    {"createImage": {"name": 7}},
    {"createImage": {"name": "ok", "extra": 1}},
    {"createImage": {"name": "ok", "metadata": {"k": 1}}},
    {"createImage": {"name": "ok", "metadata": ["k"]}},
    {"createImage": "snap"},
    {"createBackup": {"name": "b", "backup_type": "daily"}},
    {"createBackup": {"name": "b", "backup_type": "daily", "rotation": -1}},
    {"createBackup": {"name": "b", "backup_type": "daily", "rotation": "two"}},
    {"createBackup": {"name": "b", "backup_type": 3, "rotation": 1}},
]


def test_bad_bodies_are_400_and_change_nothing(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        server_id = cloud.boot(client, "valid")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        for body in BAD_BODIES:
            resp = action(client, server_id, body)
            assert resp.status_code == 400, (body, resp.text)
            assert "badRequest" in resp.json()
        server = client.get(f"/servers/{server_id}").json()["server"]
    assert server["OS-EXT-STS:task_state"] is None
    assert images_of(cloud, server_id) == []


def test_too_much_metadata_is_403(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        server_id = cloud.boot(client, "meta")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        resp = action(client, server_id, {"createImage": {
            "name": "m", "metadata": {f"k{i}": "v" for i in range(129)}}})
        assert resp.status_code == 403, resp.text
    assert images_of(cloud, server_id) == []


def test_a_driver_without_snapshot_is_409(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        server_id = cloud.boot(client, "nosnap")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        with cloud.cloud.db.write() as conn:
            stats = conn.execute(select(CN.c.stats)).scalar()
            stats["capabilities"]["supports_snapshot"] = False
            conn.execute(update(CN).values(stats=stats))
        for body in ({"createImage": {"name": "n"}},
                     {"createBackup": {"name": "n", "backup_type": "d", "rotation": 1}}):
            resp = action(client, server_id, body)
            assert resp.status_code == 409, resp.text
            assert "not supported" in resp.json()["conflictingRequest"]["message"]
        server = client.get(f"/servers/{server_id}").json()["server"]
    assert server["OS-EXT-STS:task_state"] is None
    assert images_of(cloud, server_id) == []


def test_other_projects_cannot_snapshot_my_server(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        server_id = cloud.boot(client, "mine")
        cloud.wait_status(client, server_id, {"ACTIVE"})
    token = cloud.add_user("other-project", "other-user", "member")
    with cloud.client(token) as other:
        resp = action(other, server_id, {"createImage": {"name": "stolen"}})
        assert resp.status_code == 404
        resp = action(other, server_id, {"createBackup": {
            "name": "stolen", "backup_type": "daily", "rotation": 1}})
        assert resp.status_code == 404
    assert images_of(cloud, server_id) == []


def test_owner_member_may_back_up_own_server(cloud: RunningCloud) -> None:
    token = cloud.add_user("team", "member-user", "member")
    with cloud.client(token) as client:
        server_id = cloud.boot(client, "own")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        resp = action(client, server_id, {"createBackup": {
            "name": "own", "backup_type": "daily", "rotation": 1}}, V245)
        assert resp.status_code == 202, resp.text
        image_id = resp.json()["image_id"]
        cloud.wait_status(client, server_id, {"ACTIVE"})
    record = image(cloud, image_id)
    assert record.status == "active"
    assert record.owner == cloud.cloud.identity.find_project("team").id


def test_delete_during_the_upload_keeps_the_finished_image(cloud: RunningCloud) -> None:
    slow = SlowUploads(cloud.cloud.image_client)
    cloud.cloud.computes[0].deps.image_client = slow
    with cloud.client() as client:
        server_id = cloud.boot(client, "doomed-origin")
        cloud.wait_status(client, server_id, {"ACTIVE"})
        resp = action(client, server_id, {"createImage": {"name": "last-words"}}, V245)
        image_id = resp.json()["image_id"]
        deadline = time.monotonic() + 10
        while client.get(f"/servers/{server_id}").json()["server"][
                "OS-EXT-STS:task_state"] != "image_uploading":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert client.delete(f"/servers/{server_id}").status_code == 204
        while client.get(f"/servers/{server_id}").status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        slow.release.set()
        while image(cloud, image_id).status != "active":
            assert time.monotonic() < deadline
            time.sleep(0.02)
