"""Atomic resource claims on compute nodes.

A claim is one conditional UPDATE: it adds the instance's resources to a node's
used figures only if they still fit, using placement's capacity formula
``(total - reserved) * allocation_ratio``. Two schedulers racing for the last
slot cannot both win, on SQLite, PostgreSQL or MariaDB. The instance row records
the claimed node (``claim_node_id``) in the same transaction, so a release is
idempotent: it only subtracts while that column is set.

Moves: two claims, one on each row
----------------------------------
A resize, cold migration, live migration or evacuation needs resources on two
nodes at once. The instance row holds one claim (``claim_node_id`` plus its
flavor columns); the move's ``migrations`` row holds the other
(``claim_node_id`` plus ``claim_vcpus/claim_memory_mb/claim_disk_gb``). Every
step is one of four primitives, each run inside the step's DB transaction
together with the state change it goes with::

    step                                  instance row holds     migration row holds
    ------------------------------------  ---------------------  --------------------
    scheduler picks dest (claim_move)     source, old flavor     dest, new flavor
    guest arrived at dest (swap_move)     dest, new flavor       source, old flavor
    confirm / live done / evacuated
      source cleaned (release_move)       dest, new flavor       nothing
    revert (swap_move, release_move)      source, old flavor     nothing
    failure before the swap
      (release_move)                      source, old flavor     nothing
    instance deleted (release)            nothing                nothing

So at every step each node's used figures are the sum of the claims that name
it, on instances and migrations (:func:`recompute_usage` rebuilds them from
exactly that), and each claim is released at most once: a release only acts
while its row still names the node, and clears it in the same statement pair.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
from sqlalchemy import JSON, Connection, Table, and_, bindparam, func, select, update

from novalith.db.base import utcnow
from novalith.db.models import ComputeNode, Instance, Migration
from novalith.objects import states
from novalith.objects.specs import FlavorSpec

CLAIMED, NO_CAPACITY, GONE = "claimed", "no_capacity", "gone"
_CN: Table = ComputeNode.__table__  # type: ignore[assignment]
_INST: Table = Instance.__table__  # type: ignore[assignment]
_MIG: Table = Migration.__table__  # type: ignore[assignment]


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

    Also releases the claims held by the instance's migrations: an instance
    that lets go of its resources (deleted, or back to the scheduler) keeps no
    move going. ``clear_host`` also forgets host/node, for an instance going
    back to the scheduler. Returns whether the instance's own claim was released.
    """
    for (migration_id,) in conn.execute(
            select(_MIG.c.id).where(_MIG.c.instance_uuid == instance_uuid,
                                    _MIG.c.claim_node_id.isnot(None))):
        release_move(conn, migration_id)
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
    moves = conn.execute(
        select(func.coalesce(func.sum(_MIG.c.claim_vcpus), 0),
               func.coalesce(func.sum(_MIG.c.claim_memory_mb), 0),
               func.coalesce(func.sum(_MIG.c.claim_disk_gb), 0),
               func.count())
        .where(_MIG.c.claim_node_id == node_id)
    ).one()
    conn.execute(update(_CN).where(_CN.c.id == node_id).values(
        vcpus_used=int(sums[0]) + int(moves[0]), memory_mb_used=int(sums[1]) + int(moves[1]),
        local_gb_used=int(sums[2]) + int(moves[2]), running_vms=int(sums[3]) + int(moves[3])))


# ---- moves --------------------------------------------------------------------------------

#: Migration statuses in which the destination may still be claimed.
CLAIMABLE_STATUSES = ("accepted", "pre-migrating")


def flavor_columns(flavor: FlavorSpec) -> dict[str, Any]:
    """The instance columns that describe (and size the claim of) ``flavor``."""
    return {"flavor": msgspec.to_builtins(flavor), "vcpus": flavor.vcpus,
            "memory_mb": flavor.memory_mb, "root_gb": flavor.root_gb,
            "ephemeral_gb": flavor.ephemeral_gb, "swap": flavor.swap}


