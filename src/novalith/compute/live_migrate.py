"""Live migration, on the compute services (LiveMigrationSupport steps).

::

    API       task migrating, migration accepted                    (claims: instance=source)
    conductor scheduler claims the destination (migration=dest); checks on dest
              then source; migration queued; cast live_migration to the source
    source    live_migration: migration preparing; dest pre_live_migration;
              migration running; driver.live_migration (blocks; abort and
              force_complete reach it meanwhile); migration post-migrating;
    dest      post_live_migration_at_destination: driver takes the guest; swap
              claims, host=dest, task None, release the migration's (source) claim,
              migration completed                                    (claims: instance=dest)
    source    driver.post_live_migration removes the source guest

Any failure before the destination took the guest rolls back: the destination
removes what it prepared, the migration's claim (dest) is released, the
instance stays ACTIVE (or PAUSED) on the source; an abort ends the migration
``cancelled``, another failure ``error`` with a fault.
"""

from __future__ import annotations

import logging

from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.compute import group_policy
from novalith.compute import move_steps as steps
from novalith.compute.deps import ComputeDeps
from novalith.compute.rpcapi import LiveMigrationCheck, LiveMigrationStep, MoveOp
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.virt.driver import LiveMigrationSupport, MigrateData, require

LOG = logging.getLogger(__name__)
EV_LIVE = "compute_live_migration"
EV_PRE = "compute_pre_live_migration"
EV_POST_DEST = "compute_post_live_migration_at_destination"


def _driver(deps: ComputeDeps) -> LiveMigrationSupport:
    return require(deps.driver, LiveMigrationSupport, "live migration")


def _row(deps: ComputeDeps, uuid: str) -> RowMapping:
    row, _ = steps.load(deps, uuid, None)
    if row is None:
        raise exceptions.InstanceNotFound(instance_id=uuid)
    return row


# ---- checks (calls from the conductor) ----------------------------------------------------

def check_destination(deps: ComputeDeps, ctx: RequestContext, req: LiveMigrationCheck
                      ) -> MigrateData:
    """The destination's pre-check; a hard group policy this host would break refuses
    the migration (the conductor ends it in error, the server stays on the source)."""
    spec = steps.spec_of(_row(deps, req.instance_uuid))
    reason = group_policy.refuse_move(deps, req.instance_uuid, deps.host)
    if reason is not None:
        raise exceptions.MigrationPreCheckError(reason=reason)
    return _driver(deps).check_can_live_migrate_destination(
        spec, req.block_migration, req.disk_over_commit)


def check_source(deps: ComputeDeps, ctx: RequestContext, req: LiveMigrationCheck
                 ) -> MigrateData:
    spec = steps.spec_of(_row(deps, req.instance_uuid))
    return _driver(deps).check_can_live_migrate_source(spec, req.dest_check or MigrateData())


# ---- destination steps (calls from the source) -------------------------------------------

def pre_live_migration(deps: ComputeDeps, ctx: RequestContext, req: LiveMigrationStep
                       ) -> MigrateData:
    uuid = req.instance_uuid
    spec = steps.spec_of(_row(deps, uuid))
    with deps.db.write() as conn:
        inst_db.start_event(conn, uuid, ctx.request_id, EV_PRE, deps.host)
    try:
        data = _driver(deps).pre_live_migration(spec, req.data)
    except Exception as exc:
        with deps.db.write() as conn:
            inst_db.finish_event(conn, uuid, ctx.request_id, EV_PRE, exc=exc,
                                 finish_action=False)
        raise
    with deps.db.write() as conn:
        inst_db.finish_event(conn, uuid, ctx.request_id, EV_PRE, finish_action=False)
    return data


def post_at_destination(deps: ComputeDeps, ctx: RequestContext, req: LiveMigrationStep
                        ) -> None:
    """The guest arrived: take it, and move the instance and its claims here."""
    uuid = req.instance_uuid
    with deps.locks.get(uuid):
        row, mig = steps.load(deps, uuid, req.migration_id)
        if row is None or mig is None:
            raise exceptions.InstanceNotFound(instance_id=uuid)
        spec = steps.spec_of(row)
        with deps.db.write() as conn:
            inst_db.start_event(conn, uuid, ctx.request_id, EV_POST_DEST, deps.host)
        _driver(deps).post_live_migration_at_destination(spec, req.data)
        power = steps.power_of(deps, spec)
        with deps.db.write() as conn:
            ok = inst_db.transition(conn, uuid, {"task_state": None},
                                    expected_task=[s.MIGRATING])
            if ok:
                extra = {} if power is None else {"power_state": power}
                claims.swap_move(conn, req.migration_id, uuid, host=deps.host,
                                 node=mig["dest_node"], flavor=spec.flavor, extra=extra)
                claims.release_move(conn, req.migration_id)
                moves_db.set_status(conn, req.migration_id, moves_db.COMPLETED)
            inst_db.finish_event(conn, uuid, ctx.request_id, EV_POST_DEST, finish_action=False)
        if not ok:
            LOG.info("Instance %s deleted during its live migration; removing it here", uuid)
            steps.quietly("destroy", deps.driver.destroy, spec)


