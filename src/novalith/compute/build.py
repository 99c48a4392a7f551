"""Build and run an instance on this host: spawn, then ACTIVE; on failure, reschedule."""

from __future__ import annotations

import logging

from novalith.compute.deps import ComputeDeps
from novalith.compute.rpcapi import BuildAndRun
from novalith.conductor.rpcapi import Reschedule
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db.base import utcnow
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.states import PowerState

LOG = logging.getLogger(__name__)
EVENT = "compute__do_build_and_run_instance"


def build_and_run(deps: ComputeDeps, ctx: RequestContext, req: BuildAndRun) -> None:
    inst = req.instance
    with deps.locks.get(inst.uuid):
        with deps.db.write() as conn:
            started = inst_db.transition(conn, inst.uuid, {"task_state": s.SPAWNING},
                                         expected_vm=[s.BUILDING], expected_task=[s.SCHEDULING])
            if started:
                inst_db.start_event(conn, inst.uuid, ctx.request_id, EVENT, deps.host)
        if not started:
            # Deleted (or taken over) while it waited for us: nothing was built here.
            LOG.info("Instance %s no longer waits for a build; skipping", inst.uuid)
            return
        try:
            deps.driver.spawn(inst, req.admin_password)
        except Exception as exc:
            LOG.warning("Build of %s failed on %s: %s", inst.uuid, deps.host, exc)
            if _undo_spawn(deps, inst.uuid, inst, exc, ctx):
                deps.conductor.cast(ctx, "reschedule", Reschedule(
                    instance_uuid=inst.uuid, request_spec=req.request_spec,
                    failed_host=deps.host, reason=str(exc),
                    admin_password=req.admin_password))
            return
        now = utcnow()
        with deps.db.write() as conn:
            done = inst_db.transition(
                conn, inst.uuid,
                {"vm_state": s.ACTIVE, "task_state": None, "power_state": PowerState.RUNNING,
                 "launched_at": now},
                expected_vm=[s.BUILDING], expected_task=[s.SPAWNING])
            inst_db.finish_event(conn, inst.uuid, ctx.request_id, EVENT)
        if not done:
            # A delete set task_state=deleting meanwhile; its terminate follows us.
            LOG.info("Instance %s changed while spawning; leaving it to the next operation",
                     inst.uuid)


def _undo_spawn(deps: ComputeDeps, uuid: str, inst: object, exc: BaseException,
                ctx: RequestContext) -> bool:
    """Leave nothing behind on this host; True if the instance goes back to the scheduler.

    If a delete took over meanwhile (task_state no longer spawning), the claim and
    host stay as they are: the terminate that follows releases them.
    """
    try:
        deps.driver.destroy(inst, destroy_disks=True)  # type: ignore[arg-type]
    except Exception:
        LOG.exception("Clean-up after failed spawn of %s failed", uuid)
    with deps.db.write() as conn:
        back = inst_db.transition(conn, uuid, {"task_state": s.SCHEDULING},
                                  expected_vm=[s.BUILDING], expected_task=[s.SPAWNING])
        if back:
            claims.release(conn, uuid, clear_host=True)
        inst_db.finish_event(conn, uuid, ctx.request_id, EVENT, exc=exc, finish_action=False)
    return back
