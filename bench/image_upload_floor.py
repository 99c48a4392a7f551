"""How fast can any upload of image data be on this machine? The floor, without HTTP.

Three measurements of the same file (1 GiB by default), each repeated:

* hashes only: MD5 and SHA-512 of the data already in memory, on two threads at once
  (what an upload must compute, with nothing else to do);
* floor pipeline: a raw TCP socket on loopback, no HTTP, no framework. The sender reads
  the file as the HTTP client does (``read_ahead``) and sends it; the receiver
  ``recv_into``s reused 4 MiB aligned buffers and hands them to the store's
  :class:`~novalith.image.hashing.Hasher` (MD5, SHA-512 and the O_DIRECT write, each
  on a thread of its own), then fsyncs. This is the image API's upload path minus
  uvicorn and Starlette;
* copy: ``shutil.copyfile`` + fsync, after an untimed warm-up copy, as in
  ``bench/image_throughput.py``.

    python bench/image_upload_floor.py [--size-mib 1024] [--dir /var/tmp] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable

from image_throughput import MiB, copy_with_fsync, drop_cache_of, make_file

from novalith.image.buffers import BufferPool
from novalith.image.hashing import Hasher
from novalith.image.streaming_write import StreamingFileWriter, open_for_stream
from novalith.image.uncached_read import read_ahead

CHUNK = 4 * MiB


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def hashes_only(data: bytes, size: int) -> None:
    def run(algo: str) -> None:
        digest = hashlib.new(algo)
        for _ in range(size // len(data)):
            digest.update(data)

    threads = [threading.Thread(target=run, args=(a,)) for a in ("md5", "sha512")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def floor_pipeline(src: str, dest: str) -> None:
    """Send ``src`` over loopback; receive, hash (2 threads) and write (1 thread)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    size = os.path.getsize(src)

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            for view in read_ahead(src, CHUNK):
                sock.sendall(view)

    sender = threading.Thread(target=send)
    sender.start()
    conn, _ = listener.accept()
    pool = BufferPool(CHUNK)
    fd = open_for_stream(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    out = StreamingFileWriter(fd)
    hasher = Hasher(sink=out.write)  # the store's own lanes: MD5, SHA-512, the write
    received = 0
    while received < size:
        buf = pool.take()
        view, filled = memoryview(buf), 0
        while filled < CHUNK and received + filled < size:
            count = conn.recv_into(view[filled:])
            if not count:
                raise ConnectionError("sender stopped early")
            filled += count
        received += filled
        hasher.update(view[:filled], functools.partial(pool.give_back, buf))
    hasher.finish()
    out.flush()
    os.fsync(fd)
    os.close(fd)
    sender.join()
    conn.close()
    listener.close()


def measure(fn: Callable[[], None]) -> tuple[float, float]:
    cpu, start = cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - start, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * MiB
    work = tempfile.mkdtemp(prefix="novalith-upload-floor-", dir=args.dir)
    results: dict[str, list[tuple[float, float]]] = {"hashes": [], "floor": [], "copy": []}
    try:
        src, dest = os.path.join(work, "source.bin"), os.path.join(work, "dest.bin")
        make_file(src, size)
        data = os.urandom(64 * MiB)
        for _ in range(args.rounds):
            results["hashes"].append(measure(lambda: hashes_only(data, size)))
            drop_cache_of(src)
            results["floor"].append(measure(lambda: floor_pipeline(src, dest)))
            os.unlink(dest)
            for _ in range(2):  # the second copy is the one kept (warm memory)
                drop_cache_of(src)
                copy = measure(lambda: copy_with_fsync(src, dest))
                os.unlink(dest)
            results["copy"].append(copy)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    copy_med = statistics.median(w for w, _ in results["copy"])
    print(f"{args.size_mib} MiB, {args.rounds} rounds, {os.cpu_count()} CPUs")
    print("| what | median time | each round | process CPU (median) | copy time / this |")
    print("|---|---|---|---|---|")
    for key, what in (("hashes", "MD5 + SHA-512 from memory, 2 threads"),
                      ("floor", "floor pipeline (raw TCP, hash, O_DIRECT write)"),
                      ("copy", "copy + fsync (warm)")):
        walls = [w for w, _ in results[key]]
        med = statistics.median(walls)
        print(f"| {what} | {med:.2f} s | {', '.join(f'{w:.2f}' for w in walls)} | "
              f"{statistics.median(c for _, c in results[key]):.2f} s | "
              f"{copy_med / med:.2f} |")


if __name__ == "__main__":
    main()
