"""Image records as the compute side reads them, and the visibility rules both the
image service and the compute API apply (Glance's).

* Usable (show, download, boot from): an image with no owner, a public or community
  image, one's own, or a shared image one is a member of, whatever the member
  status (Glance: the status only decides whether it is *listed*).
* Listed by default: public images, one's own, and shared images whose membership
  one has accepted. Community images appear only when asked for
  (``visibility=community``); admins see everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Table,
    and_,
    insert,
    or_,
    select,
)

from novalith.db.base import utcnow
from novalith.db.models import Image, ImageMember, ImageTag
from novalith.objects.specs import ImageMeta

IMG: Table = Image.__table__  # type: ignore[assignment]
MEM: Table = ImageMember.__table__  # type: ignore[assignment]
TAG: Table = ImageTag.__table__  # type: ignore[assignment]


def member_exists(project_id: str | None, statuses: Sequence[str] | None = None
                  ) -> ColumnElement[bool]:
    """True for images ``project_id`` is a member of (with one of ``statuses``)."""
    q = select(MEM.c.id).where(MEM.c.image_id == IMG.c.id, MEM.c.member == project_id)
    if statuses is not None:
        q = q.where(MEM.c.status.in_(list(statuses)))
    return q.exists()


def usable_condition(project_id: str | None) -> ColumnElement[bool]:
    """Images ``project_id`` may show, download and boot from (not for admins: all)."""
    return or_(IMG.c.owner.is_(None), IMG.c.visibility.in_(["public", "community"]),
               IMG.c.owner == project_id,
               and_(IMG.c.visibility == "shared", member_exists(project_id)))


def listed_condition(project_id: str | None, member_status: Sequence[str] | None = ("accepted",)
                     ) -> ColumnElement[bool]:
    """Images a default list shows ``project_id``: public, its own, shared and accepted."""
    return or_(IMG.c.visibility == "public", IMG.c.owner == project_id,
               and_(IMG.c.visibility == "shared", member_exists(project_id, member_status)))


def visible(conn: Connection, image_id: str, project_id: str | None, is_admin: bool
            ) -> RowMapping | None:
    """The image if the project may use it (see the module docstring)."""
    q = select(IMG).where(IMG.c.id == image_id)
    if not is_admin:
        q = q.where(usable_condition(project_id))
    return conn.execute(q).mappings().first()


def create(conn: Connection, values: dict[str, Any]) -> None:
    now = utcnow()
    conn.execute(insert(IMG).values(created_at=now, updated_at=now, **values))


def to_meta(row: RowMapping) -> ImageMeta:
    return ImageMeta(id=row["id"], name=row["name"], disk_format=row["disk_format"],
                     container_format=row["container_format"], size=row["size"],
                     min_disk=row["min_disk"] or 0, min_ram=row["min_ram"] or 0,
                     checksum=row["checksum"], properties=dict(row["properties"] or {}))
