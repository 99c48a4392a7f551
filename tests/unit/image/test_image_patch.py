"""JSON-patch of images as Glance reads it (pure: no database)."""

from __future__ import annotations

from typing import Any

import pytest

from novalith import exceptions
from novalith.image import patch

V21 = "application/openstack-images-v2.1-json-patch"
V20 = "application/openstack-images-v2.0-json-patch"


def state() -> patch.ImageState:
    core: dict[str, Any] = {"name": "img", "disk_format": "raw", "container_format": "bare",
                            "min_disk": 0, "min_ram": 0, "visibility": "private",
                            "protected": False, "os_hidden": False, "owner": "p1"}
    return patch.ImageState(core=core, properties={"os_distro": "debian"}, tags=["a"])


def apply(ops: Any, media_type: str = V21) -> patch.ImageState:
    return patch.apply(state(), patch.parse(ops, media_type))


def test_add_replace_remove_core_custom_and_tags() -> None:
    new = apply([{"op": "replace", "path": "/name", "value": "renamed"},
                 {"op": "add", "path": "/min_ram", "value": 512},
                 {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
                 {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
                 {"op": "remove", "path": "/os_distro"},
                 {"op": "replace", "path": "/tags", "value": ["x", "y", "x"]},
                 {"op": "add", "path": "/a~1b~0c", "value": "escaped"}])
    assert new.core["name"] == "renamed" and new.core["min_ram"] == 512
    assert new.properties == {"hw_disk_bus": "virtio", "a/b~c": "escaped"}
    assert new.tags == ["x", "y"]


def test_the_v20_form_is_read_too() -> None:
    new = apply([{"replace": "/name", "value": "old-style"}, {"remove": "/os_distro"}], V20)
    assert new.core["name"] == "old-style" and new.properties == {}


def test_add_of_an_existing_property_replaces_it() -> None:
    assert apply([{"op": "add", "path": "/os_distro", "value": "arch"}]
                 ).properties["os_distro"] == "arch"


@pytest.mark.parametrize("name", ["status", "checksum", "size", "id", "os_hash_value",
                                  "created_at", "self", "file", "virtual_size"])
def test_read_only_attributes_are_403(name: str) -> None:
    with pytest.raises(exceptions.Forbidden, match=f"Attribute '{name}' is read-only"):
        apply([{"op": "replace", "path": f"/{name}", "value": "x"}])


@pytest.mark.parametrize("name", ["location", "deleted", "deleted_at"])
def test_reserved_attributes_are_403(name: str) -> None:
    with pytest.raises(exceptions.Forbidden, match="reserved"):
        apply([{"op": "add", "path": f"/{name}", "value": "x"}])


def test_missing_custom_properties_are_409_and_core_ones_cannot_be_removed() -> None:
    with pytest.raises(exceptions.Conflict, match="Property nope does not exist"):
        apply([{"op": "replace", "path": "/nope", "value": "x"}])
    with pytest.raises(exceptions.Conflict):
        apply([{"op": "remove", "path": "/nope"}])
    with pytest.raises(exceptions.Forbidden, match="may not be removed"):
        apply([{"op": "remove", "path": "/name"}])


@pytest.mark.parametrize("ops, message", [
    ({"op": "add"}, "JSON array"),
    (["add"], "JSON objects"),
    ([{"op": "move", "path": "/name", "from": "/x"}], "Invalid operation"),
    ([{"op": "add", "path": "name", "value": 1}], "does not start with"),
    ([{"op": "add", "path": "/a/b", "value": "x"}], "Invalid JSON pointer"),
    ([{"op": "add", "path": "/a~2", "value": "x"}], "escape"),
    ([{"op": "add", "path": "/name"}], "`value` is required"),
    ([{"op": "add", "path": "/min_ram", "value": "512"}], "not of type 'integer'"),
    ([{"op": "add", "path": "/min_disk", "value": -1}], "out of range"),
    ([{"op": "add", "path": "/protected", "value": "yes"}], "not of type 'boolean'"),
    ([{"op": "add", "path": "/visibility", "value": "everyone"}], "is not one of"),
    ([{"op": "add", "path": "/disk_format", "value": "exe"}], "is not one of"),
    ([{"op": "add", "path": "/custom", "value": 5}], "not of type 'string'"),
    ([{"op": "add", "path": "/tags", "value": "a,b"}], "not of type 'array'"),
    ([{"op": "add", "path": "/name", "value": "n" * 256}], "too long"),
])
def test_malformed_patches_are_400(ops: Any, message: str) -> None:
    with pytest.raises(exceptions.Invalid, match=message):
        apply(ops)


def test_a_failing_operation_changes_nothing() -> None:
    before = state()
    with pytest.raises(exceptions.Conflict):
        patch.apply(before, patch.parse([{"op": "replace", "path": "/name", "value": "new"},
                                         {"op": "remove", "path": "/missing"}], V21))
    assert before.core["name"] == "img"
