"""ImageService: the Glance v2 subset behind the Image API and the in-process client.

Records live in the database (``images``, ``image_tags``, ``image_members``); data in
a store (:mod:`novalith.image.stores`). Upload and download are in
:mod:`novalith.image.data`, members in :mod:`novalith.image.members`, list queries in
:mod:`novalith.image.query`. Every method takes the caller's
:class:`RequestContext` and applies Glance's visibility and ownership rules
(:mod:`novalith.image.access`); errors are ``novalith.exceptions`` with their HTTP
status. Thread-safe: all state is in the database and the store.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from oslo_config import cfg
from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from novalith import exceptions
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.db.images import IMG, MEM, TAG, usable_condition
from novalith.image import access, patch, query, validation
from novalith.image.client import ImageRecord
from novalith.image.config import ImageConfig
from novalith.image.data import DataMixin
from novalith.image.members import MembersMixin
from novalith.image.records import SETTABLE, image_view, to_record
from novalith.image.stores import Store, load_store
from novalith.objects.context import RequestContext

_DEFAULTS: dict[str, Any] = {"name": None, "disk_format": None, "container_format": None,
                             "min_disk": 0, "min_ram": 0, "visibility": "shared",
                             "protected": False, "os_hidden": False}


class ImageService(DataMixin, MembersMixin):
    def __init__(self, db: Database, config: ImageConfig, store: Store | None = None) -> None:
        self.db = db
        self.config = config
        self.store = store if store is not None else load_store(
            config.default_store, config.filesystem_store_datadir, config)
        self._downloads: Counter[str] = Counter()
        self._downloads_lock = threading.Lock()

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, db: Database) -> ImageService:
        return cls(db, ImageConfig.from_conf(conf))

    # ---- reads ------------------------------------------------------------------------------
    def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = access.load(conn, ctx, image_id)
            return image_view(row, access.tags_of(conn, [image_id])[image_id])

    def record(self, ctx: RequestContext, image_id: str) -> ImageRecord:
        with self.db.read() as conn:
            return to_record(access.load(conn, ctx, image_id))

    def list_images(self, ctx: RequestContext, params: Sequence[tuple[str, str]]
             ) -> tuple[list[dict[str, Any]], int]:
        """One page of image views and the limit applied (a full page means "more")."""
        req = query.parse(ctx, params, self.config.limit_param_default,
                          self.config.api_limit_max)
        with self.db.read() as conn:
            rows = self._page(conn, ctx, req)
            tags = access.tags_of(conn, (r["id"] for r in rows))
        return [image_view(r, tags[r["id"]]) for r in rows], req.limit

    def list_records(self, ctx: RequestContext, params: Sequence[tuple[str, str]] = ()
                     ) -> list[ImageRecord]:
        """Every image a list with these filters shows (all pages)."""
        out: list[ImageRecord] = []
        page = 1000
        params = [p for p in params if p[0] not in ("limit", "marker")]
        marker: str | None = None
        with self.db.read() as conn:
            while True:
                extra = [("limit", str(page))] + ([("marker", marker)] if marker else [])
                req = query.parse(ctx, [*params, *extra], page, page)
                rows = self._page(conn, ctx, req)
                out.extend(to_record(r) for r in rows)
                if len(rows) < page:
                    return out
                marker = rows[-1]["id"]

    @staticmethod
    def _page(conn: Connection, ctx: RequestContext, req: query.ListRequest) -> list[RowMapping]:
        marker_ok = None if ctx.is_admin else usable_condition(ctx.project_id)
        return list(conn.execute(query.statement(req, conn, marker_ok)).mappings())

    # ---- create / update / delete -----------------------------------------------------------
    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise exceptions.Invalid("Request body must be a JSON object.")
        access.require_writer(ctx, "create images")
        core = dict(_DEFAULTS)
        props: dict[str, str] = {}
        tags: list[str] = []
        image_id = str(uuid.uuid4())
        owner = ctx.project_id
        for key, value in body.items():
            validation.check_name_allowed(key, creating=True)
            if key == "id":
                image_id = validation.image_id(value)
            elif key == "tags":
                tags = validation.tags_value(value)
            elif key == "owner":
                owner = validation.core_value(key, value)
            elif key in SETTABLE:
                core[key] = validation.core_value(key, value)
            else:
                props[key] = validation.property_value(key, value)
        if owner != ctx.project_id and not ctx.is_admin:
            raise exceptions.Forbidden(f"You are not permitted to create images owned by "
                                       f"'{owner}'.")
        self._check_visibility(ctx, core["visibility"])
        validation.formats(core["disk_format"], core["container_format"])
        validation.quota("image tags", len(tags), self.config.image_tag_quota)
        validation.quota("image properties", len(props), self.config.image_property_quota)
        now = utcnow()
        with self.db.write() as conn:
            if conn.execute(select(IMG.c.id).where(IMG.c.id == image_id)).first():
                raise exceptions.Conflict(f"Image with identifier {image_id} already exists!")
            conn.execute(insert(IMG).values(id=image_id, status="queued", owner=owner,
                                            properties=props, created_at=now, updated_at=now,
                                            **core))
            self._set_tags(conn, image_id, tags)
            row = access.load(conn, ctx, image_id)
            return image_view(row, tags)

    def update(self, ctx: RequestContext, image_id: str, body: Any, media_type: str
               ) -> dict[str, Any]:
        ops = patch.parse(body, media_type)
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, "modify")
            tags = access.tags_of(conn, [image_id])[image_id]
            before = patch.ImageState(core={k: row[k] for k in SETTABLE if k != "tags"},
                                      properties=dict(row["properties"] or {}), tags=tags)
            after = patch.apply(before, ops)
            self._check_update(ctx, row, before, after)
            changes = {k: v for k, v in after.core.items() if before.core[k] != v}
            if after.properties != before.properties:
                changes["properties"] = after.properties
            if changes or after.tags != before.tags:
                conn.execute(update(IMG).where(IMG.c.id == image_id)
                             .values(updated_at=utcnow(), **changes))
            if after.tags != before.tags:
                self._set_tags(conn, image_id, after.tags)
            return image_view(access.load(conn, ctx, image_id), after.tags)

    def _check_update(self, ctx: RequestContext, row: RowMapping, before: patch.ImageState,
                      after: patch.ImageState) -> None:
        for key in ("disk_format", "container_format"):
            if after.core[key] != before.core[key] and row["status"] != "queued":
                raise exceptions.Forbidden(f"Attribute {key} can be only replaced for a "
                                           "queued image.")
        if after.core["owner"] != before.core["owner"] and not ctx.is_admin:
            raise exceptions.Forbidden("You are not permitted to modify 'owner' on this "
                                       "image.")
        if after.core["visibility"] != before.core["visibility"]:
            self._check_visibility(ctx, after.core["visibility"])
        validation.formats(after.core["disk_format"], after.core["container_format"])
        validation.quota("image tags", len(after.tags), self.config.image_tag_quota)
        validation.quota("image properties", len(after.properties),
                         self.config.image_property_quota)

    @staticmethod
    def _check_visibility(ctx: RequestContext, visibility: str) -> None:
        if visibility == "public" and not ctx.is_admin:
            raise exceptions.Forbidden("You are not authorized to complete publicize_image "
                                       "action.")

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, "delete")
            if row["protected"]:
                raise exceptions.Forbidden(f"Image {image_id} is protected and cannot be "
                                           "deleted.")
            conn.execute(delete(TAG).where(TAG.c.image_id == image_id))
            conn.execute(delete(MEM).where(MEM.c.image_id == image_id))
            conn.execute(delete(IMG).where(IMG.c.id == image_id))
        if row["location"]:
            # After the commit: a crash in between leaves a file recover() removes,
            # never a record whose data is gone.
            self.store.delete(row["location"])

    # ---- actions and tags -------------------------------------------------------------------
    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._switch(ctx, image_id, "deactivate", frm="active", to="deactivated")

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._switch(ctx, image_id, "reactivate", frm="deactivated", to="active")

    def _switch(self, ctx: RequestContext, image_id: str, action: str, frm: str, to: str
                ) -> None:
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, action)
            if row["status"] == to:
                return
            if row["status"] != frm:
                raise exceptions.Forbidden(f"Not allowed to {action} image in status "
                                           f"'{row['status']}'")
            conn.execute(update(IMG).where(IMG.c.id == image_id)
                         .values(status=to, updated_at=utcnow()))

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        tag = validation.tag(tag)
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, "modify")
            tags = access.tags_of(conn, [image_id])[image_id]
            if tag in tags:
                return
            validation.quota("image tags", len(tags) + 1, self.config.image_tag_quota)
            conn.execute(insert(TAG).values(image_id=image_id, value=tag))
            conn.execute(update(IMG).where(IMG.c.id == image_id).values(updated_at=utcnow()))

    def delete_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, "modify")
            gone = conn.execute(delete(TAG).where(TAG.c.image_id == image_id,
                                                  TAG.c.value == tag)).rowcount
            if not gone:
                raise exceptions.NotFound(f"Tag {tag} not found on image {image_id}.")
            conn.execute(update(IMG).where(IMG.c.id == image_id).values(updated_at=utcnow()))

    @staticmethod
    def _set_tags(conn: Connection, image_id: str, tags: Iterable[str]) -> None:
        conn.execute(delete(TAG).where(TAG.c.image_id == image_id))
        values = [{"image_id": image_id, "value": t} for t in tags]
        if values:
            conn.execute(insert(TAG), values)
