"""The pipelined Hasher: same digests as hashlib, sink sees every buffer in order,
sink errors surface, close() stops the lanes."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from novalith.image import hashing
from novalith.image.hashing import Hasher


def _buffers() -> list[bytes]:
    # small (inline) first, then large (lanes), then small again (must stay in order)
    return [os.urandom(1000), *(os.urandom(300 * 1024) for _ in range(12)), os.urandom(17)]


def test_digests_and_sink_order_match_hashlib() -> None:
    bufs = _buffers()
    seen: list[bytes] = []
    hasher = Hasher(sink=seen.append)
    for b in bufs:
        hasher.update(b)
    d = hasher.finish()
    whole = b"".join(bufs)
    assert d.size == len(whole)
    assert d.checksum == hashlib.md5(whole).hexdigest()
    assert d.os_hash_algo == "sha512"
    assert d.os_hash_value == hashlib.sha512(whole).hexdigest()
    assert b"".join(seen) == whole


def test_sink_error_surfaces_from_finish_or_update() -> None:
    def sink(data: object) -> None:
        raise OSError("disk full")

    hasher = Hasher(sink=sink)
    with pytest.raises(OSError, match="disk full"):
        for _ in range(3 * hashing.MAX_IN_FLIGHT):
            hasher.update(os.urandom(300 * 1024))
        hasher.finish()


def test_lanes_lag_at_most_max_in_flight_buffers() -> None:
    gate = threading.Event()
    started: list[int] = []

    def sink(data: bytes) -> None:
        started.append(len(data))
        gate.wait(5)

    hasher = Hasher(sink=sink)
    done = threading.Event()

    def feed() -> None:
        for _ in range(hashing.MAX_IN_FLIGHT + 3):
            hasher.update(bytes(300 * 1024))
        done.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    assert not done.wait(0.3)  # back-pressure: the feeder waits for the blocked sink
    gate.set()
    feeder.join(5)
    assert done.is_set()
    hasher.finish()
    assert len(started) == hashing.MAX_IN_FLIGHT + 3


def test_close_stops_without_running_queued_buffers() -> None:
    gate = threading.Event()
    calls: list[int] = []

    def sink(data: bytes) -> None:
        calls.append(1)
        gate.wait(5)

    hasher = Hasher(sink=sink)
    for _ in range(3):
        hasher.update(bytes(300 * 1024))
    threading.Timer(0.1, gate.set).start()
    hasher.close()
    count = len(calls)
    assert count < 3  # the queued ones were dropped
    hasher.close()  # idempotent
    assert len(calls) == count


def test_release_is_called_once_per_buffer_after_every_lane() -> None:
    bufs = _buffers()
    seen: list[bytes] = []
    released: list[int] = []
    lock = threading.Lock()

    def release(i: int) -> None:
        with lock:
            assert seen[i] is bufs[i]  # the sink, the last lane, already had it
            released.append(i)

    hasher = Hasher(sink=seen.append)
    for i, b in enumerate(bufs):
        hasher.update(b, lambda i=i: release(i))
    hasher.finish()
    assert sorted(released) == list(range(len(bufs)))


def test_release_is_called_for_buffers_dropped_by_close() -> None:
    gate = threading.Event()
    released: list[int] = []
    hasher = Hasher(sink=lambda data: gate.wait(5))
    for i in range(3):
        hasher.update(os.urandom(300 * 1024), lambda i=i: released.append(i))
    gate.set()
    hasher.close()
    assert sorted(released) == [0, 1, 2]
