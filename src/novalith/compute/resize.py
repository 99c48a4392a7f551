"""Resize and cold migration, on the compute services (MigrationSupport steps).

::

    API       task resize_prep, migration pre-migrating         (claims: instance=source)
    conductor scheduler claims the destination                  (migration=dest, new flavor)
    dest      prep_resize (call): the late server-group check; a refusal sends the
              conductor to another host (this one's claim released), up to max_attempts
    source    resize_instance: task resize_migrating, migration migrating;
              driver.migrate_disk_and_power_off; task resize_migrated, post-migrating
    dest      finish_resize: task resize_finish; driver.finish_migration;
              swap claims, host=dest, vm_state resized, migration finished   (VERIFY_RESIZE)
    confirm   API (or the auto-confirm periodic): task resize_confirming, confirming;
              source confirm_resize: driver.confirm_migration; release the migration's
              (source) claim; vm_state back to active/stopped, migration confirmed
    revert    API: task resize_reverting, reverting;
              dest revert_resize: driver.revert_migration; swap back, release the
              migration's (dest) claim, host=source;
              source finish_revert_resize: driver.finish_revert_migration;
              vm_state back, migration reverted

A failure before the swap (migrate_disk_and_power_off or finish_migration)
brings the guest back on the source and releases the destination claim; a
failure after it (confirm, revert) leaves the instance in ERROR with a fault,
its claims as they truly are.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection

from novalith import exceptions
from novalith.compute import group_policy
from novalith.compute import move_steps as steps
from novalith.compute.deps import ComputeDeps
from novalith.compute.rpcapi import FinishResize, MoveOp, ResizeFailed
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.states import PowerState
from novalith.virt.driver import MigrationSupport, require

LOG = logging.getLogger(__name__)
EV_RESIZE = "compute_resize_instance"
EV_FINISH = "compute_finish_resize"
EV_CONFIRM = "compute_confirm_resize"
EV_REVERT = "compute_revert_resize"
EV_FINISH_REVERT = "compute_finish_revert_resize"


def _driver(deps: ComputeDeps) -> MigrationSupport:
    return require(deps.driver, MigrationSupport, "resize/migrate")


def _power_on(mig: Any) -> bool:
    return bool(mig["old_vm_state"] != s.STOPPED)


def start_confirm(conn: Connection, uuid: str, migration_id: int, ctx: RequestContext) -> bool:
    """VERIFY_RESIZE -> confirming, with the confirmResize action (API and periodic)."""
    ok = inst_db.transition(conn, uuid, {"task_state": s.RESIZE_CONFIRMING},
                            expected_vm=[s.RESIZED], expected_task=[None])
    if ok:
        if not moves_db.set_status(conn, migration_id, moves_db.CONFIRMING,
                                   expected=[moves_db.FINISHED]):
            raise RuntimeError("instance in VERIFY_RESIZE without a finished migration")
        inst_db.start_action(conn, uuid, "confirmResize", ctx)
    return ok


# ---- destination: the late checks, before anything moves ---------------------------------

def prep_resize(deps: ComputeDeps, ctx: RequestContext, op: MoveOp) -> None:
    """Refuse (Rescheduled) a destination that would break the instance's hard
    server-group policy; nothing is written here either way."""
    reason = group_policy.refuse_move(deps, op.instance_uuid, deps.host)
    if reason is not None:
        raise exceptions.Rescheduled(reason)  # only the message crosses the RPC


# ---- source: power off and hand the disks over -------------------------------------------

def resize_instance(deps: ComputeDeps, ctx: RequestContext, op: MoveOp) -> None:
    uuid = op.instance_uuid
    with deps.locks.get(uuid):
        with deps.db.write() as conn:
            mig = moves_db.get(conn, op.migration_id)
            ok = mig is not None and inst_db.transition(
                conn, uuid, {"task_state": s.RESIZE_MIGRATING}, expected_task=[s.RESIZE_PREP])
            if ok:
                moves_db.set_status(conn, op.migration_id, moves_db.MIGRATING)
                inst_db.start_event(conn, uuid, ctx.request_id, EV_RESIZE, deps.host)
            row = inst_db.get(conn, uuid)
        if not ok or mig is None or row is None:
            LOG.info("Resize of %s superseded before it started", uuid)
            return
        spec = steps.spec_of(row)
        try:
            disk_info = _driver(deps).migrate_disk_and_power_off(
                spec, mig["dest_compute"], steps.flavor_of(mig["new_flavor"]),
                deps.config.shutdown_timeout)
        except Exception as exc:
            LOG.warning("Resize of %s failed on the source %s: %s", uuid, deps.host, exc)
            steps.fail_move(deps, ctx, uuid, op.migration_id, exc, event=EV_RESIZE,
                            expected_tasks=[s.RESIZE_MIGRATING],
                            power_state=steps.power_of(deps, spec))
            return
        with deps.db.write() as conn:
            ok = inst_db.transition(conn, uuid, {"task_state": s.RESIZE_MIGRATED,
                                                 "power_state": PowerState.SHUTDOWN},
                                    expected_task=[s.RESIZE_MIGRATING])
            if ok:
                moves_db.set_status(conn, op.migration_id, moves_db.POST_MIGRATING)
                inst_db.finish_event(conn, uuid, ctx.request_id, EV_RESIZE, finish_action=False)
    if not ok:
        # Deleted meanwhile: the terminate that follows here destroys the kept guest.
        LOG.info("Resize of %s superseded after the source step", uuid)
        return
    steps.peers(deps).cast(ctx, "finish_resize", FinishResize(
        instance_uuid=uuid, migration_id=op.migration_id, disk_info=disk_info),
        server=mig["dest_compute"])


# ---- destination: create the guest, swap the claims ---------------------------------------

def finish_resize(deps: ComputeDeps, ctx: RequestContext, req: FinishResize) -> None:
    uuid = req.instance_uuid
    with deps.locks.get(uuid):
        with deps.db.write() as conn:
            mig = moves_db.get(conn, req.migration_id)
            ok = mig is not None and inst_db.transition(
                conn, uuid, {"task_state": s.RESIZE_FINISH}, expected_task=[s.RESIZE_MIGRATED])
            if ok:
                inst_db.start_event(conn, uuid, ctx.request_id, EV_FINISH, deps.host)
            row = inst_db.get(conn, uuid)
        if not ok or mig is None or row is None:
            LOG.info("Finish of the resize of %s superseded", uuid)
            return
        new_flavor = steps.flavor_of(mig["new_flavor"])
        spec = steps.spec_of(row, new_flavor)
        power_on = _power_on(mig)
        try:
            _driver(deps).finish_migration(spec, req.disk_info,
                                           resize_instance=mig["new_flavor"] != mig["old_flavor"],
                                           power_on=power_on)
        except Exception as exc:
            LOG.warning("Resize of %s failed on the destination %s: %s", uuid, deps.host, exc)
            steps.quietly("revert_migration", _driver(deps).revert_migration, spec)
            with deps.db.write() as conn:
                inst_db.add_fault(conn, uuid, exc, code=steps.fault_code(exc), host=deps.host)
                inst_db.finish_event(conn, uuid, ctx.request_id, EV_FINISH, exc=exc)
            steps.peers(deps).cast(ctx, "abort_resize", ResizeFailed(
                instance_uuid=uuid, migration_id=req.migration_id, reason=str(exc)),
                server=mig["source_compute"])
            return
        values = {"vm_state": s.RESIZED, "task_state": None,
                  "power_state": PowerState.RUNNING if power_on else PowerState.SHUTDOWN,
                  "flavor_id": mig["new_instance_type_id"]}
        with deps.db.write() as conn:
            ok = inst_db.transition(conn, uuid, {"task_state": None},
                                    expected_task=[s.RESIZE_FINISH])
            if ok:
                claims.swap_move(conn, req.migration_id, uuid, host=deps.host,
                                 node=mig["dest_node"], flavor=new_flavor, extra=values)
                moves_db.set_status(conn, req.migration_id, moves_db.FINISHED)
                inst_db.finish_event(conn, uuid, ctx.request_id, EV_FINISH)
        if not ok:
            LOG.info("Instance %s deleted while its resize finished; removing it here", uuid)
            steps.quietly("destroy", deps.driver.destroy, spec)


def abort_resize(deps: ComputeDeps, ctx: RequestContext, req: ResizeFailed) -> None:
    """On the source: the destination failed; bring the kept guest back."""
    uuid = req.instance_uuid
    with deps.locks.get(uuid):
        row, mig = steps.load(deps, uuid, req.migration_id)
        if row is None or mig is None or row["task_state"] != s.RESIZE_FINISH:
            return
        spec = steps.spec_of(row)
        vm_state = mig["old_vm_state"] or s.ACTIVE
        try:
            _driver(deps).finish_revert_migration(spec, power_on=_power_on(mig))
        except Exception as exc:
            LOG.exception("Could not bring %s back on %s after a failed resize", uuid, deps.host)
            steps.fail_move(deps, ctx, uuid, req.migration_id, exc, event=EV_FINISH,
                            expected_tasks=[s.RESIZE_FINISH], vm_state=s.ERROR,
                            power_state=steps.power_of(deps, spec))
            return
        with deps.db.write() as conn:
            claims.release_move(conn, req.migration_id)
            moves_db.set_status(conn, req.migration_id, moves_db.ERROR)
            inst_db.transition(conn, uuid, {"task_state": None, "vm_state": vm_state,
                                            "power_state": steps.power_of(deps, spec)
                                            or PowerState.NOSTATE},
                               expected_task=[s.RESIZE_FINISH])


# ---- confirm (source) -------------------------------------------------------------------

def confirm_resize(deps: ComputeDeps, ctx: RequestContext, op: MoveOp) -> None:
    uuid = op.instance_uuid
    with deps.locks.get(uuid):
        row, mig = steps.load(deps, uuid, op.migration_id)
        if row is None or mig is None or row["task_state"] != s.RESIZE_CONFIRMING:
            LOG.info("Confirm of the resize of %s superseded", uuid)
            return
        with deps.db.write() as conn:
            inst_db.start_event(conn, uuid, ctx.request_id, EV_CONFIRM, deps.host)
        spec = steps.spec_of(row, mig["old_flavor"])
        try:
            _driver(deps).confirm_migration(spec)
        except Exception as exc:
            # The source still holds the guest's remains: its claim stays with the migration.
            LOG.warning("Confirm of the resize of %s failed on %s: %s", uuid, deps.host, exc)
            steps.fail_move(deps, ctx, uuid, op.migration_id, exc, event=EV_CONFIRM,
                            expected_tasks=[s.RESIZE_CONFIRMING], vm_state=s.ERROR,
                            release_claim=False)
            return
        with deps.db.write() as conn:
            claims.release_move(conn, op.migration_id)
            moves_db.set_status(conn, op.migration_id, moves_db.CONFIRMED)
            inst_db.transition(conn, uuid, {"vm_state": mig["old_vm_state"] or s.ACTIVE,
                                            "task_state": None},
                               expected_task=[s.RESIZE_CONFIRMING])
            inst_db.finish_event(conn, uuid, ctx.request_id, EV_CONFIRM)


# ---- revert (destination, then source) --------------------------------------------------

def revert_resize(deps: ComputeDeps, ctx: RequestContext, op: MoveOp) -> None:
    uuid = op.instance_uuid
    with deps.locks.get(uuid):
        row, mig = steps.load(deps, uuid, op.migration_id)
        if row is None or mig is None or row["task_state"] != s.RESIZE_REVERTING:
            LOG.info("Revert of the resize of %s superseded", uuid)
            return
        with deps.db.write() as conn:
            inst_db.start_event(conn, uuid, ctx.request_id, EV_REVERT, deps.host)
        spec = steps.spec_of(row)
        try:
            _driver(deps).revert_migration(spec)
        except Exception as exc:
            LOG.warning("Revert of the resize of %s failed on %s: %s", uuid, deps.host, exc)
            steps.fail_move(deps, ctx, uuid, op.migration_id, exc, event=EV_REVERT,
                            expected_tasks=[s.RESIZE_REVERTING], vm_state=s.ERROR,
                            release_claim=False)
            return
        with deps.db.write() as conn:
            ok = inst_db.transition(conn, uuid, {}, expected_task=[s.RESIZE_REVERTING])
            if ok:
                claims.swap_move(conn, op.migration_id, uuid, host=mig["source_compute"],
                                 node=mig["source_node"],
                                 flavor=steps.flavor_of(mig["old_flavor"]),
                                 extra={"flavor_id": mig["old_instance_type_id"]})
                claims.release_move(conn, op.migration_id)
                inst_db.finish_event(conn, uuid, ctx.request_id, EV_REVERT, finish_action=False)
    if ok:
        steps.peers(deps).cast(ctx, "finish_revert_resize", op, server=mig["source_compute"])


def finish_revert_resize(deps: ComputeDeps, ctx: RequestContext, op: MoveOp) -> None:
    uuid = op.instance_uuid
    with deps.locks.get(uuid):
        row, mig = steps.load(deps, uuid, op.migration_id)
        if row is None or mig is None or row["task_state"] != s.RESIZE_REVERTING:
            LOG.info("Finish of the revert of %s superseded", uuid)
            return
        with deps.db.write() as conn:
            inst_db.start_event(conn, uuid, ctx.request_id, EV_FINISH_REVERT, deps.host)
        spec = steps.spec_of(row)
        power_on = _power_on(mig)
        try:
            _driver(deps).finish_revert_migration(spec, power_on=power_on)
        except Exception as exc:
            LOG.warning("Finishing the revert of %s failed on %s: %s", uuid, deps.host, exc)
            steps.fail_move(deps, ctx, uuid, op.migration_id, exc, event=EV_FINISH_REVERT,
                            expected_tasks=[s.RESIZE_REVERTING], vm_state=s.ERROR,
                            power_state=steps.power_of(deps, spec))
            return
        with deps.db.write() as conn:
            moves_db.set_status(conn, op.migration_id, moves_db.REVERTED)
            inst_db.transition(conn, uuid, {
                "vm_state": mig["old_vm_state"] or s.ACTIVE, "task_state": None,
                "power_state": PowerState.RUNNING if power_on else PowerState.SHUTDOWN},
                expected_task=[s.RESIZE_REVERTING])
            inst_db.finish_event(conn, uuid, ctx.request_id, EV_FINISH_REVERT)
