"""Rebuild with a new image: does the instance's host accept that image?

The API has already written the new image to the instance (task rebuilding) and
sends the image it replaced. Before the rebuild goes to compute, the conductor asks
the scheduler (``check_host``) whether the instance's own host and node pass the
filters that run on rebuild (ImagePropertiesFilter: a Docker host refuses a qcow2
VM image). The flavor does not change, so nothing is claimed. A rebuild with the
same image skips the check.

A refused rebuild, as Nova does it: the previous image is put back (image_ref,
kernel and ramdisk ids, ``system_metadata["image"]``), the instance goes to ERROR
with no task, a fault "No valid host was found. Image <id> is unacceptable: ..."
and the conductor's event (and so the action) in error. The guest is untouched.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.conductor.migrate import move_spec
from novalith.conductor.rpcapi import PreviousImage
from novalith.db import instances as inst_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec
from novalith.scheduler.rpcapi import CheckHost, HostCheck

LOG = logging.getLogger(__name__)


def host_accepts_image(mgr: Any, ctx: RequestContext, row: RowMapping,
                       previous: PreviousImage, event: str) -> bool:
    """Whether the rebuild of ``row`` may go on; if not, the rebuild is undone here."""
    flavor = msgspec.convert(row["flavor"], FlavorSpec)
    with mgr.db.write() as conn:
        spec = move_spec(conn, row, flavor, ignore_hosts=[], requested_host=row["host"])
        inst_db.start_event(conn, row["uuid"], ctx.request_id, event, mgr.host)
    spec = msgspec.structs.replace(spec, requested_node=row["node"])
    image_id = spec.image.id if spec.image is not None else row["image_ref"]
    exc: exceptions.NovalithError
    try:
        answer: HostCheck = mgr.scheduler.call(ctx, "check_host", CheckHost(request_spec=spec))
    except exceptions.NovalithError as err:
        exc = err
    else:
        if answer.failure is None:
            with mgr.db.write() as conn:
                inst_db.finish_event(conn, row["uuid"], ctx.request_id, event,
                                     finish_action=False)
            return True
        exc = exceptions.NoValidHost(reason=f"Image {image_id} is unacceptable: "
                                            f"{answer.failure}.")
    LOG.warning("Rebuild of %s with image %s refused: %s", row["uuid"], image_id, exc)
    refuse(mgr, ctx, row["uuid"], previous, exc, event)
    return False


def refuse(mgr: Any, ctx: RequestContext, uuid: str, previous: PreviousImage,
           exc: exceptions.NovalithError, event: str) -> None:
    """The previous image back, ERROR without a task, a fault, the event in error."""
    with mgr.db.write() as conn:
        current = inst_db.get(conn, uuid)
        if current is not None:
            sysmeta = dict(current["system_metadata"] or {})
            if previous.meta is None:
                sysmeta.pop("image", None)
            else:
                sysmeta["image"] = msgspec.to_builtins(previous.meta)
            values = {"vm_state": s.ERROR, "task_state": None,
                      "image_ref": previous.image_ref, "kernel_id": previous.kernel_id,
                      "ramdisk_id": previous.ramdisk_id, "system_metadata": sysmeta}
            if inst_db.transition(conn, uuid, values, expected_task=[s.REBUILDING]):
                inst_db.add_fault(conn, uuid, exc, code=exc.status, host=mgr.host)
        inst_db.finish_event(conn, uuid, ctx.request_id, event, exc=exc)
