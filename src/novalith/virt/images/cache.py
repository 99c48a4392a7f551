"""One copy of each image per host: ``<instances_path>/_base/<sha1 of image id>``.

How a base comes to be (under the image's lock, so concurrent builds of one image
download it once and the waiters reuse the result):

1. ``fetch(image_id, "<base>.part-<random>")``: the image client streams the data
   and verifies its hash (``os_hash_value``/``checksum``) before the file appears;
2. ``qemu-img info`` probes the data, which is not trusted yet: a backing file or an
   external data file (pointers to host files) is refused, and so is data whose
   format differs from the image's ``disk_format``;
3. qcow2 (with ``force_raw_images``, the default) and any other non-raw format are
   converted to raw with ``qemu-img convert``;
4. ``<base>.info`` records the format and virtual size (the base's format is never
   probed again: a raw disk whose guest wrote a qcow2 header must stay raw), then the
   base is renamed into place. Until that rename nothing else sees it; on any failure
   every temporary file is removed, so a failure leaves no partial base.

Blank bases for ephemeral (``ephemeral_<GiB>_<fs>``, made with mkfs) and swap disks
(``swap_<MiB>``, made with mkswap) live beside them, made the same way.

Every use of a base (an instance disk created on it) touches its mtime under the
lock; the cache manager (:mod:`.manager`) measures "unused for" from that mtime and
re-checks it under the same lock before removing anything.

Locks: ``flock`` on ``<instances_path>/locks/<base name>.lock``, a new open file per
acquisition, so the lock works alike between threads of one process (several fake
hosts share ``instances_path`` there) and between processes. Creating overlays on a
cached base takes it shared (many at once); making or removing a base takes it
exclusive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import msgspec
from oslo_config import cfg

from novalith import exceptions
from novalith.virt.images import qemu_img

LOG = logging.getLogger(__name__)

#: ``fetch(image_id, dest)``: write the verified image data to the file ``dest``.
Fetch = Callable[[str, str], None]

#: Glance disk_format -> the format qemu-img detects in such data.
QEMU_FORMAT = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc",
               "vhdx": "vhdx", "iso": "raw", "ami": "raw", "aki": "raw", "ari": "raw",
               "ploop": "parallels"}
#: Formats qemu-img may convert from; anything else (e.g. a probe of "luks") is refused.
CONVERTIBLE = frozenset(QEMU_FORMAT.values())
EPHEMERAL_LABEL = "ephemeral0"
_FS_NAME = re.compile(r"^[a-z0-9]{1,16}$")
_SUBDIR = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class CacheSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The image cache options, typed and validated (from nova.conf's names)."""

    instances_path: str
    subdirectory_name: str = "_base"
    force_raw_images: bool = True
    remove_unused_base_images: bool = True
    remove_unused_original_minimum_age_seconds: int = 86400
    #: mkfs.<format> for ephemeral disks; "none" leaves them unformatted.
    ephemeral_format: str = "ext4"

    def __post_init__(self) -> None:
        problems = []
        if not self.instances_path:
            problems.append("instances_path must not be empty")
        if not _SUBDIR.match(self.subdirectory_name) or self.subdirectory_name in (".", ".."):
            problems.append(f"[image_cache] subdirectory_name={self.subdirectory_name!r} "
                            "must be a plain directory name")
        if self.remove_unused_original_minimum_age_seconds < 0:
            problems.append("remove_unused_original_minimum_age_seconds must be >= 0")
        if not _FS_NAME.match(self.ephemeral_format):
            problems.append(f"default_ephemeral_format={self.ephemeral_format!r} is not a "
                            "file system name")
        if problems:
            raise exceptions.Invalid("Invalid image cache settings: " + "; ".join(problems))

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> CacheSettings:
        group = conf.image_cache
        return cls(instances_path=os.path.abspath(conf.instances_path),
                   subdirectory_name=group.subdirectory_name,
                   force_raw_images=conf.force_raw_images,
                   remove_unused_base_images=group.remove_unused_base_images,
                   remove_unused_original_minimum_age_seconds=(
                       group.remove_unused_original_minimum_age_seconds),
                   ephemeral_format=(conf.default_ephemeral_format or "ext4").lower())

    def check_host(self) -> None:
        """The second settings check (at driver start-up): the tools exist."""
        missing = [] if qemu_img.available() else ["qemu-img (package qemu-utils)"]
        if self.ephemeral_format != "none" and not shutil.which(
                f"mkfs.{self.ephemeral_format}"):
            missing.append(f"mkfs.{self.ephemeral_format} (default_ephemeral_format)")
        if not shutil.which("mkswap"):
            missing.append("mkswap")
        if missing:
            raise exceptions.Invalid("The image cache needs " + ", ".join(missing)
                                     + " on this host.")


