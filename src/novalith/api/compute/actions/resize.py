"""resize, confirmResize, revertResize and migrate (cold migration)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import Response
from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.api.compute import move_api
from novalith.api.compute.actions import action, check_not_locked
from novalith.api.deps import Call
from novalith.compute.resize import start_confirm
from novalith.compute.rpcapi import MoveOp
from novalith.conductor.rpcapi import MigrateServer
from novalith.db import flavors as flavor_db
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.objects import states as s
from novalith.objects.specs import FlavorSpec


def _null(args: Any, name: str) -> None:
    if args is not None:
        raise exceptions.ValidationError(field=name, detail="The value must be null.")


def _new_flavor(call: Call, row: RowMapping, ref: Any) -> tuple[int, FlavorSpec]:
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise exceptions.ValidationError(field="flavorRef",
                                         detail="Must be a non-empty string or an integer.")
    flavor_id = ref.rstrip("/").rsplit("/", 1)[-1]
    with call.db.read() as conn:
        frow = flavor_db.get(conn, flavor_id)
        if frow is None or frow["disabled"] or not (frow["is_public"] or call.ctx.is_admin):
            raise exceptions.Invalid("Unable to locate requested flavor.")
        new = flavor_db.to_spec(frow, flavor_db.extra_specs(conn, frow["id"]))
    if new.flavorid == row["flavor"]["flavorid"]:
        raise exceptions.Invalid("When resizing, instances must change flavor!")
    if new.root_gb == 0 and row["root_gb"] > 0:
        raise exceptions.Invalid("Resize to zero disk flavor is not allowed.")
    image = (row["system_metadata"] or {}).get("image") or {}
    if (image.get("min_ram") or 0) > new.memory_mb:
        raise exceptions.Invalid("Flavor's memory is too small for requested image.")
    if new.root_gb and (image.get("min_disk") or 0) > new.root_gb:
        raise exceptions.Invalid("Flavor's disk is too small for requested image.")
    return frow["id"], new


@action("resize")
def resize(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:servers:resize")
    body = move_api.body_dict(args, "resize", {"flavorRef", "OS-DCF:diskConfig"}, {"flavorRef"})
    if body.get("OS-DCF:diskConfig", "AUTO") not in ("AUTO", "MANUAL"):
        raise exceptions.ValidationError(field="OS-DCF:diskConfig",
                                         detail="Must be one of 'AUTO', 'MANUAL'.")
    move_api.precheck(call, row, "resize", "supports_migration")
    flavor_pk, new = _new_flavor(call, row, body["flavorRef"])
    with call.db.write() as conn:
        move_api.check_resize_quota(conn, call, row, new)
        mid = move_api.start_move(call, conn, row, "resize", migration={
            "status": moves_db.PRE_MIGRATING, "new_instance_type_id": flavor_pk,
            "new_flavor": msgspec.to_builtins(new)})
    assert mid is not None
    move_api.deliver(call, row, "resize", mid, lambda: call.services.conductor.cast(
        call.ctx, "migrate_server", MigrateServer(instance_uuid=row["uuid"], migration_id=mid)))
    return Response(status_code=202)


@action("migrate")
def migrate(call: Call, row: Any, args: Any) -> Response:
    call.require_admin("os_compute_api:os-migrate-server:migrate")
    # A target host is microversion 2.56; before it the body is null.
    _null(args, "migrate")
    move_api.precheck(call, row, "migrate", "supports_migration")
    with call.db.write() as conn:
        mid = move_api.start_move(call, conn, row, "migrate",
                                  migration={"status": moves_db.PRE_MIGRATING})
    assert mid is not None
    move_api.deliver(call, row, "migrate", mid, lambda: call.services.conductor.cast(
        call.ctx, "migrate_server", MigrateServer(instance_uuid=row["uuid"], migration_id=mid)))
    return Response(status_code=202)


def _waiting_migration(conn: Any, call: Call, row: RowMapping, key: str) -> RowMapping:
    """The finished resize/migration of a VERIFY_RESIZE instance (409 / 400 otherwise)."""
    current = inst_db.get(conn, row["uuid"]) or row
    if current["vm_state"] != s.RESIZED or current["task_state"] is not None:
        bad_task = current["task_state"] is not None
        raise exceptions.InstanceInvalidState(
            action=key, instance_id=row["uuid"], attr="task_state" if bad_task else "vm_state",
            state=current["task_state"] if bad_task else current["vm_state"])
    found = moves_db.for_instance(conn, row["uuid"], statuses=[moves_db.FINISHED],
                                  types=[moves_db.RESIZE, moves_db.COLD])
    if not found:
        raise exceptions.Invalid("Instance has not been resized.")
    return found[0]


@action("confirmResize")
def confirm_resize(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:servers:confirm_resize")
    _null(args, "confirmResize")
    check_not_locked(call, row)
    with call.db.write() as conn:
        mig = _waiting_migration(conn, call, row, "confirmResize")
        if not start_confirm(conn, row["uuid"], mig["id"], call.ctx):
            raise exceptions.InstanceInvalidState(action="confirmResize",
                                                  instance_id=row["uuid"], attr="vm_state",
                                                  state=row["vm_state"])
    op = MoveOp(instance_uuid=row["uuid"], migration_id=mig["id"])
    _deliver_back(call, row, mig, s.RESIZE_CONFIRMING, lambda: call.services.compute.cast(
        call.ctx, "confirm_resize", op, server=mig["source_compute"]))
    return Response(status_code=204)


@action("revertResize")
def revert_resize(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:servers:revert_resize")
    _null(args, "revertResize")
    check_not_locked(call, row)
    with call.db.write() as conn:
        mig = _waiting_migration(conn, call, row, "revertResize")
        inst_db.transition(conn, row["uuid"], {"task_state": s.RESIZE_REVERTING},
                           expected_vm=[s.RESIZED], expected_task=[None])
        moves_db.set_status(conn, mig["id"], moves_db.REVERTING, expected=[moves_db.FINISHED])
        inst_db.start_action(conn, row["uuid"], "revertResize", call.ctx)
    op = MoveOp(instance_uuid=row["uuid"], migration_id=mig["id"])
    _deliver_back(call, row, mig, s.RESIZE_REVERTING, lambda: call.services.compute.cast(
        call.ctx, "revert_resize", op, server=mig["dest_compute"]))
    return Response(status_code=202)


def _deliver_back(call: Call, row: RowMapping, mig: RowMapping, task: str, send: Any) -> None:
    """Cast; if undeliverable, back to VERIFY_RESIZE so the owner can try again."""
    try:
        send()
    except exceptions.ServiceUnavailable:
        with call.db.write() as conn:
            inst_db.transition(conn, row["uuid"], {"task_state": None}, expected_task=[task])
            moves_db.set_status(conn, mig["id"], moves_db.FINISHED)
        raise
