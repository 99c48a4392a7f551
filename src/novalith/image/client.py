"""How compute reaches the image service: the one interface both sides agree on.

The compute side (image cache, snapshot, backup) codes against
:class:`ImageClient`; the implementations are
:class:`novalith.image.local_client.LocalImageClient` (in process, straight to the
image service and its store; the all-in-one cloud) and
:class:`novalith.image.http_client.HttpImageClient` (over the Image API as a service
user; distributed mode). Every method raises ``ImageNotFound`` for an image the
context may not use (Glance's rules: see :mod:`novalith.db.images`).
"""

from __future__ import annotations

from typing import Any, Protocol

from novalith.objects.context import RequestContext
from novalith.objects.specs import ImageMeta


class ImageRecord(ImageMeta, frozen=True, kw_only=True):
    """ImageMeta plus what only the image service knows."""

    status: str = "queued"
    owner: str | None = None
    visibility: str = "private"
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    created_at: str | None = None


class ImageClient(Protocol):
    def get(self, ctx: RequestContext, image_id: str) -> ImageRecord:
        """The image's record."""

    def download(self, ctx: RequestContext, image_id: str, dest: str) -> int:
        """Stream the image's data into the file ``dest`` (written under a temporary
        name, renamed when complete and verified against ``os_hash_value`` and
        ``checksum``); returns the byte count. Raises ``Invalid`` on a mismatch (and
        leaves no file), ``Conflict`` if the image is not active."""

    def create(self, ctx: RequestContext, *, name: str, disk_format: str,
               container_format: str, visibility: str = "private",
               properties: dict[str, Any] | None = None, min_disk: int = 0,
               min_ram: int = 0) -> ImageRecord:
        """A new image in status ``queued`` owned by ``ctx.project_id``. Property values
        are stored as strings (Glance's image schema); ``visibility`` public needs an
        admin context."""

    def set_formats(self, ctx: RequestContext, image_id: str, *, disk_format: str,
                    container_format: str) -> ImageRecord:
        """Change the image's ``disk_format`` and ``container_format`` (a JSON patch, as
        Glance v2 allows only while the image is ``queued``: ``Forbidden`` once it has
        data). Compute uses it to record the formats of the file a driver's snapshot
        wrote before uploading it."""

    def upload(self, ctx: RequestContext, image_id: str, src: str) -> ImageRecord:
        """Stream the file ``src`` into the image: queued -> saving -> active. On any
        failure the image goes back to ``queued`` with no data, and the error is
        raised (``Conflict`` if the image was not ``queued``)."""

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        """Delete the image and its data (refused with ``Forbidden`` if protected)."""

    def list(self, ctx: RequestContext, **filters: Any) -> list[ImageRecord]:
        """Images visible to ``ctx``, newest first, all pages; filters are the Image
        API's list parameters (``name``, ``status``, ``tag``, ``size_min``, ...) or
        custom properties (``instance_uuid``, ``image_type``, ...), matched exactly.
        Without a ``visibility`` filter this is ``visibility=all`` (public, own,
        accepted shared and community images)."""
