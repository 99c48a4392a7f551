"""Unmodified openstacksdk against ``novalith up``'s Image API: upload (qcow2 and raw),
list, show, patch, download, share with another project, delete, protection, and an
upload cut off half-way."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from .conftest import SDK_WARNINGS, NovalithProcess
from .image_helpers import cut_off_upload, make_qcow2, sha256, store_files

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]


@pytest.fixture
def conn(novalith: NovalithProcess) -> Iterator[Connection]:
    connection = novalith.connect()
    yield connection
    connection.close()


def _name(kind: str) -> str:
    return f"sdk-img-{kind}-{uuid.uuid4().hex[:8]}"


def test_upload_list_show_patch_download_share_delete(conn: Connection,
                                                      novalith: NovalithProcess,
                                                      tmp_path: Path) -> None:
    qcow2 = make_qcow2(tmp_path / "disk.qcow2", "64M")
    raw = tmp_path / "disk.raw"
    raw.write_bytes(os.urandom(3 * 1024 * 1024 + 512))
    qname, rname = _name("qcow2"), _name("raw")
    # Files passed as open handles: given a filename, the SDK never closes the file.
    with open(qcow2, "rb") as qfh, open(raw, "rb") as rfh:
        q = conn.image.create_image(name=qname, data=qfh, disk_format="qcow2",
                                    container_format="bare", os_distro="debian",
                                    hw_watchdog_action="reset")
        r = conn.image.create_image(name=rname, data=rfh, disk_format="raw",
                                    container_format="bare", tags=["e2e"])
    try:
        listed = {i.name: i for i in conn.image.images() if i.name in (qname, rname)}
        assert set(listed) == {qname, rname}
        assert listed[rname].tags == ["e2e"]
        assert [i.id for i in conn.image.images(name=qname)] == [q.id]

        shown = conn.image.get_image(q.id)
        assert shown.status == "active" and shown.disk_format == "qcow2"
        assert shown.size == qcow2.stat().st_size
        assert shown.virtual_size == 64 * 1024 * 1024
        assert shown.checksum == hashlib.md5(qcow2.read_bytes()).hexdigest()
        assert shown.hash_algo == "sha512"
        assert shown.hash_value == hashlib.sha512(qcow2.read_bytes()).hexdigest()
        assert shown.os_distro == "debian" and shown.hw_watchdog_action == "reset"

        patched = conn.image.update_image(q, os_distro="ubuntu", hw_disk_bus="virtio",
                                          min_ram=256)
        assert patched.min_ram == 256
        again = conn.image.get_image(q.id)
        assert again.os_distro == "ubuntu" and again.hw_disk_bus == "virtio"

        for image, source in ((q, qcow2), (r, raw)):
            out = tmp_path / f"{image.id}.out"
            conn.image.download_image(image, output=str(out))
            assert sha256(out) == sha256(source)
        streamed = conn.image.download_image(r, stream=True)
        assert hashlib.sha256(b"".join(streamed.iter_content(1 << 20))).hexdigest() == \
            sha256(raw)

        _share_with_a_new_project(conn, novalith, r.id)
    finally:
        for image in (q, r):
            conn.image.delete_image(image, ignore_missing=True)
    for image in (q, r):
        with pytest.raises(sdk_exceptions.NotFoundException):
            conn.image.get_image(image.id)
    assert q.id not in store_files(novalith.data_dir)


def _share_with_a_new_project(conn: Connection, novalith: NovalithProcess,
                              image_id: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    project = conn.identity.create_project(name=f"share-{suffix}", domain_id="default")
    password = "pw-" + uuid.uuid4().hex
    user = conn.identity.create_user(name=f"share-user-{suffix}", password=password,
                                     domain_id="default", default_project_id=project.id)
    member_role = conn.identity.find_role("member", ignore_missing=False)
    conn.identity.assign_project_role_to_user(project, user, member_role)
    other = novalith.connect(username=user.name, password=password,
                             project_name=project.name)
    try:
        with pytest.raises(sdk_exceptions.NotFoundException):
            other.image.get_image(image_id)
        conn.image.update_image(image_id, visibility="shared")
        member = conn.image.add_member(image_id, member_id=project.id)
        assert member.status == "pending"
        assert other.image.get_image(image_id).id == image_id
        assert image_id not in {i.id for i in other.image.images()}
        other.image.update_member(project.id, image_id, status="accepted")
        assert image_id in {i.id for i in other.image.images()}
        assert [m.member_id for m in conn.image.members(image_id)] == [project.id]
        with pytest.raises(sdk_exceptions.ForbiddenException):
            other.image.delete_image(image_id)
        conn.image.remove_member(project.id, image_id)
        with pytest.raises(sdk_exceptions.NotFoundException):
            other.image.get_image(image_id)
    finally:
        other.close()
        conn.identity.delete_user(user)
        conn.identity.delete_project(project)


def test_protected_image_refuses_deletion(conn: Connection) -> None:
    image = conn.image.create_image(name=_name("protected"), data=b"\0" * 4096,
                                    disk_format="raw", container_format="bare",
                                    is_protected=True)
    with pytest.raises(sdk_exceptions.ForbiddenException, match="protected"):
        conn.image.delete_image(image)
    assert conn.image.get_image(image.id).is_protected
    conn.image.update_image(image, is_protected=False)
    conn.image.delete_image(image)


def test_an_upload_cut_off_half_way_leaves_no_partial_file(conn: Connection,
                                                           novalith: NovalithProcess) -> None:
    image = conn.image.create_image(name=_name("cut"), disk_format="raw",
                                    container_format="bare", allow_duplicates=True)
    before = store_files(novalith.data_dir)
    try:
        cut_off_upload(novalith.endpoint, conn.auth_token, image.id,
                       sent=8 * 1024 * 1024, claimed=1024 * 1024 * 1024)
        deadline = time.monotonic() + 15
        while (status := conn.image.get_image(image.id).status) != "queued":
            assert status == "saving" and time.monotonic() < deadline, status
            time.sleep(0.1)
        assert store_files(novalith.data_dir) == before
        assert not any(name.endswith(".part") for name in store_files(novalith.data_dir))
    finally:
        conn.image.delete_image(image)
