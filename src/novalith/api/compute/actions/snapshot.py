"""createImage and createBackup: a new image made from the server's root disk.

The API validates the body, moves the instance to task_state ``image_snapshot`` /
``image_backup`` (one conditional write; the state table is
``compute.state_machine.IMAGE_ACTIONS``), creates the image in the image service
(status ``queued``, owned by the caller's project, private) and casts
``snapshot_instance`` to the instance's host, which uploads the data. If the image
cannot be created the task state is put back and nothing else changed.

Response: 202; from microversion 2.45 the body ``{"image_id": ...}``, before it a
``Location`` header with the image's URL (createBackup sends it only when
``rotation`` > 0, as Nova does).

Image properties: the instance's image properties (``hypervisor_type``,
``architecture``, ``os_command_line``, ... so that the snapshot boots where its server
could), less the non-inheritable ones (``[DEFAULT] non_inheritable_image_properties``
and, whatever that says, the image signature and volume encryption key properties,
which belong to one image's data), the request's ``metadata``, then ``image_type``
(snapshot/backup), ``instance_uuid``, ``base_image_ref``, ``user_id``, ``owner_project_name``,
``owner_user_name`` and, for backups, ``backup_type`` (the request cannot override
these, so rotation always finds its own backups). ``min_disk`` is the larger of the
image's and the flavor's root disk, ``min_ram`` the image's.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Response

from novalith import exceptions
from novalith.api.compute.actions import action, check_capability, check_not_locked
from novalith.api.deps import Call
from novalith.api.responses import JSON
from novalith.compute.rpcapi import SnapshotInstance
from novalith.compute.state_machine import IMAGE_ACTIONS
from novalith.db import instances as inst_db
from novalith.image.client import ImageClient

#: Properties that never pass from the instance's image to its snapshot, whatever
#: ``[DEFAULT] non_inheritable_image_properties`` says (as in Nova): they describe the
#: data of that one image.
NON_INHERITABLE = frozenset({"cinder_encryption_key_id",
                             "cinder_encryption_key_deletion_policy", "img_signature",
                             "img_signature_hash_method", "img_signature_certificate_uuid",
                             "img_signature_key_type"})
#: Nova's default image metadata quota (``[quota] metadata_items``).
METADATA_ITEMS = 128
_META_KEY = re.compile(r"^[a-zA-Z0-9-_:. ]{1,255}$")
_DIGITS = re.compile(r"^[0-9]+$")


def _fields(args: Any, name: str, required: tuple[str, ...], optional: tuple[str, ...]
            ) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise exceptions.ValidationError(field=name, detail=f"{args!r} is not of type 'object'")
    unknown = sorted(set(args) - set(required) - set(optional))
    if unknown:
        raise exceptions.ValidationError(
            field=name, detail=f"Additional properties are not allowed ({unknown!r} "
            f"{'was' if len(unknown) == 1 else 'were'} unexpected)")
    for key in required:
        if key not in args:
            raise exceptions.ValidationError(field=name,
                                             detail=f"'{key}' is a required property")
    return args


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise exceptions.ValidationError(field="name", detail=f"{value!r} is not a string")
    if not 1 <= len(value) <= 255:
        raise exceptions.ValidationError(field="name",
                                         detail="The name must be 1 to 255 characters long.")
    if value != value.strip():
        raise exceptions.ValidationError(
            field="name", detail="The name may not begin or end with whitespace.")
    return value


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise exceptions.ValidationError(field="metadata",
                                         detail=f"{value!r} is not of type 'object'")
    for key, val in value.items():
        if not _META_KEY.match(key):
            raise exceptions.ValidationError(
                field="metadata", detail=f"The metadata key {key!r} is not allowed.")
        if not isinstance(val, str) or len(val) > 255:
            raise exceptions.ValidationError(
                field="metadata",
                detail=f"The value of {key!r} must be a string of at most 255 characters.")
    if len(value) > METADATA_ITEMS:
        raise exceptions.Forbidden("Maximum number of metadata items exceeds "
                                   f"{METADATA_ITEMS}.")
    return dict(value)


def _rotation(value: Any) -> int:
    if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _DIGITS.match(value))):
        raise exceptions.ValidationError(
            field="rotation", detail=f"{value!r} is not a non-negative integer.")
    rotation = int(value)
    if rotation < 0:
        raise exceptions.ValidationError(field="rotation",
                                         detail=f"{value!r} is less than the minimum of 0")
    return rotation


def _properties(call: Call, row: Any, kind: str, metadata: dict[str, str],
                **extra: str) -> tuple[dict[str, Any], int, int]:
    """The new image's properties, min_disk and min_ram (see the module docstring)."""
    image = (row["system_metadata"] or {}).get("image") or {}
    skip = NON_INHERITABLE | call.services.config.non_inheritable_image_properties
    props = {k: v for k, v in (image.get("properties") or {}).items() if k not in skip}
    props.update(metadata)
    props.update({"image_type": kind, "instance_uuid": row["uuid"],
                  "base_image_ref": row["image_ref"] or "", "user_id": call.ctx.user_id or "",
                  **extra})
    if call.ctx.project_name:
        props["owner_project_name"] = call.ctx.project_name
    if call.ctx.user_name:
        props["owner_user_name"] = call.ctx.user_name
    min_disk = max(int(image.get("min_disk") or 0), int(row["root_gb"] or 0))
    return props, min_disk, int(image.get("min_ram") or 0)


