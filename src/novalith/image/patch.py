"""JSON-patch of an image (``application/openstack-images-v2.1-json-patch``), as Glance
reads it: one-level paths only; ``add`` sets (core attribute, tags or custom
property); ``replace`` needs the property to exist (409 otherwise); ``remove`` works
on custom properties only (403 for core attributes, 409 for a missing property).
Read-only and reserved attributes are refused (403) before anything changes, and a
patch applies all its operations or none.

The older v2.0 form (``{"replace": "/name", "value": ...}``) is read too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from novalith import exceptions
from novalith.image import validation
from novalith.image.records import SETTABLE

MEDIA_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
_OPS = ("add", "replace", "remove")


@dataclass(frozen=True)
class Op:
    op: str
    name: str
    value: Any = None


@dataclass
class ImageState:
    """The client-editable part of an image."""

    core: dict[str, Any]
    properties: dict[str, str]
    tags: list[str] = field(default_factory=list)


def _decode_pointer(path: Any) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise exceptions.Invalid(f"Pointer `{path}` does not start with \"/\".")
    parts = path[1:].split("/")
    if len(parts) != 1 or not parts[0]:
        raise exceptions.Invalid(f"Invalid JSON pointer for this resource: '{path}'")
    raw = parts[0]
    if "~" in raw.replace("~0", "").replace("~1", ""):
        raise exceptions.Invalid(f"Pointer `{path}` contains \"~\" not part of a recognized "
                                 "escape sequence.")
    return raw.replace("~1", "/").replace("~0", "~")


def parse(body: Any, media_type: str) -> list[Op]:
    """The operations of a patch body, checked for shape and forbidden names."""
    if not isinstance(body, list):
        raise exceptions.Invalid("Request body must be a JSON array of operation objects.")
    v20 = media_type.endswith("v2.0-json-patch")
    ops: list[Op] = []
    for raw in body:
        if not isinstance(raw, dict):
            raise exceptions.Invalid("Operations must be JSON objects.")
        if v20:
            names = [k for k in _OPS if k in raw]
            if len(names) != 1:
                raise exceptions.Invalid('Operation objects must contain exactly one member '
                                         'named "add", "remove", or "replace".')
            op, path = names[0], raw[names[0]]
        else:
            op, path = str(raw.get("op")), raw.get("path")
            if op not in _OPS:
                raise exceptions.Invalid(f"Invalid operation: `{op}`.")
            if "path" not in raw:
                raise exceptions.Invalid("Unable to find 'path' in JSON Schema change")
        name = _decode_pointer(path)
        validation.check_name_allowed(name, creating=False)
        if op != "remove" and "value" not in raw:
            raise exceptions.Invalid("Unable to find `value` in JSON Schema change. A `value` "
                                     "is required for this operation.")
        ops.append(Op(op=str(op), name=name, value=raw.get("value")))
    return ops


def format_patch(disk_format: str, container_format: str) -> list[dict[str, str]]:
    """The patch body that sets both formats of a (queued) image."""
    return [{"op": "replace", "path": "/disk_format", "value": disk_format},
            {"op": "replace", "path": "/container_format", "value": container_format}]


def apply(state: ImageState, ops: list[Op]) -> ImageState:
    """A new state with every operation applied, or an error and nothing changed."""
    new = ImageState(core=dict(state.core), properties=dict(state.properties),
                     tags=list(state.tags))
    for op in ops:
        core = op.name in SETTABLE
        if op.op == "remove":
            if core:
                raise exceptions.Forbidden(f"Property {op.name} may not be removed.")
            if op.name not in new.properties:
                raise exceptions.Conflict(f"Property {op.name} does not exist.")
            del new.properties[op.name]
        elif core:
            value = validation.core_value(op.name, op.value)
            if op.name == "tags":
                new.tags = value
            else:
                new.core[op.name] = value
        else:
            if op.op == "replace" and op.name not in new.properties:
                raise exceptions.Conflict(f"Property {op.name} does not exist.")
            new.properties[op.name] = validation.property_value(op.name, op.value)
    return new
