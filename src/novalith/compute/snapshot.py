"""createImage and createBackup on this host: the driver writes the disk, compute uploads.

The API has created the image (status ``queued``) and set task_state
``image_snapshot`` / ``image_backup``. Steps here:

1. under the instance lock: task_state -> ``image_pending_upload``; the driver writes
   the root disk in the formats its class declares (``snapshot_disk_format`` and
   ``snapshot_container_format``: a flattened qcow2 by default, a ``docker save``
   tarball for a container driver) to ``<instances_path>/snapshots/<image id>.<ext>``;
   task_state -> ``image_uploading``;
2. without the lock (an upload may take minutes; the task state keeps other actions
   out, a delete may still come): if the driver's formats differ from those the API
   recorded (``qcow2``/``bare``), they are set on the still queued image; the file is
   streamed to the image service (queued -> saving -> active); task_state -> None;
3. backups: rotation deletes all but the newest ``rotation`` backups of the same
   instance and backup_type.

A failure before the upload completes deletes the half-made image, clears the task
state (the server stays usable) and records a fault on the instance action. The local
file is removed in every case.
"""

from __future__ import annotations

import contextlib
import logging
import os

from novalith import exceptions
from novalith.compute.deps import ComputeDeps
from novalith.compute.instance_spec import from_row
from novalith.compute.rpcapi import SnapshotInstance
from novalith.compute.state_machine import IMAGE_ACTIONS, ImageAction
from novalith.db import instances as inst_db
from novalith.image.client import ImageClient
from novalith.objects import states as s
from novalith.objects.context import RequestContext, admin_context
from novalith.virt.driver import SnapshotSupport, require

LOG = logging.getLogger(__name__)
SNAPSHOTS_DIR = "snapshots"
#: File name extensions of snapshot files by container format (else the disk format).
_EXTENSIONS = {"docker": "tar", "ova": "ova"}


def snapshot_dir(deps: ComputeDeps) -> str:
    return os.path.join(os.path.abspath(deps.config.instances_path), SNAPSHOTS_DIR)


def snapshot_formats(driver: object) -> tuple[str, str]:
    """``(disk_format, container_format)`` of the snapshots ``driver`` writes."""
    declared = driver if isinstance(driver, SnapshotSupport) else SnapshotSupport
    return declared.snapshot_disk_format, declared.snapshot_container_format


def snapshot_path(deps: ComputeDeps, image_id: str) -> str:
    """Where the driver writes the snapshot file for ``image_id``."""
    disk_format, container_format = snapshot_formats(deps.driver)
    ext = _EXTENSIONS.get(container_format, disk_format)
    return os.path.join(snapshot_dir(deps), f"{image_id}.{ext}")


def snapshot_instance(deps: ComputeDeps, ctx: RequestContext, req: SnapshotInstance) -> None:
    act = IMAGE_ACTIONS[req.kind]
    uuid = req.instance_uuid
    path = snapshot_path(deps, req.image_id)
    try:
        if not _write_disk(deps, ctx, req, act, path):
            return
        try:
            client = _client(deps)
            _record_formats(deps, ctx, client, req.image_id)
            client.upload(ctx, req.image_id, path)
        except Exception as exc:
            _fail(deps, ctx, req, act, exc)
            return
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    if req.kind == "backup" and req.rotation is not None:
        # Before the task state clears: a backup is done when its rotation is.
        rotate_backups(deps, ctx, uuid, req.backup_type or "", req.rotation, req.image_id)
    with deps.db.write() as conn:
        done = inst_db.transition(conn, uuid, {"task_state": None},
                                  expected_task=[s.IMAGE_UPLOADING])
        inst_db.finish_event(conn, uuid, ctx.request_id, act.event)
    if not done:
        LOG.info("Instance %s changed during the upload of image %s; the image stays",
                 uuid, req.image_id)
    LOG.info("%s of %s done: image %s", act.record, uuid, req.image_id)


def _client(deps: ComputeDeps) -> ImageClient:
    if deps.image_client is None:
        raise exceptions.ServiceUnavailable(
            f"Compute host {deps.host} has no image service to upload to.")
    return deps.image_client


def _record_formats(deps: ComputeDeps, ctx: RequestContext, client: ImageClient,
                    image_id: str) -> None:
    """Give the queued image the formats of the file the driver wrote, when the API
    recorded others."""
    disk_format, container_format = snapshot_formats(deps.driver)
    image = client.get(ctx, image_id)
    if (image.disk_format, image.container_format) != (disk_format, container_format):
        client.set_formats(ctx, image_id, disk_format=disk_format,
                           container_format=container_format)


