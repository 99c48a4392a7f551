"""LocalImageClient: compute's ImageClient in the all-in-one cloud, with no HTTP.

It calls the :class:`ImageService` in the same process with the caller's context,
so every visibility and ownership rule still applies, and reads and writes the store
directly. Downloads are verified (size, ``os_hash_value``, ``checksum``) before the
file appears at its destination.
"""

from __future__ import annotations

from typing import Any

from novalith import exceptions
from novalith.image.client import ImageRecord
from novalith.image.patch import MEDIA_TYPES, format_patch
from novalith.image.service import ImageService
from novalith.image.stores import CHUNK_SIZE
from novalith.image.verify import write_verified
from novalith.objects.context import RequestContext


class LocalImageClient:
    def __init__(self, service: ImageService) -> None:
        self.service = service

    def get(self, ctx: RequestContext, image_id: str) -> ImageRecord:
        return self.service.record(ctx, image_id)

    def download(self, ctx: RequestContext, image_id: str, dest: str) -> int:
        record = self.service.record(ctx, image_id)
        if record.status != "active":
            raise exceptions.Conflict(f"Image {image_id} is not active (status "
                                      f"{record.status}).")
        opened = self.service.open_download(ctx, image_id)
        if opened is None:
            raise exceptions.Conflict(f"Image {image_id} has no data.")
        try:
            return write_verified(iter(opened.reader), dest, image_id=image_id,
                                  checksum=opened.checksum, os_hash_algo=opened.os_hash_algo,
                                  os_hash_value=opened.os_hash_value,
                                  expected_size=opened.length)
        finally:
            opened.close()

    def create(self, ctx: RequestContext, *, name: str, disk_format: str,
               container_format: str, visibility: str = "private",
               properties: dict[str, Any] | None = None, min_disk: int = 0,
               min_ram: int = 0) -> ImageRecord:
        body: dict[str, Any] = {str(k): str(v) for k, v in (properties or {}).items()}
        body.update(name=name, disk_format=disk_format, container_format=container_format,
                    visibility=visibility, min_disk=min_disk, min_ram=min_ram)
        created = self.service.create(ctx, body)
        return self.service.record(ctx, created["id"])

    def set_formats(self, ctx: RequestContext, image_id: str, *, disk_format: str,
                    container_format: str) -> ImageRecord:
        self.service.update(ctx, image_id, format_patch(disk_format, container_format),
                            MEDIA_TYPES[0])
        return self.service.record(ctx, image_id)

    def upload(self, ctx: RequestContext, image_id: str, src: str) -> ImageRecord:
        upload = self.service.begin_upload(ctx, image_id)
        try:
            with open(src, "rb", buffering=0) as fh:
                while chunk := fh.read(CHUNK_SIZE):
                    upload.write(chunk)
        except BaseException as exc:
            upload.abort(f"reading {src} failed: {exc}")
            raise
        upload.commit()
        return self.service.record(ctx, image_id)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        self.service.delete(ctx, image_id)

    def list(self, ctx: RequestContext, **filters: Any) -> list[ImageRecord]:
        params = [(str(k), _query_value(v)) for k, v in filters.items() if v is not None]
        if "visibility" not in filters:
            params.append(("visibility", "all"))
        return self.service.list_records(ctx, params)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
