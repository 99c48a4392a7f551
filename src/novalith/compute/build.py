"""Build and run an instance on this host: spawn, then ACTIVE; on failure, reschedule."""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, update

from novalith.compute.deps import ComputeDeps
from novalith.compute.rpcapi import BuildAndRun
from novalith.conductor.rpcapi import Reschedule
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db.base import utcnow
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import InstanceSpec
from novalith.objects.states import PowerState

LOG = logging.getLogger(__name__)
EVENT = "compute__do_build_and_run_instance"
INST = inst_db.INST
# building/scheduling -> spawning, only on the host the claim is for (one statement)
_START = (update(INST)
          .where(INST.c.uuid == bindparam("b_uuid"), INST.c.deleted == False,  # noqa: E712
                 INST.c.host == bindparam("b_host"), INST.c.vm_state == s.BUILDING,
                 INST.c.task_state == s.SCHEDULING)
          .values(task_state=s.SPAWNING, updated_at=bindparam("b_now")))


def build_and_run(deps: ComputeDeps, ctx: RequestContext, req: BuildAndRun) -> None:
    inst = req.instance
    with deps.locks.get(inst.uuid):
        with deps.db.write() as conn:
            # Only an instance still waiting for a build on this very host: a message
            # that arrives twice, or late after a reschedule moved the instance on,
            # builds nothing.
            started = conn.execute(_START, {"b_uuid": inst.uuid, "b_host": deps.host,
                                            "b_now": utcnow()}).rowcount == 1
            if started:
                inst_db.start_event(conn, inst.uuid, ctx.request_id, EVENT, deps.host)
        if not started:
            # Deleted (or taken over) while it waited for us: nothing was built here.
            LOG.info("Instance %s no longer waits for a build here; skipping", inst.uuid)
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
            _spawned_for_nothing(deps, inst)


def _spawned_for_nothing(deps: ComputeDeps, inst: InstanceSpec) -> None:
    """The instance moved on while we spawned it. A delete on this host (task_state
    deleting) has its terminate follow us; an instance now gone or rescheduled to another
    host (the build watchdog thought this host dead) must not keep a guest here."""
    with deps.db.read() as conn:
        row = inst_db.get(conn, inst.uuid)
    if row is not None and row["host"] == deps.host:
        LOG.info("Instance %s changed while spawning; leaving it to the next operation",
                 inst.uuid)
        return
    LOG.warning("Instance %s left this host while spawning; destroying what was built",
                inst.uuid)
    try:
        deps.driver.destroy(inst, destroy_disks=True)
    except Exception:
        LOG.exception("Clean-up of %s after it moved away failed", inst.uuid)


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
