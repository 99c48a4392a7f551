"""The engine's container events -> compute's ``instance_power_changed``, at once.

A container that stops, dies (its process ended, the OOM killer), is paused or
restarted outside Novalith (``docker stop``, ``docker pause``...) is reported to
compute when the engine says so, not at the next periodic power sync. Like the
libvirt driver's life-cycle events, a report is only a hint: compute asks
``get_info`` again before it changes anything (:mod:`novalith.compute.power_sync`).

How an event becomes a power state (:data:`EVENT_POWER`):

==========================  ==========================================================
event                       power state
==========================  ==========================================================
start, restart, unpause     RUNNING
pause                       PAUSED
stop                        SHUTDOWN
destroy                     NOSTATE (the container is gone)
die, kill, oom              inspected once: a killed or OOM-hit container may still run
                            (a signal it handles, a child the OOM killer took), one
                            that died by the OOM killer is CRASHED (:mod:`.power_state`)
==========================  ==========================================================

Debounce: the events of one container are held until none came for a while (at
most ``max_delay`` after the first), and only the last one counts: a ``docker
restart`` (kill, die, stop, start, restart) is reported once, RUNNING. The wait is
longer after an event that may mean "off" (``settle_off``, against ``settle``):
between the die and the start of a restart the engine needs a few hundred
milliseconds, and a SHUTDOWN reported in that gap would have compute mark the
server stopped, then power off the container the start brought back (Nova's
libvirt driver holds its "stopped" events back for the same reason).

Two daemon threads, started by ``init_host`` and stopped by ``cleanup_host``: one
follows the engine's event stream (``GET /events`` filtered on this host's label and
the events above), the other reports. When the stream breaks (the engine restarted,
the connection dropped) the follower reconnects with a doubling back-off; once the
stream is open again it asks for the events it missed (``since`` the last one it
saw) and reports every container of this host once (a full pass), so no change
made while it was away is lost. Stopping closes the stream, which ends the
blocking read at once. Nothing here raises into compute; a normal event is logged
at debug level only, a lost engine once per outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from novalith.objects.states import PowerState
from novalith.virt.docker import container_spec as cs
from novalith.virt.docker import engine as eng
from novalith.virt.docker import power_state as ps

LOG = logging.getLogger(__name__)

#: What each followed event says about the power state (None: inspect to know).
EVENT_POWER: dict[str, int | None] = {
    "start": PowerState.RUNNING,
    "restart": PowerState.RUNNING,
    "unpause": PowerState.RUNNING,
    "pause": PowerState.PAUSED,
    "stop": PowerState.SHUTDOWN,
    "destroy": PowerState.NOSTATE,
    "die": None,
    "kill": None,
    "oom": None,
}
#: Seconds without a further event of a container before its state is reported:
#: after an event that means running or paused, and after any other.
SETTLE = 0.5
SETTLE_OFF = 2.0
_ON = frozenset({PowerState.RUNNING, PowerState.PAUSED})
#: Seconds after its first event by which a container is reported however busy.
MAX_DELAY = 5.0
#: Back-off between reconnection attempts: first and longest wait, in seconds.
BACKOFF = (0.5, 10.0)
#: Seconds ``start`` waits for the first subscription (it goes on trying after).
START_WAIT = 5.0


@dataclass(frozen=True)
class ContainerEvent:
    """The parts of an engine event the driver uses."""

    uuid: str
    container_id: str
    action: str
    time: int | None = None  # seconds, on the engine's clock


def parse(event: Mapping[str, Any], host: str) -> ContainerEvent | None:
    """The container event of one of ``host``'s instances in ``event``, else None."""
    if event.get("Type", "container") != "container":
        return None
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    action = str(event.get("Action") or event.get("status") or "")
    uuid = str(attributes.get(cs.LABEL_UUID) or "")
    container_id = str(actor.get("ID") or event.get("id") or "")
    if (action not in EVENT_POWER or not uuid or not container_id
            or attributes.get(cs.LABEL_HOST) != host):
        return None
    stamp = event.get("time")
    return ContainerEvent(uuid=uuid, container_id=container_id, action=action,
                          time=int(stamp) if isinstance(stamp, int | float) else None)


