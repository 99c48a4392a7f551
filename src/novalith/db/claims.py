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

from sqlalchemy import Connection, Table, and_, func, select, update

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


def _fits(vcpus: int, memory_mb: int, disk: int):  # type: ignore[no-untyped-def]
    c = _CN.c
    reserved_disk_gb = func.ceil(c.reserved_host_disk_mb / 1024.0)
    return and_(
        c.vcpus_used + vcpus <= (c.vcpus - c.reserved_host_cpus) * c.cpu_allocation_ratio,
        c.memory_mb_used + memory_mb
        <= (c.memory_mb - c.reserved_host_memory_mb) * c.ram_allocation_ratio,
        c.local_gb_used + disk <= (c.local_gb - reserved_disk_gb) * c.disk_allocation_ratio,
    )


def claim(conn: Connection, instance_uuid: str, node_id: int, flavor: FlavorSpec,
          host: str, nodename: str, availability_zone: str, attempts: list[str]) -> str:
    """Claim ``flavor`` on ``node_id`` for a building instance, in the caller's transaction.

    Returns CLAIMED, or (changing nothing) NO_CAPACITY when the resources no
    longer fit, or GONE when the instance no longer waits for a host (deleted
    meanwhile). The caller's transaction must be a write transaction.
    """
    disk = disk_gb(flavor)
    node = conn.execute(
        update(_CN)
        .where(_CN.c.id == node_id, _fits(flavor.vcpus, flavor.memory_mb, disk))
        .values(vcpus_used=_CN.c.vcpus_used + flavor.vcpus,
                memory_mb_used=_CN.c.memory_mb_used + flavor.memory_mb,
                local_gb_used=_CN.c.local_gb_used + disk,
                running_vms=_CN.c.running_vms + 1)
    )
    if node.rowcount != 1:
        return NO_CAPACITY
    inst = conn.execute(
        update(_INST)
        .where(_INST.c.uuid == instance_uuid, _INST.c.deleted == False,  # noqa: E712
               _INST.c.claim_node_id.is_(None), _INST.c.vm_state == states.BUILDING)
        .values(host=host, node=nodename, claim_node_id=node_id, launched_on=host,
                availability_zone=availability_zone, attempts=attempts,
                updated_at=utcnow())
    )
    if inst.rowcount != 1:
        # Undo the node update inside this transaction.
        _release_node(conn, node_id, flavor.vcpus, flavor.memory_mb, disk)
        return GONE
    return CLAIMED


def _release_node(conn: Connection, node_id: int, vcpus: int, memory_mb: int, disk: int) -> None:
    conn.execute(
        update(_CN).where(_CN.c.id == node_id)
        .values(vcpus_used=_CN.c.vcpus_used - vcpus,
                memory_mb_used=_CN.c.memory_mb_used - memory_mb,
                local_gb_used=_CN.c.local_gb_used - disk,
                running_vms=_CN.c.running_vms - 1)
    )


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
