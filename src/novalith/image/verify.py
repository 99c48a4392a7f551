"""Writing downloaded image data to a file: temporary name, hashes checked, then rename.

Shared by the in-process and the HTTP image clients, so that what compute puts in
its image cache is always complete and exactly what the image service recorded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from novalith import exceptions
from novalith.image.buffers import Buffer
from novalith.image.hashing import OS_HASH_ALGO, Hasher
from novalith.image.streaming_write import StreamingFileWriter, open_for_stream


class _Digest:
    """MD5 + the image's os_hash_algo, with ``sink`` fed the same buffers; for SHA-512
    (the usual case) the pipelined :class:`Hasher`, each on a lane of its own."""

    def __init__(self, os_hash_algo: str | None, sink: Callable[[Any], object]) -> None:
        self.algo = os_hash_algo or OS_HASH_ALGO
        self._sink = sink
        self._both = Hasher(sink) if self.algo == OS_HASH_ALGO else None
        self._md5: Any = None if self._both else hashlib.md5(usedforsecurity=False)
        self._strong: Any = None if self._both else hashlib.new(self.algo)

    def update(self, data: Buffer, release: Callable[[], object] | None) -> None:
        if self._both is not None:
            self._both.update(data, release)
            return
        self._md5.update(data)
        self._strong.update(data)
        self._sink(data)
        if release is not None:
            release()

    def hexdigests(self) -> tuple[str, str]:
        """(md5, os_hash_value), once every buffer is hashed and sunk."""
        if self._both is not None:
            d = self._both.finish()
            return d.checksum, d.os_hash_value
        return self._md5.hexdigest(), self._strong.hexdigest()

    def close(self) -> None:
        if self._both is not None:
            self._both.close()


def write_verified(chunks: Iterable[Buffer], dest: str, *, image_id: str,
                   checksum: str | None, os_hash_algo: str | None,
                   os_hash_value: str | None, expected_size: int | None = None,
                   progress: Callable[[int], None] | None = None,
                   release: Callable[[Any], object] | None = None) -> int:
    """Stream ``chunks`` into ``dest``; return the byte count.

    With ``release``, each chunk is passed to it once written and hashed, so that the
    producer may reuse the buffer (see :class:`~novalith.image.buffers.BufferPool`).

    The data goes to a temporary file beside ``dest``, is checked against the
    expected size, ``os_hash_value`` and ``checksum`` (MD5), fsync'ed and renamed over
    ``dest``. On a mismatch or any failure the temporary file is removed and ``dest``
    is left as it was; a mismatch raises ``Invalid``.
    """
    directory = os.path.dirname(os.path.abspath(dest))
    tmp = os.path.join(directory, f".{os.path.basename(dest)}.{secrets.token_hex(6)}.part")
    size = 0
    fd = open_for_stream(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    out = StreamingFileWriter(fd)
    digest = _Digest(os_hash_algo, out.write)
    try:
        for chunk in chunks:
            digest.update(chunk, None if release is None else functools.partial(release, chunk))
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
        md5, strong = digest.hexdigests()
        if expected_size is not None and size != expected_size:
            raise exceptions.Invalid(f"Image {image_id}: downloaded {size} bytes, expected "
                                     f"{expected_size}.")
        if os_hash_value and strong != os_hash_value:
            raise exceptions.Invalid(f"Image {image_id}: downloaded data does not match its "
                                     f"os_hash_value ({digest.algo}).")
        if checksum and md5 != checksum:
            raise exceptions.Invalid(f"Image {image_id}: downloaded data does not match its "
                                     "checksum (MD5).")
        out.flush()
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, dest)
    except BaseException:
        digest.close()  # no lane writes to fd after this
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return size
