"""Images on the engine: loaded once per compute host, reused, pruned when unused.

An image of the image service becomes the engine image tagged
``novalith-image/<host>:<image id>`` (:func:`reference`). The tag is the cache
entry: a spawn that finds it uses it without fetching anything; one that does not
fetches the file through ``ComputeCallbacks.fetch_image`` into
``<instances_path>/_docker/``, loads it (``docker load``, or ``docker import`` for a
root file system, see :mod:`.image_tar`), tags it, and deletes the file.

* Per-host tags: compute hosts sharing one engine (test runs, several services)
  each hold their own reference; the engine keeps the layers once, and removing one
  host's tag never removes an image another host still tags.
* Concurrency: one lock per image id, so concurrent spawns of an image fetch and
  load it once; the others wait and reuse it. :meth:`ImageStore.use` also counts
  the spawns between "image ready" and "container created"; the pruner takes the
  same lock and skips an image with users, and once a container exists the engine
  itself refuses to remove the image it uses.
* Age: every use re-tags the image, which sets the engine's ``LastTagTime``; the
  pruner removes a tag only after it has been unused for
  ``[image_cache] remove_unused_original_minimum_age_seconds``.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from novalith import exceptions
from novalith.objects.specs import ImageMeta
from novalith.virt.docker import engine as eng
from novalith.virt.docker import image_tar

LOG = logging.getLogger(__name__)

REPOSITORY = "novalith-image"
CONTAINER_FORMAT = "docker"
TEMP_DIR = "_docker"
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SLUG_BAD = re.compile(r"[^a-z0-9]+")

#: ``fetch(image_id, dest)``: write the verified image data to the new file ``dest``.
Fetch = Callable[[str, str], None]


class ReadyImage(msgspec.Struct, frozen=True, kw_only=True):
    """An image on the engine, ready to create containers from."""

    image_id: str
    reference: str
    #: The image's own ``Config`` (Cmd, Entrypoint, Env, ...) from the engine.
    config: dict[str, Any]


def repository(host: str) -> str:
    """``novalith-image/<host slug>``: lower case, ``[a-z0-9-]``; a hash keeps
    hosts apart whose names only differ in what the slug folds."""
    slug = _SLUG_BAD.sub("-", host.lower()).strip("-") or "host"
    if slug != host:
        slug = f"{slug[:40]}-{hashlib.sha1(host.encode()).hexdigest()[:8]}"
    return f"{REPOSITORY}/{slug}"


def tag(image_id: str) -> str:
    """The image id itself when it is a valid tag (UUIDs are), else a digest of it."""
    if _TAG.match(image_id):
        return image_id
    return "id-" + hashlib.sha256(image_id.encode()).hexdigest()[:40]


def reference(host: str, image_id: str) -> str:
    return f"{repository(host)}:{tag(image_id)}"


def check_meta(image: ImageMeta | None, uuid_: str) -> ImageMeta:
    """The image of a spawn, or BuildFailed when this driver cannot boot it."""
    if image is None:
        raise exceptions.BuildFailed(instance_uuid=uuid_,
                                     reason="the docker driver boots only from an image")
    if (image.container_format or "").lower() != CONTAINER_FORMAT:
        raise exceptions.BuildFailed(
            instance_uuid=uuid_,
            reason=f"image {image.id} has container_format {image.container_format!r}; "
                   f"the docker driver boots only container_format={CONTAINER_FORMAT} images")
    return image


def _parse_time(text: str) -> float | None:
    """Seconds since the epoch of an engine timestamp (nanoseconds, Z); None if unset."""
    if not text or text.startswith("0001-"):
        return None
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if match is None:
        return None
    zone = (match.group(3) or "Z").replace("Z", "+00:00")
    stamp = datetime.datetime.fromisoformat(match.group(1) + zone)
    return stamp.timestamp() + float(match.group(2) or 0)


def _raise_stream_error(text: str, image_id: str) -> None:
    """Raise the error an engine reported inside a 200 progress stream (JSON lines)."""
    for line in text.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and (message.get("error") or message.get("errorDetail")):
            detail = message.get("errorDetail") or {}
            raise exceptions.ImageUnacceptable(
                image_id=image_id, reason=str(message.get("error") or detail.get("message")))


class ImageStore:
    """The images one compute host keeps on the engine."""

    def __init__(self, engine: eng.Engine, host: str, instances_path: str,
                 fetch: Fetch) -> None:
        self.engine = engine
        self.host = host
        self.instances_path = instances_path
        self._fetch = fetch
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._users: dict[str, int] = {}
        #: Fetches done by this store (tests and logs read it).
        self.loads = 0

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    # ---- using ------------------------------------------------------------------------

    @contextlib.contextmanager
    def use(self, image: ImageMeta) -> Iterator[ReadyImage]:
        """The image on the engine (loaded now if missing), held until the block ends.

        Create the container inside the block: until then the pruner leaves the
        image alone. Raises ImageNotFound, ImageUnacceptable, ServiceUnavailable, or
        NovalithError for a load the engine refused.
        """
        key = tag(image.id)  # locks and users are keyed by tag, as the pruner sees them
        with self._guard:
            self._users[key] = self._users.get(key, 0) + 1
        try:
            with self._lock(key):
                ready = self._ensure(image.id)
            yield ready
        finally:
            with self._guard:
                left = self._users[key] - 1
                if left:
                    self._users[key] = left
                else:
                    del self._users[key]

    def _ensure(self, image_id: str) -> ReadyImage:
        ref = reference(self.host, image_id)
        api = self.engine.api
        found = self._inspect(ref)
        if found is None:
            self._load(image_id, ref)
            found = self._inspect(ref)
            if found is None:
                raise exceptions.NovalithError(f"Image {ref} vanished right after its load")
        else:
            repo, _, name = ref.rpartition(":")
            # Re-tagging sets LastTagTime: the pruner measures "unused since" from it.
            self._call(lambda: api.tag(found["Id"], repo, name), image_id)
        return ReadyImage(image_id=str(found["Id"]), reference=ref,
                          config=dict(found.get("Config") or {}))

    def _inspect(self, ref: str) -> dict[str, Any] | None:
        docker = eng.docker_module()
        try:
            return dict(self.engine.api.inspect_image(ref))
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.NotFound:
            return None

    def _call(self, fn: Callable[[], Any], image_id: str) -> Any:
        return eng.call(fn, url=self.engine.url, doing=f"image {image_id}",
                        failed=f"The Docker engine refused image {image_id}")

    def _load(self, image_id: str, ref: str) -> None:
        """Fetch the image file, load or import it under ``ref``, delete the file."""
        work = os.path.join(self.instances_path, TEMP_DIR)
        os.makedirs(work, exist_ok=True)
        path = os.path.join(work, f"{tag(image_id)}.{uuid.uuid4().hex[:8]}")
        plain = path
        try:
            self._fetch(image_id, path)
            self.loads += 1
            repo, _, name = ref.rpartition(":")
            if image_tar.kind(path) == image_tar.ROOTFS:
                LOG.info("Importing root file system image %s as %s", image_id, ref)
                result = self._call(lambda: self.engine.api.import_image_from_file(
                    path, repository=repo, tag=name), image_id)
                _raise_stream_error(str(result or ""), image_id)
                return
            plain = image_tar.decompress(path)
            expected = image_tar.config_image_id(image_tar.read_manifest(plain)[0])
            stream = image_tar.untagged_stream(plain)
            LOG.info("Loading docker image %s as %s", image_id, ref)
            loaded = self._call(lambda: self._docker_load(stream), image_id) or expected
            if loaded is None:
                raise exceptions.ImageUnacceptable(
                    image_id=image_id, reason="the engine named no image after the load")
            self._call(lambda: self.engine.api.tag(loaded, repo, name), image_id)
        finally:
            for leftover in {path, plain}:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    def _docker_load(self, stream: Iterator[bytes]) -> str | None:
        """``POST /images/load``; the loaded image id, or the error the engine reported."""
        loaded: str | None = None
        for message in self.engine.api.load_image(stream):
            if not isinstance(message, dict):
                continue
            if message.get("error") or message.get("errorDetail"):
                detail = message.get("errorDetail") or {}
                raise exceptions.ImageUnacceptable(
                    image_id="(docker load)",
                    reason=str(message.get("error") or detail.get("message")))
            text = str(message.get("stream") or "")
            if "Loaded image ID:" in text:
                loaded = text.split("Loaded image ID:", 1)[1].strip()
        return loaded

    # ---- pruning -----------------------------------------------------------------------

    def tags(self) -> dict[str, str]:
        """``{tag: engine image id}`` of every image this host has tagged."""
        repo = repository(self.host)
        found: dict[str, str] = {}
        for image in self.engine.api.images(name=repo):
            for ref in image.get("RepoTags") or ():
                name, _, image_tag = ref.rpartition(":")
                if name == repo:
                    found[image_tag] = str(image["Id"])
        return found

    def prune(self, images_in_use: frozenset[str], min_age: float,
              now: float | None = None) -> list[str]:
        """Drop this host's tags of images no instance uses, unused for ``min_age`` s.

        Returns the references removed. A tag whose image any container uses stays;
        an image another host tags stays on the engine when this host's tag goes. A problem with one
        image is logged and does not stop the pass.
        """
        keep = {tag(i) for i in images_in_use}
        removed: list[str] = []
        now = now if now is not None else datetime.datetime.now(datetime.UTC).timestamp()
        for image_tag in sorted(self.tags()):
            if image_tag in keep:
                continue
            ref = f"{repository(self.host)}:{image_tag}"
            try:
                if self._prune_one(ref, image_tag, min_age, now):
                    removed.append(ref)
            except Exception:
                LOG.exception("Could not prune image %s", ref)
        return removed

    def _prune_one(self, ref: str, image_tag: str, min_age: float, now: float) -> bool:
        docker = eng.docker_module()
        with self._lock(image_tag):
            with self._guard:
                if self._users.get(image_tag):
                    return False
            found = self._inspect(ref)
            if found is None:
                return False
            tagged = _parse_time(str((found.get("Metadata") or {}).get("LastTagTime") or ""))
            if tagged is not None and now - tagged < min_age:
                return False
            # A container made from this image (whichever tag it used) keeps it: its
            # layers could not be freed anyway, and an instance may stand behind it.
            if self.engine.api.containers(all=True, limit=1, filters={"ancestor": ref}):
                return False
            try:
                self.engine.api.remove_image(ref, force=False, noprune=False)
            except docker.errors.APIError as err:
                if eng.status_of(err) == 409:
                    LOG.info("Image %s stays: %s", ref, eng.reason(err))
                    return False
                if eng.status_of(err) == 404:
                    return False
                raise
        LOG.info("Removed unused image %s", ref)
        return True
