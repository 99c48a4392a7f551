"""Hold a domain's "stopped" life-cycle events back for a while, as Nova does.

libvirt reports a domain that stops (``STOPPED``) or whose guest shuts down
(``SHUTDOWN``) at once. Reported to compute straight away, a guest reboot that
passes through "off" or an operator's quick stop+start could make compute mark
the server SHUTOFF, and then power off the guest the start brought back. So an
off event is held for ``[libvirt] lifecycle_event_delay`` seconds (0: not held)
and reported only if nothing else happened to the domain meanwhile: a later
event of the same domain (``STARTED``, ``RESUMED``, any other) replaces the held
one and, unless it is an off event too (which is held again, from its own
arrival), is reported at once. Every report only names the domain; compute reads
the power state again (:mod:`novalith.compute.power_sync`), so the replaced
event loses nothing.

One ``threading.Timer`` (a daemon thread) per domain with an event held, and
none otherwise; :meth:`StopEventDelay.close` (the driver's ``cleanup_host``)
cancels and joins them all.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Protocol

LOG = logging.getLogger(__name__)

#: libvirt's ``VIR_DOMAIN_EVENT_*`` values (stable ABI) of the events held back.
EVENT_STOPPED = 5
EVENT_SHUTDOWN = 6
HELD_EVENTS = frozenset({EVENT_STOPPED, EVENT_SHUTDOWN})
#: Seconds ``close`` waits for a timer thread to end.
JOIN_TIMEOUT = 5.0


class Timer(Protocol):
    """What :class:`StopEventDelay` needs of a timer (``threading.Timer`` has it)."""

    def start(self) -> None: ...
    def cancel(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...


TimerFactory = Callable[[float, Callable[[], None]], Timer]


def daemon_timer(delay: float, fn: Callable[[], None]) -> Timer:
    """A ``threading.Timer`` that never keeps the process alive."""
    timer = threading.Timer(delay, fn)
    timer.name = "libvirt-stop-delay"
    timer.daemon = True
    return timer


class StopEventDelay:
    """Feeds ``report(uuid)`` from libvirt life-cycle events, off events delayed.

    :meth:`event` is called by the connection's dispatcher thread; ``report`` runs
    on that thread for events passed through, on the timer's thread for held ones,
    and must not raise (an error is logged).
    """

    def __init__(self, delay: float, report: Callable[[str], None],
                 timer: TimerFactory = daemon_timer) -> None:
        self.delay = delay
        self._report = report
        self._timer = timer
        self._lock = threading.Lock()
        self._held: dict[str, tuple[int, Timer]] = {}
        self._ids = itertools.count()
        self._closed = False

    def open(self) -> None:
        """Hold off events again after :meth:`close` (the driver started again)."""
        with self._lock:
            self._closed = False

    def event(self, uuid: str, event: int) -> None:
        """A life-cycle ``event`` (``VIR_DOMAIN_EVENT_*``) of domain ``uuid``."""
        hold = event in HELD_EVENTS and self.delay > 0
        with self._lock:
            replaced = self._held.pop(uuid, None)
            if replaced is not None:
                replaced[1].cancel()
                LOG.debug("Held off event of %s replaced by event %s", uuid, event)
            if hold:
                if self._closed:
                    return
                held_id = next(self._ids)
                timer = self._timer(self.delay, lambda: self._fire(uuid, held_id))
                self._held[uuid] = (held_id, timer)
                timer.start()
                return
        self._call_report(uuid)

    def pending(self) -> set[str]:
        """UUIDs of the domains with an event held."""
        with self._lock:
            return set(self._held)

    def close(self) -> None:
        """Drop every held event, its timer cancelled and joined; hold no new ones."""
        with self._lock:
            self._closed = True
            timers = [timer for _, timer in self._held.values()]
            self._held.clear()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            if timer is not threading.current_thread():
                timer.join(JOIN_TIMEOUT)

    def _fire(self, uuid: str, held_id: int) -> None:
        with self._lock:
            held = self._held.get(uuid)
            if held is None or held[0] != held_id:
                return  # replaced or closed while the timer was due
            del self._held[uuid]
        self._call_report(uuid)

    def _call_report(self, uuid: str) -> None:
        try:
            self._report(uuid)
        except Exception:
            LOG.exception("Life-cycle event handler failed for %s", uuid)
