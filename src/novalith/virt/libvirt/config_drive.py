"""The config drive: an ISO 9660 image labelled ``config-2`` in OpenStack's layout.

Written with ``pycdlib`` (pure Python, from PyPI) rather than by running
``genisoimage``/``xorriso``: no external binary to install or find, no temporary
directory tree to stage and clean up, and the image is built the same way on
every host. Rock Ridge and Joliet names carry the real (lower-case, long) file
names, as ``genisoimage -r -J`` would, so cloud-init and the tiny guest read it.

Layout (what a guest reads)::

    openstack/latest/meta_data.json     uuid, name, hostname, availability_zone,
                                        project_id, launch_index, meta, public_keys,
                                        keys, files, admin_pass (when set)
    openstack/latest/user_data          the user data, decoded (only when given)
    openstack/latest/network_data.json  links, networks, services
    openstack/latest/vendor_data.json   {}
    openstack/content/NNNN              each injected file's contents
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from novalith import exceptions
from novalith.objects.specs import InstanceSpec

LABEL = "config-2"


@dataclass(frozen=True)
class ConfigDriveContent:
    """What goes on one instance's config drive, as files (path -> bytes)."""

    files: dict[str, bytes] = field(default_factory=dict)


def content_for(instance: InstanceSpec, admin_password: str | None,
                network_info: list[Any] | None = None) -> ConfigDriveContent:
    """The config drive files of ``instance``.

    Raises :class:`~novalith.exceptions.Invalid` if the user data or an injected
    file is not valid base64 (the API checks this too; the drive never holds
    half-decoded data).
    """
    latest = "openstack/latest/"
    files: dict[str, bytes] = {}
    injected = []
    for index, (path, contents) in enumerate(instance.injected_files):
        content_path = f"/content/{index:04d}"
        files["openstack" + content_path] = _b64(contents, f"injected file {path}")
        injected.append({"content_path": content_path, "path": path})
    keys: dict[str, str] = {}
    if instance.key_data:
        keys[instance.key_name or "default"] = instance.key_data
    meta: dict[str, Any] = {
        "uuid": instance.uuid,
        "name": instance.display_name,
        "hostname": instance.hostname,
        "launch_index": 0,
        "availability_zone": instance.availability_zone or "nova",
        "project_id": instance.project_id,
        "meta": dict(instance.metadata),
        "public_keys": keys,
        "keys": [{"name": name, "type": "ssh", "data": data} for name, data in keys.items()],
        "files": injected,
        "devices": [],
    }
    if admin_password:
        meta["admin_pass"] = admin_password
    # One line, keys sorted: the tiny guest's sed reads "content_path" before "path".
    files[latest + "meta_data.json"] = json.dumps(meta, sort_keys=True).encode()
    if instance.user_data:
        files[latest + "user_data"] = _b64(instance.user_data, "user data")
    files[latest + "network_data.json"] = json.dumps(
        {"links": [], "networks": [], "services": []}).encode()
    files[latest + "vendor_data.json"] = b"{}"
    return ConfigDriveContent(files=files)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise exceptions.Invalid(f"The {what} is not valid base 64.") from None


def _iso_name(name: str, is_dir: bool) -> str:
    """An ISO 9660 (level 4) name for a path component; Rock Ridge keeps the real one."""
    clean = re.sub(r"[^A-Z0-9_]", "_", name.upper())[:30] or "_"
    return clean if is_dir else clean + ";1"


def write_iso(content: ConfigDriveContent, dest: str) -> None:
    """Write ``content`` as an ISO 9660 image labelled ``config-2`` to ``dest``.

    Written under a temporary name and renamed, so ``dest`` is either complete or
    absent.
    """
    import pycdlib  # imported here: only hosts that build config drives need it

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, joliet=3, rock_ridge="1.09", vol_ident=LABEL,
            sys_ident="LINUX")
    made: set[str] = set()
    buffers: list[io.BytesIO] = []

    def ensure_dir(parts: list[str]) -> str:
        iso_path = ""
        for depth in range(len(parts)):
            iso_path += "/" + _iso_name(parts[depth], True)
            real = "/" + "/".join(parts[:depth + 1])
            if real not in made:
                iso.add_directory(iso_path, rr_name=parts[depth], joliet_path=real)
                made.add(real)
        return iso_path

    for path in sorted(content.files):
        parts = path.split("/")
        parent = ensure_dir(parts[:-1])
        data = content.files[path]
        buf = io.BytesIO(data)
        buffers.append(buf)
        iso.add_fp(buf, len(data), f"{parent}/{_iso_name(parts[-1], False)}",
                   rr_name=parts[-1], joliet_path="/" + path)
    tmp = dest + ".tmp"
    try:
        iso.write(tmp)
        os.replace(tmp, dest)
    finally:
        iso.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_iso(path: str) -> dict[str, bytes]:
    """Every file on the config drive at ``path`` by its Rock Ridge path (for tests/tools)."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(path)
    try:
        out: dict[str, bytes] = {}
        for dirname, _dirs, names in iso.walk(rr_path="/"):
            for name in names:
                full = (dirname.rstrip("/") + "/" + name).lstrip("/")
                buf = io.BytesIO()
                iso.get_file_from_iso_fp(buf, rr_path="/" + full)
                out[full] = buf.getvalue()
        return out
    finally:
        iso.close()


def volume_label(path: str) -> str:
    """The volume identifier of the ISO image at ``path``."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(path)
    try:
        return str(iso.pvd.volume_identifier.decode().strip())
    finally:
        iso.close()
