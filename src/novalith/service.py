"""What every service shares: its row in ``services`` and a heartbeat thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.rpc.dispatch import Dispatcher, Surface
from novalith.rpc.transport import RPCServer, Transport

LOG = logging.getLogger(__name__)


class Periodic:
    """Runs named callables at fixed intervals on one daemon thread until stopped."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: list[tuple[str, float, Callable[[], None]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, name: str, interval: float, fn: Callable[[], None]) -> None:
        if interval > 0:
            self._tasks.append((name, interval, fn))

    def start(self) -> None:
        if self._tasks:
            self._thread = threading.Thread(target=self._loop, name=f"periodic-{self.name}",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        import time

        due = {name: time.monotonic() + interval for name, interval, _ in self._tasks}
        while not self._stop.is_set():
            now = time.monotonic()
            for name, interval, fn in self._tasks:
                if now >= due[name]:
                    due[name] = now + interval
                    try:
                        fn()
                    except Exception:
                        LOG.exception("Periodic task %s of %s failed", name, self.name)
            self._stop.wait(max(0.05, min(due.values()) - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class ServiceRecord:
    """Registers (host, binary) in the services table and keeps it alive."""

    def __init__(self, db: Database, host: str, binary: str, topic: str,
                 availability_zone: str | None, version: int = 1) -> None:
        self.db, self.host, self.binary, self.topic = db, host, binary, topic
        self.availability_zone, self.version = availability_zone, version
        self.service_id: int | None = None

    def register(self) -> int:
        with self.db.write() as conn:
            self.service_id = svc_db.register(conn, self.host, self.binary, self.topic,
                                              self.availability_zone, self.version)
        return self.service_id

    def heartbeat(self) -> None:
        assert self.service_id is not None
        with self.db.write() as conn:
            svc_db.heartbeat(conn, self.service_id)


class RPCService:
    """One running service: its row and heartbeat, its periodic tasks, its RPC server.

    A manager registers first (``register``), does its own start-up work, adds
    periodic tasks, then ``run`` starts them and begins taking messages.
    """

    def __init__(self, db: Database, transport: Transport, host: str, binary: str,
                 surface: Surface, manager: object, availability_zone: str | None,
                 report_interval: int, workers: int) -> None:
        self.transport, self.host, self.surface = transport, host, surface
        self.manager, self.workers = manager, workers
        self.record = ServiceRecord(db, host, binary, surface.topic, availability_zone,
                                    surface.version)
        self.periodic = Periodic(f"{surface.topic}-{host}")
        self.periodic.add("heartbeat", report_interval, self.record.heartbeat)
        self._server: RPCServer | None = None

    @property
    def service_id(self) -> int | None:
        return self.record.service_id

    def register(self) -> int:
        return self.record.register()

    def run(self) -> None:
        self.periodic.start()
        self._server = Dispatcher(self.surface, self.manager).serve(
            self.transport, self.host, self.workers)

    def stop(self) -> None:
        self.periodic.stop()
        if self._server is not None:
            self._server.stop()
