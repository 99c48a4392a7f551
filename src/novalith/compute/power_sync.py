"""Make one instance's DB row agree with the power state its hypervisor reports.

The rules are Nova's (``_sync_instance_power_state``), applied by the periodic sync
(:func:`novalith.compute.reconcile.sync_power_states`) and at once when a driver
reports a life-cycle event (:mod:`novalith.compute.power_events`):

===========  ==============================  ===========================================
vm_state     hypervisor says                 compute does
===========  ==============================  ===========================================
any          (a task_state is set)           nothing: the operation in flight owns the
                                             instance and writes its outcome itself
building,    anything                        nothing (the build, or a person, decides)
error
active       SHUTDOWN, CRASHED               vm_state STOPPED: it stopped by itself
active       SUSPENDED                       powered off, vm_state STOPPED (Nova calls
                                             the stop API)
paused       SHUTDOWN, CRASHED               vm_state STOPPED
stopped      RUNNING, PAUSED, SUSPENDED      powered off: the DB says it must not run
any other    anything                        only power_state is recorded (a paused
                                             container of an ACTIVE server stays ACTIVE)
===========  ==============================  ===========================================

Never fighting compute's own operations: the row is read again under the instance's
lock (which every operation holds while it runs) and written only if its vm_state is
still the one read and no task has started meanwhile (the API sets task_state
without that lock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.compute.deps import ComputeDeps
from novalith.compute.instance_spec import from_row
from novalith.db import instances as inst_db
from novalith.objects import states as s
from novalith.objects.states import PowerState

LOG = logging.getLogger(__name__)

#: vm_states the sync leaves alone whatever the hypervisor says.
SKIPPED_VM_STATES = frozenset({s.BUILDING, s.ERROR})
_OFF = frozenset({PowerState.SHUTDOWN, PowerState.CRASHED})
_ON = frozenset({PowerState.RUNNING, PowerState.PAUSED, PowerState.SUSPENDED})


@dataclass(frozen=True)
class Decision:
    """What the sync does for one instance: DB values to write, and whether the guest
    must be powered off first."""

    values: dict[str, object] = field(default_factory=dict)
    power_off: bool = False

    @property
    def nothing(self) -> bool:
        return not self.values and not self.power_off


def applies(vm_state: str, task_state: str | None) -> bool:
    """Whether the sync may touch an instance in these states at all."""
    return task_state is None and vm_state not in SKIPPED_VM_STATES


def decide(vm_state: str, db_power: int, hv_power: int) -> Decision:
    """The rules of the table above, for an instance :func:`applies` to."""
    power_off = (vm_state == s.STOPPED and hv_power in _ON) or (
        vm_state == s.ACTIVE and hv_power == PowerState.SUSPENDED)
    power = PowerState.SHUTDOWN if power_off else hv_power
    values: dict[str, object] = {}
    if power != db_power:
        values["power_state"] = power
    if vm_state in (s.ACTIVE, s.PAUSED) and (power_off or hv_power in _OFF):
        values["vm_state"] = s.STOPPED
    return Decision(values=values, power_off=power_off)


def sync_instance(deps: ComputeDeps, uuid: str, *, source: str = "periodic sync",
                  seen: RowMapping | None = None,
                  lock_timeout: float | None = None) -> Decision:
    """Apply the rules to instance ``uuid`` of this host, under its lock.

    ``seen`` is the row as the caller last read it (else it is read here): when the
    sync does not apply to it the lock is not even taken, so an operation holding the
    lock for minutes (a snapshot upload) does not hold up the caller. Waiting longer
    than ``lock_timeout`` seconds for the lock skips the instance (the next periodic
    sync sees it). ``source`` names the cause in the log. Hypervisor errors other
    than "not found" propagate.
    """
    if seen is None:
        seen = _row(deps, uuid)
    if seen is None or not applies(seen["vm_state"], seen["task_state"]):
        return Decision()
    lock = deps.locks.get(uuid)
    if not lock.acquire(timeout=-1 if lock_timeout is None else lock_timeout):
        LOG.debug("Power sync of %s (%s) skipped: an operation holds it", uuid, source)
        return Decision()
    try:
        return _sync_locked(deps, uuid, source)
    finally:
        lock.release()


def _row(deps: ComputeDeps, uuid: str) -> RowMapping | None:
    with deps.db.read() as conn:
        row = inst_db.get(conn, uuid)
    return row if row is not None and row["host"] == deps.host else None


def _sync_locked(deps: ComputeDeps, uuid: str, source: str) -> Decision:
    row = _row(deps, uuid)  # again: an operation may have finished meanwhile
    if row is None or not applies(row["vm_state"], row["task_state"]):
        return Decision()
    spec = from_row(row)
    try:
        hv_power = deps.driver.get_info(spec).power_state
    except exceptions.InstanceNotFound:
        # Gone from the hypervisor, or mid-migration: only NOSTATE is recorded.
        hv_power = PowerState.NOSTATE
    decision = decide(row["vm_state"], row["power_state"], hv_power)
    if decision.nothing:
        return decision
    if decision.power_off:
        LOG.warning("Powering off %s (%s): the hypervisor says %s, its vm_state is %s",
                    uuid, source, PowerState.NAMES.get(hv_power, hv_power), row["vm_state"])
        deps.driver.power_off(spec)
    with deps.db.write() as conn:
        written = inst_db.transition(conn, uuid, decision.values,
                                     expected_vm=[row["vm_state"]], expected_task=[None])
    if written:
        LOG.info("Power state of %s (%s): %s", uuid, source, decision.values)
    return decision
