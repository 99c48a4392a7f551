"""The store interface: where image bytes live, whatever the backend.

A store knows nothing of image records, visibility or status; the image service
calls it. Contract of every store:

* ``open_writer(image_id)`` starts an upload. ``write()`` takes the bytes in order
  and hashes them as they pass (MD5 + SHA-512, see :mod:`novalith.image.hashing`);
  ``commit()`` makes the data durable and visible at once and returns its location,
  size and digests; ``abort()`` (also what leaving the writer's ``with`` block
  without a commit does) removes every byte written. Nothing partial is ever
  readable at a location.
* ``open(location)`` returns a reader that streams the data in chunks, raising
  ``ImageDataNotFound`` at once if the data is gone.
* ``delete(location)`` is idempotent: deleting missing data succeeds.
* Memory use never depends on the image size.

A new backend (S3, say) subclasses :class:`Store` and :class:`StoreWriter` and is
installed under the ``novalith.image_stores`` entry point.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType

from novalith import exceptions
from novalith.image.buffers import Buffer
from novalith.image.hashing import Hasher

CHUNK_SIZE = 1024 * 1024


class ImageDataNotFound(exceptions.NotFound):
    message = "Image data at %(location)s could not be found."


class StoreError(exceptions.NovalithError):
    """The backend failed (disk full, permission, network); the upload is aborted."""

    message = "Image store failure: %(reason)s"


@dataclass(frozen=True)
class StoredData:
    location: str
    size: int
    checksum: str
    os_hash_algo: str
    os_hash_value: str


class StoreWriter(abc.ABC):
    """One upload in progress; not thread-safe (one writer per upload)."""

    def __init__(self) -> None:
        self.hasher = Hasher(sink=self._write)
        self._done = False

    @property
    def size(self) -> int:
        return self.hasher.size

    def write(self, data: Buffer, release: Callable[[], object] | None = None) -> None:
        """Store and hash the next bytes. ``data`` is handed over: the caller must not
        change it until ``release`` is called (for good without one); it may still be
        being written. A write error may surface from a later ``write`` or from
        ``commit``."""
        if self._done:
            raise StoreError(reason="write after commit or abort")
        self.hasher.update(data, release)

    def commit(self) -> StoredData:
        """Make the data durable and readable at its location (all or nothing)."""
        if self._done:
            raise StoreError(reason="commit after commit or abort")
        try:
            d = self.hasher.finish()
            location = self._commit()
        except BaseException:
            self.abort()
            raise
        self._done = True
        return StoredData(location=location, size=d.size, checksum=d.checksum,
                          os_hash_algo=d.os_hash_algo, os_hash_value=d.os_hash_value)

    def abort(self) -> None:
        """Drop everything written; idempotent, never raises for a missing file."""
        if not self._done:
            self._done = True
            self.hasher.close()  # no lane writes after this
            self._abort()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._done:
            self.abort()

    @abc.abstractmethod
    def _write(self, data: Buffer) -> None: ...

    @abc.abstractmethod
    def _commit(self) -> str:
        """Make the data durable and visible; return its location."""

    @abc.abstractmethod
    def _abort(self) -> None: ...


class StoreReader(abc.ABC):
    """Image data being read; ``read()`` returns an empty buffer at the end."""

    size: int  # bytes this reader will return in total

    @abc.abstractmethod
    def read(self, n: int = CHUNK_SIZE) -> bytes | memoryview:
        """Up to ``n`` bytes, in a buffer the caller may keep (never reused)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __iter__(self) -> Iterator[bytes | memoryview]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Store(abc.ABC):
    #: The name ``[glance_store] default_store`` selects this store by.
    name: str = ""

    @abc.abstractmethod
    def open_writer(self, image_id: str) -> StoreWriter: ...

    @abc.abstractmethod
    def open(self, location: str, offset: int = 0, length: int | None = None
             ) -> StoreReader:
        """A reader of ``length`` bytes (default: to the end) from ``offset``."""

    @abc.abstractmethod
    def delete(self, location: str) -> None: ...

    @abc.abstractmethod
    def exists(self, location: str) -> bool: ...

    def owns(self, location: str) -> bool:
        """Whether ``location`` is one of this store's (by URI scheme by default)."""
        return location.startswith(self.name + "://")

    def put(self, image_id: str, chunks: Iterable[bytes]) -> StoredData:
        """Store a whole stream: ``open_writer`` + ``write`` each chunk + ``commit``."""
        with self.open_writer(image_id) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def get(self, location: str) -> Iterator[bytes | memoryview]:
        """The data as chunks (the reader is closed when the iteration ends)."""
        reader = self.open(location)

        def chunks() -> Iterator[bytes | memoryview]:
            with reader:
                yield from reader

        return chunks()

    def sweep(self, keep: set[str]) -> int:
        """Remove leftovers (partial uploads, data no image refers to) except the
        locations in ``keep``; run only while no upload is in progress. Returns how
        many were removed. Stores without leftovers need not override this."""
        return 0
