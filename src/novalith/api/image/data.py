"""Image data: ``PUT /v2/images/{id}/file`` and ``GET /v2/images/{id}/file``, streamed.

The upload copies the ASGI body stream into pooled page-aligned 4 MiB buffers (see
:mod:`novalith.image.buffers`) and hands the store one at a time on a worker thread,
one write in flight while the next 4 MiB arrive; uvicorn stops reading the socket
while the store's lanes are full, so memory stays flat whatever the image size. An
upload that sends nothing for ``[image] upload_idle_timeout`` seconds is abandoned
(408). The download reads 4 MiB at a time, one read ahead of the send, and sends it
with ``Content-Length`` and ``Content-MD5`` (Glance's checksum header); a single
``Range: bytes=a-b`` is answered with 206.
"""

from __future__ import annotations

import asyncio
import functools
import mmap
import re
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from novalith import exceptions
from novalith.api.image.common import GlanceRoute, call, context, error, media_type
from novalith.image.buffers import BufferPool
from novalith.image.data import Download, Upload
from novalith.image.service import ImageService
from novalith.image.stores import CHUNK_SIZE
from novalith.objects.context import RequestContext

router = APIRouter(route_class=GlanceRoute)
#: Bytes handed to a worker thread at a time, each way: large enough that thread hops
#: cost nothing next to hashing and copying, small enough to keep memory flat.
DATA_CHUNK = 4 * CHUNK_SIZE
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@router.put("/v2/images/{image_id}/file", status_code=204, response_model=None)
async def upload_data(request: Request, image_id: str) -> Response:
    ctx = await context(request)
    kind = media_type(request)
    if kind and kind != "application/octet-stream":
        raise exceptions.UnsupportedMediaType(
            f"Unsupported Content-Type {kind}: image data must be application/octet-stream.")
    upload: Upload = await call(request, ctx, lambda svc, c: svc.begin_upload(c, image_id))
    idle = request.app.state.services.image.config.upload_idle_timeout
    writes = _Pipeline(upload)
    loop = asyncio.get_running_loop()
    pool = BufferPool(DATA_CHUNK)
    buf, filled = pool.take(), 0
    try:
        async with asyncio.timeout(idle) as idle_timer:
            async for chunk in request.stream():
                idle_timer.reschedule(loop.time() + idle)
                view = memoryview(chunk)
                while view:
                    take = min(len(view), DATA_CHUNK - filled)
                    buf[filled:filled + take] = view[:take]
                    filled += take
                    view = view[take:]
                    if filled == DATA_CHUNK:
                        await writes.submit(buf, filled, pool)
                        buf, filled = pool.take(), 0
            idle_timer.reschedule(None)
        if filled:
            await writes.submit(buf, filled, pool)
        await writes.drain()
        await run_in_threadpool(upload.commit)
    except ClientDisconnect:
        await writes.abort("client disconnected")
        return error(400, "The client disconnected before sending all the image data.")
    except TimeoutError:
        await writes.abort(f"no data for {idle} s")
        return error(408, f"No image data received for {idle} seconds.")
    except BaseException:
        await writes.abort("upload failed")  # a no-op when the upload aborted itself
        raise
    return Response(status_code=204)


class _Pipeline:
    """At most one store write in flight on a worker thread while the event loop
    receives the next buffer, so network and disk overlap. Each buffer goes back to
    its pool once hashed and written; the store's hash lanes hold a few at most, so
    memory stays flat."""

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self._pending: asyncio.Future[None] | None = None

    async def submit(self, buf: mmap.mmap, length: int, pool: BufferPool) -> None:
        """Store ``buf[:length]``; ``buf`` goes back to ``pool`` once written."""
        await self.drain()
        data = buf if length == len(buf) else memoryview(buf)[:length]
        self._pending = asyncio.ensure_future(run_in_threadpool(
            self.upload.write, data, functools.partial(pool.give_back, buf)))

    async def drain(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def abort(self, reason: str) -> None:
        with anyio.CancelScope(shield=True):
            pending, self._pending = self._pending, None
            await _settled(pending)  # never abort under a write still running
            await run_in_threadpool(self.upload.abort, reason)


async def _settled(work: asyncio.Future[Any] | None) -> None:
    """Wait for ``work`` to finish, even when cancelled, and drop its outcome: the
    caller is already failing or ending, and this error would only repeat it."""
    if work is None:
        return
    with anyio.CancelScope(shield=True):
        await asyncio.wait([work])
    if not work.cancelled():
        work.exception()  # retrieved, so asyncio does not log it as never retrieved


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(offset, length) for a single ``bytes=`` range; None for the whole image."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or not (match[1] or match[2]):
        raise exceptions.Invalid(f"Invalid Range header: {header}")
    if not match[1]:  # the last N bytes
        length = min(int(match[2]), size)
        return size - length, length
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    if start >= size or end < start:
        return (-1, -1)
    return start, end - start + 1


def _open(svc: ImageService, ctx: RequestContext, image_id: str, range_header: str | None
          ) -> tuple[Download | None, tuple[int, int] | None, int]:
    if not range_header:
        return svc.open_download(ctx, image_id), None, 0
    size = svc.record(ctx, image_id).size or 0
    rng = _byte_range(range_header, size)
    if rng is None:
        return svc.open_download(ctx, image_id), None, size
    if rng == (-1, -1):
        return None, rng, size
    return svc.open_download(ctx, image_id, rng[0], rng[1]), rng, size


@router.get("/v2/images/{image_id}/file", response_model=None)
async def download_data(request: Request, image_id: str) -> Response:
    ctx = await context(request)
    range_header = request.headers.get("range")
    opened, rng, size = await call(request, ctx, lambda svc, c: _open(svc, c, image_id,
                                                                      range_header))
    if rng == (-1, -1):
        return error(416, "Requested range not satisfiable",
                     headers={"Content-Range": f"bytes */{size}"})
    if opened is None:
        return Response(status_code=204)
    reader = opened.reader
    headers = {"Content-Type": "application/octet-stream",
               "Content-Length": str(opened.length)}
    status = 200
    if rng is not None:
        status = 206
        last = opened.offset + opened.length - 1
        headers["Content-Range"] = f"bytes {opened.offset}-{last}/{opened.size}"
    elif opened.checksum:
        headers["Content-MD5"] = opened.checksum

    async def chunks() -> AsyncIterator[bytes | memoryview]:
        # The next chunk is read from disk while the one before is being sent.
        ahead: asyncio.Future[bytes | memoryview] | None = None
        try:
            ahead = asyncio.ensure_future(run_in_threadpool(reader.read, DATA_CHUNK))
            while chunk := await ahead:
                ahead = asyncio.ensure_future(run_in_threadpool(reader.read, DATA_CHUNK))
                yield chunk
        finally:
            await _settled(ahead)  # never close under a read in flight
            reader.close()

    return StreamingResponse(chunks(), status_code=status, headers=headers,
                             background=BackgroundTask(reader.close))
