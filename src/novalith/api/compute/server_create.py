"""POST /servers: validate everything first, write the rows, hand off to the conductor."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection, Table, select

from novalith import exceptions
from novalith.api.compute import server_tenancy
from novalith.api.compute.server_schemas import ServerCreateBody
from novalith.api.deps import Call
from novalith.conductor.rpcapi import BuildInstances
from novalith.db import flavors as flavor_db
from novalith.db import images as image_db
from novalith.db import instances as inst_db
from novalith.db.base import utcnow
from novalith.db.models import Service
from novalith.objects import states
from novalith.objects.specs import FlavorSpec, ImageMeta, RequestSpec

SVC: Table = Service.__table__  # type: ignore[assignment]
_PW_CHARS = string.ascii_letters + string.digits


@dataclass
class Created:
    uuids: list[str]
    reservation_id: str
    admin_password: str | None


def _ref_id(ref: str) -> str:
    return ref.rstrip("/").rsplit("/", 1)[-1]


def _hostname(name: str) -> str:
    host = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return host[:63] or "server"


def _flavor(conn: Connection, call: Call, ref: str) -> tuple[int, FlavorSpec]:
    row = flavor_db.get(conn, _ref_id(ref))
    if row is None or row["disabled"] or not (row["is_public"] or call.ctx.is_admin):
        raise exceptions.Invalid(f"Flavor {ref} could not be found.")
    return row["id"], flavor_db.to_spec(row, flavor_db.extra_specs(conn, row["id"]))


def _image(conn: Connection, call: Call, ref: str, flavor: FlavorSpec) -> ImageMeta:
    image_id = _ref_id(ref)
    row = image_db.visible(conn, image_id, call.ctx.project_id, call.ctx.is_admin)
    if row is None:
        raise exceptions.Invalid(f"Image {image_id} could not be found.")
    if row["status"] != "active":
        raise exceptions.Invalid(f"Image {image_id} is not active.")
    if (row["min_ram"] or 0) > flavor.memory_mb:
        raise exceptions.Invalid("Flavor's memory is too small for requested image.")
    if flavor.root_gb:
        if (row["min_disk"] or 0) > flavor.root_gb:
            raise exceptions.Invalid("Flavor's disk is too small for requested image.")
        if (row["size"] or 0) > flavor.root_gb * 1024**3:
            raise exceptions.Invalid(f"Flavor's disk is too small for requested image. "
                                     f"Flavor disk is {flavor.root_gb * 1024**3} bytes, image "
                                     f"is {row['size']} bytes.")
    return image_db.to_meta(row)


def _zone(conn: Connection, call: Call, requested: str | None
          ) -> tuple[str | None, str | None, str | None]:
    """Parse ``az``, ``az:host`` or ``az:host:node``; forced hosts are admin-only."""
    if not requested:
        return None, None, None
    az, _, rest = requested.partition(":")
    host, _, node = rest.partition(":")
    if (host or node) and not call.ctx.is_admin:
        raise exceptions.Forbidden(action="os_compute_api:servers:create:forced_host")
    zones = server_tenancy.zones(conn, call)  # from host aggregates
    if az and az not in zones:
        raise exceptions.Invalid("The requested availability zone is not available")
    known = select(SVC.c.id).where(SVC.c.host == host, SVC.c.binary == "nova-compute")
    if host and conn.execute(known).first() is None:
        raise exceptions.Invalid(f"Compute host {host} could not be found.")
    return az or None, host or None, node or None


def _check_networks(call: Call, networks: Any) -> None:
    if networks is None:
        if call.version.at_least("2.37"):
            raise exceptions.ValidationError(field="networks",
                                             detail="'networks' is a required property")
        return
    if isinstance(networks, list):
        for net in networks:
            ref = net.uuid or net.port
            raise exceptions.Invalid(f"Network {ref} could not be found.")


def _check_block_devices(bdms: list[dict[str, Any]], image_ref: str | None) -> None:
    """Only the image-backed local root disk (what clients send for a plain image boot)
    is accepted; volumes need a volume service this cloud does not have."""
    for bdm in bdms:
        source, dest = bdm.get("source_type"), bdm.get("destination_type", "local")
        if source == "image" and dest == "local":
            if image_ref and bdm.get("uuid") not in (None, _ref_id(image_ref)):
                raise exceptions.Invalid("The image of the block device mapping differs "
                                         "from imageRef.")
            continue
        if source == "blank" and dest == "local":
            continue
        raise exceptions.Invalid(f"Block device mapping source {source!r} to {dest!r} is not "
                                 "supported: this cloud has no volume service.")


def _user_data(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise exceptions.Invalid("User data needs to be valid base 64.") from None
    return raw


#: Nova's default quotas for personality files (injected_files, ..._content_bytes).
MAX_INJECTED_FILES = 5
MAX_INJECTED_FILE_BYTES = 10240


def _personality(files: list[Any]) -> list[list[str]]:
    """Personality files as [path, base64 contents] pairs (the config drive writes them)."""
    if len(files) > MAX_INJECTED_FILES:
        raise exceptions.QuotaExceeded("Personality file limit exceeded")
    out = []
    for item in files:
        try:
            data = base64.b64decode(item.contents, validate=True)
        except (binascii.Error, ValueError):
            raise exceptions.Invalid(
                f"Personality content for {item.path} cannot be decoded") from None
        if len(data) > MAX_INJECTED_FILE_BYTES:
            raise exceptions.QuotaExceeded(
                f"Personality file content exceeds maximum {MAX_INJECTED_FILE_BYTES}")
        out.append([item.path, item.contents])
    return out


def create(call: Call, body: ServerCreateBody) -> Created:
    call.require_writer("os_compute_api:servers:create")
    req = body.server
    ctx = call.ctx
    max_count = req.max_count or req.min_count
    if req.min_count > max_count:
        raise exceptions.Invalid("min_count must be <= max_count")
    _check_networks(call, req.networks)
    _check_block_devices(req.block_device_mapping_v2 or [], req.imageRef)
    image_ref = req.imageRef or next(
        (str(b["uuid"]) for b in req.block_device_mapping_v2 or []
         if b.get("source_type") == "image" and str(b.get("boot_index")) == "0" and b.get("uuid")),
        None)
    if not image_ref:
        raise exceptions.ValidationError(field="imageRef",
                                         detail="An image is required to boot a server.")
    if req.description is not None and not call.version.at_least("2.19"):
        raise exceptions.ValidationError(field="description",
                                         detail="Additional properties are not allowed.")
    if req.tags is not None and not call.version.at_least("2.52"):
        raise exceptions.ValidationError(field="tags",
                                         detail="Additional properties are not allowed.")
    user_data = _user_data(req.user_data)
    injected = _personality(req.personality or [])
    hints = body.scheduler_hints or body.os_scheduler_hints or {}
    with call.db.read() as conn:
        flavor_pk, flavor = _flavor(conn, call, req.flavorRef)
        image = _image(conn, call, image_ref, flavor)
        az, force_host, force_node = _zone(conn, call, req.availability_zone)
        key_name, key_data = server_tenancy.keypair(conn, call, req.key_name)
        group = server_tenancy.server_group(conn, call, hints)
    password = None
    if call.services.config.enable_instance_password:
        password = req.adminPass or "".join(secrets.choice(_PW_CHARS) for _ in range(12))
    reservation_id = "r-" + secrets.token_hex(4)
    now = utcnow()
    flavor_dict = msgspec.to_builtins(flavor)
    sysmeta: dict[str, Any] = {"image": msgspec.to_builtins(image)}
    if injected:
        sysmeta["injected_files"] = injected
    rows: list[dict[str, Any]] = []
    for index in range(max_count):
        name = req.name if max_count == 1 else f"{req.name}-{index + 1}"
        rows.append({
            "uuid": str(uuidlib.uuid4()), "display_name": name,
            "display_description": req.description, "hostname": _hostname(name),
            "user_id": ctx.user_id, "project_id": ctx.project_id, "image_ref": image.id,
            "flavor_id": flavor_pk, "flavor": flavor_dict, "vcpus": flavor.vcpus,
            "memory_mb": flavor.memory_mb, "root_gb": flavor.root_gb,
            "ephemeral_gb": flavor.ephemeral_gb, "swap": flavor.swap,
            "vm_state": states.BUILDING, "task_state": states.SCHEDULING, "power_state": 0,
            "requested_az": az, "availability_zone": az, "requested_host": force_host,
            "requested_node": force_node, "attempts": [], "user_data": user_data,
            "key_name": key_name, "key_data": key_data,
            "metadata": dict(req.metadata), "system_metadata": sysmeta,
            "tags": list(req.tags or []), "reservation_id": reservation_id,
            "launch_index": index, "config_drive": "True" if req.config_drive in (
                True, "True", "true") else "",
            "access_ip_v4": req.accessIPv4, "access_ip_v6": req.accessIPv6,
            "kernel_id": image.properties.get("kernel_id"),
            "ramdisk_id": image.properties.get("ramdisk_id"),
            "created_at": now, "updated_at": now, "deleted": False, "locked": False,
            "progress": 0,
        })
    with call.db.write() as conn:
        # Quotas are counted and the rows inserted in this one transaction.
        rows = server_tenancy.reserve(conn, call, rows, req.min_count, group)
        inst_db.create(conn, rows, ctx)
        server_tenancy.join_group(conn, group, rows)
    uuids = [r["uuid"] for r in rows]
    spec = RequestSpec(instance_uuids=uuids, project_id=ctx.project_id or "", flavor=flavor,
                       image=image, availability_zone=az, requested_host=force_host,
                       requested_node=force_node, scheduler_hints=hints)
    try:
        call.services.conductor.cast(ctx, "build_instances", BuildInstances(
            request_spec=spec, admin_passwords={u: password for u in uuids} if password else {}))
    except exceptions.ServiceUnavailable:
        # Not handed to the conductor (broker unreachable): the caller gets a 503, so
        # the servers must not appear later either (issue 6).
        with call.db.write() as conn:
            inst_db.discard_unscheduled(conn, uuids)
        raise
    return Created(uuids=uuids, reservation_id=reservation_id, admin_password=password)
