"""Snapshot a container into a ``docker save`` tarball another instance can boot from.

1. ``docker commit`` the container (the engine pauses a running one for a consistent
   copy and thaws it after; a paused or stopped one stays as it is). The commit
   keeps the container's command (a root-file-system image booted with
   ``os_command_line`` thus gets it as its CMD and boots without the property) and
   blanks the Novalith identity labels and environment, so a container made from
   the snapshot outside Novalith is nobody's instance.
2. ``docker save`` of the new image by its id (so ``manifest.json`` names no
   repository tag), streamed into ``dest``.
3. The temporary image is removed, whatever happened.

Compute uploads ``dest`` as ``disk_format=raw``, ``container_format=docker``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from novalith import exceptions
from novalith.virt.docker import container_spec as cs
from novalith.virt.docker import engine as eng

LOG = logging.getLogger(__name__)


def commit_config() -> dict[str, Any]:
    """The config ``docker commit`` merges the container's own config into."""
    return {"Labels": dict.fromkeys(cs.IDENTITY_LABELS, ""),
            "Env": [f"{name}=" for name in cs.ENV_NAMES]}


def snapshot(api: Any, container_id: str, uuid: str, dest: str) -> None:
    """Write the tarball of container ``container_id`` (instance ``uuid``) to ``dest``.

    On failure ``dest`` is removed and DiskOperationFailed (InstanceNotFound when the
    container is gone) raised.
    """
    docker = eng.docker_module()
    image_id: str | None = None
    opened = False
    try:
        result = api.commit(container_id, conf=commit_config(),
                            message=f"novalith snapshot of {uuid}", pause=True)
        image_id = str(result["Id"])
        with open(dest, "xb") as out:
            opened = True
            for chunk in api.get_image(image_id):
                out.write(chunk)
    except BaseException as err:
        if opened:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)
        if isinstance(err, docker.errors.NotFound) and image_id is None:
            raise exceptions.InstanceNotFound(instance_id=uuid) from err
        if isinstance(err, exceptions.NovalithError) or not isinstance(err, Exception):
            raise
        unanswered = eng.not_answering(err, "", f"snapshot of {uuid}")
        if unanswered is not None:
            raise unanswered from err
        raise exceptions.DiskOperationFailed(
            reason=f"snapshot of instance {uuid}: {eng.reason(err)}") from err
    finally:
        if image_id is not None:
            try:
                api.remove_image(image_id, force=True, noprune=False)
            except Exception:
                LOG.exception("Could not remove the snapshot image %s of %s", image_id, uuid)
