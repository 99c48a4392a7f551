"""Host aggregates, their hosts and metadata; hosts' availability zones come from here.

A host's availability zone is the ``availability_zone`` metadata of an aggregate it
belongs to, or ``[DEFAULT] default_availability_zone`` when none says one (the
API keeps a host from being in two zones at once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, RowMapping, Table, delete, insert, select, update

from novalith.db.base import new_uuid, utcnow
from novalith.db.models import Aggregate, AggregateHost, AggregateMetadata

AGG: Table = Aggregate.__table__  # type: ignore[assignment]
AHOST: Table = AggregateHost.__table__  # type: ignore[assignment]
AMETA: Table = AggregateMetadata.__table__  # type: ignore[assignment]
AZ_KEY = "availability_zone"


def create(conn: Connection, name: str) -> int:
    return int(conn.execute(insert(AGG).values(uuid=new_uuid(), name=name, created_at=utcnow())
                            ).inserted_primary_key[0])  # type: ignore[index]


def get(conn: Connection, aggregate_id: int) -> RowMapping | None:
    return conn.execute(select(AGG).where(AGG.c.id == aggregate_id)).mappings().first()


def by_name(conn: Connection, name: str) -> RowMapping | None:
    return conn.execute(select(AGG).where(AGG.c.name == name)).mappings().first()


def list_all(conn: Connection) -> list[RowMapping]:
    return list(conn.execute(select(AGG).order_by(AGG.c.id)).mappings())


def hosts(conn: Connection, aggregate_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in aggregate_ids}
    if aggregate_ids:
        for row in conn.execute(select(AHOST).where(AHOST.c.aggregate_id.in_(aggregate_ids))
                                .order_by(AHOST.c.host)):
            out[row.aggregate_id].append(row.host)
    return out


def metadata(conn: Connection, aggregate_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {i: {} for i in aggregate_ids}
    if aggregate_ids:
        for row in conn.execute(select(AMETA).where(AMETA.c.aggregate_id.in_(aggregate_ids))):
            out[row.aggregate_id][row.key] = row.value
    return out


def touch(conn: Connection, aggregate_id: int, **values: object) -> None:
    conn.execute(update(AGG).where(AGG.c.id == aggregate_id)
                 .values(updated_at=utcnow(), **values))


def remove(conn: Connection, aggregate_id: int) -> None:
    conn.execute(delete(AMETA).where(AMETA.c.aggregate_id == aggregate_id))
    conn.execute(delete(AHOST).where(AHOST.c.aggregate_id == aggregate_id))
    conn.execute(delete(AGG).where(AGG.c.id == aggregate_id))


def add_host(conn: Connection, aggregate_id: int, host: str) -> None:
    conn.execute(insert(AHOST).values(aggregate_id=aggregate_id, host=host))


def remove_host(conn: Connection, aggregate_id: int, host: str) -> bool:
    return bool(conn.execute(delete(AHOST).where(AHOST.c.aggregate_id == aggregate_id,
                                                 AHOST.c.host == host)).rowcount)


def set_metadata(conn: Connection, aggregate_id: int, changes: Mapping[str, str | None]) -> None:
    """Set keys to values; a None value deletes the key."""
    for key, value in changes.items():
        conn.execute(delete(AMETA).where(AMETA.c.aggregate_id == aggregate_id,
                                         AMETA.c.key == key))
        if value is not None:
            conn.execute(insert(AMETA).values(aggregate_id=aggregate_id, key=key, value=value))


def host_zones(conn: Connection) -> dict[str, str]:
    """host -> availability zone, for hosts in an aggregate that names one."""
    rows = conn.execute(
        select(AHOST.c.host, AMETA.c.value)
        .select_from(AHOST.join(AMETA, AMETA.c.aggregate_id == AHOST.c.aggregate_id))
        .where(AMETA.c.key == AZ_KEY).order_by(AHOST.c.aggregate_id))
    out: dict[str, str] = {}
    for row in rows:
        out.setdefault(row.host, row.value)
    return out


def zones_of_host(conn: Connection, host: str, skip_aggregate: int | None = None) -> set[str]:
    """The zones the aggregates of ``host`` name (leaving out one aggregate)."""
    q = (select(AMETA.c.value)
         .select_from(AHOST.join(AMETA, AMETA.c.aggregate_id == AHOST.c.aggregate_id))
         .where(AHOST.c.host == host, AMETA.c.key == AZ_KEY))
    if skip_aggregate is not None:
        q = q.where(AHOST.c.aggregate_id != skip_aggregate)
    return {row.value for row in conn.execute(q)}


def host_metadata(conn: Connection, host: str | None = None) -> dict[str, dict[str, set[str]]]:
    """host -> key -> the values its aggregates give that key (for scheduler filters)."""
    q = (select(AHOST.c.host, AMETA.c.key, AMETA.c.value)
         .select_from(AHOST.join(AMETA, AMETA.c.aggregate_id == AHOST.c.aggregate_id)))
    if host is not None:
        q = q.where(AHOST.c.host == host)
    out: dict[str, dict[str, set[str]]] = {}
    for row in conn.execute(q):
        out.setdefault(row.host, {}).setdefault(row.key, set()).add(row.value)
    return out
