"""Quota limits, usage counted from the rows themselves, and the atomic check.

Enforcement is *count then insert in one write transaction*: usage is never stored,
it is counted from instance, keypair and server-group rows, so it cannot drift
(a deleted server stops counting the moment its row says deleted). To keep two
concurrent requests from both counting "9 of 10" and both inserting, the
transaction first locks the scope's row in ``quota_locks`` (``project:<id>`` or
``user:<id>``):

- PostgreSQL: ``INSERT .. ON CONFLICT (scope) DO UPDATE``, which creates or locks it;
- MariaDB/MySQL: ``INSERT .. ON DUPLICATE KEY UPDATE``, likewise;
- SQLite: nothing more is needed, a write transaction (``BEGIN IMMEDIATE``) already
  excludes every other writer.

Both servers run READ COMMITTED, so the counts taken after the lock see every
competing transaction that committed before it. The lock is held to commit; a
refused request raises inside the transaction, which rolls back, so it changes
nothing. Scopes are locked in sorted order (no deadlock between two requests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, update
from sqlalchemy.dialects import mysql, postgresql

from novalith import exceptions
from novalith.db.base import utcnow
from novalith.db.models import (
    Instance,
    InstanceGroup,
    InstanceGroupMember,
    KeyPair,
    Quota,
    QuotaLock,
)

QUOTA: Table = Quota.__table__  # type: ignore[assignment]
LOCK: Table = QuotaLock.__table__  # type: ignore[assignment]
INST: Table = Instance.__table__  # type: ignore[assignment]
GROUP: Table = InstanceGroup.__table__  # type: ignore[assignment]
MEMBER: Table = InstanceGroupMember.__table__  # type: ignore[assignment]
KEYPAIR: Table = KeyPair.__table__  # type: ignore[assignment]

#: Every resource of a quota set, in the order the API shows them.
RESOURCES = ("instances", "cores", "ram", "metadata_items", "injected_files",
             "injected_file_content_bytes", "injected_file_path_bytes", "key_pairs",
             "server_groups", "server_group_members")
UNLIMITED = -1


# ---- limits ---------------------------------------------------------------------------------

def limits(conn: Connection, project_id: str, defaults: Mapping[str, int]) -> dict[str, int]:
    """The project's limit per resource: its own rows over the configured defaults."""
    out = {r: defaults.get(r, UNLIMITED) for r in RESOURCES}
    for row in conn.execute(select(QUOTA.c.resource, QUOTA.c.hard_limit)
                            .where(QUOTA.c.project_id == project_id)):
        if row.resource in out:
            out[row.resource] = row.hard_limit
    return out


def set_limits(conn: Connection, project_id: str, values: Mapping[str, int]) -> None:
    now = utcnow()
    for resource, value in values.items():
        done = conn.execute(update(QUOTA).where(QUOTA.c.project_id == project_id,
                                                QUOTA.c.resource == resource)
                            .values(hard_limit=value, updated_at=now)).rowcount
        if not done:
            conn.execute(insert(QUOTA).values(project_id=project_id, resource=resource,
                                              hard_limit=value, created_at=now))


def delete_limits(conn: Connection, project_id: str) -> None:
    conn.execute(delete(QUOTA).where(QUOTA.c.project_id == project_id))


# ---- usage ----------------------------------------------------------------------------------

def project_usage(conn: Connection, project_id: str) -> dict[str, int]:
    """instances, cores, ram and server_groups in use by a project."""
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(INST.c.vcpus), 0),
               func.coalesce(func.sum(INST.c.memory_mb), 0))
        .where(INST.c.project_id == project_id, INST.c.deleted == False)  # noqa: E712
    ).one()
    groups = conn.execute(select(func.count()).select_from(GROUP)
                          .where(GROUP.c.project_id == project_id)).scalar()
    return {"instances": int(row[0]), "cores": int(row[1]), "ram": int(row[2]),
            "server_groups": int(groups or 0)}


def user_keypairs(conn: Connection, user_id: str) -> int:
    return int(conn.execute(select(func.count()).select_from(KEYPAIR)
                            .where(KEYPAIR.c.user_id == user_id)).scalar() or 0)


def group_members(conn: Connection, group_id: int) -> int:
    """Members of a group that are live (not deleted) instances."""
    return int(conn.execute(
        select(func.count()).select_from(MEMBER.join(INST, INST.c.uuid == MEMBER.c.instance_uuid))
        .where(MEMBER.c.group_id == group_id, INST.c.deleted == False)  # noqa: E712
    ).scalar() or 0)


# ---- locking and checking ---------------------------------------------------------------------

def lock(conn: Connection, scopes: Iterable[str]) -> None:
    """Serialise quota checks per scope until the caller's transaction ends."""
    backend = conn.dialect.name
    if backend == "sqlite":
        return  # the write transaction already excludes every other writer
    for scope in sorted(set(scopes)):
        # One upsert that creates the row or, finding it, updates it: either way the
        # statement holds the row's exclusive lock. (INSERT IGNORE followed by
        # SELECT .. FOR UPDATE would deadlock on MariaDB: concurrent duplicates take
        # shared locks first, then all want to upgrade them.)
        stmt: Any
        if backend == "postgresql":
            ins = postgresql.insert(LOCK).values(scope=scope)
            stmt = ins.on_conflict_do_update(index_elements=[LOCK.c.scope],
                                             set_={"scope": ins.excluded.scope})
        elif backend in ("mysql", "mariadb"):
            ins_m = mysql.insert(LOCK).values(scope=scope)
            stmt = ins_m.on_duplicate_key_update(scope=ins_m.inserted.scope)
        else:
            raise NotImplementedError(f"quota locks on {backend}")
        conn.execute(stmt)


def over_limit(limit: int, used: int, requested: int) -> bool:
    return limit != UNLIMITED and used + requested > limit


def check_instances(conn: Connection, project_id: str, limit: Mapping[str, int],
                    per_instance: Mapping[str, int], min_count: int, max_count: int) -> int:
    """How many instances (between min_count and max_count) the quota allows.

    ``per_instance`` holds cores and ram of one instance. Raises QuotaExceeded, in
    Nova's words, when even ``min_count`` would go over. Call after :func:`lock`.
    """
    if all(limit.get(r, UNLIMITED) == UNLIMITED for r in ("instances", "cores", "ram")):
        return max_count
    used = project_usage(conn, project_id)
    each = {"instances": 1, "cores": per_instance["cores"], "ram": per_instance["ram"]}
    allowed = max_count
    for resource, amount in each.items():
        cap = limit.get(resource, UNLIMITED)
        if cap == UNLIMITED or amount <= 0:
            continue
        allowed = min(allowed, max(0, (cap - used[resource]) // amount))
    if allowed >= min_count:
        return allowed
    overs = [r for r, amount in each.items()
             if over_limit(limit.get(r, UNLIMITED), used[r], amount * min_count)]
    raise exceptions.QuotaExceeded(
        "Quota exceeded for {overs}: Requested {req}, but already used {used} of {allowed} "
        "{overs}".format(overs=", ".join(overs),
                         req=", ".join(str(each[r] * min_count) for r in overs),
                         used=", ".join(str(used[r]) for r in overs),
                         allowed=", ".join(str(limit[r]) for r in overs)))
