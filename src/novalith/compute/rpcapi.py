"""The compute service's RPC surface (topic ``compute``, server = host name)."""

from __future__ import annotations

from typing import Any

import msgspec

from novalith.objects.specs import InstanceSpec, RequestSpec
from novalith.rpc.dispatch import Surface
from novalith.virt.driver import MigrateData


class BuildAndRun(msgspec.Struct, frozen=True, kw_only=True):
    instance: InstanceSpec
    request_spec: RequestSpec
    node_id: int
    admin_password: str | None = None


class InstanceOp(msgspec.Struct, frozen=True, kw_only=True):
    """An operation on one instance whose task_state the API has already set."""

    instance_uuid: str
    action: str  # key of novalith.compute.state_machine.ACTIONS, or "delete"


class ConsoleOutput(msgspec.Struct, frozen=True, kw_only=True):
    instance_uuid: str
    length: int | None = None


class ConsoleText(msgspec.Struct, frozen=True, kw_only=True):
    output: str


class SnapshotInstance(msgspec.Struct, frozen=True, kw_only=True):
    """createImage / createBackup: the API made the queued image and set task_state."""

    instance_uuid: str
    image_id: str
    kind: str = "snapshot"  # key of novalith.compute.state_machine.IMAGE_ACTIONS
    backup_type: str | None = None
    rotation: int | None = None


# ---- moves (compute.resize, compute.live_migrate, compute.rebuild) --------------------------

class MoveOp(msgspec.Struct, frozen=True, kw_only=True):
    """A step of a move whose migration row says everything else: prep_resize and
    revert_resize (destination), resize_instance, confirm_resize and
    finish_revert_resize (source), live_migration_abort and
    live_migration_force_complete (source)."""

    instance_uuid: str
    migration_id: int


class FinishResize(msgspec.Struct, frozen=True, kw_only=True):
    """To the destination: the source powered off and handed over ``disk_info``."""

    instance_uuid: str
    migration_id: int
    disk_info: dict[str, Any] = {}


class ResizeFailed(msgspec.Struct, frozen=True, kw_only=True):
    """To the source: finish_migration failed at the destination; bring the guest back."""

    instance_uuid: str
    migration_id: int
    reason: str = ""


class LiveMigrationCheck(msgspec.Struct, frozen=True, kw_only=True):
    """check_can_live_migrate_destination (dest_check None) and _source (call)."""

    instance_uuid: str
    migration_id: int
    block_migration: bool | None = None  # None: "auto"
    disk_over_commit: bool = False
    dest_check: MigrateData | None = None


class LiveMigrationStep(msgspec.Struct, frozen=True, kw_only=True):
    """pre_live_migration, post_live_migration_at_destination and
    rollback_live_migration_at_destination (calls to the destination), and
    live_migration (cast to the source)."""

    instance_uuid: str
    migration_id: int
    data: MigrateData = MigrateData()


class RebuildInstance(msgspec.Struct, frozen=True, kw_only=True):
    """Rebuild on this host, or (``migration_id`` set) evacuate to it."""

    instance_uuid: str
    admin_password: str | None = None
    preserve_ephemeral: bool = False
    migration_id: int | None = None


class DestroyLeftovers(msgspec.Struct, frozen=True, kw_only=True):
    """The instance was deleted elsewhere: remove what a move left on this host."""

    instance_uuid: str


SURFACE = Surface(topic="compute", version=1, methods={
    "build_and_run_instance": (BuildAndRun, None),
    "run_instance_action": (InstanceOp, None),
    "terminate_instance": (InstanceOp, None),
    "get_console_output": (ConsoleOutput, ConsoleText),
    "snapshot_instance": (SnapshotInstance, None),
    "prep_resize": (MoveOp, None),
    "resize_instance": (MoveOp, None),
    "finish_resize": (FinishResize, None),
    "abort_resize": (ResizeFailed, None),
    "confirm_resize": (MoveOp, None),
    "revert_resize": (MoveOp, None),
    "finish_revert_resize": (MoveOp, None),
    "check_can_live_migrate_destination": (LiveMigrationCheck, MigrateData),
    "check_can_live_migrate_source": (LiveMigrationCheck, MigrateData),
    "pre_live_migration": (LiveMigrationStep, MigrateData),
    "live_migration": (LiveMigrationStep, None),
    "post_live_migration_at_destination": (LiveMigrationStep, None),
    "rollback_live_migration_at_destination": (LiveMigrationStep, None),
    "live_migration_abort": (MoveOp, None),
    "live_migration_force_complete": (MoveOp, None),
    "rebuild_instance": (RebuildInstance, None),
    "destroy_leftovers": (DestroyLeftovers, None),
})