def rollback_at_destination(deps: ComputeDeps, ctx: RequestContext, req: LiveMigrationStep
                            ) -> None:
    row, _ = steps.load(deps, req.instance_uuid, None)
    if row is not None:
        _driver(deps).rollback_live_migration_at_destination(steps.spec_of(row), req.data)


# ---- source: the migration itself --------------------------------------------------------

def live_migration(deps: ComputeDeps, ctx: RequestContext, req: LiveMigrationStep) -> None:
    uuid = req.instance_uuid
    with deps.locks.get(uuid):
        with deps.db.write() as conn:
            row = inst_db.get(conn, uuid)
            mig = moves_db.get(conn, req.migration_id)
            ok = (row is not None and mig is not None and row["task_state"] == s.MIGRATING
                  and moves_db.set_status(conn, req.migration_id, moves_db.PREPARING,
                                          expected=[moves_db.QUEUED]))
            if ok:
                inst_db.start_event(conn, uuid, ctx.request_id, EV_LIVE, deps.host)
        if not ok or row is None or mig is None:
            LOG.info("Live migration of %s superseded before it started", uuid)
            return
        spec = steps.spec_of(row)
        dest = mig["dest_compute"]
        peers = steps.peers(deps)
        step = LiveMigrationStep(instance_uuid=uuid, migration_id=req.migration_id,
                                 data=req.data)
        try:
            data = peers.call(ctx, "pre_live_migration", step, server=dest)
            memory = spec.flavor.memory_mb * 1024 * 1024
            disk = (spec.flavor.root_gb + spec.flavor.ephemeral_gb) * 1024**3
            with deps.db.write() as conn:
                moves_db.set_status(conn, req.migration_id, moves_db.RUNNING,
                                    memory_total_bytes=memory, memory_processed_bytes=0,
                                    memory_remaining_bytes=memory, disk_total_bytes=disk,
                                    disk_processed_bytes=0, disk_remaining_bytes=disk)
            data = _driver(deps).live_migration(spec, dest, data)
            with deps.db.write() as conn:
                moves_db.set_status(conn, req.migration_id, moves_db.POST_MIGRATING,
                                    memory_processed_bytes=memory, memory_remaining_bytes=0,
                                    disk_processed_bytes=disk, disk_remaining_bytes=0)
            peers.call(ctx, "post_live_migration_at_destination", LiveMigrationStep(
                instance_uuid=uuid, migration_id=req.migration_id, data=data), server=dest)
        except Exception as exc:
            aborted = isinstance(exc, exceptions.MigrationAborted)
            LOG.warning("Live migration of %s to %s %s: %s", uuid, dest,
                        "aborted" if aborted else "failed", exc)
            steps.quietly("rollback_live_migration_at_destination", lambda: peers.call(
                ctx, "rollback_live_migration_at_destination", step, server=dest))
            steps.fail_move(deps, ctx, uuid, req.migration_id, exc, event=EV_LIVE,
                            expected_tasks=[s.MIGRATING], power_state=steps.power_of(deps, spec),
                            status=moves_db.CANCELLED if aborted else moves_db.ERROR,
                            fault=not aborted)
            return
        steps.quietly("post_live_migration", _driver(deps).post_live_migration, spec, data)
        with deps.db.write() as conn:
            inst_db.finish_event(conn, uuid, ctx.request_id, EV_LIVE)


def abort(deps: ComputeDeps, ctx: RequestContext, op: MoveOp) -> None:
    """DELETE /servers/{id}/migrations/{mid}: stop the running copy (no instance lock:
    the migration's own thread holds it)."""
    row, _ = steps.load(deps, op.instance_uuid, None)
    if row is not None:
        _driver(deps).live_migration_abort(steps.spec_of(row))


def force_complete(deps: ComputeDeps, ctx: RequestContext, op: MoveOp) -> None:
    row, _ = steps.load(deps, op.instance_uuid, None)
    if row is not None:
        _driver(deps).live_migration_force_complete(steps.spec_of(row))
