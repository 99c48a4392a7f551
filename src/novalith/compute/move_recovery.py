"""Moves seen from one compute service over time: auto-confirm, evacuation clean-up,
leftovers of deleted instances, and a restart in the middle of a move.

- :func:`auto_confirm` (periodic, ``[DEFAULT] resize_confirm_window`` > 0): resizes
  and cold migrations that arrived here and wait in VERIFY_RESIZE longer than the
  window are confirmed, as if the owner had asked.
- :func:`cleanup_evacuated` (start-up, and periodic while not forced down):
  guests evacuated away from this host are destroyed, and the claims their
  migrations still hold on this host released.
- :func:`destroy_leftovers`: an instance deleted elsewhere left a move's copy here.
- :func:`at_startup`: instances of this host left in a move's task by a crash
  are brought back to a stable state (see its docstring).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Connection, RowMapping

from novalith import exceptions
from novalith.compute import move_steps as steps
from novalith.compute import state_machine as sm
from novalith.compute.deps import ComputeDeps
from novalith.compute.resize import start_confirm
from novalith.compute.rpcapi import DestroyLeftovers, MoveOp
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.db import services as svc_db
from novalith.db.base import utcnow
from novalith.objects import states as s
from novalith.objects.context import RequestContext, admin_context
from novalith.objects.specs import FlavorSpec, InstanceSpec
from novalith.rpc.dispatch import RPCClient
from novalith.virt.driver import MigrationSupport

LOG = logging.getLogger(__name__)


def _bare_spec(uuid: str) -> InstanceSpec:
    """A spec for destroying a guest known only by its uuid."""
    return InstanceSpec(uuid=uuid, id=0, name="", display_name="", hostname="", project_id="",
                        user_id="", flavor=FlavorSpec(flavorid="", name="", memory_mb=0,
                                                      vcpus=0, root_gb=0))


def _spec_any(deps: ComputeDeps, uuid: str) -> InstanceSpec:
    with deps.db.read() as conn:
        row = inst_db.get(conn, uuid, read_deleted=True)
    return steps.spec_of(row) if row is not None else _bare_spec(uuid)


def auto_confirm(deps: ComputeDeps) -> None:
    window = deps.config.resize_confirm_window
    if window <= 0:
        return
    older_than = utcnow() - dt.timedelta(seconds=window)
    with deps.db.read() as conn:
        waiting = moves_db.unconfirmed(conn, deps.host, older_than)
    for mig in waiting:
        ctx = admin_context()
        with deps.db.write() as conn:
            started = start_confirm(conn, mig["instance_uuid"], mig["id"], ctx)
        if started:
            LOG.info("Confirming the resize of %s automatically (after %ss)",
                     mig["instance_uuid"], window)
            steps.peers(deps).cast(ctx, "confirm_resize", MoveOp(
                instance_uuid=mig["instance_uuid"], migration_id=mig["id"]),
                server=mig["source_compute"])


def _forced_down(deps: ComputeDeps) -> bool:
    with deps.db.read() as conn:
        rows = svc_db.list_services(conn, host=deps.host, binary="nova-compute")
    return bool(rows and rows[0]["forced_down"])


def cleanup_evacuated(deps: ComputeDeps, *, at_startup: bool = False) -> None:
    """Destroy guests evacuated away from here and release their source claims.

    A compute service still forced down is treated as dead (the operator said
    so), except at start-up: a service that starts again is not dead.
    """
    if not at_startup and _forced_down(deps):
        return
    with deps.db.read() as conn:
        done = [m for m in moves_db.involving(conn, deps.host, statuses=[moves_db.DONE],
                                              types=[moves_db.EVACUATION])
                if m["source_compute"] == deps.host]
    for mig in done:
        uuid = mig["instance_uuid"]
        try:
            deps.driver.destroy(_spec_any(deps, uuid), destroy_disks=True)
        except exceptions.NovalithError:
            LOG.exception("Could not destroy evacuated instance %s on %s", uuid, deps.host)
            continue
        with deps.db.write() as conn:
            claims.release_move(conn, mig["id"])
            moves_db.set_status(conn, mig["id"], moves_db.COMPLETED, expected=[moves_db.DONE])
        LOG.info("Removed instance %s, evacuated away from %s", uuid, deps.host)


def other_hosts(conn: Connection, row: RowMapping) -> set[str]:
    """Hosts other than the instance's own that a move of it may have left a guest on:
    its unfinished moves, and failed ones that still hold a claim (a copy the driver
    could not remove)."""
    hosts: set[str] = set()
    for mig in moves_db.for_instance(conn, row["uuid"]):
        if mig["status"] in moves_db.FINAL and mig["claim_node_id"] is None:
            continue
        hosts.update(h for h in (mig["source_compute"], mig["dest_compute"]) if h)
    hosts.discard(row["host"])
    return hosts


def destroy_leftovers(deps: ComputeDeps, ctx: RequestContext, req: DestroyLeftovers) -> None:
    with deps.locks.get(req.instance_uuid):
        steps.quietly("destroy", deps.driver.destroy, _spec_any(deps, req.instance_uuid))


def request_leftover_cleanup(compute: RPCClient, ctx: RequestContext, uuid: str,
                             hosts: set[str]) -> None:
    """Cast destroy_leftovers to each of ``hosts``."""
    for host in sorted(hosts):
        compute.cast(ctx, "destroy_leftovers", DestroyLeftovers(instance_uuid=uuid), server=host)


def kept_here(deps: ComputeDeps) -> set[str]:
    """Instances whose guest this host keeps for an unfinished move although the
    instance row names another host (a resize source, a live migration's
    destination being prepared): start-up reconciliation must not destroy them."""
    with deps.db.read() as conn:
        migs = moves_db.involving(conn, deps.host)
    return {m["instance_uuid"] for m in migs
            if m["status"] not in moves_db.FINAL and m["status"] != moves_db.DONE}


def at_startup(deps: ComputeDeps) -> None:
    """Instances of this host caught in a move by a crash of this service.

    - a move not yet arrived anywhere (resize_prep/migrating, live migration,
      evacuation or rebuild in flight): its migration ends in error, its
      destination claim is released, the task is cleared; a resize source gets its
      kept guest back if the driver still has it; a rebuild leaves ERROR;
    - confirm or revert interrupted before the swap: back to VERIFY_RESIZE (the
      owner confirms or reverts again);
    - a revert past the swap (the instance is back on this, its source, host):
      the kept guest is brought back and the revert finished.
    Then evacuations away from this host are cleaned up.
    """
    with deps.db.read() as conn:
        rows = [r for r in inst_db.on_host(conn, deps.host) if r["task_state"] in sm.MOVE_TASKS]
    for row in rows:
        uuid, task = row["uuid"], row["task_state"]
        with deps.db.read() as conn:
            migs = moves_db.unfinished_for_instance(conn, uuid)
        mig = migs[0] if migs else None
        try:
            _recover(deps, row, task, mig)
        except Exception:
            LOG.exception("Could not recover instance %s from %s", uuid, task)
    cleanup_evacuated(deps, at_startup=True)


def _recover(deps: ComputeDeps, row: RowMapping, task: str, mig: RowMapping | None) -> None:
    uuid: str = row["uuid"]
    spec = steps.spec_of(row)
    mid = mig["id"] if mig is not None else None
    if mig is not None and task in (s.RESIZE_CONFIRMING, s.RESIZE_REVERTING) \
            and row["host"] == mig["dest_compute"]:
        with deps.db.write() as conn:
            moves_db.set_status(conn, mig["id"], moves_db.FINISHED)
            inst_db.transition(conn, uuid, {"task_state": None}, expected_task=[task])
        return
    vm_state = row["vm_state"]
    if mig is not None and mig["old_vm_state"]:
        vm_state = mig["old_vm_state"]
    status = moves_db.REVERTED if task == s.RESIZE_REVERTING else moves_db.ERROR
    if task in (s.RESIZE_MIGRATING, s.RESIZE_MIGRATED, s.RESIZE_FINISH, s.RESIZE_REVERTING) \
            and isinstance(deps.driver, MigrationSupport):
        try:
            deps.driver.finish_revert_migration(spec, power_on=vm_state != s.STOPPED)
        except exceptions.NovalithError:
            LOG.info("No kept guest of %s to bring back on %s", uuid, deps.host)
    if task == s.REBUILDING and mig is None:
        vm_state = s.ERROR  # a rebuild on this host died half-way
    with deps.db.write() as conn:
        if mid is not None:
            claims.release_move(conn, mid)
            moves_db.set_status(conn, mid, status)
        inst_db.transition(conn, uuid, {"task_state": None, "vm_state": vm_state,
                                        "power_state": steps.power_of(deps, spec) or 0},
                           expected_task=[task])
        if status == moves_db.ERROR:
            inst_db.add_fault(conn, uuid, None, host=deps.host,
                              message=f"Compute service restarted during {task}.")
