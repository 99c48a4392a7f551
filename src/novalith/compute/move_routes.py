"""The compute service's RPC methods of moves, routed to their operation modules.

Mixed into :class:`~novalith.compute.manager.ComputeManager`, which provides
``deps``; like the manager, it only routes.
"""

from __future__ import annotations

from novalith.compute import live_migrate, move_recovery, rebuild, resize
from novalith.compute.deps import ComputeDeps
from novalith.compute.rpcapi import (
    DestroyLeftovers,
    FinishResize,
    LiveMigrationCheck,
    LiveMigrationStep,
    MoveOp,
    RebuildInstance,
    ResizeFailed,
)
from novalith.objects.context import RequestContext
from novalith.service import Periodic
from novalith.virt.driver import MigrateData


def add_periodic_tasks(periodic: Periodic, deps: ComputeDeps, report_interval: int) -> None:
    """Auto-confirm (when a window is set) and the clean-up of evacuated guests."""
    window = deps.config.resize_confirm_window
    if window > 0:
        periodic.add("auto_confirm_resizes", max(1, min(window / 2, 60)),
                     lambda: move_recovery.auto_confirm(deps))
    periodic.add("cleanup_evacuated", max(1, report_interval),
                 lambda: move_recovery.cleanup_evacuated(deps))


class MoveRoutes:
    deps: ComputeDeps

    # resize and cold migration (compute.resize)
    def prep_resize(self, ctx: RequestContext, req: MoveOp) -> None:
        resize.prep_resize(self.deps, ctx, req)

    def resize_instance(self, ctx: RequestContext, req: MoveOp) -> None:
        resize.resize_instance(self.deps, ctx, req)

    def finish_resize(self, ctx: RequestContext, req: FinishResize) -> None:
        resize.finish_resize(self.deps, ctx, req)

    def abort_resize(self, ctx: RequestContext, req: ResizeFailed) -> None:
        resize.abort_resize(self.deps, ctx, req)

    def confirm_resize(self, ctx: RequestContext, req: MoveOp) -> None:
        resize.confirm_resize(self.deps, ctx, req)

    def revert_resize(self, ctx: RequestContext, req: MoveOp) -> None:
        resize.revert_resize(self.deps, ctx, req)

    def finish_revert_resize(self, ctx: RequestContext, req: MoveOp) -> None:
        resize.finish_revert_resize(self.deps, ctx, req)

    # live migration (compute.live_migrate)
    def check_can_live_migrate_destination(self, ctx: RequestContext, req: LiveMigrationCheck
                                           ) -> MigrateData:
        return live_migrate.check_destination(self.deps, ctx, req)

    def check_can_live_migrate_source(self, ctx: RequestContext, req: LiveMigrationCheck
                                      ) -> MigrateData:
        return live_migrate.check_source(self.deps, ctx, req)

    def pre_live_migration(self, ctx: RequestContext, req: LiveMigrationStep) -> MigrateData:
        return live_migrate.pre_live_migration(self.deps, ctx, req)

    def live_migration(self, ctx: RequestContext, req: LiveMigrationStep) -> None:
        live_migrate.live_migration(self.deps, ctx, req)

    def post_live_migration_at_destination(self, ctx: RequestContext,
                                           req: LiveMigrationStep) -> None:
        live_migrate.post_at_destination(self.deps, ctx, req)

    def rollback_live_migration_at_destination(self, ctx: RequestContext,
                                               req: LiveMigrationStep) -> None:
        live_migrate.rollback_at_destination(self.deps, ctx, req)

    def live_migration_abort(self, ctx: RequestContext, req: MoveOp) -> None:
        live_migrate.abort(self.deps, ctx, req)

    def live_migration_force_complete(self, ctx: RequestContext, req: MoveOp) -> None:
        live_migrate.force_complete(self.deps, ctx, req)

    # rebuild and evacuation (compute.rebuild); leftovers of deleted instances
    def rebuild_instance(self, ctx: RequestContext, req: RebuildInstance) -> None:
        rebuild.rebuild_instance(self.deps, ctx, req)

    def destroy_leftovers(self, ctx: RequestContext, req: DestroyLeftovers) -> None:
        move_recovery.destroy_leftovers(self.deps, ctx, req)
