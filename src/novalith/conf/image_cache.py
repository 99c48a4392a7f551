"""The compute host's image cache: ``[DEFAULT]`` disk options and ``[image_cache]``.

Names and defaults follow nova.conf.
"""

from __future__ import annotations

from oslo_config import cfg

DEFAULT_OPTS: list[cfg.Opt] = [
    cfg.BoolOpt("force_raw_images", default=True,
                help="Convert cached base images to raw (qemu-img convert). Raw bases cost "
                     "disk space but no CPU decompressing or walking qcow2 tables on reads; "
                     "instance disks stay qcow2 overlays either way."),
    cfg.StrOpt("default_ephemeral_format", default=None,
               help="File system of new ephemeral disks (disk.eph0), made with "
                    "mkfs.<format> and labelled ephemeral0: ext2, ext3, ext4, xfs, vfat... "
                    "Unset means ext4. 'none' leaves them unformatted (the guest formats "
                    "them, as cloud-init does)."),
]

IMAGE_CACHE_OPTS: list[cfg.Opt] = [
    cfg.IntOpt("manager_interval", default=2400, min=-1,
               help="Seconds between image cache manager passes. 0 runs it at the default "
                    "periodic interval (60 s); -1 disables it."),
    cfg.StrOpt("subdirectory_name", default="_base",
               help="Subdirectory of instances_path holding the cached base images."),
    cfg.BoolOpt("remove_unused_base_images", default=True,
                help="Whether the manager removes base images no instance uses."),
    cfg.IntOpt("remove_unused_original_minimum_age_seconds", default=86400, min=0,
               help="Seconds a base image must have been unused before it is removed."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [(None, DEFAULT_OPTS), ("image_cache", IMAGE_CACHE_OPTS)]