def _client(call: Call) -> ImageClient:
    if call.services.image_client is None:
        raise exceptions.ServiceUnavailable("The image service is not available.")
    return call.services.image_client


def _start(call: Call, row: Any, kind: str, name: str, props: dict[str, Any], min_disk: int,
           min_ram: int, backup_type: str | None = None, rotation: int | None = None) -> str:
    """Set the task state, create the image, record the action, cast; the image id."""
    act = IMAGE_ACTIONS[kind]
    check_not_locked(call, row)
    client = _client(call)
    check_capability(call, row, "supports_snapshot", act.record)
    uuid = row["uuid"]
    if row["host"] is None:
        raise exceptions.InstanceInvalidState(action=act.record, instance_id=uuid,
                                              attr="vm_state", state=row["vm_state"])
    with call.db.write() as conn:
        ok = inst_db.transition(conn, uuid, {"task_state": act.task_state},
                                expected_vm=act.vm_states, expected_task=act.task_states)
        if not ok:
            current = inst_db.get(conn, uuid) or row
            bad_task = current["task_state"] not in act.task_states
            raise exceptions.InstanceInvalidState(
                action=act.record, instance_id=uuid,
                attr="task_state" if bad_task else "vm_state",
                state=current["task_state"] if bad_task else current["vm_state"])
    try:
        image = client.create(call.ctx, name=name, disk_format="qcow2",
                              container_format="bare", visibility="private",
                              properties=props, min_disk=min_disk, min_ram=min_ram)
    except BaseException:
        with call.db.write() as conn:
            inst_db.transition(conn, uuid, {"task_state": None},
                               expected_task=[act.task_state])
        raise
    with call.db.write() as conn:
        inst_db.start_action(conn, uuid, act.record, call.ctx)
    call.services.compute.cast(call.ctx, "snapshot_instance", SnapshotInstance(
        instance_uuid=uuid, image_id=image.id, kind=kind, backup_type=backup_type,
        rotation=rotation), server=row["host"])
    return image.id


def _response(call: Call, image_id: str, location: str | None) -> Response:
    if call.version.at_least("2.45"):
        return JSON({"image_id": image_id}, status_code=202)
    response = Response(status_code=202)
    if location is not None:
        response.headers["Location"] = location
    return response


@action("createImage")
def create_image(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:servers:create_image")
    body = _fields(args, "createImage", ("name",), ("metadata",))
    name = _name(body["name"])
    props, min_disk, min_ram = _properties(call, row, "snapshot", _metadata(body.get("metadata")))
    image_id = _start(call, row, "snapshot", name, props, min_disk, min_ram)
    return _response(call, image_id, f"{call.root}/image/v2/images/{image_id}")


@action("createBackup")
def create_backup(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:os-create-backup")
    body = _fields(args, "createBackup", ("name", "backup_type", "rotation"), ("metadata",))
    name = _name(body["name"])
    backup_type = body["backup_type"]
    if not isinstance(backup_type, str):
        raise exceptions.ValidationError(field="backup_type",
                                         detail=f"{backup_type!r} is not a string")
    rotation = _rotation(body["rotation"])
    props, min_disk, min_ram = _properties(call, row, "backup", _metadata(body.get("metadata")),
                                           backup_type=backup_type)
    image_id = _start(call, row, "backup", name, props, min_disk, min_ram,
                      backup_type=backup_type, rotation=rotation)
    return _response(call, image_id,
                     f"{call.base}/images/{image_id}" if rotation > 0 else None)
