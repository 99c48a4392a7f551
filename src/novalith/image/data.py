"""Image data: the upload session (queued -> saving -> active) and downloads.

An upload moves the image to ``saving`` in one conditional UPDATE (so two uploads
cannot both start), streams into a store writer, and on success records size,
hashes and location while the image is still ``saving``. If the upload fails
half-way (client gone, idle timeout, size cap, store error) the store drops the
partial data and the image goes back to ``queued``, as Glance v2 does, so the
client may simply upload again. If the image was deleted meanwhile the stored data
is removed and the upload answers 410.

Downloads are counted per image (:meth:`DataMixin.download_count`) and logged on
the ``novalith.image.access`` logger, one line per download, so a test or an
operator can see how often each image was fetched.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import RowMapping, select, update

from novalith import exceptions
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.db.images import IMG
from novalith.image import access, formats
from novalith.image.buffers import Buffer
from novalith.image.config import ImageConfig
from novalith.image.stores import Store, StoreReader, StoreWriter
from novalith.objects.context import RequestContext

LOG = logging.getLogger(__name__)
ACCESS_LOG = logging.getLogger("novalith.image.access")


class Upload:
    """One upload in progress. Call ``write`` with the bytes in order, then ``commit``;
    on any failure call ``abort`` (idempotent). Not thread-safe."""

    def __init__(self, db: Database, store: Store, row: RowMapping, writer: StoreWriter,
                 size_cap: int) -> None:
        self.db, self.store, self.writer = db, store, writer
        self.image_id: str = row["id"]
        self.disk_format: str | None = row["disk_format"]
        self.size_cap = size_cap
        self._head = b""
        self._finished = False

    @property
    def size(self) -> int:
        return self.writer.size

    def write(self, data: Buffer, release: Callable[[], object] | None = None) -> None:
        """The next bytes (see :meth:`StoreWriter.write` for ``release``)."""
        if self.writer.size + len(data) > self.size_cap:
            self.abort("image_size_cap exceeded")
            raise exceptions.PayloadTooLarge(
                f"Image exceeds the storage quota: the image may be at most "
                f"{self.size_cap} bytes.")
        if len(self._head) < formats.HEAD_BYTES:
            self._head += bytes(data[:formats.HEAD_BYTES - len(self._head)])
        try:
            self.writer.write(data, release)
        except BaseException:
            self.abort("store write failed")
            raise

    def commit(self) -> None:
        """Make the data durable and the image active (410 if deleted meanwhile)."""
        try:
            stored = self.writer.commit()
        except BaseException:
            self.abort("store commit failed")
            raise
        self._finished = True
        with self.db.write() as conn:
            done = conn.execute(update(IMG).where(
                IMG.c.id == self.image_id, IMG.c.status == "saving").values(
                status="active", size=stored.size, checksum=stored.checksum,
                os_hash_algo=stored.os_hash_algo, os_hash_value=stored.os_hash_value,
                virtual_size=formats.virtual_size(self.disk_format, self._head, stored.size),
                location=stored.location, updated_at=utcnow())).rowcount
        if not done:
            self.store.delete(stored.location)
            raise exceptions.Gone(f"Image {self.image_id} could not be found after upload. "
                                  "The image may have been deleted during the upload.")
        LOG.info("Image %s uploaded: %d bytes", self.image_id, stored.size)

    def abort(self, reason: str) -> None:
        """Drop the partial data; the image goes back to ``queued``."""
        if self._finished:
            return
        self._finished = True
        self.writer.abort()
        with self.db.write() as conn:
            conn.execute(update(IMG).where(IMG.c.id == self.image_id,
                                           IMG.c.status == "saving")
                         .values(status="queued", updated_at=utcnow()))
        LOG.warning("Upload of image %s abandoned after %d bytes (%s); image back to queued",
                    self.image_id, self.writer.size, reason)


@dataclass
class Download:
    """An open image data stream: ``reader`` yields ``length`` bytes from ``offset``."""

    image_id: str
    size: int  # the whole image
    offset: int
    length: int
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    reader: StoreReader

    def close(self) -> None:
        self.reader.close()


class DataMixin:
    db: Database
    config: ImageConfig
    store: Store
    _downloads: Counter[str]
    _downloads_lock: threading.Lock

    def begin_upload(self, ctx: RequestContext, image_id: str) -> Upload:
        """queued -> saving; the caller streams into the returned :class:`Upload`."""
        with self.db.write() as conn:
            row = access.load(conn, ctx, image_id, for_update=True)
            access.require_owner(ctx, row, "upload data to")
            if not row["disk_format"] or not row["container_format"]:
                raise exceptions.Invalid("Properties disk_format, container_format must be "
                                         "set prior to saving data.")
            if row["status"] != "queued":
                raise exceptions.Conflict(f"Image status transition from {row['status']} to "
                                          "saving is not allowed")
            conn.execute(update(IMG).where(IMG.c.id == image_id)
                         .values(status="saving", updated_at=utcnow()))
        try:
            writer = self.store.open_writer(image_id)
        except BaseException:
            with self.db.write() as conn:
                conn.execute(update(IMG).where(IMG.c.id == image_id, IMG.c.status == "saving")
                             .values(status="queued"))
            raise
        return Upload(self.db, self.store, row, writer, self.config.image_size_cap)

    def open_download(self, ctx: RequestContext, image_id: str, offset: int = 0,
                      length: int | None = None) -> Download | None:
        """The image's data from ``offset`` (``length`` bytes, default all); None when
        the image has no data yet (the API answers 204, as Glance does)."""
        with self.db.read() as conn:
            row = access.load(conn, ctx, image_id)
        if row["status"] == "deactivated" and not ctx.is_admin:
            raise exceptions.Forbidden("The requested image has been deactivated. Image data "
                                       "download is forbidden.")
        if row["status"] not in ("active", "deactivated") or not row["location"]:
            return None
        reader = self.store.open(row["location"], offset, length)
        with self._downloads_lock:
            self._downloads[image_id] += 1
        ACCESS_LOG.info("image download: image=%s project=%s user=%s offset=%d bytes=%d "
                        "request=%s", image_id, ctx.project_id, ctx.user_id, offset,
                        reader.size, ctx.request_id)
        return Download(image_id=image_id, size=row["size"] or 0, offset=offset,
                        length=reader.size, checksum=row["checksum"],
                        os_hash_algo=row["os_hash_algo"], os_hash_value=row["os_hash_value"],
                        reader=reader)

    def download_count(self, image_id: str) -> int:
        """How many times this process has served the image's data."""
        with self._downloads_lock:
            return self._downloads[image_id]

    def recover(self) -> None:
        """At start-up: uploads a crash interrupted go back to queued, and the store
        drops partial files and data no image refers to. Only for the process that
        owns the store (the all-in-one cloud or the one image API process)."""
        with self.db.write() as conn:
            reset = conn.execute(update(IMG).where(IMG.c.status == "saving")
                                 .values(status="queued", updated_at=utcnow())).rowcount
            keep = {loc for (loc,) in conn.execute(select(IMG.c.location).where(
                IMG.c.location.is_not(None)))}
        removed = self.store.sweep(keep)
        if reset or removed:
            LOG.warning("Image service recovery: %d interrupted upload(s) back to queued, "
                        "%d leftover file(s) removed", reset, removed)
