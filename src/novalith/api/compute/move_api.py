"""What the move actions of the API share: body checks, host look-ups, quota, and
starting a move (state check, task state, migration row, instance action in one
write; the cast after it, undone if it cannot be delivered)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, RowMapping

from novalith import exceptions
from novalith.api.compute.actions import check_capability, check_not_locked
from novalith.api.deps import Call
from novalith.compute.rpcapi import MoveOp
from novalith.compute.state_machine import MOVES
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.db import quotas as quota_db
from novalith.db import services as svc_db
from novalith.objects import states as s
from novalith.objects.specs import FlavorSpec

_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def body_dict(args: Any, action: str, allowed: set[str],
              required: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The action's body as a dict with only ``allowed`` keys and all ``required``."""
    if not isinstance(args, dict):
        raise exceptions.ValidationError(field=action, detail="The value must be an object.")
    extra = sorted(set(args) - allowed)
    if extra:
        raise exceptions.ValidationError(
            field=action, detail=f"Additional properties are not allowed ({', '.join(extra)} "
                                 f"{'was' if len(extra) == 1 else 'were'} unexpected)")
    for key in sorted(required):
        if key not in args:
            raise exceptions.ValidationError(field=action,
                                             detail=f"'{key}' is a required property")
    return args


def boolean(value: Any, field: str) -> bool:
    """A JSON boolean or a boolean-like string, as Nova's schema accepts them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise exceptions.ValidationError(field=field, detail=f"{value!r} is not a valid boolean.")


def host_name(value: Any, field: str = "host") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise exceptions.ValidationError(field=field,
                                         detail="Must be a string of 1 to 255 characters.")
    return value


def compute_service(conn: Connection, host: str) -> RowMapping | None:
    rows = svc_db.list_services(conn, host=host, binary="nova-compute")
    return rows[0] if rows else None


def service_up(call: Call, service: RowMapping) -> bool:
    return svc_db.is_up(service, call.services.config.service_down_time)


def check_resize_quota(conn: Connection, call: Call, row: RowMapping, new: FlavorSpec) -> None:
    """403 when growing to ``new`` would take the project over its cores or ram quota."""
    delta = {"cores": new.vcpus - row["vcpus"], "ram": new.memory_mb - row["memory_mb"]}
    if all(v <= 0 for v in delta.values()):
        return
    project = row["project_id"]
    quota_db.lock(conn, [f"project:{project}"])
    limit = quota_db.limits(conn, project, call.services.config.quota.defaults)
    used = quota_db.project_usage(conn, project)
    overs = [r for r, d in delta.items() if d > 0 and quota_db.over_limit(limit[r], used[r], d)]
    if overs:
        raise exceptions.QuotaExceeded(
            "Quota exceeded for {o}: Requested {r}, but already used {u} of {a} {o}".format(
                o=", ".join(overs), r=", ".join(str(delta[x]) for x in overs),
                u=", ".join(str(used[x]) for x in overs),
                a=", ".join(str(limit[x]) for x in overs)))


def metadata_limit(conn: Connection, call: Call, project_id: str) -> int:
    return quota_db.limits(conn, project_id, call.services.config.quota.defaults)[
        "metadata_items"]


def check_metadata_count(conn: Connection, call: Call, project_id: str, count: int) -> None:
    limit = metadata_limit(conn, call, project_id)
    if limit != quota_db.UNLIMITED and count > limit:
        raise exceptions.QuotaExceeded(f"Maximum number of metadata items exceeds {limit}")


def precheck(call: Call, row: RowMapping, key: str, capability: str | None = None) -> None:
    """Lock, host and the driver's capability, before anything is read or written."""
    check_not_locked(call, row)
    mv = MOVES[key]
    if row["host"] is None or row["vm_state"] not in mv.vm_states \
            or row["task_state"] not in mv.task_states:
        bad_task = row["task_state"] not in mv.task_states
        raise exceptions.InstanceInvalidState(
            action=mv.record, instance_id=row["uuid"],
            attr="task_state" if bad_task else "vm_state",
            state=row["task_state"] if bad_task else row["vm_state"])
    if capability is not None:
        check_capability(call, row, capability, mv.record)


def start_move(call: Call, conn: Connection, row: RowMapping, key: str, *,
               migration: dict[str, Any] | None = None,
               values: dict[str, Any] | None = None) -> int | None:
    """In the caller's write transaction: the conditional task-state change (409 if the
    instance moved on), the migration row (returns its id) and the instance action."""
    mv = MOVES[key]
    uuid = row["uuid"]
    if not inst_db.transition(conn, uuid, {"task_state": mv.task_state, **(values or {})},
                              expected_vm=mv.vm_states, expected_task=mv.task_states):
        current = inst_db.get(conn, uuid) or row
        bad_task = current["task_state"] not in mv.task_states
        raise exceptions.InstanceInvalidState(
            action=mv.record, instance_id=uuid, attr="task_state" if bad_task else "vm_state",
            state=current["task_state"] if bad_task else current["vm_state"])
    migration_id = None
    if migration is not None:
        migration_id = moves_db.create(conn, {
            "instance_uuid": uuid, "migration_type": mv.migration_type,
            "source_compute": row["host"], "source_node": row["node"],
            "old_instance_type_id": row["flavor_id"], "new_instance_type_id": row["flavor_id"],
            "old_flavor": row["flavor"], "new_flavor": row["flavor"],
            "old_vm_state": row["vm_state"], "user_id": call.ctx.user_id,
            "project_id": call.ctx.project_id, **migration})
    inst_db.start_action(conn, uuid, mv.record, call.ctx)
    return migration_id


def deliver(call: Call, row: RowMapping, key: str, migration_id: int | None,
            send: Callable[[], Any]) -> Any:
    """Run ``send`` (the cast or call); if it cannot be delivered, undo the start."""
    try:
        return send()
    except exceptions.ServiceUnavailable:
        with call.db.write() as conn:
            inst_db.transition(conn, row["uuid"], {"task_state": row["task_state"]},
                               expected_task=[MOVES[key].task_state])
            if migration_id is not None:
                moves_db.set_status(conn, migration_id, moves_db.ERROR)
        raise


def abort_live_migration_for_delete(call: Call, row: RowMapping) -> None:
    """A server deleted while it live-migrates: stop the copy first, so the delete does
    not wait for it (the migration then ends, its claim released, and the delete runs)."""
    if row["task_state"] != s.MIGRATING:
        return
    with call.db.read() as conn:
        running = moves_db.for_instance(conn, row["uuid"], statuses=[moves_db.RUNNING],
                                        types=[moves_db.LIVE])
    for mig in running:
        try:
            call.services.compute.cast(call.ctx, "live_migration_abort", MoveOp(
                instance_uuid=row["uuid"], migration_id=mig["id"]), server=mig["source_compute"])
        except exceptions.ServiceUnavailable:
            pass  # the delete goes on; the migration ends by itself
