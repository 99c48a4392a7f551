"""Server actions (POST /servers/{id}/action): a registry of one handler per action name.

Each family of actions lives in its own module here and registers its handlers
with :func:`action`; ``server_actions`` only routes. A handler receives the
call, the instance row (already visible to the caller) and the action's body
value, and returns the response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Response
from sqlalchemy import Table, select

from novalith import exceptions
from novalith.api.deps import Call
from novalith.compute.rpcapi import InstanceOp
from novalith.compute.state_machine import ACTIONS
from novalith.db import instances as inst_db
from novalith.db.models import ComputeNode

Handler = Callable[[Call, Any, Any], Response]
HANDLERS: dict[str, Handler] = {}
CN: Table = ComputeNode.__table__  # type: ignore[assignment]


def action(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in HANDLERS:
            raise RuntimeError(f"Two handlers for server action {name!r}")
        HANDLERS[name] = fn
        return fn
    return register


def check_capability(call: Call, row: Any, capability: str, operation: str) -> None:
    """409 NotSupported unless the driver of the instance's node declares ``capability``."""
    with call.db.read() as conn:
        stats = conn.execute(select(CN.c.stats).where(CN.c.hypervisor_hostname == row["node"])
                             ).scalar()
    caps = (stats or {}).get("capabilities", {})
    if not caps.get(capability, False):
        raise exceptions.NotSupported(operation=operation,
                                      driver=(stats or {}).get("driver", "compute"))


def check_not_locked(call: Call, row: Any) -> None:
    if row["locked"] and not call.ctx.is_admin:
        raise exceptions.Conflict(f"Instance {row['uuid']} is locked")


def start(call: Call, row: Any, key: str, method: str = "run_instance_action") -> None:
    """Check the state table and set the task state in one conditional write, then cast
    ``method`` to the instance's compute host."""
    act = ACTIONS[key]
    check_not_locked(call, row)
    if row["host"] is None:
        raise exceptions.InstanceInvalidState(action=act.record, instance_id=row["uuid"],
                                              attr="vm_state", state=row["vm_state"])
    with call.db.write() as conn:
        ok = inst_db.transition(conn, row["uuid"], {"task_state": act.task_state},
                                expected_vm=act.vm_states, expected_task=act.task_states)
        if not ok:
            current = inst_db.get(conn, row["uuid"]) or row
            bad_task = current["task_state"] not in act.task_states
            raise exceptions.InstanceInvalidState(
                action=act.record, instance_id=row["uuid"],
                attr="task_state" if bad_task else "vm_state",
                state=current["task_state"] if bad_task else current["vm_state"])
        inst_db.start_action(conn, row["uuid"], act.record, call.ctx)
    try:
        call.services.compute.cast(call.ctx, method,
                                   InstanceOp(instance_uuid=row["uuid"], action=key),
                                   server=row["host"])
    except exceptions.ServiceUnavailable:
        # Not delivered (broker unreachable): the instance must not wait for it (issue 6).
        with call.db.write() as conn:
            inst_db.transition(conn, row["uuid"], {"task_state": row["task_state"]},
                               expected_task=[act.task_state])
        raise
