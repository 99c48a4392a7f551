"""``/v2/schemas/*``: JSON schemas of an image, an image list, a member and a member list,
for clients that fetch them (python-glanceclient, openstacksdk's ``get_*_schema``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from novalith.api.image.common import GlanceRoute
from novalith.api.responses import JSON
from novalith.image.records import CONTAINER_FORMATS, DISK_FORMATS, STATUSES, VISIBILITIES

router = APIRouter(route_class=GlanceRoute)
_UUID = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-"
         "([0-9a-fA-F]){12}$")
_STAMP = {"type": "string", "readOnly": True}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def image_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {"type": "string", "pattern": _UUID, "description": "Image identifier."},
        "name": _nullable("string", maxLength=255, description="Descriptive name."),
        "status": {"type": "string", "readOnly": True, "enum": list(STATUSES)},
        "visibility": {"type": "string", "enum": list(VISIBILITIES)},
        "protected": {"type": "boolean", "description": "If true, the image cannot be "
                                                        "deleted."},
        "os_hidden": {"type": "boolean", "description": "If true, default lists omit it."},
        "checksum": _nullable("string", readOnly=True, maxLength=32,
                              description="MD5 of the image data."),
        "os_hash_algo": _nullable("string", readOnly=True, maxLength=64),
        "os_hash_value": _nullable("string", readOnly=True, maxLength=128),
        "owner": _nullable("string", maxLength=255, description="Owning project."),
        "size": _nullable("integer", readOnly=True),
        "virtual_size": _nullable("integer", readOnly=True),
        "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS]},
        "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS]},
        "created_at": _STAMP, "updated_at": _STAMP,
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
        "min_ram": {"type": "integer", "minimum": 0, "description": "RAM (MB) needed to "
                                                                     "boot."},
        "min_disk": {"type": "integer", "minimum": 0, "description": "Disk (GB) needed to "
                                                                      "boot."},
        "self": {"type": "string", "readOnly": True},
        "file": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
    }
    return {"name": "image", "properties": props,
            "additionalProperties": {"type": "string"},
            "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def member_schema() -> dict[str, Any]:
    return {"name": "member", "properties": {
        "image_id": {"type": "string", "pattern": _UUID},
        "member_id": {"type": "string", "description": "The member's project id."},
        "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
        "created_at": _STAMP, "updated_at": _STAMP,
        "schema": {"type": "string", "readOnly": True}}}


@router.get("/v2/schemas/image")
def image() -> JSON:
    return JSON(image_schema())


@router.get("/v2/schemas/images")
def images() -> JSON:
    return JSON({"name": "images", "properties": {
        "images": {"type": "array", "items": image_schema()},
        "schema": {"type": "string"}, "first": {"type": "string"},
        "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]})


@router.get("/v2/schemas/member")
def member() -> JSON:
    return JSON(member_schema())


@router.get("/v2/schemas/members")
def members() -> JSON:
    return JSON({"name": "members", "properties": {
        "members": {"type": "array", "items": member_schema()},
        "schema": {"type": "string"}}, "links": [{"rel": "describedby", "href": "{schema}"}]})
