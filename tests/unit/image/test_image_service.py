"""ImageService semantics: create checks, patch rules, delete, actions, tags, uploads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from image_service_helpers import ADMIN, project

from novalith import exceptions
from novalith.image.service import ImageService

ME, OTHER = project("p-me"), project("p-other")
READER = project("p-me", "reader")
PATCH = "application/openstack-images-v2.1-json-patch"


def new(service: ImageService, ctx: Any = ME, **body: Any) -> str:
    body = {"name": "img", "disk_format": "raw", "container_format": "bare", **body}
    return str(service.create(ctx, body)["id"])


def upload(service: ImageService, image_id: str, data: bytes, ctx: Any = ME) -> None:
    up = service.begin_upload(ctx, image_id)
    up.write(data)
    up.commit()


def store_files(service: ImageService) -> list[str]:
    return sorted(os.listdir(service.store.datadir))  # type: ignore[attr-defined]


def test_create_defaults_and_custom_properties(sqlite_service: ImageService) -> None:
    body = sqlite_service.create(ME, {"name": "n", "os_distro": "debian", "tags": ["t", "t"]})
    assert body["status"] == "queued" and body["visibility"] == "shared"
    assert body["owner"] == "p-me" and body["os_distro"] == "debian" and body["tags"] == ["t"]
    assert body["size"] is None and body["checksum"] is None and body["min_ram"] == 0
    assert body["self"] == f"/v2/images/{body['id']}"
    chosen = "6f5e6d2c-6a1e-4b6a-9f5e-0b0c0d0e0f10"
    assert sqlite_service.create(ME, {"id": chosen})["id"] == chosen
    with pytest.raises(exceptions.Conflict, match="already exists"):
        sqlite_service.create(ME, {"id": chosen})


@pytest.mark.parametrize("ctx, body, error, message", [
    (ME, {"status": "active"}, exceptions.Forbidden, "read-only"),
    (ME, {"checksum": "x"}, exceptions.Forbidden, "read-only"),
    (ME, {"location": "file:///etc/passwd"}, exceptions.Forbidden, "reserved"),
    (ME, {"visibility": "public"}, exceptions.Forbidden, "publicize_image"),
    (ME, {"owner": "p-other"}, exceptions.Forbidden, "owned by 'p-other'"),
    (READER, {"name": "x"}, exceptions.Forbidden, "not permitted"),
    (ME, {"id": "not-a-uuid"}, exceptions.Invalid, "does not match"),
    (ME, {"disk_format": "ami", "container_format": "bare"}, exceptions.Invalid, "mix"),
    (ME, {"min_disk": 1.5}, exceptions.Invalid, "integer"),
    (ME, {"tags": ["a", "b", "c", "d"]}, exceptions.PayloadTooLarge, "tags"),
    (ME, {"p1": "1", "p2": "2", "p3": "3", "p4": "4"}, exceptions.PayloadTooLarge, "prop"),
    (ME, ["not", "an", "object"], exceptions.Invalid, "JSON object"),
])
def test_create_refusals(sqlite_service: ImageService, ctx: Any, body: Any,
                         error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        sqlite_service.create(ctx, body)


def test_admin_may_create_public_images_for_another_project(sqlite_service: ImageService
                                                            ) -> None:
    body = sqlite_service.create(ADMIN, {"visibility": "public", "owner": "p-other"})
    assert body["visibility"] == "public" and body["owner"] == "p-other"


def test_patch_rules(sqlite_service: ImageService) -> None:
    s = sqlite_service
    image_id = new(s)

    def patch(ctx: Any, *ops: dict[str, Any]) -> dict[str, Any]:
        return s.update(ctx, image_id, list(ops), PATCH)

    body = patch(ME, {"op": "add", "path": "/hw_scsi_model", "value": "virtio-scsi"},
                 {"op": "replace", "path": "/tags", "value": ["a"]},
                 {"op": "replace", "path": "/disk_format", "value": "qcow2"})
    assert body["hw_scsi_model"] == "virtio-scsi" and body["tags"] == ["a"]
    assert s.show(ME, image_id)["disk_format"] == "qcow2"
    upload(s, image_id, b"data")
    with pytest.raises(exceptions.Forbidden, match="only replaced for a queued image"):
        patch(ME, {"op": "replace", "path": "/disk_format", "value": "raw"})
    with pytest.raises(exceptions.Forbidden, match="owner"):
        patch(ME, {"op": "replace", "path": "/owner", "value": "p-other"})
    with pytest.raises(exceptions.Forbidden, match="publicize"):
        patch(ME, {"op": "replace", "path": "/visibility", "value": "public"})
    assert patch(ME, {"op": "replace", "path": "/visibility", "value": "community"}
                 )["visibility"] == "community"
    with pytest.raises(exceptions.Forbidden, match="not permitted to modify"):
        patch(OTHER, {"op": "replace", "path": "/name", "value": "mine now"})
    with pytest.raises(exceptions.Forbidden):
        patch(READER, {"op": "replace", "path": "/name", "value": "x"})
    assert patch(ADMIN, {"op": "replace", "path": "/owner", "value": "p-other"}
                 )["owner"] == "p-other"


def test_protected_images_refuse_deletion_and_delete_removes_the_data(
        sqlite_service: ImageService) -> None:
    s = sqlite_service
    image_id = new(s, protected=True)
    upload(s, image_id, b"x" * 10)
    with pytest.raises(exceptions.Forbidden, match="protected"):
        s.delete(ME, image_id)
    with pytest.raises(exceptions.ImageNotFound):
        s.delete(OTHER, image_id)
    s.update(ME, image_id, [{"op": "replace", "path": "/protected", "value": False}], PATCH)
    assert store_files(s) == [image_id]
    s.delete(ME, image_id)
    assert store_files(s) == []
    with pytest.raises(exceptions.ImageNotFound):
        s.show(ME, image_id)


def test_deactivate_and_reactivate(sqlite_service: ImageService) -> None:
    s = sqlite_service
    image_id = new(s, visibility="community")
    with pytest.raises(exceptions.Forbidden, match="status 'queued'"):
        s.deactivate(ME, image_id)
    upload(s, image_id, b"abc")
    s.deactivate(ME, image_id)
    s.deactivate(ME, image_id)  # no-op
    assert s.show(ME, image_id)["status"] == "deactivated"
    with pytest.raises(exceptions.Forbidden, match="deactivated"):
        s.open_download(OTHER, image_id)
    opened = s.open_download(ADMIN, image_id)
    assert opened is not None and b"".join(opened.reader) == b"abc"
    opened.close()
    with pytest.raises(exceptions.Forbidden):
        s.reactivate(OTHER, image_id)
    s.reactivate(ME, image_id)
    assert s.show(ME, image_id)["status"] == "active"


def test_tags(sqlite_service: ImageService) -> None:
    s = sqlite_service
    image_id = new(s)
    for tag in ("a", "b", "a"):
        s.add_tag(ME, image_id, tag)
    assert s.show(ME, image_id)["tags"] == ["a", "b"]
    s.delete_tag(ME, image_id, "a")
    with pytest.raises(exceptions.NotFound):
        s.delete_tag(ME, image_id, "a")
    s.add_tag(ME, image_id, "c")
    s.add_tag(ME, image_id, "d")
    with pytest.raises(exceptions.PayloadTooLarge):
        s.add_tag(ME, image_id, "e")
    with pytest.raises(exceptions.Invalid):
        s.add_tag(ME, image_id, "t" * 256)


def test_upload_records_hashes_and_virtual_size(sqlite_service: ImageService) -> None:
    s = sqlite_service
    image_id = new(s, disk_format="qcow2")
    # A qcow2 header says its virtual size at offset 24.
    data = b"QFI\xfb" + bytes(20) + (5 * 1024**3).to_bytes(8, "big") + bytes(500)
    upload(s, image_id, data)
    body = s.show(ME, image_id)
    assert body["status"] == "active" and body["size"] == len(data)
    assert body["virtual_size"] == 5 * 1024**3
    assert body["checksum"] == hashlib.md5(data).hexdigest()
    assert body["os_hash_value"] == hashlib.sha512(data).hexdigest()
    with pytest.raises(exceptions.Conflict, match="active to saving"):
        s.begin_upload(ME, image_id)


def test_upload_preconditions(sqlite_service: ImageService) -> None:
    s = sqlite_service
    with pytest.raises(exceptions.Invalid, match="must be set prior"):
        s.begin_upload(ME, new(s, disk_format=None))
    image_id = new(s)
    with pytest.raises(exceptions.ImageNotFound):
        s.begin_upload(OTHER, image_id)
    s.begin_upload(ME, image_id)
    with pytest.raises(exceptions.Conflict, match="saving to saving"):
        s.begin_upload(ME, image_id)  # one upload at a time


def test_an_aborted_upload_leaves_the_image_queued_and_no_data(sqlite_service: ImageService
                                                               ) -> None:
    s = sqlite_service
    image_id = new(s)
    up = s.begin_upload(ME, image_id)
    up.write(b"half of it")
    assert s.show(ME, image_id)["status"] == "saving"
    up.abort("client disconnected")
    assert s.show(ME, image_id)["status"] == "queued" and store_files(s) == []
    assert s.open_download(ME, image_id) is None  # no data: the API answers 204
    upload(s, image_id, b"the whole of it")  # a retry works
    assert s.show(ME, image_id)["size"] == 15


def test_over_the_size_cap_is_413_and_nothing_is_kept(sqlite_service: ImageService) -> None:
    s = sqlite_service  # image_size_cap = 1000
    image_id = new(s)
    up = s.begin_upload(ME, image_id)
    up.write(b"x" * 600)
    with pytest.raises(exceptions.PayloadTooLarge):
        up.write(b"x" * 600)
    assert s.show(ME, image_id)["status"] == "queued" and store_files(s) == []


def test_deleted_during_upload_is_410_and_the_data_is_removed(sqlite_service: ImageService
                                                              ) -> None:
    s = sqlite_service
    image_id = new(s)
    up = s.begin_upload(ME, image_id)
    up.write(b"data")
    s.delete(ME, image_id)
    with pytest.raises(exceptions.Gone):
        up.commit()
    assert store_files(s) == []


def test_recover_after_a_crash(sqlite_service: ImageService, tmp_path: Path) -> None:
    s = sqlite_service
    kept = new(s)
    upload(s, kept, b"keep me")
    interrupted = new(s)
    s.begin_upload(ME, interrupted).write(b"partial")  # the process "dies" here
    datadir = Path(s.store.datadir)  # type: ignore[attr-defined]
    (datadir / "00000000-0000-4000-8000-000000000000").write_bytes(
        b"left behind by a crash after the row was deleted")
    (datadir / "README").write_bytes(b"not the store's: never removed")
    s.recover()
    assert s.show(ME, interrupted)["status"] == "queued"
    assert store_files(s) == sorted([kept, "README"])


def test_downloads_are_counted_and_logged(sqlite_service: ImageService,
                                          caplog: pytest.LogCaptureFixture) -> None:
    s = sqlite_service
    image_id = new(s, visibility="community")
    upload(s, image_id, b"bytes")
    assert s.download_count(image_id) == 0
    caplog.set_level("INFO", logger="novalith.image.access")
    for ctx in (ME, OTHER):
        opened = s.open_download(ctx, image_id)
        assert opened is not None
        opened.close()
    assert s.download_count(image_id) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "novalith.image.access"]
    assert len(lines) == 2 and f"image={image_id}" in lines[0] and "project=p-other" in lines[1]