def summary_power(summary: Mapping[str, Any]) -> int | None:
    """The power state of a ``docker ps -a`` summary; None for an exited container (its
    OOM flag is only in the inspect)."""
    status = str(summary.get("State") or "")
    return None if status == ps.EXITED else ps.power_state(status)


@dataclass
class Change:
    """A container whose state is to be reported once its events settled."""

    uuid: str
    container_id: str
    power: int | None  # None: inspect the container
    due: float
    deadline: float


class Debouncer:
    """Pending changes per instance; the last event wins. Not thread-safe (the
    watcher holds its lock around every call); ``now`` comes from the caller."""

    def __init__(self, settle: float = SETTLE, settle_off: float = SETTLE_OFF,
                 max_delay: float = MAX_DELAY) -> None:
        self.settle = settle
        self.settle_off = settle_off
        self.max_delay = max_delay
        self._pending: dict[str, Change] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, uuid: str, container_id: str, power: int | None, now: float) -> None:
        known = self._pending.get(uuid)
        deadline = known.deadline if known else now + self.max_delay
        wait = self.settle if power in _ON else self.settle_off
        self._pending[uuid] = Change(uuid=uuid, container_id=container_id, power=power,
                                     due=min(now + wait, deadline), deadline=deadline)

    def next_due(self) -> float | None:
        return min((c.due for c in self._pending.values()), default=None)

    def pop_due(self, now: float) -> list[Change]:
        ready = [c for c in self._pending.values() if c.due <= now]
        for change in ready:
            del self._pending[change.uuid]
        return ready


