"""Terminate an instance: destroy it on the hypervisor, release its claim, mark it deleted."""

from __future__ import annotations

import logging

from novalith.compute import move_recovery
from novalith.compute.deps import ComputeDeps
from novalith.compute.instance_spec import from_row
from novalith.compute.rpcapi import InstanceOp
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.db.base import utcnow
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.states import PowerState

LOG = logging.getLogger(__name__)
EVENT = "compute_terminate_instance"


def deleted_values() -> dict[str, object]:
    now = utcnow()
    return {"vm_state": s.DELETED, "task_state": None, "power_state": PowerState.NOSTATE,
            "deleted": True, "deleted_at": now, "terminated_at": now}


def terminate(deps: ComputeDeps, ctx: RequestContext, op: InstanceOp) -> None:
    with deps.locks.get(op.instance_uuid):
        with deps.db.write() as conn:
            row = inst_db.get(conn, op.instance_uuid)
            if row is None:
                return
            inst_db.start_event(conn, op.instance_uuid, ctx.request_id, EVENT, deps.host)
        try:
            deps.driver.destroy(from_row(row), destroy_disks=True)
        except Exception as exc:
            LOG.exception("Destroy of %s failed", op.instance_uuid)
            with deps.db.write() as conn:
                inst_db.transition(conn, op.instance_uuid,
                                   {"vm_state": s.ERROR, "task_state": None})
                inst_db.add_fault(conn, op.instance_uuid, exc, host=deps.host)
                inst_db.finish_event(conn, op.instance_uuid, ctx.request_id, EVENT, exc=exc)
            return
        with deps.db.write() as conn:
            # A move's copy on another host goes too (compute.move_recovery).
            elsewhere = move_recovery.other_hosts(conn, row)
            claims.release(conn, op.instance_uuid)  # the migrations' claims too
            moves_db.soft_delete_for_instance(conn, op.instance_uuid)
            inst_db.transition(conn, op.instance_uuid, deleted_values())
            inst_db.finish_event(conn, op.instance_uuid, ctx.request_id, EVENT)
        if elsewhere and deps.compute is not None:
            move_recovery.request_leftover_cleanup(deps.compute, ctx, op.instance_uuid,
                                                   elsewhere)
