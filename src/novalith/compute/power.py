"""Power and pause/suspend operations, driven by the state-machine table."""

from __future__ import annotations

import logging
from collections.abc import Callable

from novalith import exceptions
from novalith.compute.deps import ComputeDeps
from novalith.compute.instance_spec import from_row
from novalith.compute.rpcapi import InstanceOp
from novalith.compute.state_machine import ACTIONS
from novalith.db import instances as inst_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import InstanceSpec
from novalith.virt.driver import ComputeDriver, PauseSupport, SuspendSupport, require

LOG = logging.getLogger(__name__)


def _driver_call(driver: ComputeDriver, action: str, timeout: int
                 ) -> Callable[[InstanceSpec], None]:
    calls: dict[str, Callable[[InstanceSpec], None]] = {
        "reboot_soft": lambda i: driver.reboot(i, "SOFT"),
        "reboot_hard": lambda i: driver.reboot(i, "HARD"),
        "stop": lambda i: driver.power_off(i, timeout=timeout),
        "start": driver.power_on,
        "pause": lambda i: require(driver, PauseSupport, "pause").pause(i),
        "unpause": lambda i: require(driver, PauseSupport, "unpause").unpause(i),
        "suspend": lambda i: require(driver, SuspendSupport, "suspend").suspend(i),
        "resume": lambda i: require(driver, SuspendSupport, "resume").resume(i),
    }
    return calls[action]


def run_action(deps: ComputeDeps, ctx: RequestContext, op: InstanceOp) -> None:
    action = ACTIONS[op.action]
    with deps.locks.get(op.instance_uuid):
        with deps.db.write() as conn:
            row = inst_db.get(conn, op.instance_uuid)
            if row is None or row["task_state"] != action.task_state:
                LOG.info("Skipping %s of %s: superseded", op.action, op.instance_uuid)
                return
            inst_db.start_event(conn, op.instance_uuid, ctx.request_id, action.event, deps.host)
        spec = from_row(row)
        try:
            _driver_call(deps.driver, op.action, deps.config.shutdown_timeout)(spec)
        except Exception as exc:
            LOG.warning("%s of %s failed: %s", op.action, op.instance_uuid, exc)
            _record_failure(deps, ctx, op, action.task_state, action.event, spec, exc)
            return
        with deps.db.write() as conn:
            inst_db.transition(conn, op.instance_uuid,
                               {"vm_state": action.done_vm_state, "task_state": None,
                                "power_state": action.done_power_state},
                               expected_task=[action.task_state])
            inst_db.finish_event(conn, op.instance_uuid, ctx.request_id, action.event)


def _record_failure(deps: ComputeDeps, ctx: RequestContext, op: InstanceOp, task: str,
                    event: str, spec: InstanceSpec, exc: Exception) -> None:
    """Clear the task, keep the real power state; a failed reboot leaves ERROR as in Nova."""
    values: dict[str, object] = {"task_state": None}
    try:
        values["power_state"] = deps.driver.get_info(spec).power_state
    except exceptions.NovalithError:
        pass
    if op.action.startswith("reboot"):
        values["vm_state"] = s.ERROR
    code = exc.status if isinstance(exc, exceptions.NovalithError) else 500
    with deps.db.write() as conn:
        inst_db.transition(conn, op.instance_uuid, values, expected_task=[task])
        inst_db.add_fault(conn, op.instance_uuid, exc, code=code, host=deps.host)
        inst_db.finish_event(conn, op.instance_uuid, ctx.request_id, event, exc=exc)
