"""Instance rows, their faults and their action history (SQLAlchemy Core)."""

from __future__ import annotations

import functools
import traceback as tb
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    RowMapping,
    String,
    Table,
    bindparam,
    false,
    insert,
    or_,
    select,
    update,
)

from novalith.db.base import utcnow
from novalith.db.models import Instance, InstanceAction, InstanceActionEvent, InstanceFault
from novalith.objects.context import RequestContext

INST: Table = Instance.__table__  # type: ignore[assignment]
FAULT: Table = InstanceFault.__table__  # type: ignore[assignment]
ACTION: Table = InstanceAction.__table__  # type: ignore[assignment]
EVENT: Table = InstanceActionEvent.__table__  # type: ignore[assignment]

ANY = object()  # expected_task sentinel: do not check task_state


def get(conn: Connection, uuid: str, *, project_id: str | None = None,
        read_deleted: bool = False) -> RowMapping | None:
    q = select(INST).where(INST.c.uuid == uuid)
    if project_id is not None:
        q = q.where(INST.c.project_id == project_id)
    if not read_deleted:
        q = q.where(INST.c.deleted == False)  # noqa: E712
    return conn.execute(q).mappings().first()


def get_many(conn: Connection, uuids: Sequence[str]) -> list[RowMapping]:
    return list(conn.execute(select(INST).where(INST.c.uuid.in_(uuids))).mappings())


def on_host(conn: Connection, host: str) -> list[RowMapping]:
    return list(conn.execute(
        select(INST).where(INST.c.host == host, INST.c.deleted == False)  # noqa: E712
    ).mappings())


def create(conn: Connection, rows: list[dict[str, Any]], ctx: RequestContext) -> None:
    """Insert instance rows and their 'create' action in one go."""
    conn.execute(insert(INST), rows)
    now = utcnow()
    conn.execute(insert(ACTION), [
        {"instance_uuid": r["uuid"], "action": "create", "request_id": ctx.request_id,
         "user_id": ctx.user_id, "project_id": ctx.project_id, "start_time": now}
        for r in rows])


def transition(conn: Connection, uuid: str, values: dict[str, Any], *,
               expected_vm: Iterable[str] | None = None,
               expected_task: Any = ANY, allow_deleted: bool = False) -> bool:
    """Conditionally update one instance: only if its states are still as expected.

    ``expected_task`` is ANY (no check), or an iterable of allowed task states
    (``None`` inside it means "no task"). Returns whether the row changed; a
    False answer means another operation got there first.
    """
    vm = None if expected_vm is None else tuple(sorted(expected_vm))
    task = ANY if expected_task is ANY else tuple(
        sorted(expected_task, key=lambda t: (t is not None, t or "")))
    stmt = _transition_stmt(tuple(sorted(values)), vm, task, allow_deleted)
    params = {f"v_{k}": v for k, v in values.items()}
    params["b_uuid"] = uuid
    params["v_updated_at"] = utcnow()
    return conn.execute(stmt, params).rowcount == 1


@functools.lru_cache(maxsize=512)
def _transition_stmt(keys: tuple[str, ...], vm: tuple[str, ...] | None, task: Any,
                     allow_deleted: bool) -> Any:
    """The UPDATE for one shape of transition, built once: a statement SQLAlchemy has
    seen keeps its compiled form, which spares the per-call statement building."""
    conds = [INST.c.uuid == bindparam("b_uuid")]
    if not allow_deleted:
        conds.append(INST.c.deleted == False)  # noqa: E712
    if vm is not None:
        conds.append(INST.c.vm_state.in_(list(vm)))
    if task is not ANY:
        named = [t for t in task if t is not None]
        parts = []
        if named:
            parts.append(INST.c.task_state.in_(named))
        if None in task:
            parts.append(INST.c.task_state.is_(None))
        conds.append(or_(*parts) if parts else false())
    cols = {*keys, "updated_at"}
    return update(INST).where(*conds).values(
        {INST.c[k]: bindparam(f"v_{k}", type_=INST.c[k].type) for k in cols})


