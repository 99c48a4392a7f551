"""What the move modules (resize, live_migrate, rebuild) share: loading a move,
specs with another flavor, and ending a move that failed before the swap.

Rule of every step: the new states are written (with the claim change of
:mod:`novalith.db.claims` that goes with them) in one transaction, after the
driver step succeeded; a step whose starting state is gone (the instance was
deleted meanwhile) undoes its own driver work and stops, since the delete has
released every claim of the instance.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
from sqlalchemy import RowMapping

from novalith import exceptions
from novalith.compute.deps import ComputeDeps
from novalith.compute.instance_spec import from_row
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, InstanceSpec
from novalith.rpc.dispatch import RPCClient

LOG = logging.getLogger(__name__)


def peers(deps: ComputeDeps) -> RPCClient:
    """The RPC client to other compute services."""
    if deps.compute is None:
        raise exceptions.NovalithError("compute RPC client not configured")
    return deps.compute


def load(deps: ComputeDeps, uuid: str, migration_id: int | None
         ) -> tuple[RowMapping | None, RowMapping | None]:
    with deps.db.read() as conn:
        row = inst_db.get(conn, uuid)
        mig = moves_db.get(conn, migration_id) if migration_id is not None else None
    return row, mig


def flavor_of(value: Mapping[str, Any]) -> FlavorSpec:
    return msgspec.convert(dict(value), FlavorSpec)


def spec_of(row: Mapping[Any, Any], flavor: Mapping[str, Any] | FlavorSpec | None = None
            ) -> InstanceSpec:
    """The driver's view of ``row``, with another flavor when given."""
    spec = from_row(row)
    if flavor is None:
        return spec
    fl = flavor if isinstance(flavor, FlavorSpec) else flavor_of(flavor)
    return msgspec.structs.replace(spec, flavor=fl)


def power_of(deps: ComputeDeps, spec: InstanceSpec) -> int | None:
    """The driver's power state of ``spec``, or None when it cannot say."""
    try:
        return deps.driver.get_info(spec).power_state
    except exceptions.NovalithError:
        return None


def fault_code(exc: BaseException) -> int:
    return exc.status if isinstance(exc, exceptions.NovalithError) else 500


def fail_move(deps: ComputeDeps, ctx: RequestContext, uuid: str, migration_id: int | None,
              exc: BaseException, *, event: str, expected_tasks: Iterable[str | None],
              vm_state: str | None = None, power_state: int | None = None,
              status: str = moves_db.ERROR, fault: bool = True,
              release_claim: bool = True) -> None:
    """End a move that failed before the swap: the guest stays where it was.

    Releases the migration's (destination) claim unless ``release_claim`` is false
    (a host that still holds the guest's remains keeps it), ends the migration in
    ``status``, clears the task (and sets ``vm_state``/``power_state`` when given),
    records the fault and closes the event with the error.
    """
    values: dict[str, object] = {"task_state": None}
    if vm_state is not None:
        values["vm_state"] = vm_state
    if power_state is not None:
        values["power_state"] = power_state
    with deps.db.write() as conn:
        if migration_id is not None:
            if release_claim:
                claims.release_move(conn, migration_id)
            moves_db.set_status(conn, migration_id, status)
        changed = inst_db.transition(conn, uuid, values, expected_task=list(expected_tasks))
        if changed and fault:
            inst_db.add_fault(conn, uuid, exc, code=fault_code(exc), host=deps.host)
        inst_db.finish_event(conn, uuid, ctx.request_id, event, exc=exc)


def quietly(what: str, fn: Any, *args: Any) -> None:
    """Run a clean-up step; log, never raise (the main error is what matters)."""
    try:
        fn(*args)
    except Exception:
        LOG.exception("Clean-up step %s failed", what)
