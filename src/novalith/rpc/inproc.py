"""The in-process transport: direct hand-off to a server's thread pool.

Messages are still encoded to bytes, so what works here works over RabbitMQ.
"""

from __future__ import annotations

import itertools
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from novalith import exceptions
from novalith.rpc.transport import Handler, RPCServer, Transport

LOG = logging.getLogger(__name__)


class _Server(RPCServer):
    def __init__(self, transport: InprocTransport, topic: str, server: str, handler: Handler,
                 workers: int) -> None:
        self.transport, self.topic, self.server, self.handler = transport, topic, server, handler
        self.pool = ThreadPoolExecutor(max_workers=workers,
                                       thread_name_prefix=f"rpc-{topic}-{server}")

    def submit(self, data: bytes, want_reply: bool) -> Future[bytes | None]:
        return self.pool.submit(self._run, data, want_reply)

    def _run(self, data: bytes, want_reply: bool) -> bytes | None:
        try:
            return self.handler(data, want_reply)
        except Exception:  # the handler reports its own errors; this is a last resort
            LOG.exception("RPC handler on %s.%s crashed", self.topic, self.server)
            raise

    def stop(self) -> None:
        self.transport._unregister(self)
        self.pool.shutdown(wait=True)


class InprocTransport(Transport):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, dict[str, _Server]] = {}
        self._rr: dict[str, itertools.count[int]] = {}

    def _pick(self, topic: str, server: str | None) -> _Server | None:
        by_server = self._servers.get(topic)
        if not by_server:
            return None
        if server is not None:
            return by_server.get(server)
        servers = list(by_server.values())
        return servers[next(self._rr[topic]) % len(servers)]

    def call(self, topic: str, server: str | None, data: bytes, timeout: float) -> bytes:
        target = self._pick(topic, server)
        if target is None:
            raise exceptions.ServiceUnavailable(
                f"No service is listening on {topic}{'.' + server if server else ''}.")
        future = target.submit(data, True)
        try:
            result = future.result(timeout=timeout)
        except FutureTimeout:
            raise exceptions.RPCTimeout(topic=topic, method="call") from None
        assert result is not None
        return result

    def cast(self, topic: str, server: str | None, data: bytes) -> None:
        target = self._pick(topic, server)
        if target is None:
            LOG.error("Dropped a cast to %s.%s: nothing listens there", topic, server)
            return
        target.submit(data, False)

    def fanout(self, topic: str, data: bytes) -> None:
        for target in list(self._servers.get(topic, {}).values()):
            target.submit(data, False)

    def serve(self, topic: str, server: str, handler: Handler, workers: int) -> RPCServer:
        srv = _Server(self, topic, server, handler, workers)
        with self._lock:
            self._servers.setdefault(topic, {})[server] = srv
            self._rr.setdefault(topic, itertools.count())
        return srv

    def _unregister(self, srv: _Server) -> None:
        with self._lock:
            by_server = self._servers.get(srv.topic, {})
            if by_server.get(srv.server) is srv:
                del by_server[srv.server]
