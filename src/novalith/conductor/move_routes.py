"""The conductor's RPC methods of moves, routed to conductor.migrate and conductor.rebuild.

Mixed into :class:`~novalith.conductor.manager.ConductorManager` (which provides
``db``, ``scheduler``, ``compute``, ``host`` and ``allow_resize_to_same_host``).
"""

from __future__ import annotations

from novalith.conductor import migrate, rebuild
from novalith.conductor.rpcapi import LiveMigrateServer, MigrateServer, RebuildServer
from novalith.objects.context import RequestContext


class MoveRoutes:
    def migrate_server(self, ctx: RequestContext, req: MigrateServer) -> None:
        migrate.migrate_server(self, ctx, req)

    def live_migrate_server(self, ctx: RequestContext, req: LiveMigrateServer) -> None:
        migrate.live_migrate_server(self, ctx, req)

    def rebuild_server(self, ctx: RequestContext, req: RebuildServer) -> None:
        rebuild.rebuild_server(self, ctx, req)
