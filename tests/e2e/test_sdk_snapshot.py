"""Snapshots and backups with unmodified openstacksdk (and the ``openstack`` CLI) against
``novalith up`` whose fake driver keeps real disks through the image cache."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from novalith.virt.images import qemu_img

from .conftest import SDK_WARNINGS, NovalithProcess, launch, stop
from .test_cli import Cli

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]

WAIT = 30


@pytest.fixture(scope="module")
def disk_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NovalithProcess]:
    """``novalith up`` (one fake host) building real instance disks."""
    if not qemu_img.available():
        pytest.skip("qemu-img is not installed and could not be installed "
                    "(scripts/ensure-tools.sh installs qemu-utils)")
    proc, running = launch(tmp_path_factory.mktemp("novalith-e2e-disks"), fake_hosts=1,
                           extra_config="[fake_driver]\ndisk_images = true\n")
    try:
        yield running
    finally:
        returncode = stop(proc, signal.SIGINT)
    assert returncode == 0, running.output()


@pytest.fixture
def conn(disk_cloud: NovalithProcess) -> Iterator[Connection]:
    connection = disk_cloud.connect()
    yield connection
    connection.close()


def _idle(conn: Connection, server: Server) -> Server:
    """ACTIVE with no task: the image action is over (the status stays ACTIVE during it)."""
    deadline = time.monotonic() + WAIT
    while True:
        server = conn.compute.get_server(server)
        if server.status == "ACTIVE" and server.task_state is None:
            return server
        assert server.status != "ERROR", server.fault
        assert time.monotonic() < deadline, (server.status, server.task_state)
        time.sleep(0.1)


def _boot(conn: Connection, name: str, image_id: str) -> Server:
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    server = conn.compute.create_server(name=name, image_id=image_id, flavor_id=flavor.id,
                                        networks="none")
    return conn.compute.wait_for_server(server, status="ACTIVE", wait=WAIT, interval=0.1)


def _instance_images(conn: Connection, server_id: str) -> list[Any]:
    return [i for i in conn.image.images() if i.instance_uuid == server_id]


def test_snapshot_and_boot_from_it(conn: Connection, disk_cloud: NovalithProcess) -> None:
    prefix = f"snap-{uuid.uuid4().hex[:8]}"
    base = conn.image.find_image("fake-image", ignore_missing=False)
    server = _boot(conn, f"{prefix}-origin", base.id)
    image = conn.compute.create_server_image(server, f"{prefix}-image",
                                             metadata={"purpose": "e2e"}, wait=True)
    assert image.status == "active"
    assert image.disk_format == "qcow2" and image.container_format == "bare"
    assert image.visibility == "private"
    props = image.properties
    assert props["image_type"] == "snapshot"
    assert image.instance_uuid == server.id  # a named attribute of the SDK's Image
    assert props["base_image_ref"] == base.id
    assert props["purpose"] == "e2e"
    _idle(conn, server)
    data = conn.image.download_image(image).content
    assert data[:4] == b"QFI\xfb"  # a qcow2 file
    info = _qemu_info_of_bytes(data, Path(str(disk_cloud.data_dir)) / f"{prefix}.qcow2")
    assert info["virtual-size"] == 1 << 30 and "backing-filename" not in info
    # The server is usable afterwards, and a new one boots from the snapshot.
    conn.compute.reboot_server(server, "SOFT")
    _idle(conn, server)
    clone = _boot(conn, f"{prefix}-clone", image.id)
    assert clone.image.id == image.id
    for s in (server, clone):
        conn.compute.delete_server(s)
    for s in (server, clone):
        conn.compute.wait_for_delete(s, wait=WAIT)
    conn.image.delete_image(image)


def _qemu_info_of_bytes(data: bytes, path: Path) -> dict[str, Any]:
    path.write_bytes(data)
    try:
        out = subprocess.run(["qemu-img", "info", "--output=json", str(path)],
                             capture_output=True, text=True, check=True).stdout
        result: dict[str, Any] = json.loads(out)
        return result
    finally:
        path.unlink()


def test_backup_rotation(conn: Connection) -> None:
    prefix = f"bak-{uuid.uuid4().hex[:8]}"
    base = conn.image.find_image("fake-image", ignore_missing=False)
    server = _boot(conn, f"{prefix}-vm", base.id)
    made = []
    for n in range(3):
        made.append(conn.compute.backup_server(server, f"{prefix}-{n}", "daily", 2).id)
        _idle(conn, server)  # the upload and the rotation are done when the task clears
    left = _instance_images(conn, server.id)
    assert sorted(i.id for i in left) == sorted(made[1:])
    for image in left:
        assert image.properties["image_type"] == "backup"
        assert image.properties["backup_type"] == "daily"
        assert image.status == "active"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=WAIT)
    for image in left:
        conn.image.delete_image(image)


def test_cli_server_image_create_and_backup(disk_cloud: NovalithProcess,
                                            conn: Connection) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    base = conn.image.find_image("fake-image", ignore_missing=False)
    server = _boot(conn, f"{prefix}-vm", base.id)
    cli = Cli(disk_cloud)
    out = cli.finish(cli.start("server", "image", "create", "--name", f"{prefix}-img",
                               "-f", "json", server.id))
    created = json.loads(out)
    assert created["name"] == f"{prefix}-img"
    _idle(conn, server)
    assert conn.image.get_image(created["id"]).status == "active"
    out = cli.finish(cli.start("server", "backup", "create", "--name", f"{prefix}-bak",
                               "--type", "weekly", "--rotate", "1", "-f", "json", server.id))
    backup = json.loads(out)
    _idle(conn, server)
    assert conn.image.get_image(backup["id"]).properties["backup_type"] == "weekly"
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=WAIT)
    for image_id in (created["id"], backup["id"]):
        conn.image.delete_image(image_id)