def add_fault(conn: Connection, uuid: str, exc: BaseException | None, *, code: int = 500,
              message: str | None = None, host: str | None = None) -> None:
    """Record why an operation failed; the API shows the newest fault."""
    text = message or (str(exc) if exc is not None else "Unknown error")
    details = "".join(tb.format_exception(exc)) if exc is not None else None
    conn.execute(insert(FAULT).values(instance_uuid=uuid, code=code, message=text[:255],
                                      details=details, host=host, created_at=utcnow()))


def latest_faults(conn: Connection, uuids: Sequence[str]) -> dict[str, RowMapping]:
    if not uuids:
        return {}
    rows = conn.execute(select(FAULT).where(FAULT.c.instance_uuid.in_(uuids))
                        .order_by(FAULT.c.id)).mappings()
    return {r["instance_uuid"]: r for r in rows}


# ---- instance actions and events -----------------------------------------------------------

def start_action(conn: Connection, uuid: str, action: str, ctx: RequestContext) -> None:
    conn.execute(insert(ACTION).values(
        instance_uuid=uuid, action=action, request_id=ctx.request_id, user_id=ctx.user_id,
        project_id=ctx.project_id, start_time=utcnow()))


def _action_id(uuid: Any, request_id: Any) -> Any:
    """The newest action of this request on this instance, as a scalar subquery."""
    return (select(ACTION.c.id).where(ACTION.c.instance_uuid == uuid,
                                      ACTION.c.request_id == request_id)
            .order_by(ACTION.c.id.desc()).limit(1).scalar_subquery())


# The event statements run twice per build: built once with bind parameters, so
# SQLAlchemy reuses their compiled form instead of building and caching anew each call.
_ACTION = _action_id(bindparam("e_uuid", type_=String()), bindparam("e_req", type_=String()))
_START_EVENT = insert(EVENT).from_select(
    ["action_id", "event", "host", "start_time"],
    select(_ACTION, bindparam("e_event", type_=String()), bindparam("e_host", type_=String()),
           bindparam("e_now", type_=DateTime())).where(_ACTION.isnot(None)))
_FINISH_EVENT = (
    update(EVENT).where(EVENT.c.action_id == _ACTION, EVENT.c.event == bindparam("e_event"),
                        EVENT.c.finish_time.is_(None))
    .values(finish_time=bindparam("e_now"), result=bindparam("e_result"),
            traceback=bindparam("e_tb")))
_ACTION_ID = select(_ACTION)
_FINISH_ACTION = {
    failed: update(ACTION).where(ACTION.c.id == bindparam("a_id")).values(
        finish_time=bindparam("a_now"), updated_at=bindparam("a_now"),
        **({"message": "Error"} if failed else {}))
    for failed in (False, True)}


def start_event(conn: Connection, uuid: str, request_id: str, event: str, host: str) -> None:
    """One statement: the event row is attached to the request's action, if any."""
    conn.execute(_START_EVENT, {"e_uuid": uuid, "e_req": request_id, "e_event": event,
                                "e_host": host, "e_now": utcnow()})


def finish_event(conn: Connection, uuid: str, request_id: str, event: str,
                 exc: BaseException | None = None, finish_action: bool = True) -> None:
    """Close an event (Success or Error with traceback) and, by default, its action."""
    now = utcnow()
    conn.execute(_FINISH_EVENT, {
        "e_uuid": uuid, "e_req": request_id, "e_event": event, "e_now": now,
        "e_result": "Error" if exc else "Success",
        "e_tb": "".join(tb.format_exception(exc)) if exc else None})
    if finish_action or exc is not None:
        # MariaDB refuses an UPDATE whose subquery reads the same table: fetch the id.
        action_id = conn.execute(_ACTION_ID, {"e_uuid": uuid, "e_req": request_id}).scalar()
        if action_id is not None:
            conn.execute(_FINISH_ACTION[exc is not None], {"a_id": action_id, "a_now": now})


def discard_unscheduled(conn: Connection, uuids: Sequence[str]) -> int:
    """Mark deleted the instances of a create the conductor never received (the API
    answers 503), as long as nothing claimed them; returns how many."""
    now = utcnow()
    return conn.execute(
        update(INST).where(INST.c.uuid.in_(list(uuids)), INST.c.claim_node_id.is_(None),
                           INST.c.deleted == False)  # noqa: E712
        .values(vm_state="deleted", task_state=None, deleted=True, deleted_at=now,
                updated_at=now)).rowcount
