"""Keypair rows: a user's public keys by name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, Table, delete, insert, select

from novalith.db.base import utcnow
from novalith.db.models import KeyPair

KP: Table = KeyPair.__table__  # type: ignore[assignment]


def get(conn: Connection, user_id: str, name: str) -> RowMapping | None:
    return conn.execute(select(KP).where(KP.c.user_id == user_id, KP.c.name == name)
                        ).mappings().first()


def create(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(KP).values(created_at=utcnow(), **values)
                            ).inserted_primary_key[0])  # type: ignore[index]


def list_for_user(conn: Connection, user_id: str, limit: int | None = None,
                  after_id: int | None = None) -> list[RowMapping]:
    """A user's keypairs in creation order; ``after_id`` continues a page."""
    q = select(KP).where(KP.c.user_id == user_id).order_by(KP.c.id)
    if after_id is not None:
        q = q.where(KP.c.id > after_id)
    if limit is not None:
        q = q.limit(limit)
    return list(conn.execute(q).mappings())


def remove(conn: Connection, user_id: str, name: str) -> bool:
    return bool(conn.execute(delete(KP).where(KP.c.user_id == user_id, KP.c.name == name)
                             ).rowcount)
