"""Rebuild (same host, new image) and evacuation (rebuilt on another host), with
``destroy`` then ``spawn``.

Rebuild::

    API     task rebuilding; image_ref, name, metadata... written; action rebuild
    compute destroy, spawn (admin password, new image); vm_state active (stopped
            if it was stopped: powered off again), launched_at now. Claims do not
            change (same host, same flavor). A failure: ERROR with a fault.

Evacuation (the source's compute service is down or forced down)::

    API       task rebuilding, migration accepted              (claims: instance=source)
    conductor scheduler claims the destination                 (migration=dest)
    dest      rebuild_instance: migration pre-migrating; spawn; swap claims,
              host=dest, vm_state active/stopped, migration done (migration=source)
    source    when its compute service runs again (start-up, or a periodic pass once
              it is no longer forced down): destroy the old guest, release the
              migration's (source) claim, migration completed
              (compute.move_recovery.cleanup_evacuated)

A failed spawn at the destination releases the destination claim; the
instance stays on the source host in ERROR with a fault, migration failed.
A destination that would break the instance's hard server-group policy
(compute.group_policy) refuses it before spawning: the claim is released, the
migration failed, the instance keeps its vm_state on the source, with a fault.
"""

from __future__ import annotations

import logging

from novalith import exceptions
from novalith.compute import group_policy
from novalith.compute import move_steps as steps
from novalith.compute.deps import ComputeDeps
from novalith.compute.rpcapi import RebuildInstance
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.db.base import utcnow
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import InstanceSpec
from novalith.objects.states import PowerState

LOG = logging.getLogger(__name__)
EVENT = "compute_rebuild_instance"


def _final_states(deps: ComputeDeps, spec: InstanceSpec, was: str) -> dict[str, object]:
    """An instance rebuilt from stopped is stopped again (as Nova does)."""
    if was == s.STOPPED:
        deps.driver.power_off(spec)
        return {"vm_state": s.STOPPED, "power_state": PowerState.SHUTDOWN}
    return {"vm_state": s.ACTIVE, "power_state": PowerState.RUNNING}


def rebuild_instance(deps: ComputeDeps, ctx: RequestContext, req: RebuildInstance) -> None:
    uuid = req.instance_uuid
    evacuating = req.migration_id is not None
    with deps.locks.get(uuid):
        with deps.db.write() as conn:
            row = inst_db.get(conn, uuid)
            ok = row is not None and row["task_state"] == s.REBUILDING
            if ok and req.migration_id is not None:
                ok = moves_db.set_status(conn, req.migration_id, moves_db.PRE_MIGRATING,
                                         expected=[moves_db.ACCEPTED])
            if ok:
                inst_db.start_event(conn, uuid, ctx.request_id, EVENT, deps.host)
        if not ok or row is None:
            LOG.info("Rebuild of %s superseded before it started", uuid)
            return
        spec = steps.spec_of(row)
        if evacuating:
            reason = group_policy.refuse_move(deps, uuid, deps.host)
            if reason is not None:  # nothing done here yet: no guest to remove
                steps.fail_move(deps, ctx, uuid, req.migration_id,
                                exceptions.MigrationError(reason=reason),
                                event=EVENT, expected_tasks=[s.REBUILDING],
                                status=moves_db.FAILED)
                return
        try:
            if not evacuating:
                deps.driver.destroy(spec, destroy_disks=True)
            deps.driver.spawn(spec, req.admin_password)
            values = _final_states(deps, spec, row["vm_state"])
        except Exception as exc:
            LOG.warning("%s of %s failed on %s: %s", "Evacuation" if evacuating else "Rebuild",
                        uuid, deps.host, exc)
            if evacuating:
                steps.quietly("destroy", deps.driver.destroy, spec)
            steps.fail_move(deps, ctx, uuid, req.migration_id, exc, event=EVENT,
                            expected_tasks=[s.REBUILDING], vm_state=s.ERROR,
                            power_state=(None if evacuating else
                                         steps.power_of(deps, spec) or PowerState.NOSTATE),
                            status=moves_db.FAILED)
            return
        values.update({"task_state": None, "launched_at": utcnow()})
        with deps.db.write() as conn:
            if req.migration_id is None:
                ok = inst_db.transition(conn, uuid, values, expected_task=[s.REBUILDING])
            else:
                ok = inst_db.transition(conn, uuid, {"task_state": None},
                                        expected_task=[s.REBUILDING])
                if ok:
                    mig = moves_db.get(conn, req.migration_id)
                    assert mig is not None
                    claims.swap_move(conn, req.migration_id, uuid, host=deps.host,
                                     node=mig["dest_node"], flavor=spec.flavor, extra=values)
                    moves_db.set_status(conn, req.migration_id, moves_db.DONE)
            if ok:
                inst_db.finish_event(conn, uuid, ctx.request_id, EVENT)
        if not ok and evacuating:
            LOG.info("Instance %s deleted while evacuated here; removing it", uuid)
            steps.quietly("destroy", deps.driver.destroy, spec)
