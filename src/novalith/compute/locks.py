"""One lock per instance: compute runs at most one operation per instance at a time."""

from __future__ import annotations

import threading
import weakref


class InstanceLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[str, threading.RLock] = (
            weakref.WeakValueDictionary())

    def get(self, uuid: str) -> threading.RLock:
        with self._guard:
            lock = self._locks.get(uuid)
            if lock is None:
                lock = threading.RLock()
                self._locks[uuid] = lock
            return lock
