"""rebuild: a new image for the same server, on the same host."""

from __future__ import annotations

import secrets
import string
from typing import Any

import msgspec
from fastapi import Response

from novalith import exceptions
from novalith.api.compute import metadata_rules, move_api
from novalith.api.compute.actions import action
from novalith.api.compute.server_views import ServerView
from novalith.api.deps import Call
from novalith.api.responses import JSON
from novalith.conductor.rpcapi import PreviousImage, RebuildServer
from novalith.db import images as image_db
from novalith.db import instances as inst_db
from novalith.objects.specs import FlavorSpec, ImageMeta

_PW_CHARS = string.ascii_letters + string.digits
_ALLOWED = {"imageRef", "name", "adminPass", "metadata", "preserve_ephemeral", "accessIPv4",
            "accessIPv6", "OS-DCF:diskConfig", "personality"}
# What the rebuild answer leaves out of the server (its own view until 2.75).
_NOT_SHOWN = ("OS-EXT-", "OS-SRV-USG:", "os-extended-volumes:", "key_name", "config_drive",
              "host_status", "security_groups")


def _image(conn: Any, call: Call, ref: Any, flavor: FlavorSpec) -> ImageMeta:
    if not isinstance(ref, str) or not ref.strip():
        raise exceptions.ValidationError(field="imageRef", detail="Must be a non-empty string.")
    image_id = ref.rstrip("/").rsplit("/", 1)[-1]
    row = image_db.visible(conn, image_id, call.ctx.project_id, call.ctx.is_admin)
    if row is None:
        raise exceptions.Invalid(f"Image {image_id} could not be found.")
    if row["status"] != "active":
        raise exceptions.Invalid(f"Image {image_id} is not active.")
    if (row["min_ram"] or 0) > flavor.memory_mb:
        raise exceptions.Invalid("Flavor's memory is too small for requested image.")
    if flavor.root_gb and (row["min_disk"] or 0) > flavor.root_gb:
        raise exceptions.Invalid("Flavor's disk is too small for requested image.")
    return image_db.to_meta(row)


def _previous_image(row: Any, sysmeta: dict[str, Any]) -> PreviousImage:
    """What the conductor puts back if the host refuses a new image."""
    meta = sysmeta.get("image")
    return PreviousImage(image_ref=row["image_ref"] or "", kernel_id=row["kernel_id"],
                         ramdisk_id=row["ramdisk_id"],
                         meta=msgspec.convert(meta, ImageMeta) if meta else None)


def _values(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """Instance columns the request changes at once (name, metadata, addresses...)."""
    values: dict[str, Any] = {}
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 255 or not name.strip():
            raise exceptions.ValidationError(field="name",
                                             detail="The name must be 1-255 characters, "
                                                    "not blank.")
        values["display_name"] = name
    if "metadata" in body:
        values["metadata"] = metadata_rules.check_metadata(body["metadata"])
    for key, column in (("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6")):
        if key in body:
            if body[key] is not None and not isinstance(body[key], str):
                raise exceptions.ValidationError(field=key, detail="Must be a string.")
            values[column] = body[key] or None
    if "description" in body:
        desc = body["description"]
        if desc is not None and (not isinstance(desc, str) or len(desc) > 255):
            raise exceptions.ValidationError(field="description",
                                             detail="At most 255 characters, or null.")
        values["display_description"] = desc
    if body.get("OS-DCF:diskConfig", "AUTO") not in ("AUTO", "MANUAL"):
        raise exceptions.ValidationError(field="OS-DCF:diskConfig",
                                         detail="Must be one of 'AUTO', 'MANUAL'.")
    if "personality" in body and not isinstance(body["personality"], list):
        raise exceptions.ValidationError(field="personality", detail="Must be a list.")
    return values


@action("rebuild")
def rebuild(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:servers:rebuild")
    allowed = set(_ALLOWED)
    if call.version.at_least("2.19"):
        allowed.add("description")
    body = move_api.body_dict(args, "rebuild", allowed, {"imageRef"})
    password = body.get("adminPass")
    if password is not None and not isinstance(password, str):
        raise exceptions.ValidationError(field="adminPass", detail="Must be a string.")
    preserve = move_api.boolean(body.get("preserve_ephemeral", False), "preserve_ephemeral")
    values = _values(call, body)
    move_api.precheck(call, row, "rebuild")
    flavor = msgspec.convert(row["flavor"], FlavorSpec)
    with call.db.write() as conn:
        image = _image(conn, call, body["imageRef"], flavor)
        if "metadata" in values:
            move_api.check_metadata_count(conn, call, row["project_id"], len(values["metadata"]))
        sysmeta = dict(row["system_metadata"] or {})
        previous = _previous_image(row, sysmeta)
        sysmeta["image"] = msgspec.to_builtins(image)
        values.update(image_ref=image.id, system_metadata=sysmeta,
                      kernel_id=image.properties.get("kernel_id"),
                      ramdisk_id=image.properties.get("ramdisk_id"))
        move_api.start_move(call, conn, row, "rebuild", values=values)
        updated = inst_db.get(conn, row["uuid"])
    if password is None and call.services.config.enable_instance_password:
        password = "".join(secrets.choice(_PW_CHARS) for _ in range(12))
    req = RebuildServer(instance_uuid=row["uuid"], admin_password=password,
                        preserve_ephemeral=preserve,
                        previous_image=previous if previous.image_ref != image.id else None)
    move_api.deliver(call, row, "rebuild", None, lambda: call.services.conductor.cast(
        call.ctx, "rebuild_server", req))
    assert updated is not None
    server = {k: v for k, v in ServerView(call).detail(updated).items()
              if not k.startswith(_NOT_SHOWN)}
    if password is not None and call.services.config.enable_instance_password:
        server["adminPass"] = password
    return JSON({"server": server}, status_code=202)
