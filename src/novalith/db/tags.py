"""Server tags: the ``instance_tags`` rows and their mirror ``instances.tags``.

Every write changes both in the caller's transaction, so the list a server view
shows (the mirror) and the rows the list filters match always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, exists, func, insert, not_, select, true

from novalith.db import instances as inst_db
from novalith.db.models import InstanceTag

TAG: Table = InstanceTag.__table__  # type: ignore[assignment]


def get(conn: Connection, uuid: str) -> list[str]:
    return [r.tag for r in conn.execute(select(TAG.c.tag).where(TAG.c.instance_uuid == uuid)
                                        .order_by(TAG.c.tag))]


def replace(conn: Connection, uuid: str, tags: Sequence[str]) -> list[str]:
    """Set the server's tags to ``tags`` (duplicates collapse); returns the new list."""
    wanted = sorted(set(tags))
    conn.execute(delete(TAG).where(TAG.c.instance_uuid == uuid))
    if wanted:
        conn.execute(insert(TAG), [{"instance_uuid": uuid, "tag": t} for t in wanted])
    inst_db.transition(conn, uuid, {"tags": wanted})
    return wanted


def add(conn: Connection, uuid: str, tag: str, limit: int) -> bool | None:
    """Add one tag: True if added, False if it was there, None if over ``limit``."""
    current = get(conn, uuid)
    if tag in current:
        return False
    if len(current) >= limit:
        return None
    conn.execute(insert(TAG).values(instance_uuid=uuid, tag=tag))
    inst_db.transition(conn, uuid, {"tags": sorted([*current, tag])})
    return True


def remove(conn: Connection, uuid: str, tag: str) -> bool:
    if conn.execute(delete(TAG).where(TAG.c.instance_uuid == uuid, TAG.c.tag == tag)
                    ).rowcount != 1:
        return False
    inst_db.transition(conn, uuid, {"tags": get(conn, uuid)})
    return True


def _has_all(uuid_col: Any, tags: Sequence[str]) -> Any:
    """Rows whose server carries every tag of ``tags``."""
    count = (select(func.count()).select_from(TAG)
             .where(TAG.c.instance_uuid == uuid_col, TAG.c.tag.in_(list(tags)))
             .scalar_subquery())
    return count == len(set(tags))


def _has_any(uuid_col: Any, tags: Sequence[str]) -> Any:
    return exists().where(TAG.c.instance_uuid == uuid_col, TAG.c.tag.in_(list(tags)))


def filter_condition(uuid_col: Any, *, tags: Sequence[str] = (), tags_any: Sequence[str] = (),
                     not_tags: Sequence[str] = (), not_tags_any: Sequence[str] = ()) -> Any:
    """GET /servers tag filters (2.26): ``tags`` all of, ``tags-any`` any of,
    ``not-tags`` not all of, ``not-tags-any`` none of."""
    conds = []
    if tags:
        conds.append(_has_all(uuid_col, tags))
    if tags_any:
        conds.append(_has_any(uuid_col, tags_any))
    if not_tags:
        conds.append(not_(_has_all(uuid_col, not_tags)))
    if not_tags_any:
        conds.append(not_(_has_any(uuid_col, not_tags_any)))
    return and_(*conds) if conds else true()
