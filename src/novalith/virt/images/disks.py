"""An instance's disks on the host: ``<instances_path>/<uuid>/``.

=============  ===========================================================================
``disk``       root: qcow2 overlay on the cached image base (``-F raw`` with
               ``force_raw_images``), grown to the flavor's ``root_gb``; ``root_gb`` 0
               keeps the image's virtual size. Smaller than the image: refused
               (FlavorDiskSmallerThanImage), never shrunk.
``disk.eph0``  ephemeral (flavor ``ephemeral_gb``): qcow2 overlay on a cached blank base
               formatted with ``default_ephemeral_format`` (ext4, label ``ephemeral0``);
               with ``none``, a plain empty qcow2 the guest formats itself.
``disk.swap``  swap (flavor ``swap`` MiB): qcow2 overlay on a cached mkswap'd blank base.
=============  ===========================================================================

Overlays record their base by absolute path, so the cache manager can tell which bases
are in use by reading the disks' qcow2 headers.
"""

from __future__ import annotations

import logging
import os
import re
import shutil

import msgspec

from novalith import exceptions
from novalith.objects.specs import InstanceSpec
from novalith.virt.images import qemu_img
from novalith.virt.images.cache import ImageCache

LOG = logging.getLogger(__name__)

GiB = 1 << 30
MiB = 1 << 20
ROOT = "disk"
EPHEMERAL = "disk.eph0"
SWAP = "disk.swap"
_UUID = re.compile(r"^[0-9a-fA-F-]{32,36}$")


class InstanceDisks(msgspec.Struct, frozen=True, kw_only=True):
    """Paths of an instance's disk files (None: the flavor asks for no such disk)."""

    directory: str
    root: str
    ephemeral: str | None = None
    swap: str | None = None


def instance_dir(instances_path: str, uuid: str) -> str:
    """``<instances_path>/<uuid>``; the uuid is checked so it cannot name another path."""
    if not _UUID.match(uuid):
        raise exceptions.Invalid(f"{uuid!r} is not an instance uuid")
    return os.path.join(instances_path, uuid)


def paths(instances_path: str, instance: InstanceSpec) -> InstanceDisks:
    directory = instance_dir(instances_path, instance.uuid)
    flavor = instance.flavor
    return InstanceDisks(
        directory=directory, root=os.path.join(directory, ROOT),
        ephemeral=os.path.join(directory, EPHEMERAL) if flavor.ephemeral_gb else None,
        swap=os.path.join(directory, SWAP) if flavor.swap else None)


def create(cache: ImageCache, instance: InstanceSpec) -> InstanceDisks:
    """Create every disk of ``instance`` from its image and flavor.

    Blocks while the image downloads (once per host). On any failure the instance
    directory is removed before the error is raised: FlavorDiskSmallerThanImage or
    ImageUnacceptable (the build cannot work anywhere), ImageNotFound, or
    DiskOperationFailed / ServiceUnavailable (another host may do better).
    """
    if instance.image is None:
        raise exceptions.Invalid(f"Instance {instance.uuid} has no image to build a root "
                                 "disk from.")
    disks = paths(cache.settings.instances_path, instance)
    flavor = instance.flavor
    os.makedirs(disks.directory, exist_ok=True)
    try:
        with cache.use(instance.image.id, instance.image.disk_format) as base:
            size = flavor.root_gb * GiB
            if size and size < base.virtual_size:
                raise exceptions.FlavorDiskSmallerThanImage(flavor_size=size,
                                                            image_size=base.virtual_size)
            qemu_img.create_overlay(disks.root, base.path, base.format,
                                    size if size > base.virtual_size else None)
        if disks.ephemeral:
            _create_ephemeral(cache, disks.ephemeral, flavor.ephemeral_gb * GiB)
        if disks.swap:
            with cache.use_blank("swap", flavor.swap * MiB) as base:
                qemu_img.create_overlay(disks.swap, base.path, base.format)
    except BaseException:
        remove(cache.settings.instances_path, instance.uuid)
        raise
    return disks


def _create_ephemeral(cache: ImageCache, path: str, size: int) -> None:
    fs = cache.settings.ephemeral_format
    if fs == "none":
        qemu_img.create(path, "qcow2", size)
        return
    with cache.use_blank("ephemeral", size, fs) as base:
        qemu_img.create_overlay(path, base.path, base.format)


def remove(instances_path: str, uuid: str) -> None:
    """Remove the instance directory and everything in it. Idempotent."""
    directory = instance_dir(instances_path, uuid)
    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        pass


def snapshot_root(instances_path: str, instance: InstanceSpec, dest: str) -> None:
    """Write a flattened, self-contained qcow2 of the root disk to ``dest`` (backing
    chain merged in). Reads with ``--force-share``: the guest may be running."""
    root = paths(instances_path, instance).root
    if not os.path.exists(root):
        raise exceptions.InstanceNotFound(instance_id=instance.uuid)
    qemu_img.convert(root, dest, src_format="qcow2", out_format="qcow2", force_share=True)
