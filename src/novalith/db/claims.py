"""Atomic resource claims on compute nodes.

A claim is one conditional UPDATE: it adds the instance's resources to a node's
used figures only if they still fit, using placement's capacity formula
``(total - reserved) * allocation_ratio``. Two schedulers racing for the last
slot cannot both win, on SQLite, PostgreSQL or MariaDB. The instance row records
the claimed node (``claim_node_id``) in the same transaction, so a release is
idempotent: it only subtracts while that column is set.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import JSON, Connection, Table, and_, bindparam, func, select, update

from novalith.db.base import utcnow
from novalith.db.models import ComputeNode, Instance
from novalith.objects import states
from novalith.objects.specs import FlavorSpec

CLAIMED, NO_CAPACITY, GONE = "claimed", "no_capacity", "gone"
_CN: Table = ComputeNode.__table__  # type: ignore[assignment]
_INST: Table = Instance.__table__  # type: ignore[assignment]


def disk_gb(flavor: FlavorSpec) -> int:
    """Disk a flavor needs on the host, in GB (root + ephemeral + swap rounded up)."""
    return flavor.root_gb + flavor.ephemeral_gb + math.ceil(flavor.swap / 1024)


def _fits() -> Any:
    c = _CN.c
    reserved_disk_gb = func.ceil(c.reserved_host_disk_mb / 1024.0)
    return and_(
        c.vcpus_used + bindparam("b_vcpus")
        <= (c.vcpus - c.reserved_host_cpus) * c.cpu_allocation_ratio,
        c.memory_mb_used + bindparam("b_memory_mb")
        <= (c.memory_mb - c.reserved_host_memory_mb) * c.ram_allocation_ratio,
        c.local_gb_used + bindparam("b_disk")
        <= (c.local_gb - reserved_disk_gb) * c.disk_allocation_ratio,
    )


def _add_to_node(sign: int, checked: bool) -> Any:
    """UPDATE compute_nodes adding (sign=1) or subtracting (sign=-1) one instance's
    resources; built once with bind parameters, so SQLAlchemy reuses its compiled form."""
    c = _CN.c
    stmt = update(_CN).where(c.id == bindparam("b_node_id"))
    if checked:
        stmt = stmt.where(_fits())
    return stmt.values(vcpus_used=c.vcpus_used + sign * bindparam("b_vcpus"),
                       memory_mb_used=c.memory_mb_used + sign * bindparam("b_memory_mb"),
                       local_gb_used=c.local_gb_used + sign * bindparam("b_disk"),
                       running_vms=c.running_vms + sign)


_CLAIM_NODE = _add_to_node(1, checked=True)
_RELEASE_NODE = _add_to_node(-1, checked=False)
_CLAIM_INSTANCE = (
    update(_INST)
    .where(_INST.c.uuid == bindparam("b_uuid"), _INST.c.deleted == False,  # noqa: E712
           _INST.c.claim_node_id.is_(None), _INST.c.vm_state == states.BUILDING)
    .values(host=bindparam("b_host"), node=bindparam("b_node"),
            claim_node_id=bindparam("b_node_id"), launched_on=bindparam("b_host"),
            availability_zone=bindparam("b_az"), attempts=bindparam("b_attempts", type_=JSON),
            updated_at=bindparam("b_now")))


def claim(conn: Connection, instance_uuid: str, node_id: int, flavor: FlavorSpec,
          host: str, nodename: str, availability_zone: str, attempts: list[str]) -> str:
    """Claim ``flavor`` on ``node_id`` for a building instance, in the caller's transaction.

    Returns CLAIMED, or (changing nothing) NO_CAPACITY when the resources no
    longer fit, or GONE when the instance no longer waits for a host (deleted
    meanwhile). The caller's transaction must be a write transaction.
    """
    amounts = {"b_node_id": node_id, "b_vcpus": flavor.vcpus,
               "b_memory_mb": flavor.memory_mb, "b_disk": disk_gb(flavor)}
    if conn.execute(_CLAIM_NODE, amounts).rowcount != 1:
        return NO_CAPACITY
    inst = conn.execute(_CLAIM_INSTANCE, {
        "b_uuid": instance_uuid, "b_host": host, "b_node": nodename, "b_node_id": node_id,
        "b_az": availability_zone, "b_attempts": attempts, "b_now": utcnow()})
    if inst.rowcount != 1:
        conn.execute(_RELEASE_NODE, amounts)  # undo inside this transaction
        return GONE
    return CLAIMED


def _release_node(conn: Connection, node_id: int, vcpus: int, memory_mb: int, disk: int) -> None:
    conn.execute(_RELEASE_NODE, {"b_node_id": node_id, "b_vcpus": vcpus,
                                 "b_memory_mb": memory_mb, "b_disk": disk})


def release(conn: Connection, instance_uuid: str, clear_host: bool = False) -> bool:
    """Give back the resources an instance holds, if it holds any (idempotent).

    ``clear_host`` also forgets host/node, for an instance going back to the
    scheduler. Returns whether anything was released.
    """
    row = conn.execute(
        select(_INST.c.claim_node_id, _INST.c.vcpus, _INST.c.memory_mb, _INST.c.root_gb,
               _INST.c.ephemeral_gb, _INST.c.swap)
        .where(_INST.c.uuid == instance_uuid)
    ).first()
    if row is None or row.claim_node_id is None:
        return False
    values: dict[str, object] = {"claim_node_id": None, "updated_at": utcnow()}
    if clear_host:
        values.update(host=None, node=None)
    done = conn.execute(
        update(_INST).where(_INST.c.uuid == instance_uuid,
                            _INST.c.claim_node_id == row.claim_node_id).values(**values)
    )
    if done.rowcount != 1:
        return False
    disk = row.root_gb + row.ephemeral_gb + math.ceil(row.swap / 1024)
    _release_node(conn, row.claim_node_id, row.vcpus, row.memory_mb, disk)
    return True


def recompute_usage(conn: Connection, node_id: int) -> None:
    """Set a node's used figures to the sum of the claims recorded on instances.

    Run inside a write transaction; the node row is locked so no claim
    interleaves; used by the compute service's start-up audit.
    """
    # Lock the node row first (PostgreSQL/MariaDB): claims on it wait for us.
    conn.execute(select(_CN.c.id).where(_CN.c.id == node_id).with_for_update())
    swap_gb = func.ceil(_INST.c.swap / 1024.0)
    sums = conn.execute(
        select(func.coalesce(func.sum(_INST.c.vcpus), 0),
               func.coalesce(func.sum(_INST.c.memory_mb), 0),
               func.coalesce(func.sum(_INST.c.root_gb + _INST.c.ephemeral_gb + swap_gb), 0),
               func.count())
        .where(_INST.c.claim_node_id == node_id)
    ).one()
    conn.execute(update(_CN).where(_CN.c.id == node_id).values(
        vcpus_used=int(sums[0]), memory_mb_used=int(sums[1]), local_gb_used=int(sums[2]),
        running_vms=int(sums[3])))
