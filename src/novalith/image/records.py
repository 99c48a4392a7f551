"""Image vocabulary (formats, statuses, which attributes may be set) and the views of
an image and a member as the Image API and :class:`ImageRecord` show them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from novalith.image.client import ImageRecord

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
#: ami/aki/ari disk and container formats must be the same when either is one of them.
AMAZON_FORMATS = ("ami", "aki", "ari")
VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
STATUSES = ("queued", "saving", "active", "killed", "deleted", "pending_delete",
            "deactivated", "uploading", "importing")

#: Attributes the service computes: setting them is a 403, as in Glance.
READ_ONLY = frozenset({"created_at", "updated_at", "status", "checksum", "os_hash_algo",
                       "os_hash_value", "size", "virtual_size", "direct_url", "self", "file",
                       "schema", "id", "stores"})
#: Attributes no client may use at all (403).
RESERVED = frozenset({"location", "locations", "deleted", "deleted_at"})
#: Core attributes a client may set (``id`` only at creation).
SETTABLE = ("name", "disk_format", "container_format", "min_disk", "min_ram", "visibility",
            "protected", "os_hidden", "owner", "tags")
#: Core attributes every image body carries (custom properties go beside them).
_CORE = ("id", "name", "status", "disk_format", "container_format", "size", "virtual_size",
         "checksum", "os_hash_algo", "os_hash_value", "min_disk", "min_ram", "visibility",
         "protected", "os_hidden", "owner")
CORE_NAMES = frozenset(_CORE) | {"tags"} | READ_ONLY


def iso(ts: dt.datetime | None) -> str | None:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ") if ts is not None else None


def image_view(row: Mapping[Any, Any], tags: Iterable[str]) -> dict[str, Any]:
    """The Image API body of one image (custom properties at the top level)."""
    body: dict[str, Any] = dict(row["properties"] or {})
    body.update({k: row[k] for k in _CORE})
    body["min_disk"] = body["min_disk"] or 0
    body["min_ram"] = body["min_ram"] or 0
    image_id = row["id"]
    body.update({"tags": sorted(tags), "created_at": iso(row["created_at"]),
                 "updated_at": iso(row["updated_at"]), "self": f"/v2/images/{image_id}",
                 "file": f"/v2/images/{image_id}/file", "schema": "/v2/schemas/image"})
    return body


def member_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {"image_id": row["image_id"], "member_id": row["member"], "status": row["status"],
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
            "schema": "/v2/schemas/member"}


def to_record(row: Mapping[Any, Any]) -> ImageRecord:
    return ImageRecord(
        id=row["id"], name=row["name"], disk_format=row["disk_format"],
        container_format=row["container_format"], size=row["size"],
        min_disk=row["min_disk"] or 0, min_ram=row["min_ram"] or 0, checksum=row["checksum"],
        properties=dict(row["properties"] or {}), status=row["status"], owner=row["owner"],
        visibility=row["visibility"], os_hash_algo=row["os_hash_algo"],
        os_hash_value=row["os_hash_value"], created_at=iso(row["created_at"]))
