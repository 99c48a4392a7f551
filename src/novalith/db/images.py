"""Image records as the compute side reads them (the image service issue adds writes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, Table, insert, or_, select

from novalith.db.base import utcnow
from novalith.db.models import Image
from novalith.objects.specs import ImageMeta

IMG: Table = Image.__table__  # type: ignore[assignment]


def visible(conn: Connection, image_id: str, project_id: str | None, is_admin: bool
            ) -> RowMapping | None:
    """The image if the project may use it (public, community, or its own)."""
    q = select(IMG).where(IMG.c.id == image_id)
    if not is_admin:
        q = q.where(or_(IMG.c.visibility.in_(["public", "community"]),
                        IMG.c.owner == project_id))
    return conn.execute(q).mappings().first()


def create(conn: Connection, values: dict[str, Any]) -> None:
    now = utcnow()
    conn.execute(insert(IMG).values(created_at=now, updated_at=now, **values))


def to_meta(row: RowMapping) -> ImageMeta:
    return ImageMeta(id=row["id"], name=row["name"], disk_format=row["disk_format"],
                     container_format=row["container_format"], size=row["size"],
                     min_disk=row["min_disk"] or 0, min_ram=row["min_ram"] or 0,
                     checksum=row["checksum"], properties=dict(row["properties"] or {}))
