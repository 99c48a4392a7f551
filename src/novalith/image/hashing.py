"""The two digests Glance records for image data, computed while the bytes stream.

``checksum`` is MD5 (what old clients and ``Content-MD5`` use) and
``os_hash_value`` is SHA-512 (``os_hash_algo``). Each runs at about 650 MB/s on one
core, so for large buffers MD5 and the caller's write of the same buffer run on
helper threads while SHA-512 runs on the calling one: hashlib and os.write release
the GIL, so the three overlap instead of adding up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

OS_HASH_ALGO = "sha512"
#: Below this a thread hop costs more than it saves.
_PARALLEL_MIN = 256 * 1024
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="image-hash")


@dataclass(frozen=True)
class Digests:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str


class Hasher:
    """MD5 + SHA-512 + byte count over a stream of buffers fed in order."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha = hashlib.new(OS_HASH_ALGO)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview,
               alongside: Callable[[], object] | None = None) -> None:
        """Hash ``data``, running ``alongside()`` (e.g. the write of the same buffer)
        meanwhile; ``data`` must not change until this returns."""
        self.size += len(data)
        if len(data) < _PARALLEL_MIN:
            self._md5.update(data)
            self._sha.update(data)
            if alongside is not None:
                alongside()
            return
        pending: list[Future[object]] = [_POOL.submit(self._md5.update, data)]
        if alongside is not None:
            pending.append(_POOL.submit(alongside))
        try:
            self._sha.update(data)
        finally:
            wait(pending)  # nothing may still touch ``data`` (or the file) after we return
        for done in pending:
            done.result()

    def digests(self) -> Digests:
        return Digests(size=self.size, checksum=self._md5.hexdigest(),
                       os_hash_algo=OS_HASH_ALGO, os_hash_value=self._sha.hexdigest())
