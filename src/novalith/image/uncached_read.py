"""Reading a byte range of a large file without going through the page cache.

The counterpart of :mod:`novalith.image.streaming_write`: image data is read whole,
once per download, so caching it only costs. On this VM a buffered read of 1 GiB
that is not cached costs 1.0-1.5 CPU-seconds (page-cache pages allocated, filled,
copied out), an ``O_DIRECT`` read into a reused aligned buffer plus a copy into the
chunk handed out about 0.3.

``O_DIRECT`` wants the offset, length and buffer aligned, so each read covers the
aligned span around the wanted bytes and copies those out. A file system that
refuses ``O_DIRECT`` (at open or at the first read) is read normally.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait

from novalith.image.streaming_write import ALIGN

_O_DIRECT = getattr(os, "O_DIRECT", 0)


class UncachedFileReader:
    """Sequential reads of ``length`` bytes from ``offset`` of ``path`` (the whole rest
    of the file when ``length`` is None); raises FileNotFoundError as ``open`` does."""

    def __init__(self, path: str, offset: int = 0, length: int | None = None,
                 stage_size: int = 4 * 1024 * 1024) -> None:
        self._fd: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._direct_fd: int | None = None
        try:
            total = os.fstat(self._fd).st_size  # type: ignore[arg-type]
            if _O_DIRECT:
                try:
                    self._direct_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | _O_DIRECT)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
        except BaseException:
            self.close()
            raise
        self.pos = min(max(offset, 0), total)
        self.size = total - self.pos if length is None else max(0, min(length, total - self.pos))
        self.end = self.pos + self.size
        self._stage_size = stage_size
        self._stage: mmap.mmap | None = None

    def read(self, n: int) -> memoryview:
        """The next ``min(n, bytes left)`` bytes, in a buffer of their own (the caller may
        keep it); empty at the end. Raises OSError if the file ends early."""
        want = min(n, self.end - self.pos)
        out = memoryview(bytearray(want))
        got = 0
        while got < want:
            count = self._read_into(out[got:])
            if not count:
                raise OSError(errno.EIO, "file ended early")
            got += count
            self.pos += count
        return out

    def _read_into(self, view: memoryview) -> int:
        if self._direct_fd is not None:
            try:
                return self._read_direct(view)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                os.close(self._direct_fd)  # open took O_DIRECT, read refuses it
                self._direct_fd = None
        if self._fd is None:
            raise ValueError("read from a closed reader")
        return os.preadv(self._fd, [view], self.pos)

    def _read_direct(self, view: memoryview) -> int:
        assert self._direct_fd is not None
        if self._stage is None:
            self._stage = mmap.mmap(-1, self._stage_size)
        start = self.pos - self.pos % ALIGN
        skip = self.pos - start
        span = min(self._stage_size, -(-(skip + len(view)) // ALIGN) * ALIGN)
        count = os.preadv(self._direct_fd, [memoryview(self._stage)[:span]], start) - skip
        if count <= 0:
            return 0
        count = min(count, len(view))
        view[:count] = self._stage[skip:skip + count]
        return count

    def close(self) -> None:
        """Idempotent."""
        for name in ("_fd", "_direct_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                setattr(self, name, None)
                os.close(fd)


def read_ahead(path: str, chunk: int = 4 * 1024 * 1024, depth: int = 2) -> Iterator[memoryview]:
    """All of ``path`` as chunks of ``chunk`` bytes (a multiple of the page size), read
    with ``O_DIRECT`` where the file system allows, up to ``depth`` reads ahead on a
    helper thread so that the disk works while the caller sends. Each view is only
    valid until the next one is asked for (its buffer is then read into again)."""
    if chunk % ALIGN:
        raise ValueError(f"chunk must be a multiple of {ALIGN}")
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    direct_fd: list[int | None] = [None]
    if _O_DIRECT:
        try:
            direct_fd[0] = os.open(path, os.O_RDONLY | os.O_CLOEXEC | _O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                os.close(fd)
                raise
    buffers = [mmap.mmap(-1, chunk) for _ in range(depth + 1)]

    def read(index: int, offset: int) -> int:
        if direct_fd[0] is not None:
            try:
                return os.preadv(direct_fd[0], [buffers[index]], offset)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                os.close(direct_fd[0])  # open took O_DIRECT, read refuses it
                direct_fd[0] = None
        return os.preadv(fd, [buffers[index]], offset)

    pending: deque[tuple[Future[int], int]] = deque()  # (read, bytes it must return)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        try:
            size = os.fstat(fd).st_size
            offsets = iter(range(0, size, chunk))

            def submit(index: int, offset: int) -> None:
                pending.append((pool.submit(read, index, offset), min(chunk, size - offset)))

            for index, offset in zip(range(depth + 1), offsets, strict=False):
                submit(index, offset)
            index = 0
            while pending:
                future, expected = pending.popleft()
                count = future.result()
                if count != expected:
                    raise OSError(errno.EIO, f"{path} changed while being read")
                yield memoryview(buffers[index])[:count]
                next_offset = next(offsets, None)
                if next_offset is not None:  # the buffer just yielded is free again
                    submit(index, next_offset)
                index = (index + 1) % len(buffers)
        finally:
            for future, _ in pending:
                future.cancel()
            wait([future for future, _ in pending])
            for closing in (fd, direct_fd[0]):
                if closing is not None:
                    os.close(closing)
