"""``qemu-img``, the one tool that reads and writes disk images here.

Every call runs ``qemu-img`` with an explicit input format where one is known (never
letting qemu probe an image we already identified: probing a raw image whose guest
wrote a qcow2 header would follow that header's backing file), ``LC_ALL=C`` and a
time limit. A failure raises :class:`~novalith.exceptions.DiskOperationFailed`
naming the command and qemu-img's own message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import msgspec

from novalith import exceptions

QEMU_IMG = "qemu-img"
#: ``info`` reads headers only; a longer run means a hostile or broken image.
INFO_TIMEOUT = 30.0
#: ``convert`` copies data: allow for large images on slow disks.
CONVERT_TIMEOUT = 3600.0
CREATE_TIMEOUT = 60.0
_ENV = {**os.environ, "LC_ALL": "C"}


class ImageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ``qemu-img info`` says about one file."""

    format: str
    virtual_size: int
    actual_size: int | None = None
    backing_file: str | None = None
    backing_format: str | None = None
    #: qcow2 external data file: like a backing file, it points outside the image.
    data_file: str | None = None


def available() -> bool:
    """Whether ``qemu-img`` is on the PATH."""
    return shutil.which(QEMU_IMG) is not None


def version() -> str:
    """``qemu-img --version``'s first line."""
    return _run(["--version"], CREATE_TIMEOUT).splitlines()[0].strip()


def _run(args: list[str], timeout: float) -> str:
    cmd = [QEMU_IMG, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=_ENV, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise exceptions.DiskOperationFailed(
            reason="qemu-img is not installed (Debian package qemu-utils)") from None
    except subprocess.TimeoutExpired:
        raise exceptions.DiskOperationFailed(
            reason=f"{' '.join(cmd)} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().replace("\n", "; ")
        raise exceptions.DiskOperationFailed(
            reason=f"qemu-img {args[0]} exited with {proc.returncode}: {detail}")
    return proc.stdout


def info(path: str, fmt: str | None = None) -> ImageInfo:
    """Describe ``path``; ``fmt=None`` lets qemu-img detect the format (use only on
    data not yet trusted, to find out what it is).

    Uses ``--force-share`` so an image a running guest holds can be inspected.
    """
    args = ["info", "--output=json", "--force-share"]
    if fmt:
        args += ["-f", fmt]
    data: dict[str, Any] = json.loads(_run([*args, path], INFO_TIMEOUT))
    specific = (data.get("format-specific") or {}).get("data") or {}
    return ImageInfo(format=str(data["format"]), virtual_size=int(data["virtual-size"]),
                     actual_size=data.get("actual-size"),
                     backing_file=data.get("full-backing-filename") or data.get(
                         "backing-filename"),
                     backing_format=data.get("backing-filename-format"),
                     data_file=specific.get("data-file"))


def convert(src: str, dest: str, *, src_format: str, out_format: str,
            force_share: bool = False) -> None:
    """Copy ``src`` into a new self-contained ``dest`` of ``out_format`` (a qcow2 overlay
    is flattened: its backing chain is merged in). ``force_share`` reads an image a
    running guest holds open."""
    args = ["convert", "-q", "-f", src_format, "-O", out_format]
    if force_share:
        args.append("-U")
    _run([*args, src, dest], CONVERT_TIMEOUT)


def create(path: str, fmt: str, size: int) -> None:
    """A new empty image of ``size`` bytes."""
    _run(["create", "-q", "-f", fmt, path, str(size)], CREATE_TIMEOUT)


def create_overlay(path: str, backing: str, backing_format: str, size: int | None = None
                   ) -> None:
    """A qcow2 image at ``path`` whose unwritten clusters read from ``backing``.

    ``size`` (bytes) grows the overlay beyond the backing file's virtual size; None
    keeps that size. The backing file's path is recorded as given: pass an absolute one.
    """
    args = ["create", "-q", "-f", "qcow2", "-b", backing, "-F", backing_format, path]
    if size is not None:
        args.append(str(size))
    _run(args, CREATE_TIMEOUT)


def resize(path: str, fmt: str, size: int) -> None:
    """Grow ``path`` to ``size`` bytes (never used to shrink)."""
    _run(["resize", "-q", "-f", fmt, path, str(size)], CREATE_TIMEOUT)
