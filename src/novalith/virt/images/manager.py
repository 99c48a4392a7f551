"""The image cache manager: one pass over ``_base`` removes what no instance uses.

A base is *in use* when an instance on this host was built from its image (the
compute service passes those image ids: it includes instances still building, whose
disk may not exist yet) or when any instance disk under ``instances_path`` has it as
backing file (read from the qcow2 header; this also covers other compute services
sharing the directory). A base in use gets its mtime touched, so its age counts from
its last use. An unused base older than
``remove_unused_original_minimum_age_seconds`` is removed, together with its
``.info``, under its lock and after re-checking its age there: an instance disk
created on it meanwhile touched it, so it stays. Leftover ``.part-*`` files (a
download cut off by a crash) go once nobody holds their lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterable

import msgspec

from novalith.virt.images import qcow2
from novalith.virt.images.cache import ImageCache, base_name

LOG = logging.getLogger(__name__)

_BASE = re.compile(r"^([0-9a-f]{40}|ephemeral_\d+_[a-z0-9]+|swap_\d+)$")
_PART = re.compile(r"^([0-9a-f]{40}|ephemeral_\d+_[a-z0-9]+|swap_\d+)(\.info)?\.part-")
#: A partial file this old is a crash's leftover, not a download in progress.
STALE_PART_SECONDS = 3600.0
#: Directories of instances_path that are not instance directories.
_NOT_INSTANCES = frozenset({"locks", "snapshots"})


class PassReport(msgspec.Struct, kw_only=True):
    """What one pass did, by base file name."""

    in_use: list[str] = []
    removed: list[str] = []
    kept: list[str] = []  # unused but younger than the minimum age (or removal disabled)


def backing_bases(cache: ImageCache) -> set[str]:
    """Names of the bases any instance disk under instances_path is backed by."""
    root = cache.settings.instances_path
    base_dir = os.path.realpath(cache.base_dir)
    skip = _NOT_INSTANCES | {cache.settings.subdirectory_name}
    found: set[str] = set()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return found
    for entry in entries:
        if entry.name in skip or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            disks = [d.path for d in os.scandir(entry.path) if d.name.startswith("disk")]
        except OSError:
            continue
        for disk in disks:
            backing = qcow2.backing_file(disk)
            if backing and os.path.dirname(os.path.realpath(backing)) == base_dir:
                found.add(os.path.basename(backing))
    return found


def run_pass(cache: ImageCache, images_in_use: Iterable[str],
             now: float | None = None) -> PassReport:
    """One cache manager pass (see the module docstring). Never raises for one file's
    trouble: it is logged and the pass goes on."""
    settings = cache.settings
    report = PassReport()
    try:
        entries = sorted(os.listdir(cache.base_dir))
    except FileNotFoundError:
        return report
    used = {base_name(i) for i in images_in_use} | backing_bases(cache)
    min_age = settings.remove_unused_original_minimum_age_seconds
    for name in entries:
        path = cache.path_of(name)
        part = _PART.match(name)
        try:
            if part:
                _remove_stale_part(cache, part.group(1), path, now)
                continue
            if not _BASE.match(name):
                continue  # .info files go with their base; unknown files are left alone
            if name in used:
                os.utime(path)
                report.in_use.append(name)
            elif settings.remove_unused_base_images and _remove_if_old(cache, name, min_age,
                                                                       now):
                report.removed.append(name)
            else:
                report.kept.append(name)
        except OSError:
            LOG.exception("Image cache manager: could not handle %s", path)
    _remove_orphan_infos(cache)
    if report.removed:
        LOG.info("Image cache manager removed unused bases: %s", ", ".join(report.removed))
    return report


def _age(path: str, now: float | None) -> float:
    return (time.time() if now is None else now) - os.stat(path).st_mtime


def _remove_if_old(cache: ImageCache, name: str, min_age: int, now: float | None) -> bool:
    with cache.locked(name, blocking=False) as held:
        if not held:
            return False  # being downloaded or used right now
        path = cache.path_of(name)
        try:
            if _age(path, now) < min_age:
                return False
        except FileNotFoundError:
            return False
        # The .info first: without it the base already counts as absent, and once the
        # base is gone nothing of it is left.
        _unlink(path + ".info")
        _unlink(path)
        return True


def _remove_stale_part(cache: ImageCache, name: str, path: str, now: float | None) -> None:
    with contextlib.suppress(FileNotFoundError):
        if _age(path, now) < STALE_PART_SECONDS:
            return
    with cache.locked(name, blocking=False) as held:
        if held:
            LOG.info("Removing a partial base left over: %s", path)
            _unlink(path)


def _remove_orphan_infos(cache: ImageCache) -> None:
    """A crash between writing a .info and renaming its base leaves a lone .info."""
    for name in os.listdir(cache.base_dir):
        if not name.endswith(".info") or not _BASE.match(name[:-5]):
            continue
        base = name[:-5]
        if os.path.exists(cache.path_of(base)):
            continue
        with cache.locked(base, blocking=False) as held:
            if held and not os.path.exists(cache.path_of(base)):
                _unlink(cache.path_of(name))


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
