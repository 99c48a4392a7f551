"""HttpImageClient (compute's ImageClient in distributed mode) against a real Image API."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.cloud import ADMIN_PASSWORD, RunningCloud, start_cloud
from novalith import exceptions
from novalith.image.http_client import HttpImageClient, KeystoneAuth
from novalith.objects.context import RequestContext


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("image-http-client"),
                          overrides={"identity": {"password_hash_cost": 10}})
    yield running
    running.close()


@pytest.fixture
def client(cloud: RunningCloud) -> Iterator[HttpImageClient]:
    auth = KeystoneAuth(auth_url=cloud.base_url + "/identity", username="admin",
                        password=ADMIN_PASSWORD, project_name="admin")
    http = HttpImageClient(auth)
    yield http
    http.close()


def test_image_client_round_trip(cloud: RunningCloud, client: HttpImageClient,
                                 tmp_path: Path) -> None:
    tenant = cloud.cloud.identity.create_project("http-client-tenant").id
    ctx = RequestContext(project_id=tenant, user_id="someone", roles=("member",))
    src = tmp_path / "snapshot.qcow2"
    data = os.urandom(2 * 1024 * 1024 + 11)
    src.write_bytes(data)
    record = client.create(ctx, name="snap", disk_format="qcow2", container_format="bare",
                           properties={"image_type": "snapshot", "instance_uuid": "u-42"})
    assert client.auth.endpoint() == cloud.base_url + "/image"  # from the catalog
    assert record.status == "queued" and record.owner == tenant  # owned by ctx's project
    assert record.properties == {"image_type": "snapshot", "instance_uuid": "u-42"}
    active = client.upload(ctx, record.id, str(src))
    assert active.status == "active" and active.size == len(data)
    assert active.os_hash_value == hashlib.sha512(data).hexdigest()
    dest = tmp_path / "base"
    assert client.download(ctx, record.id, str(dest)) == len(data)
    assert dest.read_bytes() == data
    assert cloud.cloud.image_service.download_count(record.id) == 1
    assert [r.id for r in client.list(ctx, instance_uuid="u-42")] == [record.id]
    assert client.get(ctx, record.id).checksum == hashlib.md5(data).hexdigest()
    client.delete(ctx, record.id)
    with pytest.raises(exceptions.ImageNotFound):
        client.get(ctx, record.id)


def test_set_formats_while_queued_over_http(client: HttpImageClient, tmp_path: Path) -> None:
    ctx = RequestContext(project_id=None)
    record = client.create(ctx, name="fmt", disk_format="qcow2", container_format="bare",
                           properties={"hypervisor_type": "docker"})
    changed = client.set_formats(ctx, record.id, disk_format="raw", container_format="docker")
    assert (changed.disk_format, changed.container_format) == ("raw", "docker")
    assert changed.status == "queued" and changed.properties == {"hypervisor_type": "docker"}
    src = tmp_path / "image.tar"
    src.write_bytes(b"tar" * 1000)
    client.upload(ctx, record.id, str(src))
    with pytest.raises(exceptions.Forbidden, match="queued"):
        client.set_formats(ctx, record.id, disk_format="qcow2", container_format="bare")
    assert client.get(ctx, record.id).container_format == "docker"
    client.delete(ctx, record.id)
    with pytest.raises(exceptions.ImageNotFound):
        client.set_formats(ctx, record.id, disk_format="raw", container_format="bare")


def test_corrupt_data_is_refused_and_leaves_no_file(cloud: RunningCloud,
                                                    client: HttpImageClient,
                                                    tmp_path: Path) -> None:
    ctx = RequestContext(project_id=None)
    src = tmp_path / "src"
    src.write_bytes(b"good" * 1000)
    record = client.create(ctx, name="rot", disk_format="raw", container_format="bare")
    client.upload(ctx, record.id, str(src))
    (Path(cloud.cloud.image_service.store.datadir) / record.id).write_bytes(  # type: ignore[attr-defined]
        b"evil" * 1000)
    with pytest.raises(exceptions.Invalid, match="does not match"):
        client.download(ctx, record.id, str(tmp_path / "dest"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_revoked_token_is_renewed_once(cloud: RunningCloud, client: HttpImageClient
                                         ) -> None:
    ctx = RequestContext(project_id=None)
    client.list(ctx)
    old = client.auth.token()
    cloud.cloud.identity.revoke(old)
    assert client.list(ctx, name="fake-image")[0].name == "fake-image"
    assert client.auth.token() != old


def test_a_fixed_bad_token_is_401(cloud: RunningCloud) -> None:
    auth = KeystoneAuth(token="not-a-token", endpoint_override=cloud.base_url + "/image")
    with HttpImageClient(auth) as http, pytest.raises(exceptions.NotAuthenticated):
        http.list(RequestContext(project_id=None))


def test_upload_errors_come_back_as_exceptions(client: HttpImageClient, tmp_path: Path
                                               ) -> None:
    ctx = RequestContext(project_id=None)
    src = tmp_path / "src"
    src.write_bytes(os.urandom(8 * 1024 * 1024))
    record = client.create(ctx, name="twice", disk_format="raw", container_format="bare")
    client.upload(ctx, record.id, str(src))
    with pytest.raises(exceptions.Conflict, match="active to saving"):
        client.upload(ctx, record.id, str(src))  # refused before the body is read
    with pytest.raises(exceptions.ImageNotFound):
        client.upload(ctx, "00000000-0000-0000-0000-000000000000", str(src))
    with pytest.raises(exceptions.Conflict, match="not active"):
        client.download(ctx, client.create(ctx, name="empty", disk_format="raw",
                                           container_format="bare").id,
                        str(tmp_path / "nothing"))
