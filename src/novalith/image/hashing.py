"""The two digests Glance records for image data, computed while the bytes stream.

``checksum`` is MD5 (what old clients and ``Content-MD5`` use) and
``os_hash_value`` is SHA-512 (``os_hash_algo``). Each runs at 700-800 MiB/s on one
core here, and neither can be split across cores (each block depends on the one
before). So for a large stream every consumer of the bytes gets a lane of its own:
MD5, SHA-512 and the sink (the store's file write, say) each run on one thread,
taking the buffers in order, a few buffers behind the caller. hashlib and os.write
release the GIL, so the lanes and the caller (receiving the next buffer) overlap
instead of adding up, and no lane waits for the slowest one after every buffer.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from novalith.image.buffers import Buffer

OS_HASH_ALGO = "sha512"
#: Below this a thread hop costs more than it saves: such buffers are hashed inline.
_PARALLEL_MIN = 256 * 1024
#: Buffers a lane may lag behind the caller: bounds memory to this many buffers.
MAX_IN_FLIGHT = 4



@dataclass(frozen=True)
class Digests:
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str


class _Lanes:
    """One single-thread executor per consumer: each sees the buffers in order."""

    def __init__(self, consumers: list[Callable[[Any], object]]) -> None:
        self._consumers = consumers
        self._pools = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-lane")
                       for _ in consumers]
        self._batches: deque[list[Future[object]]] = deque()

    def submit(self, data: Buffer, release: Callable[[], object] | None = None) -> None:
        batch = [pool.submit(fn, data)
                 for pool, fn in zip(self._pools, self._consumers, strict=True)]
        if release is not None:
            _call_when_all_done(batch, release)
        self._batches.append(batch)
        while len(self._batches) > MAX_IN_FLIGHT:
            self._settle(self._batches.popleft())

    def drain(self) -> None:
        """Wait for every buffer handed over; raise the first consumer error."""
        while self._batches:
            self._settle(self._batches.popleft())

    def close(self) -> None:
        """Stop: drop what has not started, wait for what has (never raises)."""
        for batch in self._batches:
            for future in batch:
                future.cancel()
        self._batches.clear()
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _settle(batch: list[Future[object]]) -> None:
        wait(batch)
        for future in batch:
            future.result()


def _call_when_all_done(futures: list[Future[object]], release: Callable[[], object]) -> None:
    """Call ``release`` once, when the last of ``futures`` has finished or been
    cancelled (done-callbacks run on the lane threads, or at once if already done)."""
    left = [len(futures)]
    lock = threading.Lock()

    def one_done(_: Future[object]) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            release()

    for future in futures:
        future.add_done_callback(one_done)


class Hasher:
    """MD5 + SHA-512 + byte count over a stream of buffers fed in order, and an
    optional ``sink`` that gets the same buffers in the same order.

    A buffer handed to :meth:`update` belongs to the hasher until its ``release`` is
    called (or for good, without one): the caller must not change it before then. The
    sink may
    run a few buffers behind; its errors surface from a later :meth:`update` or from
    :meth:`finish`. Call :meth:`finish` (or :meth:`close` to give up) when done.
    """

    def __init__(self, sink: Callable[[Any], object] | None = None) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha = hashlib.new(OS_HASH_ALGO)
        self._sink = sink
        self._lanes: _Lanes | None = None
        self.size = 0

    def update(self, data: Buffer, release: Callable[[], object] | None = None) -> None:
        """Hash (and sink) ``data``; ``release``, if given, is called once nothing uses
        the buffer any more, from whichever thread finished with it last."""
        self.size += len(data)
        if self._lanes is None:
            if len(data) < _PARALLEL_MIN:
                self._md5.update(data)
                self._sha.update(data)
                if self._sink is not None:
                    self._sink(data)
                if release is not None:
                    release()
                return
            consumers: list[Callable[[Any], object]] = [self._md5.update, self._sha.update]
            if self._sink is not None:
                consumers.append(self._sink)
            self._lanes = _Lanes(consumers)
        self._lanes.submit(data, release)

    def finish(self) -> Digests:
        """Wait for all lanes (raising a sink error) and return the digests."""
        if self._lanes is not None:
            try:
                self._lanes.drain()
            finally:
                self.close()
        return Digests(size=self.size, checksum=self._md5.hexdigest(),
                       os_hash_algo=OS_HASH_ALGO, os_hash_value=self._sha.hexdigest())

    def close(self) -> None:
        """Stop the lanes without waiting for queued buffers; idempotent. After it,
        no lane touches a buffer or the sink."""
        lanes, self._lanes = self._lanes, None
        if lanes is not None:
            lanes.close()
