"""What an image file with ``container_format=docker`` holds, and how it is fed to the engine.

Two kinds of file are accepted, told apart by their content, not by a property:

* a ``docker save`` tarball: it has a top-level ``manifest.json`` (one image) and is
  given to ``docker load``;
* anything else that is a tar archive is a root file system, given to
  ``docker import`` (it then has no command: see the driver's ``os_command_line``).

Either may be compressed with gzip, bzip2 or xz (both engine calls accept that); a
compressed ``docker save`` tarball is decompressed beside itself first, since the
manifest must be rewritten (below).

``docker load`` would also apply the tarball's ``RepoTags`` (e.g. ``busybox:latest``)
to the engine, silently moving a tag someone else owns, and keeping the image alive
after the driver drops its own tag. :func:`untagged_stream` therefore feeds the engine
the same tarball with ``RepoTags`` emptied and the legacy ``repositories`` file left
out: every other member is copied byte for byte from the file, without unpacking.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import shutil
import tarfile
from collections.abc import Iterator
from typing import Any

from novalith import exceptions

SAVE = "docker-save"
ROOTFS = "rootfs"
_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_MAGIC = {b"\x1f\x8b": "gz", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz"}
_OPENERS: dict[str, Any] = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def compression(path: str) -> str | None:
    """``"gz"``, ``"bz2"``, ``"xz"`` or None (plain), from the file's first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        raise exceptions.ImageUnacceptable(image_id=os.path.basename(path),
                                           reason="zstd-compressed image data is not "
                                                  "supported; use gzip or none")
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def _is_manifest(name: str) -> bool:
    return name in ("manifest.json", "./manifest.json")


def kind(path: str) -> str:
    """:data:`SAVE` or :data:`ROOTFS`; ImageUnacceptable for a file that is no tar."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if _is_manifest(member.name) and member.isfile():
                    return SAVE
            return ROOTFS
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as err:
        raise exceptions.ImageUnacceptable(
            image_id=os.path.basename(path),
            reason=f"a docker image must be a tar archive ({err})") from err


def decompress(path: str) -> str:
    """``path`` itself when plain; else a plain copy beside it (the caller removes it)."""
    method = compression(path)
    if method is None:
        return path
    plain = path + ".tar"
    with _OPENERS[method](path, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)
    return plain


def read_manifest(path: str) -> list[dict[str, Any]]:
    """The ``manifest.json`` entries of the plain ``docker save`` tarball at ``path``."""
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            if _is_manifest(member.name):
                fh = tar.extractfile(member)
                if fh is None:
                    break
                try:
                    data = json.loads(fh.read())
                except ValueError as err:
                    raise _unacceptable(path, f"manifest.json is not JSON: {err}") from err
                if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
                    raise _unacceptable(path, "manifest.json is not a list of images")
                return data
    raise _unacceptable(path, "no manifest.json")


def _unacceptable(path: str, reason: str) -> exceptions.ImageUnacceptable:
    return exceptions.ImageUnacceptable(image_id=os.path.basename(path), reason=reason)


def config_image_id(entry: dict[str, Any]) -> str | None:
    """The engine's image id (``sha256:<hex>``) of a manifest entry, from its config name."""
    config = str(entry.get("Config") or "")
    name = config.rsplit("/", 1)[-1].removesuffix(".json")
    if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
        return "sha256:" + name
    return None


def untagged_stream(path: str) -> Iterator[bytes]:
    """The plain ``docker save`` tarball at ``path``, one image, without repository tags.

    Raises ImageUnacceptable (before yielding anything) when it holds not exactly one
    image.
    """
    manifest = read_manifest(path)
    if len(manifest) != 1:
        raise _unacceptable(path, f"it holds {len(manifest)} images; one is needed")
    entry = dict(manifest[0])
    entry["RepoTags"] = None
    new_manifest = json.dumps([entry]).encode()
    with tarfile.open(path, "r:") as tar:
        spans = [(m.offset, m.offset_data + _padded(m.size)) for m in tar.getmembers()
                 if not (_is_manifest(m.name) or m.name in ("repositories", "./repositories"))]
    return _emit(path, spans, new_manifest)


def _padded(size: int) -> int:
    return (size + _BLOCK - 1) // _BLOCK * _BLOCK


def _emit(path: str, spans: list[tuple[int, int]], manifest: bytes) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        for start, end in spans:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(_CHUNK, left))
                if not chunk:
                    raise exceptions.ImageUnacceptable(image_id=os.path.basename(path),
                                                       reason="the tar archive is truncated")
                left -= len(chunk)
                yield chunk
    info = tarfile.TarInfo("manifest.json")
    info.size = len(manifest)
    info.mode = 0o644
    buf = io.BytesIO()
    buf.write(info.tobuf(format=tarfile.GNU_FORMAT))
    buf.write(manifest + b"\0" * (_padded(len(manifest)) - len(manifest)))
    buf.write(b"\0" * (2 * _BLOCK))  # end of archive
    yield buf.getvalue()
