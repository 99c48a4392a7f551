"""The conductor's RPC surface (topic ``conductor``)."""

from __future__ import annotations

import msgspec

from novalith.objects.specs import ImageMeta, RequestSpec
from novalith.rpc.dispatch import Surface


class BuildInstances(msgspec.Struct, frozen=True, kw_only=True):
    """Schedule and build instances whose rows the API has written (cast)."""

    request_spec: RequestSpec
    admin_passwords: dict[str, str] = {}


class Reschedule(msgspec.Struct, frozen=True, kw_only=True):
    """A build failed on ``failed_host``; try another host or give up (cast)."""

    instance_uuid: str
    request_spec: RequestSpec
    failed_host: str
    reason: str
    admin_password: str | None = None


class MigrateServer(msgspec.Struct, frozen=True, kw_only=True):
    """Resize or cold-migrate: the API wrote the migration row (cast)."""

    instance_uuid: str
    migration_id: int


class LiveMigrateServer(msgspec.Struct, frozen=True, kw_only=True):
    """Live-migrate: claim a destination and check both ends (a call before
    microversion 2.34, so the API can answer 400; a cast from 2.34)."""

    instance_uuid: str
    migration_id: int
    block_migration: bool | None = None  # None: "auto"
    disk_over_commit: bool = False
    force: bool = False


class PreviousImage(msgspec.Struct, frozen=True, kw_only=True):
    """A server's image columns before a rebuild replaced them (put back if refused)."""

    image_ref: str = ""
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    #: ``system_metadata["image"]``; None when the server had none (volume-backed).
    meta: ImageMeta | None = None


class RebuildServer(msgspec.Struct, frozen=True, kw_only=True):
    """Rebuild on the instance's host, or evacuate (``migration_id`` set) (cast).

    ``previous_image`` is set when a rebuild changes the image: the conductor then
    asks the scheduler whether the host accepts the new one (conductor.rebuild_check).
    """

    instance_uuid: str
    admin_password: str | None = None
    preserve_ephemeral: bool = False
    migration_id: int | None = None
    force: bool = False
    previous_image: PreviousImage | None = None


SURFACE = Surface(topic="conductor", version=1, methods={
    "build_instances": (BuildInstances, None),
    "reschedule": (Reschedule, None),
    "migrate_server": (MigrateServer, None),
    "live_migrate_server": (LiveMigrateServer, None),
    "rebuild_server": (RebuildServer, None),
})