class CachedImage(msgspec.Struct, frozen=True, kw_only=True):
    """A base file ready to back instance disks."""

    name: str
    path: str
    format: str
    virtual_size: int


def base_name(image_id: str) -> str:
    """The base file name of an image: the SHA-1 of its id, as Nova names it."""
    return hashlib.sha1(image_id.encode("utf-8")).hexdigest()


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _run_tool(cmd: list[str], timeout: float = 300.0) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL,
                              env={**os.environ, "LC_ALL": "C"})
    except FileNotFoundError:
        raise exceptions.DiskOperationFailed(reason=f"{cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise exceptions.DiskOperationFailed(
            reason=f"{cmd[0]} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().replace("\n", "; ")
        raise exceptions.DiskOperationFailed(
            reason=f"{cmd[0]} exited with {proc.returncode}: {detail}")


def _mkfs_command(fs: str, path: str) -> list[str]:
    if fs.startswith("ext"):
        return [f"mkfs.{fs}", "-q", "-F", "-L", EPHEMERAL_LABEL, path]
    if fs == "xfs":
        return ["mkfs.xfs", "-q", "-f", "-L", EPHEMERAL_LABEL, path]
    if fs in ("vfat", "fat"):
        return [f"mkfs.{fs}", "-n", EPHEMERAL_LABEL.upper(), path]
    return [f"mkfs.{fs}", path]


class ImageCache:
    """The ``_base`` directory of one host. Thread-safe; safe across processes."""

    def __init__(self, settings: CacheSettings, fetch: Fetch) -> None:
        self.settings = settings
        self._fetch = fetch
        self.base_dir = os.path.join(settings.instances_path, settings.subdirectory_name)
        self.lock_dir = os.path.join(settings.instances_path, "locks")

    # ---- locking ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, name: str, blocking: bool = True, shared: bool = False
               ) -> Iterator[bool]:
        """Hold the lock of base ``name`` (exclusive, or ``shared``); yields False
        (holding nothing) when ``blocking=False`` and the lock is taken.

        Lock files are never removed: removing one while another process waits on it
        would let two holders in."""
        os.makedirs(self.lock_dir, exist_ok=True)
        fd = os.open(os.path.join(self.lock_dir, name + ".lock"), os.O_RDWR | os.O_CREAT,
                     0o644)
        try:
            mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (
                0 if blocking else fcntl.LOCK_NB)
            try:
                fcntl.flock(fd, mode)  # releases the GIL while it waits
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    yield False
                    return
                raise
            yield True
        finally:
            os.close(fd)  # releases the flock

    # ---- reading ---------------------------------------------------------------------------
    def path_of(self, name: str) -> str:
        return os.path.join(self.base_dir, name)

    def lookup(self, name: str) -> CachedImage | None:
        """The base ``name`` if complete (its file and its ``.info`` both present)."""
        path = self.path_of(name)
        try:
            with open(path + ".info", "rb") as fh:
                meta = json.loads(fh.read())
            if not os.path.isfile(path):
                return None
            return CachedImage(name=name, path=path, format=str(meta["format"]),
                               virtual_size=int(meta["virtual_size"]))
        except (OSError, ValueError, KeyError):
            return None

    # ---- images ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def use(self, image_id: str, disk_format: str | None = None) -> Iterator[CachedImage]:
        """The cached base of ``image_id``, downloaded first if absent; its lock is held
        while the caller's block runs (creating an overlay on it), so the cache
        manager cannot remove the base in between."""
        name = base_name(image_id)
        with self._using(name, lambda: self._populate_image(name, image_id, disk_format)
                         ) as base:
            yield base

    @contextlib.contextmanager
    def _using(self, name: str, make: Callable[[], CachedImage]) -> Iterator[CachedImage]:
        """Base ``name`` under its lock: shared when it exists (users run side by side),
        exclusive while ``make`` creates it (concurrent users wait, then reuse it)."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.locked(name, shared=True))
            base = self.lookup(name)
            if base is None:
                stack.close()
                stack.enter_context(self.locked(name))
                base = self.lookup(name) or make()
            else:
                os.utime(base.path)  # last use: the cache manager ages it from here
            yield base

    def ensure(self, image_id: str, disk_format: str | None = None) -> CachedImage:
        with self.use(image_id, disk_format) as base:
            return base

    def _populate_image(self, name: str, image_id: str, disk_format: str | None
                        ) -> CachedImage:
        os.makedirs(self.base_dir, exist_ok=True)
        part = f"{self.path_of(name)}.part-{uuid.uuid4().hex[:12]}"
        converted = part + ".raw"
        try:
            self._fetch(image_id, part)
            if not os.path.isfile(part):
                raise exceptions.DiskOperationFailed(
                    reason=f"fetching image {image_id} produced no file")
            probed = qemu_img.info(part)  # untrusted data: let qemu-img tell what it is
            fmt = self._check_probe(image_id, disk_format, probed)
            final, vsize = part, probed.virtual_size
            if fmt != "raw" and (self.settings.force_raw_images or fmt != "qcow2"):
                qemu_img.convert(part, converted, src_format=fmt, out_format="raw")
                _unlink(part)
                final, fmt = converted, "raw"
            if fmt == "raw":
                vsize = os.path.getsize(final)
            base = CachedImage(name=name, path=self.path_of(name), format=fmt,
                               virtual_size=vsize)
            self._commit(final, base, {"image_id": image_id})
            LOG.info("Cached image %s as %s (%s, %d bytes)", image_id, base.path, fmt, vsize)
            return base
        except BaseException:
            _unlink(part)
            _unlink(converted)
            raise

    @staticmethod
    def _check_probe(image_id: str, disk_format: str | None, probed: qemu_img.ImageInfo
                     ) -> str:
        if probed.backing_file or probed.data_file:
            raise exceptions.ImageUnacceptable(
                image_id=image_id, reason="its data refers to another file "
                f"({probed.backing_file or probed.data_file})")
        expected = QEMU_FORMAT.get(disk_format or "")
        if expected is not None and probed.format != expected:
            raise exceptions.ImageUnacceptable(
                image_id=image_id, reason=f"its disk_format is {disk_format} but its data "
                f"is {probed.format}")
        if probed.format not in CONVERTIBLE:
            raise exceptions.ImageUnacceptable(
                image_id=image_id, reason=f"unsupported disk format {probed.format}")
        return probed.format

    def _commit(self, tmp: str, base: CachedImage, extra: dict[str, object]) -> None:
        """Record the .info then rename ``tmp`` to the base: a base never exists
        without its .info."""
        meta = {"format": base.format, "virtual_size": base.virtual_size, **extra}
        info_tmp = f"{base.path}.info.part-{uuid.uuid4().hex[:12]}"
        try:
            with open(info_tmp, "w") as fh:
                json.dump(meta, fh)
            os.replace(info_tmp, base.path + ".info")
        except BaseException:
            _unlink(info_tmp)
            raise
        os.replace(tmp, base.path)

    # ---- blank disks (ephemeral, swap) -----------------------------------------------------
    @contextlib.contextmanager
    def use_blank(self, kind: str, size: int, fs: str | None = None
                  ) -> Iterator[CachedImage]:
        """A formatted blank base of ``size`` bytes: ``kind`` "ephemeral" (mkfs ``fs``)
        or "swap" (mkswap); made once per size and kept like an image base."""
        if kind == "swap":
            name = f"swap_{size >> 20}"
        elif kind == "ephemeral" and fs:
            name = f"ephemeral_{size >> 30}_{fs}"
        else:
            raise ValueError(f"unknown blank disk kind {kind!r} / {fs!r}")
        with self._using(name, lambda: self._populate_blank(name, kind, size, fs)) as base:
            yield base

    def _populate_blank(self, name: str, kind: str, size: int, fs: str | None
                        ) -> CachedImage:
        os.makedirs(self.base_dir, exist_ok=True)
        part = f"{self.path_of(name)}.part-{uuid.uuid4().hex[:12]}"
        try:
            with open(part, "wb") as fh:
                fh.truncate(size)  # sparse
            _run_tool(["mkswap", part] if kind == "swap" else _mkfs_command(fs or "", part))
            base = CachedImage(name=name, path=self.path_of(name), format="raw",
                               virtual_size=size)
            self._commit(part, base, {"kind": kind})
            return base
        except BaseException:
            _unlink(part)
            raise
