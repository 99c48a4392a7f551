"""compute/snapshot.py on one compute host: task states, clean-up, backup rotation.

Reuses the compute harness of test_compute_manager (real DB, fake driver, in-process
transport) with an in-memory image client.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_compute_manager import Harness, make_harness  # noqa: F401 (fixture)

from fixtures.container_fake import ContainerFake, container_hosts
from fixtures.memory_images import MemoryImageClient
from novalith import exceptions
from novalith.compute import reconcile
from novalith.compute import snapshot as snap
from novalith.compute.rpcapi import SnapshotInstance
from novalith.db import instances as inst_db
from novalith.image.client import ImageRecord
from novalith.objects import states as s
from novalith.objects.context import RequestContext

CTX = RequestContext(user_id="u1", project_id="p1", roles=("member",))


class FailingUploads(MemoryImageClient):
    def upload(self, ctx: RequestContext, image_id: str, src: str) -> ImageRecord:
        raise exceptions.ServiceUnavailable("store full")


@pytest.fixture
def host(make_harness: Callable[..., Harness]) -> Iterator[tuple[Harness, MemoryImageClient]]:  # noqa: F811
    harness = make_harness()
    harness.start()
    client = MemoryImageClient()
    harness.manager.deps.image_client = client
    yield harness, client


def active(h: Harness) -> str:
    u = h.new_instance(CTX)
    h.build(CTX, u)
    return u


def start(h: Harness, client: MemoryImageClient, u: str, kind: str = "snapshot",
          **extra: Any) -> str:
    """What the API does: task state, queued image, then the RPC (called, not cast)."""
    task = s.IMAGE_SNAPSHOT if kind == "snapshot" else s.IMAGE_BACKUP
    props = {"instance_uuid": u, "image_type": kind}
    if kind == "backup":
        props["backup_type"] = extra.get("backup_type", "daily")
    image = client.create(CTX, name="i", disk_format="qcow2", container_format="bare",
                          properties=props)
    with h.db.write() as conn:
        assert inst_db.transition(conn, u, {"task_state": task}, expected_task=[None])
        inst_db.start_action(conn, u, "createImage", CTX)
    h.client.call(CTX, "snapshot_instance", SnapshotInstance(
        instance_uuid=u, image_id=image.id, kind=kind, **extra), server="c1")
    return image.id


def test_snapshot_uploads_and_clears_the_task(host: tuple[Harness, MemoryImageClient]) -> None:
    h, client = host
    u = active(h)
    image_id = start(h, client, u)
    assert client.records[image_id].status == "active"
    assert client.data[image_id][:4] == b"QFI\xfb"
    row = h.row(u)
    assert (row["vm_state"], row["task_state"]) == (s.ACTIVE, None)
    assert ("compute_snapshot_instance", "Success") in h.events(u)
    assert os.listdir(snap.snapshot_dir(h.manager.deps)) == []  # the local file is gone


def test_failed_upload_deletes_the_image_and_records_a_fault(
        host: tuple[Harness, MemoryImageClient]) -> None:
    h, _ = host
    client = FailingUploads()
    h.manager.deps.image_client = client
    u = active(h)
    image_id = start(h, client, u)
    assert image_id not in client.records
    row = h.row(u)
    assert (row["vm_state"], row["task_state"]) == (s.ACTIVE, None)
    fault = h.fault(u)
    assert fault is not None and "store full" in fault["message"]
    assert ("compute_snapshot_instance", "Error") in h.events(u)


def test_superseded_snapshot_does_nothing_but_drop_the_image(
        host: tuple[Harness, MemoryImageClient]) -> None:
    h, client = host
    u = active(h)
    image = client.create(CTX, name="late", disk_format="qcow2", container_format="bare")
    # No image_snapshot task (e.g. a delete took over): compute must not snapshot.
    h.client.call(CTX, "snapshot_instance",
                  SnapshotInstance(instance_uuid=u, image_id=image.id), server="c1")
    assert image.id not in client.records
    assert h.row(u)["task_state"] is None


def test_rotation_keeps_the_new_backup_even_with_equal_timestamps(
        host: tuple[Harness, MemoryImageClient]) -> None:
    h, client = host
    u = active(h)
    old = [client.create(CTX, name=f"b{n}", disk_format="qcow2", container_format="bare",
                         properties={"instance_uuid": u, "image_type": "backup",
                                     "backup_type": "daily"}) for n in range(3)]
    other_type = client.create(CTX, name="w", disk_format="qcow2", container_format="bare",
                               properties={"instance_uuid": u, "image_type": "backup",
                                           "backup_type": "weekly"})
    # Same clock reading everywhere: only "the new one is newest" decides.
    for record in [*old, other_type]:
        client.records[record.id] = type(record)(**{
            **{f: getattr(record, f) for f in record.__struct_fields__},
            "created_at": "2026-01-01T00:00:00Z"})
    new_id = start(h, client, u, kind="backup", backup_type="daily", rotation=1)
    left = {i for i, r in client.records.items()
            if r.properties.get("backup_type") == "daily"}
    assert left == {new_id}
    assert other_type.id in client.records


def test_rotation_zero_deletes_every_backup(host: tuple[Harness, MemoryImageClient]) -> None:
    h, client = host
    u = active(h)
    start(h, client, u, kind="backup", backup_type="daily", rotation=0)
    assert [r for r in client.records.values()
            if r.properties.get("instance_uuid") == u] == []


def test_a_restart_clears_image_task_states_and_unfinished_images(
        host: tuple[Harness, MemoryImageClient]) -> None:
    h, client = host
    u = active(h)
    done = client.add(b"data", instance_uuid=u, image_type="snapshot")
    other = client.create(CTX, name="other", disk_format="qcow2", container_format="bare")
    for task in (s.IMAGE_SNAPSHOT, s.IMAGE_PENDING_UPLOAD, s.IMAGE_UPLOADING, s.IMAGE_BACKUP):
        unfinished = client.create(CTX, name="cut", disk_format="qcow2",
                                   container_format="bare",
                                   properties={"instance_uuid": u, "image_type": "snapshot"})
        with h.db.write() as conn:
            inst_db.transition(conn, u, {"task_state": task})
        reconcile.at_startup(h.manager.deps)
        row = h.row(u)
        assert (row["vm_state"], row["task_state"]) == (s.ACTIVE, None), task
        assert unfinished.id not in client.records
    assert done.id in client.records and other.id in client.records


def test_no_image_service_means_no_upload(host: tuple[Harness, MemoryImageClient]) -> None:
    h, client = host
    u = active(h)
    h.manager.deps.image_client = None
    with pytest.raises(exceptions.ServiceUnavailable):
        snap.rotate_backups(h.manager.deps, CTX, u, "daily", 1)
    image_id = start(h, client, u)
    assert client.records[image_id].status == "queued"  # compute could not even delete it
    assert h.row(u)["task_state"] is None


# ---- snapshot formats declared by the driver ----------------------------------------------

def test_snapshot_formats_and_file_names(host: tuple[Harness, MemoryImageClient]) -> None:
    h, _ = host
    deps = h.manager.deps
    assert snap.snapshot_formats(deps.driver) == ("qcow2", "bare")
    assert snap.snapshot_formats(object()) == ("qcow2", "bare")  # the contract's default
    assert snap.snapshot_formats(ContainerFake.__new__(ContainerFake)) == ("raw", "docker")
    assert snap.snapshot_path(deps, "i-1") == os.path.join(snap.snapshot_dir(deps),
                                                           "i-1.qcow2")


@pytest.fixture
def container_host(make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                   ) -> Iterator[tuple[Harness, MemoryImageClient]]:
    container_hosts(monkeypatch, "c1")
    harness = make_harness()
    harness.start()
    client = MemoryImageClient()
    harness.manager.deps.image_client = client
    yield harness, client


def test_container_snapshot_gets_the_driver_formats_before_upload(
        container_host: tuple[Harness, MemoryImageClient]) -> None:
    h, client = container_host
    assert isinstance(h.manager.deps.driver, ContainerFake)
    assert snap.snapshot_path(h.manager.deps, "i-1").endswith("i-1.tar")
    u = active(h)
    image_id = start(h, client, u)  # created qcow2/bare, as the API does
    record = client.records[image_id]
    assert (record.disk_format, record.container_format) == ("raw", "docker")
    assert record.status == "active"
    with tarfile.open(fileobj=io.BytesIO(client.data[image_id])) as tar:
        assert tar.getnames() == ["instance"]
    assert h.row(u)["task_state"] is None
    assert os.listdir(snap.snapshot_dir(h.manager.deps)) == []


class RefusingFormats(MemoryImageClient):
    def set_formats(self, ctx: RequestContext, image_id: str, *, disk_format: str,
                    container_format: str) -> ImageRecord:
        raise exceptions.Forbidden("Attribute disk_format can be only replaced for a queued "
                                   "image.")


def test_refused_formats_delete_the_image_and_upload_nothing(
        container_host: tuple[Harness, MemoryImageClient]) -> None:
    h, _ = container_host
    client = RefusingFormats()
    h.manager.deps.image_client = client
    u = active(h)
    image_id = start(h, client, u)
    assert image_id not in client.records and client.data == {}
    row = h.row(u)
    assert (row["vm_state"], row["task_state"]) == (s.ACTIVE, None)
    fault = h.fault(u)
    assert fault is not None and "queued" in fault["message"]
    assert os.listdir(snap.snapshot_dir(h.manager.deps)) == []


def test_formats_already_right_are_not_patched(
        container_host: tuple[Harness, MemoryImageClient]) -> None:
    h, _ = container_host
    client = RefusingFormats()  # any set_formats call would fail the snapshot
    h.manager.deps.image_client = client
    u = active(h)
    image = client.create(CTX, name="c", disk_format="raw", container_format="docker",
                          properties={"instance_uuid": u, "image_type": "snapshot"})
    with h.db.write() as conn:
        assert inst_db.transition(conn, u, {"task_state": s.IMAGE_SNAPSHOT},
                                  expected_task=[None])
        inst_db.start_action(conn, u, "createImage", CTX)
    h.client.call(CTX, "snapshot_instance", SnapshotInstance(
        instance_uuid=u, image_id=image.id, kind="snapshot"), server="c1")
    assert client.records[image.id].status == "active"