class EventWatcher:
    """Follows the engine's events for the containers of ``host`` and calls
    ``report(uuid, power_state)`` for each settled change."""

    def __init__(self, engine: eng.Engine, host: str, report: Callable[[str, int], None],
                 *, settle: float = SETTLE, settle_off: float = SETTLE_OFF,
                 max_delay: float = MAX_DELAY, backoff: tuple[float, float] = BACKOFF) -> None:
        self.engine = engine
        self.host = host
        self.report = report
        self.backoff = backoff
        self._debouncer = Debouncer(settle, settle_off, max_delay)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._stream: Any = None
        self._threads: list[threading.Thread] = []
        #: Set while a subscription is open (tests wait on it).
        self.following = threading.Event()
        #: Full passes made after a reconnection (tests and debugging).
        self.full_passes = 0

    # ---- life ----------------------------------------------------------------------------
    def start(self, wait: float = START_WAIT) -> None:
        """Start both threads; wait up to ``wait`` seconds for the subscription, so that
        what happens after ``init_host`` returns is seen (what happened before is
        compute's start-up sync)."""
        if self._threads:
            return
        self._stop.clear()
        for target, name in ((self._follow, "events"), (self._deliver, "reports")):
            thread = threading.Thread(target=target, daemon=True,
                                      name=f"docker-{name}-{self.host}")
            thread.start()
            self._threads.append(thread)
        if not self.following.wait(wait):
            LOG.warning("Not following the events of the Docker engine at %s yet; "
                        "retrying in the background", self.engine.url)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the stream (ending the blocking read) and join the threads."""
        self._stop.set()
        with self._cond:
            stream = self._stream
            self._cond.notify_all()
        _cancel(stream)  # the follower closes it completely
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
                if thread.is_alive():
                    LOG.warning("Thread %s did not stop within %s s", thread.name, timeout)
        self._threads = []

    # ---- following -----------------------------------------------------------------------
    def _filters(self) -> dict[str, Any]:
        return {"type": ["container"], "label": [f"{cs.LABEL_HOST}={self.host}"],
                "event": sorted(EVENT_POWER)}

    def _open(self, since: int | None) -> Any:
        eng.probe(self.engine.url)  # a clean OSError while nobody listens
        stream = self.engine.api.events(since=since, decode=True, filters=self._filters())
        with self._cond:
            if self._stop.is_set():
                _close(stream)
                return None
            self._stream = stream
        return stream

    def _follow(self) -> None:
        delay = self.backoff[0]
        since: int | None = None
        lost = False  # a stream broke (or never opened): make a full pass once back
        outage = False  # the outage was logged
        while not self._stop.is_set():
            stream = None
            try:
                stream = self._open(since)
                if stream is None:
                    break
                if lost:
                    self._full_pass()
                    if outage:
                        LOG.info("Following the events of the Docker engine at %s again",
                                 self.engine.url)
                lost = outage = False
                delay = self.backoff[0]
                self.following.set()
                for event in _iterate(stream):
                    found = parse(event, self.host)
                    if found is None:
                        continue
                    if found.time:
                        since = max(since or 0, found.time)
                    self._note(found)
                if not self._stop.is_set() and not outage:
                    LOG.warning("The event stream of the Docker engine at %s ended; "
                                "reconnecting", self.engine.url)
                    outage = True
            except Exception as err:
                if self._stop.is_set():
                    break
                if not outage:
                    LOG.warning("Lost the events of the Docker engine at %s (%s); "
                                "reconnecting", self.engine.url, eng.reason(err))
                    outage = True
                else:
                    LOG.debug("Docker events: still no engine: %s", eng.reason(err))
            finally:
                self.following.clear()
                with self._cond:
                    if self._stream is stream:
                        self._stream = None
                _close(stream)
            lost = True
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.backoff[1])

    def _note(self, event: ContainerEvent) -> None:
        power = EVENT_POWER[event.action]
        LOG.debug("Docker event %s of %s (container %.12s)", event.action, event.uuid,
                  event.container_id)
        with self._cond:
            self._debouncer.add(event.uuid, event.container_id, power, time.monotonic())
            self._cond.notify_all()

    def _full_pass(self) -> None:
        """Every container of this host, once: changes made while the stream was away."""
        wanted = [cs.LABEL_UUID, f"{cs.LABEL_HOST}={self.host}"]
        summaries = self.engine.api.containers(all=True, filters={"label": wanted})
        now = time.monotonic()
        with self._cond:
            for summary in summaries:
                uuid = str((summary.get("Labels") or {}).get(cs.LABEL_UUID) or "")
                if uuid:
                    self._debouncer.add(uuid, str(summary["Id"]), summary_power(summary),
                                        now)
            self._cond.notify_all()
        self.full_passes += 1

    # ---- reporting -----------------------------------------------------------------------
    def _deliver(self) -> None:
        while True:
            with self._cond:
                while not self._stop.is_set():
                    due = self._debouncer.next_due()
                    now = time.monotonic()
                    if due is not None and due <= now:
                        break
                    self._cond.wait(None if due is None else due - now)
                if self._stop.is_set():
                    return
                ready = self._debouncer.pop_due(time.monotonic())
            for change in ready:
                if self._stop.is_set():
                    return
                self._report(change)

    def _report(self, change: Change) -> None:
        power = change.power
        if power is None:
            try:
                power = self._inspect(change.container_id)
            except Exception as err:
                # The engine went away: the full pass after reconnecting covers it.
                LOG.debug("No power state for %s: %s", change.uuid, eng.reason(err))
                return
        try:
            self.report(change.uuid, power)
        except Exception:
            LOG.exception("Reporting the power state of %s failed", change.uuid)

    def _inspect(self, container_id: str) -> int:
        docker = eng.docker_module()
        try:
            details = self.engine.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return PowerState.NOSTATE
        return ps.from_inspect(details.get("State") or {})


def _iterate(stream: Any) -> Iterator[Mapping[str, Any]]:
    for event in stream:
        if isinstance(event, Mapping):
            yield event


def _cancel(stream: Any) -> None:
    """End a read blocked on ``stream`` from another thread: docker-py's ``close``
    shuts the socket down. Quietly: it may be half-closed already."""
    if stream is None:
        return
    try:
        stream.close()
    except Exception:
        LOG.debug("closing the event stream failed", exc_info=True)


def _close(stream: Any) -> None:
    """Close ``stream`` and its HTTP response (by the thread that reads it)."""
    if stream is None:
        return
    _cancel(stream)
    response = getattr(stream, "_response", None)
    if response is not None:
        try:
            response.close()
        except Exception:
            LOG.debug("closing the event response failed", exc_info=True)
