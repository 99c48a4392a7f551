"""Rebuild and evacuation: the conductor's part.

A rebuild stays on the instance's host: the conductor hands it to that compute,
after checking, when the image changes, that the host accepts the new image
(conductor.rebuild_check; a refused rebuild ends in ERROR with the old image
back, as in Nova). An evacuation needs a destination: the scheduler claims one on the
migration row (the source host is ignored, a requested host passes the
filters unless forced), then the destination compute rebuilds the instance
there (compute.rebuild). Without a destination the instance keeps its
vm_state, loses the task and gets a fault; the migration ends in error.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from novalith import exceptions
from novalith.compute.rpcapi import RebuildInstance
from novalith.conductor.migrate import claim_destination, end_failed, move_spec
from novalith.conductor.rebuild_check import host_accepts_image
from novalith.conductor.rpcapi import RebuildServer
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec

LOG = logging.getLogger(__name__)
EVENT = "conductor_rebuild_server"


def rebuild_server(mgr: Any, ctx: RequestContext, req: RebuildServer) -> None:
    with mgr.db.read() as conn:
        row = inst_db.get(conn, req.instance_uuid)
        mig = moves_db.get(conn, req.migration_id) if req.migration_id is not None else None
    if row is None or row["task_state"] != s.REBUILDING:
        LOG.info("Rebuild of %s superseded", req.instance_uuid)
        return
    target = RebuildInstance(instance_uuid=row["uuid"], admin_password=req.admin_password,
                             preserve_ephemeral=req.preserve_ephemeral,
                             migration_id=req.migration_id)
    if req.migration_id is None:
        if req.previous_image is not None and not host_accepts_image(
                mgr, ctx, row, req.previous_image, EVENT):
            return
        mgr.compute.cast(ctx, "rebuild_instance", target, server=row["host"])
        return
    if mig is None or mig["status"] != moves_db.ACCEPTED:
        return
    flavor = msgspec.convert(row["flavor"], FlavorSpec)
    with mgr.db.write() as conn:
        spec = move_spec(conn, row, flavor, ignore_hosts=[row["host"]],
                         requested_host=mig["dest_compute"])
        inst_db.start_event(conn, row["uuid"], ctx.request_id, EVENT, mgr.host)
    try:
        sel = claim_destination(mgr, ctx, req.migration_id, spec, force=req.force)
    except exceptions.NovalithError as exc:
        LOG.warning("No destination to evacuate %s to: %s", row["uuid"], exc)
        end_failed(mgr, ctx, row["uuid"], req.migration_id, exc, task=s.REBUILDING,
                   event=EVENT)
        return
    with mgr.db.write() as conn:
        inst_db.finish_event(conn, row["uuid"], ctx.request_id, EVENT, finish_action=False)
    mgr.compute.cast(ctx, "rebuild_instance", target, server=sel.host)