def claim_move(conn: Connection, migration_id: int, node_id: int, flavor: FlavorSpec,
               host: str, nodename: str) -> str:
    """Claim ``flavor`` on ``node_id`` for a move's destination, in the caller's transaction.

    The claim is recorded on the migration row with the destination's names.
    Returns CLAIMED, NO_CAPACITY (nothing changed) or GONE when the migration
    no longer waits for a destination (it failed, or its instance was deleted).
    """
    disk = disk_gb(flavor)
    amounts = {"b_node_id": node_id, "b_vcpus": flavor.vcpus,
               "b_memory_mb": flavor.memory_mb, "b_disk": disk}
    if conn.execute(_CLAIM_NODE, amounts).rowcount != 1:
        return NO_CAPACITY
    done = conn.execute(
        update(_MIG).where(_MIG.c.id == migration_id, _MIG.c.claim_node_id.is_(None),
                           _MIG.c.deleted == False,  # noqa: E712
                           _MIG.c.status.in_(CLAIMABLE_STATUSES))
        .values(claim_node_id=node_id, claim_vcpus=flavor.vcpus,
                claim_memory_mb=flavor.memory_mb, claim_disk_gb=disk, dest_compute=host,
                dest_node=nodename, updated_at=utcnow(),
                dest_host=select(_CN.c.host_ip).where(_CN.c.id == node_id).scalar_subquery()))
    if done.rowcount != 1:
        conn.execute(_RELEASE_NODE, amounts)  # undo inside this transaction
        return GONE
    return CLAIMED


def release_move(conn: Connection, migration_id: int) -> bool:
    """Give back the claim a migration holds, if any (idempotent); True if released."""
    row = conn.execute(
        select(_MIG.c.claim_node_id, _MIG.c.claim_vcpus, _MIG.c.claim_memory_mb,
               _MIG.c.claim_disk_gb).where(_MIG.c.id == migration_id)).first()
    if row is None or row.claim_node_id is None:
        return False
    done = conn.execute(
        update(_MIG).where(_MIG.c.id == migration_id,
                           _MIG.c.claim_node_id == row.claim_node_id)
        .values(claim_node_id=None, claim_vcpus=0, claim_memory_mb=0, claim_disk_gb=0,
                updated_at=utcnow()))
    if done.rowcount != 1:
        return False
    _release_node(conn, row.claim_node_id, row.claim_vcpus, row.claim_memory_mb,
                  row.claim_disk_gb)
    return True


def swap_move(conn: Connection, migration_id: int, instance_uuid: str, *, host: str,
              node: str, flavor: FlavorSpec, extra: dict[str, Any] | None = None) -> bool:
    """The guest now lives on the node the migration claimed: exchange the two claims.

    The instance takes the migration's claim (node ``node`` of ``host``, sized
    by ``flavor``, which must be the flavor the migration claimed) and the
    migration takes the instance's previous one. No node's used figures change.
    ``extra`` are further instance columns to write in the same UPDATE (states).
    Returns False, changing nothing, when either row moved on meanwhile.
    """
    inst = conn.execute(
        select(_INST.c.claim_node_id, _INST.c.vcpus, _INST.c.memory_mb, _INST.c.root_gb,
               _INST.c.ephemeral_gb, _INST.c.swap)
        .where(_INST.c.uuid == instance_uuid, _INST.c.deleted == False)  # noqa: E712
    ).first()
    mig = conn.execute(select(_MIG.c.claim_node_id).where(_MIG.c.id == migration_id)).first()
    if inst is None or mig is None:
        return False
    held_disk = inst.root_gb + inst.ephemeral_gb + math.ceil(inst.swap / 1024)
    inst_cond = (_INST.c.claim_node_id.is_(None) if inst.claim_node_id is None
                 else _INST.c.claim_node_id == inst.claim_node_id)
    mig_cond = (_MIG.c.claim_node_id.is_(None) if mig.claim_node_id is None
                else _MIG.c.claim_node_id == mig.claim_node_id)
    now = utcnow()
    values = {**flavor_columns(flavor), **(extra or {}), "host": host, "node": node,
              "claim_node_id": mig.claim_node_id, "updated_at": now}
    if conn.execute(update(_INST).where(_INST.c.uuid == instance_uuid, inst_cond)
                    .values(**values)).rowcount != 1:
        return False
    held = inst.claim_node_id is not None
    if conn.execute(update(_MIG).where(_MIG.c.id == migration_id, mig_cond).values(
            claim_node_id=inst.claim_node_id, claim_vcpus=inst.vcpus if held else 0,
            claim_memory_mb=inst.memory_mb if held else 0,
            claim_disk_gb=held_disk if held else 0, updated_at=now)).rowcount != 1:
        raise RuntimeError(f"migration {migration_id} changed inside a write transaction")
    return True
