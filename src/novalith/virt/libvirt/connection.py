"""One libvirt connection per driver, reopened transparently when libvirtd restarts.

* :meth:`Connection.open` connects at start-up, retrying for up to
  ``connection_timeout`` seconds, then fails with a clear
  :class:`~novalith.exceptions.ServiceUnavailable` naming the URI and the cause.
* :meth:`Connection.call` runs a function with the live ``virConnect``. When the
  connection turns out dead (libvirtd restarted: an RPC/system error from the
  remote driver, or the close callback fired), it reconnects once and runs the
  function again; if libvirtd still does not answer, ServiceUnavailable.
* A process-wide libvirt event loop thread (libvirt's default implementation)
  serves keep-alives, the close callback and domain life-cycle events; events go
  to the driver's handler on a separate dispatcher thread, so a handler may call
  libvirt without blocking the loop.

QEMU guests keep running while libvirtd is down; the new libvirtd re-attaches
to them, so after a reconnect the driver sees the same domains and states.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from novalith import exceptions

LOG = logging.getLogger(__name__)
T = TypeVar("T")

_loop_lock = threading.Lock()
_loop_started = False


def libvirt_module() -> Any:
    """The ``libvirt`` module, or ServiceUnavailable naming the package to install."""
    try:
        import libvirt
    except ImportError as err:
        raise exceptions.ServiceUnavailable(
            "The libvirt driver needs libvirt-python (pip install libvirt-python; "
            f"it builds against libvirt-dev and pkg-config): {err}") from err
    return libvirt


def start_event_loop() -> None:
    """Register libvirt's default event loop and run it on a daemon thread (once)."""
    global _loop_started
    libvirt = libvirt_module()
    with _loop_lock:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()
        # libvirt prints every error to stderr by default; ours are raised and logged.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # never let the loop die
                    LOG.exception("libvirt event loop iteration failed")
                    time.sleep(0.1)

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


def is_connection_error(err: Exception) -> bool:
    """Whether ``err`` means the connection to libvirtd is gone (not a domain error)."""
    libvirt = libvirt_module()
    if not isinstance(err, libvirt.libvirtError):
        return False
    code, domain = err.get_error_code(), err.get_error_domain()
    if code in (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN):
        return True
    return code in (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR,
                    libvirt.VIR_ERR_RPC) and domain in (libvirt.VIR_FROM_REMOTE,
                                                         libvirt.VIR_FROM_RPC)


def _is_libvirt_error(err: Exception) -> bool:
    return isinstance(err, libvirt_module().libvirtError)


def _alive(conn: Any) -> bool:
    try:
        return bool(conn.isAlive())
    except Exception:
        return False


class Connection:
    """A self-healing connection to the hypervisor at ``uri``.

    ``on_domain_event(uuid, event)`` is called (on the dispatcher thread) whenever a
    domain's life-cycle state changes; ``event`` is libvirt's ``VIR_DOMAIN_EVENT_*``.
    """

    def __init__(self, uri: str, timeout: float,
                 on_domain_event: Callable[[str, int], None] | None = None) -> None:
        self.uri = uri
        self.timeout = timeout
        self._on_domain_event = on_domain_event
        self._conn: Any = None
        self._lock = threading.Lock()
        self._events: queue.Queue[tuple[str, int] | None] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._closed = False
        self.reconnects = 0

    # ---- opening -----------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, retrying up to ``timeout`` seconds; ServiceUnavailable if it never answers."""
        start_event_loop()
        self._closed = False
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with self._lock:
                    self._connect_locked()
                break
            except exceptions.ServiceUnavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)
        if self._on_domain_event is not None and self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch, name="libvirt-dispatch",
                                                daemon=True)
            self._dispatcher.start()

    def _connect_locked(self) -> Any:
        libvirt = libvirt_module()
        if self._conn is not None:
            return self._conn
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as err:
            raise exceptions.ServiceUnavailable(
                f"Cannot connect to the hypervisor at {self.uri}: {err.get_error_message()}. "
                "Is libvirtd running (start virtlogd -d, then libvirtd -d)?") from err
        if conn is None:
            raise exceptions.ServiceUnavailable(f"Cannot connect to the hypervisor at {self.uri}")
        if not self.uri.startswith("test:"):
            try:
                conn.setKeepAlive(5, 3)
            except libvirt.libvirtError:
                LOG.debug("keep-alive not supported on %s", self.uri)
        try:
            conn.registerCloseCallback(self._closed_cb, None)
        except libvirt.libvirtError:
            LOG.debug("close callback not supported on %s", self.uri)
        if self._on_domain_event is not None:
            try:
                conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                            self._lifecycle_cb, None)
            except libvirt.libvirtError:
                LOG.debug("life-cycle events not supported on %s", self.uri)
        if self.reconnects:
            LOG.warning("Reconnected to the hypervisor at %s", self.uri)
        self._conn = conn
        return conn

    def _closed_cb(self, conn: Any, reason: int, opaque: Any) -> None:
        LOG.warning("Connection to %s closed (reason %s); reconnecting on next use",
                    self.uri, reason)
        with self._lock:
            if self._conn is conn:
                self._conn = None

    def _lifecycle_cb(self, conn: Any, dom: Any, event: int, detail: int, opaque: Any) -> None:
        try:
            self._events.put((dom.UUIDString(), event))
        except Exception:
            LOG.exception("Could not queue a life-cycle event")

    def _dispatch(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            uuid, event = item
            if self._on_domain_event is not None:
                try:
                    self._on_domain_event(uuid, event)
                except Exception:
                    LOG.exception("Life-cycle event handler failed for %s", uuid)

    # ---- using -------------------------------------------------------------------------------
    def get(self) -> Any:
        """The live ``virConnect``, reconnecting if the last one died."""
        if self._closed:
            raise exceptions.ServiceUnavailable(
                f"The connection to {self.uri} is closed (compute is stopping).")
        with self._lock:
            conn = self._conn
            if conn is not None:
                try:
                    alive = conn.isAlive()
                except Exception:
                    alive = False
                if alive:
                    return conn
                self._drop_locked()
            self.reconnects += 1
            return self._connect_locked()

    def _drop_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                LOG.debug("closing a dead connection failed", exc_info=True)

    def call(self, fn: Callable[[Any], T]) -> T:
        """``fn(virConnect)``; on a dead connection, reconnect once and run it again."""
        conn = self.get()
        try:
            return fn(conn)
        except Exception as err:
            if not (is_connection_error(err) or (_is_libvirt_error(err) and not _alive(conn))):
                raise
            LOG.warning("Lost the connection to %s (%s); reconnecting", self.uri, err)
            with self._lock:
                if self._conn is conn:
                    self._drop_locked()
        try:
            conn = self.get()
        except exceptions.ServiceUnavailable:
            raise
        try:
            return fn(conn)
        except Exception as err:
            if is_connection_error(err) or (_is_libvirt_error(err) and not _alive(conn)):
                raise exceptions.ServiceUnavailable(
                    f"The hypervisor at {self.uri} does not answer: {err}") from err
            raise

    def close(self) -> None:
        """Disconnect (idempotent). Guests keep running."""
        self._closed = True
        with self._lock:
            self._drop_locked()
        if self._dispatcher is not None:
            self._events.put(None)
            self._dispatcher.join(timeout=5)
            self._dispatcher = None
