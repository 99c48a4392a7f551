"""Build the driver-facing InstanceSpec from an instance row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec, instance_name


def from_row(row: Mapping[Any, Any]) -> InstanceSpec:
    """The instance row keeps the flavor and image as they were at boot."""
    image = row["system_metadata"].get("image")
    return InstanceSpec(
        uuid=row["uuid"], id=row["id"], name=instance_name(row["id"]),
        display_name=row["display_name"], hostname=row["hostname"],
        project_id=row["project_id"], user_id=row["user_id"],
        flavor=msgspec.convert(row["flavor"], FlavorSpec),
        image=msgspec.convert(image, ImageMeta) if image else None,
        user_data=row["user_data"], key_data=row["key_data"],
        metadata=dict(row["metadata"] or {}), config_drive=bool(row["config_drive"]),
        availability_zone=row["availability_zone"], key_name=row.get("key_name"),
        injected_files=[tuple(f) for f in row["system_metadata"].get("injected_files", [])],
    )
