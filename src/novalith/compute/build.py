"""Build and run an instance on this host: spawn, then ACTIVE; on failure, reschedule.

A member of an affinity or anti-affinity group is checked against its group first
(compute.group_policy); a build that would break the policy is refused before
anything is built, and rescheduled like a failed one.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, bindparam, update

from novalith import exceptions
from novalith.compute import group_policy
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
        group = group_policy.hard_group(deps, inst.uuid, req.request_spec)
        refused: exceptions.Rescheduled | None = None
        with group_policy.serialised(deps, group), deps.db.write() as conn:
            # Only an instance still waiting for a build on this very host: a message
            # that arrives twice, or late after a reschedule moved the instance on,
            # builds nothing.
            started = conn.execute(_START, {"b_uuid": inst.uuid, "b_host": deps.host,
                                            "b_now": utcnow()}).rowcount == 1
            if started:
                inst_db.start_event(conn, inst.uuid, ctx.request_id, EVENT, deps.host)
                if group is not None:
                    refused = group_policy.check(conn, group, inst.uuid, deps.host)
                if refused is not None:  # nothing built yet: straight back to the scheduler
                    _back_to_scheduler(conn, inst.uuid, refused, ctx)
        if not started:
            # Deleted (or taken over) while it waited for us: nothing was built here.
            LOG.info("Instance %s no longer waits for a build here; skipping", inst.uuid)
            return
        if refused is not None:
            _reschedule(deps, ctx, req, str(refused.kwargs["reason"]))
            return
        try:
            deps.driver.spawn(inst, req.admin_password)
        except Exception as exc:
            LOG.warning("Build of %s failed on %s: %s", inst.uuid, deps.host, exc)
            if _undo_spawn(deps, inst.uuid, inst, exc, ctx):
                _reschedule(deps, ctx, req, str(exc))
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


def _reschedule(deps: ComputeDeps, ctx: RequestContext, req: BuildAndRun, reason: str
                ) -> None:
    """Ask the conductor for another host (``reason`` ends up in the fault if none is left)."""
    deps.conductor.cast(ctx, "reschedule", Reschedule(
        instance_uuid=req.instance.uuid, request_spec=req.request_spec,
        failed_host=deps.host, reason=reason, admin_password=req.admin_password))


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
        return _back_to_scheduler(conn, uuid, exc, ctx)


def _back_to_scheduler(conn: Connection, uuid: str, exc: BaseException,
                       ctx: RequestContext) -> bool:
    """spawning -> scheduling, the claim and host released, the event closed with the
    error; False (nothing changed but the event) if the instance moved on meanwhile."""
    back = inst_db.transition(conn, uuid, {"task_state": s.SCHEDULING},
                              expected_vm=[s.BUILDING], expected_task=[s.SPAWNING])
    if back:
        claims.release(conn, uuid, clear_host=True)
    inst_db.finish_event(conn, uuid, ctx.request_id, EVENT, exc=exc, finish_action=False)
    return back
