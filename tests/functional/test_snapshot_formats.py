"""Snapshots on a container host, whole stack: the image gets the driver's formats, it
inherits the server's image properties (so ImagePropertiesFilter sends it back to a
container host), and the non-inheritable properties stay behind.

Two fake hosts: ``host-1`` the plain fake driver, ``host-2`` the fake driver posing as
a Docker host (fixtures.container_fake).
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.container_fake import container_hosts
from novalith.image.client import ImageRecord
from novalith.objects.context import RequestContext

ADMIN = RequestContext(roles=("admin", "member", "reader"))
V245 = {"OpenStack-API-Version": "compute 2.45"}
INHERITED = {"hypervisor_type": "docker", "architecture": "x86_64",
             "os_command_line": "/bin/sh -c 'sleep 1d'", "os_distro": "busybox"}
NOT_INHERITED = {"cache_in_nova": "True", "bittorrent": "True", "img_signature": "c2ln",
                 "img_signature_hash_method": "SHA-256",
                 "cinder_encryption_key_id": "3c8f0a2e", "site_local": "x"}


@pytest.fixture
def mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningCloud]:
    container_hosts(monkeypatch, "host-2")
    running = start_cloud(tmp_path, fake_hosts=2, overrides={
        # An operator's own addition to Nova's default list.
        "DEFAULT": {"non_inheritable_image_properties": "cache_in_nova,bittorrent,site_local"}})
    yield running
    running.close()


def container_image(running: RunningCloud, tmp_path: Path) -> ImageRecord:
    """A public raw/docker image (a tiny tar) asking for a Docker host."""
    src = tmp_path / "image.tar"
    (tmp_path / "hello").write_text("hello\n")
    with tarfile.open(src, "w") as tar:
        tar.add(tmp_path / "hello", arcname="hello")
    client = running.cloud.image_client
    record = client.create(ADMIN, name="ctr", disk_format="raw", container_format="docker",
                           visibility="public", properties={**INHERITED, **NOT_INHERITED})
    return client.upload(ADMIN, record.id, str(src))


def boot(running: RunningCloud, client: httpx.Client, name: str, image_ref: str,
         **extra: Any) -> dict[str, Any]:
    resp = client.post("/servers", json={"server": {
        "name": name, "flavorRef": "1", "imageRef": image_ref, "networks": "none", **extra}},
        headers={"OpenStack-API-Version": "compute 2.37"})
    assert resp.status_code == 202, resp.text
    return running.wait_status(client, resp.json()["server"]["id"], {"ACTIVE"})


def create_image(running: RunningCloud, client: httpx.Client, server_id: str) -> ImageRecord:
    resp = client.post(f"/servers/{server_id}/action",
                       json={"createImage": {"name": "snap"}}, headers=V245)
    assert resp.status_code == 202, resp.text
    running.wait_status(client, server_id, {"ACTIVE"})
    return running.cloud.image_client.get(ADMIN, resp.json()["image_id"])


def test_container_snapshot_has_docker_formats_and_boots_on_a_docker_host(
        mixed: RunningCloud, tmp_path: Path) -> None:
    running = mixed
    base = container_image(running, tmp_path)
    with running.client() as client:
        origin = boot(running, client, "origin", base.id)
        assert origin["OS-EXT-SRV-ATTR:host"] == "host-2"
        snap = create_image(running, client, origin["id"])
        assert snap.status == "active"
        assert (snap.disk_format, snap.container_format) == ("raw", "docker")
        for key, value in INHERITED.items():
            assert snap.properties.get(key) == value, key
        assert not set(NOT_INHERITED) & set(snap.properties)
        assert snap.properties["image_type"] == "snapshot"
        assert snap.properties["base_image_ref"] == base.id
        data = tmp_path / "snap.tar"
        running.cloud.image_client.download(ADMIN, snap.id, str(data))
        with tarfile.open(data) as tar:
            assert tar.getnames() == ["instance"]
        # Both hosts are free, host-1 emptier: only hypervisor_type keeps these on host-2.
        for n in range(2):
            clone = boot(running, client, f"clone-{n}", snap.id)
            assert clone["OS-EXT-SRV-ATTR:host"] == "host-2"


def test_snapshot_on_a_vm_host_stays_qcow2(mixed: RunningCloud) -> None:
    running = mixed
    with running.client() as client:
        server = boot(running, client, "vm", running.image_id, availability_zone="nova:host-1")
        assert server["OS-EXT-SRV-ATTR:host"] == "host-1"
        snap = create_image(running, client, server["id"])
    assert (snap.status, snap.disk_format, snap.container_format) == ("active", "qcow2",
                                                                       "bare")
    assert "hypervisor_type" not in snap.properties
