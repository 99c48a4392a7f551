"""Resize and cold migration, live migration: the conductor's part.

The API has set the task state and written the migration row (status
pre-migrating, or accepted for a live migration). The conductor asks the
scheduler for a destination, which claims it on the migration row
(:func:`novalith.db.claims.claim_move`), then hands over to the source compute
(compute.resize, compute.live_migrate). A resize or cold migration first asks
its destination (prep_resize) whether it takes the instance: one that refuses
(the late server-group check) gives its claim back and the scheduler picks
another host, up to ``[scheduler] max_attempts`` hosts. When no destination
can be had the instance keeps its vm_state, loses the task, and gets a fault;
the migration ends in error.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.compute.instance_spec import from_row
from novalith.compute.rpcapi import LiveMigrationCheck, LiveMigrationStep, MoveOp
from novalith.conductor.rpcapi import LiveMigrateServer, MigrateServer
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.db import server_groups as group_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, RequestSpec
from novalith.scheduler.rpcapi import MoveSelection, SelectAndClaimMove

LOG = logging.getLogger(__name__)
EV_MIGRATE = "conductor_migrate_server"
EV_LIVE = "conductor_live_migrate_instance"


def move_spec(conn: Any, row: RowMapping, flavor: FlavorSpec, *, ignore_hosts: list[str],
              requested_host: str | None = None) -> RequestSpec:
    """What the scheduler places for a move of ``row``: its image, its requested AZ,
    its server group (so group policies hold after the move)."""
    group = group_db.group_of(conn, row["uuid"])
    hints: dict[str, Any] = {"group": group["uuid"]} if group is not None else {}
    return RequestSpec(instance_uuids=[row["uuid"]], project_id=row["project_id"],
                       flavor=flavor, image=from_row(row).image,
                       availability_zone=row["requested_az"], requested_host=requested_host,
                       ignore_hosts=ignore_hosts, scheduler_hints=hints)


def claim_destination(mgr: Any, ctx: RequestContext, migration_id: int, spec: RequestSpec,
                      force: bool = False) -> MoveSelection:
    sel: MoveSelection = mgr.scheduler.call(ctx, "select_and_claim_move", SelectAndClaimMove(
        migration_id=migration_id, request_spec=spec, force=force))
    return sel


def _claim_accepted_destination(mgr: Any, ctx: RequestContext, migration_id: int,
                                spec: RequestSpec) -> None:
    """Claim a destination whose prep_resize accepts the instance; a refused host's
    claim is released at once and the host left out of the next selection."""
    uuid = spec.instance_uuids[0]
    for attempt in range(1, mgr.max_attempts + 1):
        sel = claim_destination(mgr, ctx, migration_id, spec)
        try:
            mgr.compute.call(ctx, "prep_resize", MoveOp(instance_uuid=uuid,
                                                        migration_id=migration_id),
                             server=sel.host)
            return
        except exceptions.Rescheduled as exc:
            with mgr.db.write() as conn:
                claims.release_move(conn, migration_id)
            reason = str(exc)
            LOG.info("Destination %s refused migration %s of %s: %s", sel.host,
                     migration_id, uuid, reason)
            if attempt == mgr.max_attempts:
                raise exceptions.MigrationError(reason=(
                    f"Exceeded maximum number of retries. Exhausted all hosts available "
                    f"for migrating instance {uuid}. Last error: {reason}")) from exc
            spec = msgspec.structs.replace(spec, ignore_hosts=[*spec.ignore_hosts, sel.host])


def end_failed(mgr: Any, ctx: RequestContext, uuid: str, migration_id: int,
               exc: BaseException, *, task: str, event: str) -> None:
    """No destination (or a failed check): the instance stays as it was."""
    code = exc.status if isinstance(exc, exceptions.NovalithError) else 500
    with mgr.db.write() as conn:
        claims.release_move(conn, migration_id)
        moves_db.set_status(conn, migration_id, moves_db.ERROR)
        if inst_db.transition(conn, uuid, {"task_state": None}, expected_task=[task]):
            inst_db.add_fault(conn, uuid, exc, code=code, host=mgr.host)
        inst_db.finish_event(conn, uuid, ctx.request_id, event, exc=exc)


def _load(mgr: Any, uuid: str, migration_id: int, task: str, statuses: tuple[str, ...]
          ) -> tuple[RowMapping, RowMapping] | None:
    with mgr.db.write() as conn:
        row = inst_db.get(conn, uuid)
        mig = moves_db.get(conn, migration_id)
        if row is None or mig is None or row["task_state"] != task \
                or mig["status"] not in statuses:
            return None
    return row, mig


def migrate_server(mgr: Any, ctx: RequestContext, req: MigrateServer) -> None:
    """Resize or cold-migrate: claim a destination, cast resize_instance to the source."""
    loaded = _load(mgr, req.instance_uuid, req.migration_id, s.RESIZE_PREP,
                   (moves_db.PRE_MIGRATING,))
    if loaded is None:
        LOG.info("Migration %s of %s superseded", req.migration_id, req.instance_uuid)
        return
    row, mig = loaded
    stay = mig["migration_type"] == moves_db.RESIZE and mgr.allow_resize_to_same_host
    flavor = msgspec.convert(mig["new_flavor"], FlavorSpec)
    with mgr.db.write() as conn:
        spec = move_spec(conn, row, flavor, ignore_hosts=[] if stay else [row["host"]])
        inst_db.start_event(conn, row["uuid"], ctx.request_id, EV_MIGRATE, mgr.host)
    try:
        _claim_accepted_destination(mgr, ctx, req.migration_id, spec)
    except exceptions.NovalithError as exc:
        LOG.warning("No destination for migration %s of %s: %s", req.migration_id,
                    row["uuid"], exc)
        end_failed(mgr, ctx, row["uuid"], req.migration_id, exc, task=s.RESIZE_PREP,
                   event=EV_MIGRATE)
        return
    with mgr.db.write() as conn:
        inst_db.finish_event(conn, row["uuid"], ctx.request_id, EV_MIGRATE, finish_action=False)
    mgr.compute.cast(ctx, "resize_instance", MoveOp(instance_uuid=row["uuid"],
                                                    migration_id=req.migration_id),
                     server=row["host"])


def live_migrate_server(mgr: Any, ctx: RequestContext, req: LiveMigrateServer) -> None:
    """Claim a destination and run both checks, then cast live_migration to the source.

    Raises what went wrong after undoing it (a caller before 2.34 waits for this
    and answers 400); a cast caller sees it only as the failed instance action.
    """
    loaded = _load(mgr, req.instance_uuid, req.migration_id, s.MIGRATING, (moves_db.ACCEPTED,))
    if loaded is None:
        LOG.info("Live migration %s of %s superseded", req.migration_id, req.instance_uuid)
        return
    row, mig = loaded
    flavor = msgspec.convert(row["flavor"], FlavorSpec)
    with mgr.db.write() as conn:
        spec = move_spec(conn, row, flavor, ignore_hosts=[row["host"]],
                         requested_host=mig["dest_compute"])
        inst_db.start_event(conn, row["uuid"], ctx.request_id, EV_LIVE, mgr.host)
    check = LiveMigrationCheck(instance_uuid=row["uuid"], migration_id=req.migration_id,
                               block_migration=req.block_migration,
                               disk_over_commit=req.disk_over_commit)
    try:
        sel = claim_destination(mgr, ctx, req.migration_id, spec, force=req.force)
        dest_check = mgr.compute.call(ctx, "check_can_live_migrate_destination", check,
                                      server=sel.host)
        data = mgr.compute.call(ctx, "check_can_live_migrate_source", msgspec.structs.replace(
            check, dest_check=dest_check), server=row["host"])
    except exceptions.NovalithError as exc:
        LOG.warning("Live migration %s of %s refused: %s", req.migration_id, row["uuid"], exc)
        end_failed(mgr, ctx, row["uuid"], req.migration_id, exc, task=s.MIGRATING,
                   event=EV_LIVE)
        raise
    with mgr.db.write() as conn:
        moves_db.set_status(conn, req.migration_id, moves_db.QUEUED, expected=[moves_db.ACCEPTED])
        inst_db.finish_event(conn, row["uuid"], ctx.request_id, EV_LIVE, finish_action=False)
    mgr.compute.cast(ctx, "live_migration", LiveMigrationStep(
        instance_uuid=row["uuid"], migration_id=req.migration_id, data=data),
        server=row["host"])
