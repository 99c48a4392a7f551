"""POST /servers/{id}/action: reboot, os-stop, os-start, pause, unpause, suspend, resume,
os-getConsoleOutput."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from sqlalchemy import Table, select

from novalith import exceptions
from novalith.api.compute.servers import get_instance
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.compute.rpcapi import ConsoleOutput, InstanceOp
from novalith.compute.state_machine import ACTIONS
from novalith.db import instances as inst_db
from novalith.db.models import ComputeNode

router = APIRouter(prefix="/compute/v2.1", tags=["server actions"])
CallDep = Annotated[Call, Depends(compute_call)]
CN: Table = ComputeNode.__table__  # type: ignore[assignment]

# action key in the body -> (state machine action, driver capability it needs)
_SIMPLE = {"os-stop": ("stop", None), "os-start": ("start", None),
           "pause": ("pause", "supports_pause"), "unpause": ("unpause", "supports_pause"),
           "suspend": ("suspend", "supports_suspend"), "resume": ("resume", "supports_suspend")}


def _check_capability(call: Call, row: Any, capability: str, operation: str) -> None:
    with call.db.read() as conn:
        stats = conn.execute(select(CN.c.stats).where(CN.c.hypervisor_hostname == row["node"])
                             ).scalar()
    caps = (stats or {}).get("capabilities", {})
    if not caps.get(capability, False):
        raise exceptions.NotSupported(operation=operation,
                                      driver=(stats or {}).get("driver", "compute"))


def _start(call: Call, row: Any, key: str) -> None:
    """Check the state table and set the task state in one conditional write, then cast."""
    action = ACTIONS[key]
    if row["locked"] and not call.ctx.is_admin:
        raise exceptions.Conflict(f"Instance {row['uuid']} is locked")
    if row["host"] is None:
        raise exceptions.InstanceInvalidState(action=action.record, instance_id=row["uuid"],
                                              attr="vm_state", state=row["vm_state"])
    with call.db.write() as conn:
        ok = inst_db.transition(conn, row["uuid"], {"task_state": action.task_state},
                                expected_vm=action.vm_states, expected_task=action.task_states)
        if not ok:
            current = inst_db.get(conn, row["uuid"]) or row
            bad_task = current["task_state"] not in action.task_states
            raise exceptions.InstanceInvalidState(
                action=action.record, instance_id=row["uuid"],
                attr="task_state" if bad_task else "vm_state",
                state=current["task_state"] if bad_task else current["vm_state"])
        inst_db.start_action(conn, row["uuid"], action.record, call.ctx)
    call.services.compute.cast(call.ctx, "run_instance_action",
                               InstanceOp(instance_uuid=row["uuid"], action=key),
                               server=row["host"])


@router.post("/servers/{server_id}/action", response_model=None)
def server_action(call: CallDep, server_id: str,
                  body: Annotated[dict[str, Any], Body()]) -> Response:
    if len(body) != 1:
        raise exceptions.Invalid("Exactly one action is expected in the request body.")
    name, args = next(iter(body.items()))
    row = get_instance(call, server_id)
    if name == "os-getConsoleOutput":
        return _console(call, row, args)
    call.require_writer(f"os_compute_api:servers:{name}")
    if name == "reboot":
        rtype = (args or {}).get("type") if isinstance(args, dict) else None
        if not isinstance(rtype, str) or rtype.upper() not in ("SOFT", "HARD"):
            raise exceptions.ValidationError(field="type",
                                             detail="'type' must be one of 'SOFT', 'HARD'.")
        _start(call, row, "reboot_hard" if rtype.upper() == "HARD" else "reboot_soft")
    elif name in _SIMPLE:
        key, capability = _SIMPLE[name]
        if args is not None:
            raise exceptions.ValidationError(field=name, detail="The value must be null.")
        if capability is not None:
            _check_capability(call, row, capability, name)
        _start(call, row, key)
    else:
        raise exceptions.Invalid(f"There is no such action: {name}")
    return Response(status_code=202)


def _console(call: Call, row: Any, args: Any) -> JSON:
    length = None
    if isinstance(args, dict) and args.get("length") is not None:
        try:
            length = int(args["length"])
        except (TypeError, ValueError):
            raise exceptions.ValidationError(field="length", detail="Must be an integer.") from None
        if length < -1:
            raise exceptions.ValidationError(field="length", detail="Must be >= -1.")
        if length == -1:
            length = None
    if row["host"] is None or row["vm_state"] not in ("active", "stopped", "paused",
                                                      "suspended", "error"):
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready for console output.")
    _check_capability(call, row, "supports_console", "os-getConsoleOutput")
    text = call.services.compute.call(call.ctx, "get_console_output",
                                      ConsoleOutput(instance_uuid=row["uuid"], length=length),
                                      server=row["host"])
    return JSON({"output": text.output})
