"""The filesystem store: one file per image under ``filesystem_store_datadir``.

An upload goes to ``.<image id>.<random>.part`` in the same directory (written with
``O_DIRECT`` where the file system allows, and later read without filling the page
cache: see :mod:`novalith.image.streaming_write` and :mod:`novalith.image.uncached_read`),
is fsync'ed, then renamed to ``<image id>`` (atomic on POSIX) and the directory
fsync'ed, so a crash or a cut-off upload never leaves a readable partial image.
``sweep`` removes only names of that shape, so a data directory shared by mistake
loses nothing else.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from urllib.parse import unquote, urlparse

from novalith.image.buffers import Buffer
from novalith.image.stores.base import (
    CHUNK_SIZE,
    ImageDataNotFound,
    Store,
    StoreError,
    StoreReader,
    StoreWriter,
)
from novalith.image.streaming_write import StreamingFileWriter, open_for_stream
from novalith.image.uncached_read import UncachedFileReader

LOG = logging.getLogger(__name__)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PART = ".part"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: Names sweep() may remove: image data (image ids are UUIDs) and partial uploads.
_OURS = re.compile(rf"^(?:{_UUID}|\.{_UUID}\.[0-9a-f]{{12}}\.part)$")


class _FileWriter(StoreWriter):
    def __init__(self, datadir: str, image_id: str) -> None:
        super().__init__()
        self.final = os.path.join(datadir, image_id)
        self.tmp = os.path.join(datadir, f".{image_id}.{secrets.token_hex(6)}{_PART}")
        try:
            self.fd: int | None = open_for_stream(
                self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            self._done = True
            raise StoreError(reason=f"cannot create {self.tmp}: {exc.strerror}") from exc
        self._out = StreamingFileWriter(self.fd)

    def _write(self, data: Buffer) -> None:
        try:
            self._out.write(data)
        except OSError as exc:
            raise StoreError(reason=f"write to {self.tmp} failed: {exc.strerror}") from exc

    def _commit(self) -> str:
        assert self.fd is not None
        try:
            self._out.flush()
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = None
            os.replace(self.tmp, self.final)
            _fsync_dir(os.path.dirname(self.final))
        except OSError as exc:
            raise StoreError(reason=f"cannot commit {self.final}: {exc.strerror}") from exc
        return "file://" + self.final

    def _abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


class _FileReader(StoreReader):
    def __init__(self, path: str, offset: int, length: int | None) -> None:
        try:
            self._file = UncachedFileReader(path, offset, length)
        except FileNotFoundError:
            raise ImageDataNotFound(location="file://" + path) from None
        self.size = self._file.size

    def read(self, n: int = CHUNK_SIZE) -> memoryview:
        try:
            return self._file.read(n)
        except OSError as exc:  # the file shrank under us: never pass off short data
            raise StoreError(reason=f"reading image data failed: {exc.strerror}") from exc

    def close(self) -> None:
        self._file.close()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemStore(Store):
    name = "file"

    def __init__(self, datadir: str) -> None:
        os.makedirs(datadir, mode=0o750, exist_ok=True)
        self.datadir = os.path.realpath(datadir)

    def _path(self, location: str) -> str:
        parsed = urlparse(location)
        path = os.path.realpath(unquote(parsed.path))
        if parsed.scheme != "file" or os.path.dirname(path) != self.datadir:
            raise StoreError(reason=f"location {location!r} is not in this store")
        return path

    def open_writer(self, image_id: str) -> StoreWriter:
        if not _ID.match(image_id):
            raise StoreError(reason=f"unusable image id {image_id!r}")
        return _FileWriter(self.datadir, image_id)

    def open(self, location: str, offset: int = 0, length: int | None = None
             ) -> StoreReader:
        return _FileReader(self._path(location), offset, length)

    def delete(self, location: str) -> None:
        try:
            os.unlink(self._path(location))
        except FileNotFoundError:
            pass

    def exists(self, location: str) -> bool:
        return os.path.isfile(self._path(location))

    def sweep(self, keep: set[str]) -> int:
        removed = 0
        keep_paths = {self._path(loc) for loc in keep if self.owns(loc)}
        for entry in os.scandir(self.datadir):
            if not entry.is_file(follow_symlinks=False) or entry.path in keep_paths:
                continue
            if not _OURS.match(entry.name):  # never touch what this store did not write
                continue
            LOG.warning("Image store: removing leftover %s", entry.path)
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
        return removed
