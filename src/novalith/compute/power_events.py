"""Life-cycle events of the driver, applied at once instead of at the next periodic sync.

A driver reports an out-of-band power change through
``ComputeCallbacks.instance_power_changed`` from one of its own threads; that call
must not block and must not call back into the driver, so :meth:`PowerEvents.report`
only queues the instance and returns. One thread of compute's then syncs each queued
instance by the rules of :mod:`.power_sync`, asking the driver for the state *now*
(an event may be stale: Nova ignores one that no longer matches the guest, the same
outcome). Several reports for one instance waiting in the queue are applied once.

Reports arriving before :meth:`PowerEvents.start` (the driver's thread runs from
``init_host``, before compute's start-up reconciliation) wait for it. With
``[workarounds] handle_virt_lifecycle_events = False`` reports are dropped and only
the periodic sync records power changes, as in Nova.
"""

from __future__ import annotations

import collections
import logging
import threading

from novalith.compute import power_sync
from novalith.compute.deps import ComputeDeps
from novalith.objects.states import PowerState

LOG = logging.getLogger(__name__)
#: Seconds an event waits for an instance an operation holds; then the periodic sync
#: has it (operations hold the lock with a task_state set, which the sync skips anyway).
LOCK_TIMEOUT = 30.0


class PowerEvents:
    """The queue of reported instances and the thread that syncs them."""

    def __init__(self, deps: ComputeDeps) -> None:
        self.deps = deps
        self._pending: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._current: str | None = None  # the instance being synced

    def report(self, uuid: str, power_state: int) -> None:
        """Queue ``uuid`` (never blocks on the driver or the DB)."""
        if not self.deps.config.handle_virt_lifecycle_events:
            LOG.debug("Ignoring event of %s ([workarounds] handle_virt_lifecycle_events)",
                      uuid)
            return
        LOG.debug("Driver event: %s is %s", uuid, PowerState.NAMES.get(power_state,
                                                                        power_state))
        with self._cond:
            if self._stopping:
                return
            self._pending[uuid] = power_state  # a later report replaces a queued one
            self._cond.notify()

    def start(self) -> None:
        with self._cond:
            self._stopping = False
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"power-events-{self.deps.host}")
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after the instance it is syncing; queued reports are dropped
        (the next start's reconciliation syncs every instance)."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or bool(self._pending))
                if self._stopping:
                    return
                uuid, reported = self._pending.popitem(last=False)
                self._current = uuid
            try:
                power_sync.sync_instance(
                    self.deps, uuid, lock_timeout=LOCK_TIMEOUT,
                    source="driver event: " + PowerState.NAMES.get(reported, str(reported)))
            except Exception as err:
                # The periodic sync will try again; a hypervisor hiccup is no reason
                # to stop following events.
                LOG.warning("Could not apply the power event of %s: %s", uuid, err)
            with self._cond:
                self._current = None
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Whether, within ``timeout`` seconds, every queued report was applied (for
        tests: a report that changes nothing leaves no other trace)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and self._current is None, timeout)