def _write_disk(deps: ComputeDeps, ctx: RequestContext, req: SnapshotInstance,
                act: ImageAction, path: str) -> bool:
    """Step 1; False if the snapshot did not go ahead (then the image is gone)."""
    uuid = req.instance_uuid
    with deps.locks.get(uuid):
        with deps.db.write() as conn:
            started = inst_db.transition(conn, uuid, {"task_state": s.IMAGE_PENDING_UPLOAD},
                                         expected_task=[act.task_state])
            row = inst_db.get(conn, uuid) if started else None
            if row is not None:
                inst_db.start_event(conn, uuid, ctx.request_id, act.event, deps.host)
        if row is None:
            LOG.info("Skipping %s of %s: the instance changed meanwhile", act.record, uuid)
            _delete_image(deps, ctx, req.image_id)
            return False
        try:
            driver = require(deps.driver, SnapshotSupport, act.record)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            driver.snapshot(from_row(row), path)
            with deps.db.write() as conn:
                if not inst_db.transition(conn, uuid, {"task_state": s.IMAGE_UPLOADING},
                                          expected_task=[s.IMAGE_PENDING_UPLOAD]):
                    raise exceptions.Conflict(f"Instance {uuid} changed during the snapshot.")
        except Exception as exc:
            _fail(deps, ctx, req, act, exc)
            return False
    return True


def _fail(deps: ComputeDeps, ctx: RequestContext, req: SnapshotInstance, act: ImageAction,
          exc: Exception) -> None:
    LOG.warning("%s of %s failed: %s", act.record, req.instance_uuid, exc)
    _delete_image(deps, ctx, req.image_id)
    code = exc.status if isinstance(exc, exceptions.NovalithError) else 500
    with deps.db.write() as conn:
        inst_db.transition(conn, req.instance_uuid, {"task_state": None},
                           expected_task=[act.task_state, *act.steps])
        inst_db.add_fault(conn, req.instance_uuid, exc, code=code, host=deps.host)
        inst_db.finish_event(conn, req.instance_uuid, ctx.request_id, act.event, exc=exc)


def _delete_image(deps: ComputeDeps, ctx: RequestContext, image_id: str) -> None:
    """Best effort: a half-made image must not stay behind."""
    if deps.image_client is None:
        return
    try:
        deps.image_client.delete(ctx, image_id)
    except exceptions.NotFound:
        pass
    except Exception:
        LOG.exception("Could not delete the unfinished image %s", image_id)


def abandon_unfinished(deps: ComputeDeps, instance_uuid: str) -> list[str]:
    """Delete the images a snapshot or backup of ``instance_uuid`` left unfinished
    (queued or saving) when the compute service stopped mid-way; returns their ids.
    Called by the start-up reconcile for an instance found in an image task state."""
    if deps.image_client is None:
        return []
    ctx = admin_context()
    gone = []
    try:
        for image in deps.image_client.list(ctx, instance_uuid=instance_uuid):
            if (image.status in ("queued", "saving")
                    and image.properties.get("instance_uuid") == instance_uuid
                    and image.properties.get("image_type") in ("snapshot", "backup")):
                deps.image_client.delete(ctx, image.id)
                gone.append(image.id)
    except exceptions.NovalithError as exc:
        LOG.warning("Could not remove unfinished images of %s: %s", instance_uuid, exc)
    if gone:
        LOG.info("Removed images left unfinished by a snapshot of %s: %s", instance_uuid,
                 ", ".join(gone))
    return gone


def rotate_backups(deps: ComputeDeps, ctx: RequestContext, instance_uuid: str,
                   backup_type: str, rotation: int, newest: str | None = None) -> list[str]:
    """Delete all but the newest ``rotation`` backups of ``instance_uuid`` with
    ``backup_type``; returns the ids deleted. The image just made counts as newest."""
    client = _client(deps)
    backups = client.list(ctx, instance_uuid=instance_uuid, image_type="backup",
                          backup_type=backup_type)
    backups = [b for b in backups
               if b.properties.get("instance_uuid") == instance_uuid
               and b.properties.get("image_type") == "backup"
               and b.properties.get("backup_type") == backup_type]
    # The client lists newest first; the image just made is first whatever the clock says.
    backups.sort(key=lambda b: b.id != newest)
    deleted = []
    for image in backups[max(rotation, 0):]:
        try:
            client.delete(ctx, image.id)
            deleted.append(image.id)
        except exceptions.NotFound:
            pass
        except exceptions.NovalithError as exc:
            LOG.warning("Backup rotation could not delete image %s: %s", image.id, exc)
    if deleted:
        LOG.info("Backup rotation of %s (%s, keep %d) deleted %s", instance_uuid, backup_type,
                 rotation, ", ".join(deleted))
    return deleted
