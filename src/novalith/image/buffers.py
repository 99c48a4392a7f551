"""Page-aligned buffers, reused within one transfer.

A transfer of image data fills a buffer, hands it to the hash lanes and the file
writer, and fills the next. Taking a fresh ``bytearray`` each time costs a page fault
per 4 KiB (about 0.3 CPU-seconds per GiB here) and, being unaligned, cannot be
written with ``O_DIRECT`` without another copy; the buffers of a pool are anonymous
``mmap`` regions (page-aligned) that go back to the pool once every consumer is done
with them (:meth:`BufferPool.give_back`, safe from any thread).
"""

from __future__ import annotations

import mmap
from collections import deque

Buffer = bytes | bytearray | memoryview | mmap.mmap


class BufferPool:
    """Buffers of ``size`` bytes. :meth:`take` never blocks: with none free it maps
    a new one, so how many exist is bounded by how many the caller has in flight."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free: deque[mmap.mmap] = deque()  # append/pop are atomic in CPython
        self.created = 0

    def take(self) -> mmap.mmap:
        try:
            return self._free.pop()
        except IndexError:
            self.created += 1
            return mmap.mmap(-1, self.size)

    def give_back(self, buf: mmap.mmap) -> None:
        self._free.append(buf)
