"""The container analogue of a config drive: a directory mounted read-only in the container.

The files are exactly those of the libvirt driver's config drive
(:func:`novalith.virt.libvirt.config_drive.content_for`), written as plain files
instead of an ISO image::

    <instances_path>/<uuid>/config_drive/openstack/latest/meta_data.json
                                                      .../user_data (if given)
                                                      .../network_data.json
                                                      .../vendor_data.json
                                         openstack/content/NNNN (injected files)

The driver bind-mounts ``config_drive/`` read-only at ``[docker]
config_drive_mount`` (default ``/var/lib/cloud/seed/config_drive``, where
cloud-init's ConfigDrive data source looks for a seed) and names that path in the
container's ``NOVALITH_CONFIG_DRIVE`` environment variable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import Any

from novalith.objects.specs import InstanceSpec
from novalith.virt.libvirt import config_drive

SUBDIR = "config_drive"


def instance_dir(instances_path: str, uuid: str) -> str:
    return os.path.join(instances_path, uuid)


def config_dir(instances_path: str, uuid: str) -> str:
    return os.path.join(instance_dir(instances_path, uuid), SUBDIR)


def write(instances_path: str, instance: InstanceSpec, admin_password: str | None,
          network_info: list[Any] | None = None) -> str:
    """Write the metadata files of ``instance``; the directory to mount.

    Raises :class:`~novalith.exceptions.Invalid` for user data or an injected file
    that is not base 64 (nothing is written then).
    """
    content = config_drive.content_for(instance, admin_password, network_info)
    root = config_dir(instances_path, instance.uuid)
    os.makedirs(root, mode=0o755, exist_ok=True)
    os.chmod(instance_dir(instances_path, instance.uuid), 0o755)
    for rel, data in sorted(content.files.items()):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # readable by the container's user, whoever it is
        os.replace(tmp, path)
    return root


def remove(instances_path: str, uuid: str) -> None:
    """Remove the instance's directory (idempotent)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(instance_dir(instances_path, uuid))
