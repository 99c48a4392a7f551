"""LocalImageClient: what compute uses in the all-in-one cloud."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from image_service_helpers import project

from novalith import exceptions
from novalith.image.local_client import LocalImageClient
from novalith.image.service import ImageService

ME, OTHER = project("p-me"), project("p-other")


@pytest.fixture
def client(plain_service: ImageService) -> LocalImageClient:
    return LocalImageClient(plain_service)


def test_create_upload_get_download_list_delete(client: LocalImageClient, tmp_path: Path
                                                ) -> None:
    src = tmp_path / "disk.raw"
    data = os.urandom(3 * 1024 * 1024 + 7)
    src.write_bytes(data)
    record = client.create(ME, name="snap", disk_format="raw", container_format="bare",
                           properties={"image_type": "snapshot", "instance_uuid": "u-1"},
                           min_disk=1)
    assert record.status == "queued" and record.owner == "p-me"
    assert record.visibility == "private" and record.properties["image_type"] == "snapshot"
    active = client.upload(ME, record.id, str(src))
    assert active.status == "active" and active.size == len(data)
    assert active.os_hash_algo == "sha512"
    assert active.os_hash_value == hashlib.sha512(data).hexdigest()
    dest = tmp_path / "cache" / "base"
    dest.parent.mkdir()
    assert client.download(ME, record.id, str(dest)) == len(data)
    assert dest.read_bytes() == data and os.listdir(dest.parent) == ["base"]
    assert client.service.download_count(record.id) == 1
    assert [r.id for r in client.list(ME, instance_uuid="u-1")] == [record.id]
    assert client.list(ME, instance_uuid="u-2") == []
    assert client.get(ME, record.id).checksum == hashlib.md5(data).hexdigest()
    with pytest.raises(exceptions.ImageNotFound):
        client.get(OTHER, record.id)
    client.delete(ME, record.id)
    with pytest.raises(exceptions.ImageNotFound):
        client.get(ME, record.id)


def test_download_refuses_data_that_does_not_match_its_hashes(client: LocalImageClient,
                                                              tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"a" * 5000)
    record = client.create(ME, name="x", disk_format="raw", container_format="bare")
    client.upload(ME, record.id, str(src))
    stored = Path(client.service.store.datadir) / record.id  # type: ignore[attr-defined]
    stored.write_bytes(b"b" * 5000)  # bit rot, or tampering
    dest = tmp_path / "dest"
    with pytest.raises(exceptions.Invalid, match="os_hash_value"):
        client.download(ME, record.id, str(dest))
    assert not dest.exists()
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_download_of_an_image_without_data_is_a_conflict(client: LocalImageClient,
                                                         tmp_path: Path) -> None:
    record = client.create(ME, name="empty", disk_format="raw", container_format="bare")
    with pytest.raises(exceptions.Conflict, match="not active"):
        client.download(ME, record.id, str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()


def test_upload_of_a_missing_file_leaves_the_image_queued(client: LocalImageClient,
                                                          tmp_path: Path) -> None:
    record = client.create(ME, name="x", disk_format="raw", container_format="bare")
    with pytest.raises(FileNotFoundError):
        client.upload(ME, record.id, str(tmp_path / "missing"))
    assert client.get(ME, record.id).status == "queued"


def test_set_formats_only_while_queued(client: LocalImageClient, tmp_path: Path) -> None:
    record = client.create(ME, name="snap", disk_format="qcow2", container_format="bare")
    changed = client.set_formats(ME, record.id, disk_format="raw", container_format="docker")
    assert (changed.disk_format, changed.container_format) == ("raw", "docker")
    assert changed.status == "queued"
    with pytest.raises(exceptions.ImageNotFound):
        client.set_formats(OTHER, record.id, disk_format="qcow2", container_format="bare")
    with pytest.raises(exceptions.Invalid):  # Glance's rule: ami formats go together
        client.set_formats(ME, record.id, disk_format="ami", container_format="bare")
    src = tmp_path / "image.tar"
    src.write_bytes(b"tar" * 100)
    client.upload(ME, record.id, str(src))
    with pytest.raises(exceptions.Forbidden, match="queued"):
        client.set_formats(ME, record.id, disk_format="qcow2", container_format="bare")
    shown = client.get(ME, record.id)
    assert (shown.disk_format, shown.container_format, shown.status) == ("raw", "docker",
                                                                         "active")
