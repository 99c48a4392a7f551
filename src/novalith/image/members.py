"""Image members: projects a ``shared`` image is offered to, as Glance manages them.

* Only the owner (or admin) adds and removes members, and only on a ``shared``
  image (403 "Only shared images have members." otherwise).
* Only the member itself (or admin) sets its status: pending, accepted, rejected.
* The owner lists every member; a member sees only its own membership.
* A member may use the image whatever its status; the status decides whether the
  image appears in the member's default image list (accepted only).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update

from novalith import exceptions
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.db.images import IMG, MEM
from novalith.image import access
from novalith.image.config import ImageConfig
from novalith.image.records import MEMBER_STATUSES, member_view
from novalith.objects.context import RequestContext


def _member_not_found(image_id: str, member_id: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Member {member_id} not found for image {image_id}.")


def _only_shared(row: Any) -> None:
    if row["visibility"] != "shared":
        raise exceptions.Forbidden("Only shared images have members.")


class MembersMixin:
    db: Database
    config: ImageConfig

    def add_member(self, ctx: RequestContext, image_id: str, member_id: Any) -> dict[str, Any]:
        if not isinstance(member_id, str) or not 0 < len(member_id) <= 255:
            raise exceptions.Invalid("Provided object does not match schema 'member': "
                                     f"{member_id!r} is not a valid member (project) id")
        now = utcnow()
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, "add members to")
            _only_shared(row)
            count = conn.execute(select(func.count()).select_from(MEM)
                                 .where(MEM.c.image_id == image_id)).scalar_one()
            if 0 <= self.config.image_member_quota <= count:
                raise exceptions.PayloadTooLarge(
                    f"Maximum number of image members exceeded: the limit is "
                    f"{self.config.image_member_quota}.")
            taken = conn.execute(select(MEM.c.id).where(MEM.c.image_id == image_id,
                                                        MEM.c.member == member_id)).first()
            if taken is not None:
                raise exceptions.Conflict(f"The target member {member_id} is already "
                                          f"associated with image {image_id}.")
            # The image row is locked (FOR UPDATE; SQLite: one writer), so no other
            # transaction can add the same member between the check and the insert.
            conn.execute(insert(MEM).values(image_id=image_id, member=member_id,
                                            status="pending", created_at=now, updated_at=now))
            conn.execute(update(IMG).where(IMG.c.id == image_id).values(updated_at=now))
            return member_view(self._member(conn, image_id, member_id))

    def list_members(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            row = access.load(conn, ctx, image_id)
            _only_shared(row)
            q = select(MEM).where(MEM.c.image_id == image_id).order_by(MEM.c.id)
            if not access.is_owner(ctx, row):
                q = q.where(MEM.c.member == ctx.project_id)
            return [member_view(m) for m in conn.execute(q).mappings()]

    def show_member(self, ctx: RequestContext, image_id: str, member_id: str
                    ) -> dict[str, Any]:
        with self.db.read() as conn:
            row = access.load(conn, ctx, image_id)
            _only_shared(row)
            if not access.is_owner(ctx, row) and member_id != ctx.project_id:
                raise _member_not_found(image_id, member_id)
            return member_view(self._member(conn, image_id, member_id))

    def update_member(self, ctx: RequestContext, image_id: str, member_id: str,
                      body: Any) -> dict[str, Any]:
        status = body.get("status") if isinstance(body, dict) else None
        if status not in MEMBER_STATUSES:
            raise exceptions.Invalid("Provided object does not match schema 'member': "
                                     f"{status!r} is not one of {list(MEMBER_STATUSES)}")
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            _only_shared(row)
            self._member(conn, image_id, member_id)
            if not ctx.is_admin and member_id != ctx.project_id:
                raise exceptions.Forbidden("You are not permitted to modify 'status' on this "
                                           "image member.")
            conn.execute(update(MEM).where(MEM.c.image_id == image_id,
                                           MEM.c.member == member_id)
                         .values(status=status, updated_at=utcnow()))
            return member_view(self._member(conn, image_id, member_id))

    def delete_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, "remove members from")
            _only_shared(row)
            self._member(conn, image_id, member_id)
            conn.execute(delete(MEM).where(MEM.c.image_id == image_id,
                                           MEM.c.member == member_id))
            conn.execute(update(IMG).where(IMG.c.id == image_id).values(updated_at=utcnow()))

    @staticmethod
    def _member(conn: Any, image_id: str, member_id: str) -> Any:
        found = conn.execute(select(MEM).where(MEM.c.image_id == image_id,
                                               MEM.c.member == member_id)).mappings().first()
        if found is None:
            raise _member_not_found(image_id, member_id)
        return found
