"""O_DIRECT writes and uncached reads of image data (streaming_write, uncached_read,
buffers): whatever the buffers' sizes and alignment, the file holds exactly the bytes
written, a file system that refuses O_DIRECT is written normally, and what is read is
dropped from the page cache behind the reader."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from novalith.image import streaming_write, uncached_read
from novalith.image.buffers import BufferPool
from novalith.image.streaming_write import ALIGN, StreamingFileWriter, open_for_stream
from novalith.image.uncached_read import UncachedFileReader, read_ahead

FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _write(path: Path, pieces: list[object]) -> StreamingFileWriter:
    fd = open_for_stream(str(path), FLAGS)
    try:
        out = StreamingFileWriter(fd)
        for piece in pieces:
            out.write(piece)  # type: ignore[arg-type]
        out.flush()
        os.fsync(fd)
    finally:
        os.close(fd)
    return out


def _pooled(data: bytes) -> memoryview:
    buf = BufferPool(len(data) + ALIGN).take()
    buf[:len(data)] = data
    return memoryview(buf)[:len(data)]


def test_file_system_here_takes_o_direct(tmp_path: Path) -> None:
    fd = open_for_stream(str(tmp_path / "f"), FLAGS)
    try:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT
        assert StreamingFileWriter(fd).direct
    finally:
        os.close(fd)


@pytest.mark.parametrize("sizes", [
    [4 * 1024 * 1024] * 3,  # aligned pooled buffers only: no staging
    [4 * 1024 * 1024, 4 * 1024 * 1024, 12345],  # aligned, then an odd tail
    [1000, 4 * 1024 * 1024, 70000, 3 * 1024 * 1024 + 1],  # unaligned from the start
    [17],  # less than a page
    [],
])
def test_written_file_holds_exactly_the_stream(tmp_path: Path, sizes: list[int]) -> None:
    chunks = [os.urandom(n) for n in sizes]
    pieces: list[object] = [_pooled(c) if i % 2 == 0 else c for i, c in enumerate(chunks)]
    out = _write(tmp_path / "f", pieces)
    assert (tmp_path / "f").read_bytes() == b"".join(chunks)
    assert out.written == sum(sizes)


def test_aligned_buffers_are_written_without_staging(tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    out = _write(tmp_path / "f", [_pooled(data), _pooled(data)])
    assert out.direct and out._stage is None  # no copy was needed
    assert (tmp_path / "f").read_bytes() == data + data


def test_refused_o_direct_at_write_falls_back_to_buffered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    calls = {"direct": 0}

    def write(fd: int, data: object) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            calls["direct"] += 1
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(streaming_write.os, "write", write)
    chunks = [os.urandom(1024 * 1024), os.urandom(5000), os.urandom(2 * 1024 * 1024)]
    out = _write(tmp_path / "f", [_pooled(chunks[0]), chunks[1], _pooled(chunks[2])])
    assert calls["direct"] == 1 and not out.direct
    assert (tmp_path / "f").read_bytes() == b"".join(chunks)


def test_plain_descriptor_is_written_buffered(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", FLAGS)
    try:
        out = StreamingFileWriter(fd, window=64 * 1024)
        data = os.urandom(300 * 1024)
        out.write(data)
        out.flush()
    finally:
        os.close(fd)
    assert not out.direct
    assert (tmp_path / "f").read_bytes() == data


@pytest.mark.parametrize(("offset", "length"), [
    (0, None), (1, None), (4095, 10000), (ALIGN, 3 * ALIGN), (5 * 1024 * 1024 - 3, None),
    (123, 0), (10**9, None)])
def test_uncached_reader_returns_the_range(tmp_path: Path, offset: int,
                                           length: int | None) -> None:
    data = os.urandom(5 * 1024 * 1024 + 777)
    (tmp_path / "f").write_bytes(data)
    reader = UncachedFileReader(str(tmp_path / "f"), offset, length)
    try:
        got = b"".join(bytes(c) for c in iter(lambda: reader.read(3 * 1024 * 1024 + 5), b""))
    finally:
        reader.close()
        reader.close()  # idempotent
    start = min(offset, len(data))
    want = data[start:] if length is None else data[start:start + length]
    assert got == want and reader.size == len(want)


def test_uncached_reader_reports_a_file_that_shrank(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(3 * 1024 * 1024))
    reader = UncachedFileReader(str(tmp_path / "f"))
    os.truncate(tmp_path / "f", 1024 * 1024)
    with pytest.raises(OSError, match="ended early"):
        reader.read(4 * 1024 * 1024)
    reader.close()


def _cached(path: Path, offset: int) -> bool:
    """Whether the page at ``offset`` is in the page cache (RWF_NOWAIT reads only that)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.preadv(fd, [bytearray(ALIGN)], offset, os.RWF_NOWAIT)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _durable_file(path: Path, size: int) -> None:
    path.write_bytes(os.urandom(size))
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)  # dirty pages cannot be dropped
    os.close(fd)


def test_uncached_reader_drops_what_it_has_read(tmp_path: Path) -> None:
    _durable_file(tmp_path / "f", 3 * uncached_read.WINDOW)
    reader = UncachedFileReader(str(tmp_path / "f"))
    while reader.read(4 * 1024 * 1024):
        pass
    reader.close()
    assert not _cached(tmp_path / "f", 0)
    assert not _cached(tmp_path / "f", 3 * uncached_read.WINDOW - ALIGN)


def test_read_ahead_drops_what_it_has_read(tmp_path: Path) -> None:
    _durable_file(tmp_path / "f", 2 * uncached_read.WINDOW + 5)
    assert len(b"".join(bytes(v) for v in read_ahead(str(tmp_path / "f")))) == (
        2 * uncached_read.WINDOW + 5)
    assert not _cached(tmp_path / "f", 0)
    assert not _cached(tmp_path / "f", 2 * uncached_read.WINDOW - ALIGN)


@pytest.mark.parametrize("size", [0, 100, 4 * 1024 * 1024, 10 * 1024 * 1024 + 3])
def test_read_ahead_yields_the_whole_file(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    got = b"".join(bytes(v) for v in read_ahead(str(tmp_path / "f"), chunk=1024 * 1024))
    assert got == data


def test_read_ahead_stops_cleanly_when_abandoned(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(8 * 1024 * 1024))
    before = len(os.listdir("/proc/self/fd"))
    chunks = read_ahead(str(tmp_path / "f"), chunk=1024 * 1024)
    next(chunks)
    chunks.close()  # waits for the reads in flight, closes its descriptors
    assert len(os.listdir("/proc/self/fd")) == before


def test_read_ahead_reports_a_file_that_shrank(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(os.urandom(8 * 1024 * 1024))
    chunks = read_ahead(str(tmp_path / "f"), chunk=1024 * 1024, depth=1)
    next(chunks)
    os.truncate(tmp_path / "f", 2 * 1024 * 1024 + 10)
    with pytest.raises(OSError, match="changed while being read"):
        list(chunks)


def test_pool_reuses_given_back_buffers() -> None:
    pool = BufferPool(ALIGN)
    a, b = pool.take(), pool.take()
    assert pool.created == 2 and a is not b
    pool.give_back(a)
    assert pool.take() is a and pool.created == 2
