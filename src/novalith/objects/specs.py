"""What a driver or the scheduler needs to know about a flavor, an image and an instance."""

from __future__ import annotations

from typing import Any

import msgspec


class FlavorSpec(msgspec.Struct, frozen=True, kw_only=True):
    flavorid: str
    name: str
    memory_mb: int
    vcpus: int
    root_gb: int
    ephemeral_gb: int = 0
    swap: int = 0
    extra_specs: dict[str, str] = {}


class ImageMeta(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    size: int | None = None
    min_disk: int = 0
    min_ram: int = 0
    checksum: str | None = None
    properties: dict[str, Any] = {}


class InstanceSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a driver needs to build or act on one instance.

    ``name`` is the platform name (``instance-%08x`` of the integer id); drivers
    key their own records by ``uuid`` and never search by ``display_name``.
    """

    uuid: str
    id: int
    name: str
    display_name: str
    hostname: str
    project_id: str
    user_id: str
    flavor: FlavorSpec
    image: ImageMeta | None = None
    user_data: str | None = None
    key_data: str | None = None
    metadata: dict[str, str] = {}
    config_drive: bool = False
    availability_zone: str | None = None
    #: Name of the keypair whose public key is ``key_data`` (config drive public_keys).
    key_name: str | None = None
    #: Personality files: (path in the guest, base64 contents), for the config drive.
    injected_files: list[tuple[str, str]] = []


def instance_name(instance_id: int) -> str:
    return f"instance-{instance_id:08x}"


class RequestSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the scheduler is asked to place (one or more identical instances)."""

    instance_uuids: list[str]
    project_id: str
    flavor: FlavorSpec
    image: ImageMeta | None = None
    availability_zone: str | None = None
    requested_host: str | None = None
    requested_node: str | None = None
    ignore_hosts: list[str] = []
    scheduler_hints: dict[str, Any] = {}
    #: Policy of the server group named by the ``group`` hint (affinity,
    #: anti-affinity, soft-affinity, soft-anti-affinity); filled by the scheduler.
    group_policy: str | None = None
    #: Host of each placed member of that group, repeated per member; the scheduler
    #: fills it from the DB and extends it as it places a batch.
    group_hosts: list[str] = []
