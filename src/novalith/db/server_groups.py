"""Server groups (Nova's instance groups) and their members."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, delete, insert, or_, select

from novalith.db.base import new_uuid, utcnow
from novalith.db.models import Instance, InstanceGroup, InstanceGroupMember
from novalith.objects import states

GROUP: Table = InstanceGroup.__table__  # type: ignore[assignment]
MEMBER: Table = InstanceGroupMember.__table__  # type: ignore[assignment]
INST: Table = Instance.__table__  # type: ignore[assignment]


def create(conn: Connection, values: dict[str, Any]) -> str:
    uuid = new_uuid()
    conn.execute(insert(GROUP).values(uuid=uuid, created_at=utcnow(), rules={}, **values))
    return uuid


def get(conn: Connection, uuid: str, project_id: str | None = None) -> RowMapping | None:
    """The group, if it exists (and belongs to ``project_id`` when given)."""
    q = select(GROUP).where(GROUP.c.uuid == uuid)
    if project_id is not None:
        q = q.where(GROUP.c.project_id == project_id)
    return conn.execute(q).mappings().first()


def list_groups(conn: Connection, project_id: str | None, limit: int, offset: int
                ) -> list[RowMapping]:
    q = select(GROUP).order_by(GROUP.c.id).limit(limit).offset(offset)
    if project_id is not None:
        q = q.where(GROUP.c.project_id == project_id)
    return list(conn.execute(q).mappings())


def remove(conn: Connection, group_id: int) -> None:
    conn.execute(delete(MEMBER).where(MEMBER.c.group_id == group_id))
    conn.execute(delete(GROUP).where(GROUP.c.id == group_id))


def members(conn: Connection, group_ids: Sequence[int]) -> dict[int, list[str]]:
    """Live (not deleted) member instances per group, oldest first."""
    out: dict[int, list[str]] = {gid: [] for gid in group_ids}
    if not group_ids:
        return out
    rows = conn.execute(
        select(MEMBER.c.group_id, MEMBER.c.instance_uuid)
        .select_from(MEMBER.join(INST, INST.c.uuid == MEMBER.c.instance_uuid))
        .where(MEMBER.c.group_id.in_(list(group_ids)), INST.c.deleted == False)  # noqa: E712
        .order_by(INST.c.id))
    for row in rows:
        out[row.group_id].append(row.instance_uuid)
    return out


def add_members(conn: Connection, group_id: int, instance_uuids: Iterable[str]) -> None:
    now = utcnow()
    rows = [{"group_id": group_id, "instance_uuid": u, "created_at": now}
            for u in instance_uuids]
    if rows:
        conn.execute(insert(MEMBER), rows)


def group_of(conn: Connection, instance_uuid: str) -> RowMapping | None:
    """The group an instance belongs to, if any."""
    return conn.execute(
        select(GROUP).select_from(GROUP.join(MEMBER, MEMBER.c.group_id == GROUP.c.id))
        .where(MEMBER.c.instance_uuid == instance_uuid)).mappings().first()


def member_hosts(conn: Connection, group_id: int, exclude: Iterable[str] = ()) -> list[str]:
    """The host of each live member that has one (repeated per member), leaving out
    the instances in ``exclude`` (those being scheduled now)."""
    q = (select(INST.c.host)
         .select_from(MEMBER.join(INST, INST.c.uuid == MEMBER.c.instance_uuid))
         .where(MEMBER.c.group_id == group_id, INST.c.deleted == False,  # noqa: E712
                INST.c.host.isnot(None)))
    skip = list(exclude)
    if skip:
        q = q.where(INST.c.uuid.notin_(skip))
    return [row.host for row in conn.execute(q)]


def lock(conn: Connection, group_id: int) -> bool:
    """Lock the group's row until the caller's write transaction ends (a no-op on
    SQLite, whose write transaction already excludes other writers); False if the
    group is gone. On PostgreSQL the lock is FOR NO KEY UPDATE, so boots adding
    members (their foreign key takes a key-share lock) do not wait for it."""
    return conn.execute(select(GROUP.c.id).where(GROUP.c.id == group_id)
                        .with_for_update(key_share=True)).first() is not None


def placed_member_hosts(conn: Connection, group_id: int, exclude: str) -> set[str]:
    """The hosts of the live members other than ``exclude`` that a host has taken on:
    a member still waiting for its build (building, task scheduling) does not count
    yet; it is checked when its own build starts."""
    not_waiting = or_(INST.c.vm_state != states.BUILDING, INST.c.task_state.is_(None),
                      INST.c.task_state != states.SCHEDULING)
    q = (select(INST.c.host).distinct()
         .select_from(MEMBER.join(INST, INST.c.uuid == MEMBER.c.instance_uuid))
         .where(MEMBER.c.group_id == group_id, INST.c.deleted == False,  # noqa: E712
                INST.c.host.isnot(None), INST.c.uuid != exclude, not_waiting))
    return {row.host for row in conn.execute(q)}
