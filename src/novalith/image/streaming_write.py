"""Writing a large stream to a file without going through the page cache.

Image data is written once and not read back soon (the store serves it later, the
image cache converts or backs overlays with it), so caching it only costs: on this
VM a buffered write of 1 GiB into fresh page-cache memory takes 0.5-2.8 CPU-seconds
(the copy, page allocation and writeback), an ``O_DIRECT`` write about 0.05, the
disk reading straight from our buffer.

:func:`open_for_stream` opens with ``O_DIRECT`` where the file system allows it.
:class:`StreamingFileWriter` then writes page-aligned buffers (see
:mod:`novalith.image.buffers`) as they are, and copies anything else through an
aligned staging buffer; :meth:`StreamingFileWriter.flush` writes the unaligned tail
with ``O_DIRECT`` cleared. Without ``O_DIRECT`` (a file system that refuses it, or a
caller's plain descriptor) it writes normally and, every ``WINDOW`` bytes, starts
writeback of the window before the last (``posix_fadvise(DONTNEED)``), so the kernel
keeps reusing a few pages instead of taking fresh memory for every MiB.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os

from novalith.image.buffers import Buffer

#: Bytes of written data per writeback window (buffered mode).
WINDOW = 32 * 1024 * 1024
#: Alignment of O_DIRECT buffers, offsets and lengths: a page, which is a multiple of
#: every disk's logical block size.
ALIGN = mmap.PAGESIZE
#: Size of the staging buffer for data that is not page-aligned.
STAGE = 1024 * 1024
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def open_for_stream(path: str, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags, mode)`` with ``O_DIRECT`` added where the file system
    takes it (tmpfs on older kernels does not), without it otherwise."""
    if _O_DIRECT:
        try:
            return os.open(path, flags | _O_DIRECT, mode)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(path, flags, mode)


def is_aligned(view: memoryview) -> bool:
    """Whether ``view`` starts on a page boundary (read-only buffers count as not:
    ctypes cannot take their address, and they are rarely aligned anyway)."""
    if view.readonly or not view.nbytes:
        return False
    return ctypes.addressof(ctypes.c_char.from_buffer(view)) % ALIGN == 0


class StreamingFileWriter:
    """Sequential writes to an open file descriptor (the caller owns and closes it;
    it calls :meth:`flush` before its fsync)."""

    def __init__(self, fd: int, window: int = WINDOW) -> None:
        self.fd = fd
        self.window = window
        self.written = 0  # bytes handed to write() so far
        self._on_disk = 0  # bytes os.write has taken
        self._flushed = 0
        self.direct = bool(_O_DIRECT) and bool(fcntl.fcntl(fd, fcntl.F_GETFL) & _O_DIRECT)
        self._stage: mmap.mmap | None = None
        self._staged = 0

    def write(self, data: Buffer) -> None:
        """Write all of ``data`` (some may wait in the staging buffer until the next
        write or :meth:`flush`); raises OSError as os.write does."""
        view = memoryview(data).cast("B")
        self.written += len(view)
        if not self.direct:
            self.flush()  # data staged before O_DIRECT was given up goes first
            self._write_buffered(view)
            return
        if not self._staged and is_aligned(view):
            whole = len(view) - len(view) % ALIGN
            if whole:
                self._write_direct(view[:whole])
                view = view[whole:]
        while view:
            if self._stage is None:
                self._stage = mmap.mmap(-1, STAGE)
            take = min(len(view), STAGE - self._staged)
            self._stage[self._staged:self._staged + take] = view[:take]
            self._staged += take
            view = view[take:]
            if self._staged == STAGE:
                self._staged = 0
                self._write_direct(memoryview(self._stage))

    def flush(self) -> None:
        """Write whatever waits in the staging buffer (the stream's unaligned tail)."""
        if not self._staged:
            return
        staged, self._staged = self._staged, 0
        assert self._stage is not None
        view = memoryview(self._stage)[:staged]
        whole = staged - staged % ALIGN
        if whole and self.direct:
            self._write_direct(view[:whole])
            view = view[whole:]
        if view:
            self._stop_direct()
            self._write_buffered(view)

    def _write_direct(self, view: memoryview) -> None:
        while view:
            if not self.direct:  # given up on O_DIRECT below
                self._write_buffered(view)
                return
            try:
                count = os.write(self.fd, view)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._stop_direct()  # accepted at open, refused on write (some FUSE)
                continue
            self._on_disk += count
            view = view[count:]
            if count % ALIGN:  # a short write left the offset unaligned
                self._stop_direct()

    def _stop_direct(self) -> None:
        if self.direct:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)
            self.direct = False

    def _write_buffered(self, view: memoryview) -> None:
        while view:
            count = os.write(self.fd, view)
            view = view[count:]
            self._on_disk += count
        if self._on_disk - self._flushed >= 2 * self.window:
            os.posix_fadvise(self.fd, self._flushed, self.window, os.POSIX_FADV_DONTNEED)
            self._flushed += self.window
