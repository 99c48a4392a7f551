"""Checks of what a client sends for an image: values, reserved names, quotas.

Messages follow Glance's (jsonschema's wording for bad values). Each check raises
``Invalid`` (400), ``Forbidden`` (403) or ``PayloadTooLarge`` (413).
"""

from __future__ import annotations

import re
from typing import Any

from novalith import exceptions
from novalith.image.records import (
    AMAZON_FORMATS,
    CONTAINER_FORMATS,
    DISK_FORMATS,
    READ_ONLY,
    RESERVED,
    VISIBILITIES,
)

MAX_INT = 2**31 - 1
_UUID = re.compile(r"^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                   r"-([0-9a-fA-F]){12}$")


def schema_error(detail: str, schema: str = "image") -> exceptions.Invalid:
    return exceptions.Invalid(f"Provided object does not match schema '{schema}': {detail}")


def check_name_allowed(key: str, *, creating: bool) -> None:
    """403 for attributes no client may set (``id`` only at creation)."""
    if key in RESERVED:
        raise exceptions.Forbidden(f"Attribute '{key}' is reserved.")
    if key in READ_ONLY and not (creating and key == "id"):
        raise exceptions.Forbidden(f"Attribute '{key}' is read-only.")


def _string(key: str, value: Any, max_len: int, nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise schema_error(f"{value!r} is not of type 'string'")
    if len(value) > max_len:
        raise schema_error(f"{value!r} is too long (at most {max_len} characters for {key})")
    return value


def _enum(value: Any, allowed: tuple[str, ...], nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if value not in allowed:
        raise schema_error(f"{value!r} is not one of {list(allowed)}")
    return str(value)


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise schema_error(f"{value!r} is not of type 'integer'")
    if value < 0 or value > MAX_INT:
        raise schema_error(f"{value!r} is out of range for {key} (0 to {MAX_INT})")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise schema_error(f"{value!r} is not of type 'boolean'")
    return value


def core_value(key: str, value: Any) -> Any:
    """The checked value of a settable core attribute."""
    if key == "name":
        return _string(key, value, 255, nullable=True)
    if key == "disk_format":
        return _enum(value, DISK_FORMATS, nullable=True)
    if key == "container_format":
        return _enum(value, CONTAINER_FORMATS, nullable=True)
    if key in ("min_disk", "min_ram"):
        return _integer(key, value)
    if key == "visibility":
        return _enum(value, VISIBILITIES, nullable=False)
    if key in ("protected", "os_hidden"):
        return _boolean(value)
    if key == "owner":
        return _string(key, value, 255, nullable=True)
    if key == "tags":
        return tags_value(value)
    if key == "id":
        return image_id(value)
    raise AssertionError(key)


def image_id(value: Any) -> str:
    if not isinstance(value, str):
        raise schema_error(f"{value!r} is not of type 'string'")
    if not _UUID.match(value):
        raise schema_error(f"{value!r} does not match '{_UUID.pattern}'")
    return value


def tag(value: Any) -> str:
    checked = _string("tag", value, 255, nullable=False)
    assert checked is not None
    if not checked:
        raise schema_error("'' is too short (a tag needs at least one character)")
    return checked


def tags_value(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise schema_error(f"{value!r} is not of type 'array'")
    out: list[str] = []
    for item in value:
        item = tag(item)
        if item not in out:
            out.append(item)
    return out


def property_value(key: str, value: Any) -> str:
    """Custom properties are strings, as Glance's image schema says."""
    if not key or len(key) > 255:
        raise schema_error(f"property name {key!r} must be 1 to 255 characters")
    checked = _string(key, value, 65535, nullable=False)
    assert checked is not None
    return checked


def formats(disk_format: str | None, container_format: str | None) -> None:
    if (disk_format in AMAZON_FORMATS or container_format in AMAZON_FORMATS) and (
            disk_format is not None and container_format is not None
            and disk_format != container_format):
        raise exceptions.Invalid(
            "Invalid mix of disk and container formats. When setting a disk or container "
            "format to one of 'aki', 'ari', or 'ami', the container and disk formats must "
            "match.")


def quota(what: str, count: int, limit: int) -> None:
    if 0 <= limit < count:
        raise exceptions.PayloadTooLarge(
            f"Maximum number of {what} exceeded: {count} (the limit is {limit}).")
