"""Migration records: one row per resize, cold/live migration or evacuation.

Statuses are Nova's, per kind of move::

    resize, migration   pre-migrating -> migrating -> post-migrating -> finished
                        finished -> confirming -> confirmed
                        finished -> reverting -> reverted
                        any step -> error
    live-migration      accepted -> queued -> preparing -> running -> completed
                        any step -> error; an abort ends in cancelled
    evacuation          accepted -> pre-migrating -> done -> completed (source cleaned)
                        any step -> failed / error

The claim columns are written only through :mod:`novalith.db.claims`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, insert, or_, select, update

from novalith.db.base import new_uuid, utcnow
from novalith.db.models import Migration

MIG: Table = Migration.__table__  # type: ignore[assignment]

RESIZE, COLD, LIVE, EVACUATION = "resize", "migration", "live-migration", "evacuation"
TYPES = (RESIZE, COLD, LIVE, EVACUATION)

# statuses
ACCEPTED, QUEUED, PREPARING, RUNNING = "accepted", "queued", "preparing", "running"
PRE_MIGRATING, MIGRATING, POST_MIGRATING = "pre-migrating", "migrating", "post-migrating"
FINISHED, CONFIRMING, CONFIRMED = "finished", "confirming", "confirmed"
REVERTING, REVERTED = "reverting", "reverted"
COMPLETED, DONE, CANCELLED = "completed", "done", "cancelled"
ERROR, FAILED = "error", "failed"

#: A move that has ended: nothing more happens to it.
FINAL = frozenset({CONFIRMED, REVERTED, COMPLETED, CANCELLED, ERROR, FAILED})
#: Live migrations shown by /servers/{id}/migrations (Nova's in-progress list).
LIVE_IN_PROGRESS = (QUEUED, PREPARING, RUNNING, POST_MIGRATING)


def create(conn: Connection, values: dict[str, Any]) -> int:
    now = utcnow()
    row = {"uuid": new_uuid(), "created_at": now, "updated_at": now, "deleted": False,
           "hidden": False, "old_flavor": {}, "new_flavor": {}, "claim_vcpus": 0,
           "claim_memory_mb": 0, "claim_disk_gb": 0, **values}
    return int(conn.execute(insert(MIG).values(**row)).inserted_primary_key[0])  # type: ignore[index]


def get(conn: Connection, migration_id: int) -> RowMapping | None:
    return conn.execute(select(MIG).where(MIG.c.id == migration_id)).mappings().first()


def set_status(conn: Connection, migration_id: int, status: str,
               expected: Iterable[str] | None = None, **values: Any) -> bool:
    """Move a migration to ``status`` (only from ``expected`` when given)."""
    stmt = update(MIG).where(MIG.c.id == migration_id)
    if expected is not None:
        stmt = stmt.where(MIG.c.status.in_(list(expected)))
    return conn.execute(stmt.values(status=status, updated_at=utcnow(), **values)
                        ).rowcount == 1


def for_instance(conn: Connection, instance_uuid: str, *, statuses: Iterable[str] | None = None,
                 types: Iterable[str] | None = None) -> list[RowMapping]:
    """The instance's (not deleted) migrations, newest first."""
    q = select(MIG).where(MIG.c.instance_uuid == instance_uuid,
                          MIG.c.deleted == False)  # noqa: E712
    if statuses is not None:
        q = q.where(MIG.c.status.in_(list(statuses)))
    if types is not None:
        q = q.where(MIG.c.migration_type.in_(list(types)))
    return list(conn.execute(q.order_by(MIG.c.id.desc())).mappings())


def unfinished_for_instance(conn: Connection, instance_uuid: str) -> list[RowMapping]:
    return [m for m in for_instance(conn, instance_uuid) if m["status"] not in FINAL]


def soft_delete_for_instance(conn: Connection, instance_uuid: str) -> None:
    """An instance is deleted: its migrations go with it (their claims are released by
    claims.release); unfinished ones end in error."""
    now = utcnow()
    conn.execute(update(MIG).where(MIG.c.instance_uuid == instance_uuid,
                                   MIG.c.status.notin_(list(FINAL)))
                 .values(status=ERROR, updated_at=now))
    conn.execute(update(MIG).where(MIG.c.instance_uuid == instance_uuid,
                                   MIG.c.deleted == False)  # noqa: E712
                 .values(deleted=True, deleted_at=now))


def involving(conn: Connection, host: str, statuses: Iterable[str] | None = None,
              types: Iterable[str] | None = None) -> list[RowMapping]:
    """Migrations (not deleted) whose source or destination is ``host``."""
    q = select(MIG).where(or_(MIG.c.source_compute == host, MIG.c.dest_compute == host),
                          MIG.c.deleted == False)  # noqa: E712
    if statuses is not None:
        q = q.where(MIG.c.status.in_(list(statuses)))
    if types is not None:
        q = q.where(MIG.c.migration_type.in_(list(types)))
    return list(conn.execute(q.order_by(MIG.c.id)).mappings())


def unconfirmed(conn: Connection, dest_compute: str, older_than: dt.datetime
                ) -> list[RowMapping]:
    """Resizes and cold migrations to ``dest_compute`` waiting for confirmation since
    before ``older_than``."""
    return list(conn.execute(
        select(MIG).where(MIG.c.dest_compute == dest_compute, MIG.c.status == FINISHED,
                          MIG.c.migration_type.in_([RESIZE, COLD]),
                          MIG.c.deleted == False,  # noqa: E712
                          MIG.c.updated_at < older_than)
        .order_by(MIG.c.id)).mappings())


def listing(conn: Connection, filters: dict[str, str], instance_uuids: Sequence[str] | None = None
            ) -> list[RowMapping]:
    """os-migrations: filters host (source or dest), status, instance_uuid,
    source_compute, migration_type, hidden; newest first."""
    q = select(MIG).where(MIG.c.deleted == False)  # noqa: E712
    if "host" in filters:
        q = q.where(or_(MIG.c.source_compute == filters["host"],
                        MIG.c.dest_compute == filters["host"]))
    for key in ("status", "instance_uuid", "source_compute", "migration_type"):
        if key in filters:
            q = q.where(MIG.c[key] == filters[key])
    q = q.where(MIG.c.hidden == (filters.get("hidden") in ("1", "true", "True")))
    if instance_uuids is not None:
        q = q.where(MIG.c.instance_uuid.in_(list(instance_uuids)))
    return list(conn.execute(q.order_by(MIG.c.created_at.desc(), MIG.c.id.desc())).mappings())
