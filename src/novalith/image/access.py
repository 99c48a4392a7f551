"""Loading an image for a caller and checking what the caller may do with it.

* Anyone who may *use* an image (see :mod:`novalith.db.images`) may read it; others
  get 404, so private images do not reveal they exist.
* Changing an image or its data needs the owner's project with a writer role
  (member or admin), or admin; others get 403.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, RowMapping, select

from novalith import exceptions
from novalith.db import images as image_db
from novalith.db.images import IMG, TAG
from novalith.objects.context import RequestContext


def not_found(image_id: str) -> exceptions.ImageNotFound:
    return exceptions.ImageNotFound(f"No image found with ID {image_id}", image_id=image_id)


def load(conn: Connection, ctx: RequestContext, image_id: str, *, for_update: bool = False
         ) -> RowMapping:
    """The image if ``ctx`` may use it, else ImageNotFound (404)."""
    q = select(IMG).where(IMG.c.id == image_id)
    if not ctx.is_admin:
        q = q.where(image_db.usable_condition(ctx.project_id))
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        raise not_found(image_id)
    return row


def is_owner(ctx: RequestContext, row: RowMapping) -> bool:
    return ctx.is_admin or (row["owner"] is not None and row["owner"] == ctx.project_id)


def require_owner(ctx: RequestContext, row: RowMapping, action: str) -> None:
    """403 unless ``ctx`` owns the image with a writer role, or is admin."""
    if ctx.is_admin:
        return
    if not is_owner(ctx, row) or not ctx.can_write:
        raise exceptions.Forbidden(f"You are not permitted to {action} this image.")


def require_writer(ctx: RequestContext, action: str) -> None:
    if not ctx.can_write:
        raise exceptions.Forbidden(f"You are not permitted to {action}.")


def tags_of(conn: Connection, image_ids: Iterable[str]) -> dict[str, list[str]]:
    ids = list(image_ids)
    out: dict[str, list[str]] = defaultdict(list)
    if not ids:
        return out
    for image_id, value in conn.execute(
            select(TAG.c.image_id, TAG.c.value).where(TAG.c.image_id.in_(ids))):
        out[image_id].append(value)
    return out
