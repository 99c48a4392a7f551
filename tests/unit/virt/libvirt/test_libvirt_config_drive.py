"""The config drive: OpenStack's layout in an ISO 9660 image labelled config-2."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from novalith import exceptions
from novalith.objects.specs import FlavorSpec, InstanceSpec
from novalith.virt.libvirt import config_drive

pytest.importorskip("pycdlib")


def spec(**kw: object) -> InstanceSpec:
    base: dict[str, object] = dict(
        uuid="6b0d2b8e-52a3-4a4c-9a55-3c8d21a6c111", id=7, name="instance-00000007",
        display_name="web", hostname="web-1", project_id="p1", user_id="u1",
        flavor=FlavorSpec(flavorid="1", name="m1", memory_mb=128, vcpus=1, root_gb=1),
        user_data=base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
        key_name="k1", key_data="ssh-ed25519 AAAA me@host", metadata={"role": "web"},
        availability_zone="az1",
        injected_files=[("/etc/motd", base64.b64encode(b"welcome").decode()),
                        ("/root/x y", base64.b64encode(b"\x00\x01").decode())])
    base.update(kw)
    return InstanceSpec(**base)  # type: ignore[arg-type]


def test_layout_and_meta_data() -> None:
    files = config_drive.content_for(spec(), "s3cret").files
    assert sorted(files) == [
        "openstack/content/0000", "openstack/content/0001",
        "openstack/latest/meta_data.json", "openstack/latest/network_data.json",
        "openstack/latest/user_data", "openstack/latest/vendor_data.json"]
    meta = json.loads(files["openstack/latest/meta_data.json"])
    assert meta["uuid"] == spec().uuid and meta["hostname"] == "web-1"
    assert meta["name"] == "web" and meta["availability_zone"] == "az1"
    assert meta["public_keys"] == {"k1": "ssh-ed25519 AAAA me@host"}
    assert meta["meta"] == {"role": "web"} and meta["admin_pass"] == "s3cret"
    assert meta["files"] == [{"content_path": "/content/0000", "path": "/etc/motd"},
                             {"content_path": "/content/0001", "path": "/root/x y"}]
    assert files["openstack/latest/user_data"] == b"#!/bin/sh\necho hi\n"
    assert files["openstack/content/0001"] == b"\x00\x01"
    assert json.loads(files["openstack/latest/network_data.json"]) == {
        "links": [], "networks": [], "services": []}


def test_optional_parts_are_left_out() -> None:
    files = config_drive.content_for(spec(user_data=None, key_data=None, injected_files=[]),
                                     None).files
    meta = json.loads(files["openstack/latest/meta_data.json"])
    assert "admin_pass" not in meta and meta["public_keys"] == {} and meta["files"] == []
    assert "openstack/latest/user_data" not in files


def test_bad_base64_is_refused() -> None:
    with pytest.raises(exceptions.Invalid):
        config_drive.content_for(spec(user_data="***"), None)


def test_iso_round_trip(tmp_path: Path) -> None:
    content = config_drive.content_for(spec(), "pw")
    dest = str(tmp_path / "disk.config")
    config_drive.write_iso(content, dest)
    assert config_drive.volume_label(dest) == "config-2"
    assert config_drive.read_iso(dest) == content.files
    assert not (tmp_path / "disk.config.tmp").exists()
