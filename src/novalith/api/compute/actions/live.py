"""os-migrateLive (live migration) and evacuate: admin moves to another host."""

from __future__ import annotations

import secrets
import string
from typing import Any

from fastapi import Response

from novalith import exceptions
from novalith.api.compute import move_api
from novalith.api.compute.actions import action
from novalith.api.deps import Call
from novalith.api.responses import JSON
from novalith.conductor.rpcapi import LiveMigrateServer, RebuildServer
from novalith.db import moves as moves_db

_PW_CHARS = string.ascii_letters + string.digits


def _target(call: Call, row: Any, host: str | None, not_found: type[exceptions.NovalithError]
            ) -> None:
    """A requested destination must be a known compute host other than the source."""
    if host is None:
        return
    with call.db.read() as conn:
        known = move_api.compute_service(conn, host) is not None
    if not known:
        if not_found is exceptions.ComputeHostNotFound:
            raise exceptions.ComputeHostNotFound(host=host)
        raise exceptions.Invalid(f"Compute host {host} could not be found.")
    if host == row["host"]:
        raise exceptions.Invalid(f"Unable to migrate instance ({row['uuid']}) to current host "
                                 f"({host}).")


def _live_body(call: Call, args: Any) -> tuple[str | None, bool | None, bool, bool]:
    """(host, block_migration or None for auto, disk_over_commit, force) per microversion."""
    v = call.version
    allowed = {"host", "block_migration"}
    required = {"host", "block_migration"}
    if not v.at_least("2.25"):
        allowed.add("disk_over_commit")
        required.add("disk_over_commit")
    if v.at_least("2.30"):
        allowed.add("force")
    body = move_api.body_dict(args, "os-migrateLive", allowed, required)
    host = move_api.host_name(body["host"])
    raw = body["block_migration"]
    if v.at_least("2.25") and raw == "auto":
        block: bool | None = None
    else:
        block = move_api.boolean(raw, "block_migration")
    over = move_api.boolean(body.get("disk_over_commit", False), "disk_over_commit")
    force = move_api.boolean(body.get("force", False), "force")
    # Before 2.30 a named host was taken as is (forced); from 2.30 only with force.
    return host, block, over, bool(host) and (force or not v.at_least("2.30"))


@action("os-migrateLive")
def live_migrate(call: Call, row: Any, args: Any) -> Response:
    call.require_admin("os_compute_api:os-migrate-server:migrate_live")
    host, block, over, force = _live_body(call, args)
    move_api.precheck(call, row, "live-migration", "supports_live_migration")
    _target(call, row, host, exceptions.Invalid)
    with call.db.write() as conn:
        mid = move_api.start_move(call, conn, row, "live-migration", migration={
            "status": moves_db.ACCEPTED, "dest_compute": host})
    assert mid is not None
    req = LiveMigrateServer(instance_uuid=row["uuid"], migration_id=mid, block_migration=block,
                            disk_over_commit=over, force=force)
    conductor = call.services.conductor
    if call.version.at_least("2.34"):
        # 2.34: the checks run after the answer; failures show in the instance action.
        move_api.deliver(call, row, "live-migration", mid,
                         lambda: conductor.cast(call.ctx, "live_migrate_server", req))
        return Response(status_code=202)
    try:
        move_api.deliver(call, row, "live-migration", mid,
                         lambda: conductor.call(call.ctx, "live_migrate_server", req))
    except (exceptions.NoValidHost, exceptions.MigrationError) as exc:
        # The conductor undid the start already; before 2.34 the caller hears why.
        raise exceptions.Invalid(str(exc)) from None
    return Response(status_code=202)


def _evacuate_body(call: Call, args: Any) -> tuple[str | None, str | None, bool, bool]:
    v = call.version
    allowed, required = {"host", "adminPass"}, set()
    if not v.at_least("2.14"):
        allowed.add("onSharedStorage")
        required.add("onSharedStorage")
    if v.at_least("2.29"):
        allowed.add("force")
    body = move_api.body_dict(args, "evacuate", allowed, required)
    host = move_api.host_name(body.get("host"))
    password = body.get("adminPass")
    if password is not None and not isinstance(password, str):
        raise exceptions.ValidationError(field="adminPass", detail="Must be a string.")
    shared = move_api.boolean(body.get("onSharedStorage", False), "onSharedStorage")
    if shared and password is not None:
        raise exceptions.Invalid("admin password can't be changed on existing disk")
    force = move_api.boolean(body.get("force", False), "force")
    # Before 2.29 a named host was taken as is (forced); from 2.29 only with force.
    return host, password, shared, bool(host) and (force or not v.at_least("2.29"))


@action("evacuate")
def evacuate(call: Call, row: Any, args: Any) -> Response:
    call.require_admin("os_compute_api:os-evacuate")
    host, password, shared, force = _evacuate_body(call, args)
    move_api.precheck(call, row, "evacuate")
    with call.db.read() as conn:
        source = move_api.compute_service(conn, row["host"])
    if source is not None and move_api.service_up(call, source):
        raise exceptions.ComputeServiceInUse(host=row["host"])
    if host is not None and host == row["host"]:
        raise exceptions.Invalid("The target host can't be the same one.")
    _target(call, row, host, exceptions.ComputeHostNotFound)
    if password is None and not shared and call.services.config.enable_instance_password:
        password = "".join(secrets.choice(_PW_CHARS) for _ in range(12))
    with call.db.write() as conn:
        mid = move_api.start_move(call, conn, row, "evacuate", migration={
            "status": moves_db.ACCEPTED, "dest_compute": host})
    req = RebuildServer(instance_uuid=row["uuid"], admin_password=password, migration_id=mid,
                        force=force)
    move_api.deliver(call, row, "evacuate", mid, lambda: call.services.conductor.cast(
        call.ctx, "rebuild_server", req))
    if not call.version.at_least("2.14") and call.services.config.enable_instance_password:
        return JSON({"adminPass": password}, status_code=200)
    return Response(status_code=200)
