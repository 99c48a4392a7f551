"""The compute service: routes RPC to the operation modules and runs periodic tasks."""

from __future__ import annotations

import logging

from oslo_config import cfg

from novalith import exceptions
from novalith.compute import (
    build,
    delete,
    image_cache,
    move_recovery,
    power,
    power_events,
    reconcile,
    resources,
    snapshot,
)
from novalith.compute.config import ComputeConfig
from novalith.compute.deps import ComputeDeps
from novalith.compute.instance_spec import from_row
from novalith.compute.move_routes import MoveRoutes, add_periodic_tasks
from novalith.compute.rpcapi import (
    SURFACE,
    BuildAndRun,
    ConsoleOutput,
    ConsoleText,
    InstanceOp,
    SnapshotInstance,
)
from novalith.conductor.rpcapi import SURFACE as CONDUCTOR
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db.api import Database
from novalith.image.client import ImageClient
from novalith.objects.context import RequestContext, admin_context
from novalith.rpc.dispatch import RPCClient
from novalith.rpc.transport import Transport
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER
from novalith.scheduler.rpcapi import RefreshHost
from novalith.service import RPCService
from novalith.virt.driver import ConsoleSupport, require
from novalith.virt.loader import load_driver

LOG = logging.getLogger(__name__)
BINARY = "nova-compute"


class ComputeManager(MoveRoutes):
    def __init__(self, conf: cfg.ConfigOpts, db: Database, transport: Transport,
                 host: str | None = None, image_client: ImageClient | None = None) -> None:
        config = ComputeConfig.from_conf(conf, host)
        self.transport = transport
        driver = load_driver(conf.compute_driver, conf, config.host, self)
        self.deps = ComputeDeps(
            db=db, driver=driver, config=config,
            conductor=RPCClient(transport, CONDUCTOR, config.rpc_timeout),
            scheduler=RPCClient(transport, SCHEDULER, config.rpc_timeout),
            image_client=image_client,
            compute=RPCClient(transport, SURFACE, config.rpc_timeout))
        # Out-of-band power changes the driver reports; applied once start-up has
        # reconciled (compute.power_events).
        self.power_events = power_events.PowerEvents(self.deps)
        self.service = RPCService(db, transport, config.host, BINARY, SURFACE, self,
                                  config.default_availability_zone, config.report_interval,
                                  config.build_workers)

    @property
    def host(self) -> str:
        return self.deps.host

    # ---- life cycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.deps.driver.init_host()
        service_id = self.service.register()
        self.update_resources()
        move_recovery.at_startup(self.deps)
        reconcile.at_startup(self.deps)
        self.power_events.start()
        self._audit_usage()
        cfg_ = self.deps.config
        self.service.periodic.add("update_resources", cfg_.update_resources_interval,
                                  self.update_resources)
        self.service.periodic.add("sync_power_states", cfg_.sync_power_state_interval,
                                  lambda: reconcile.sync_power_states(self.deps))
        self.service.periodic.add("image_cache_manager", cfg_.image_cache_manager_interval,
                                  lambda: image_cache.manage(self.deps))
        add_periodic_tasks(self.service.periodic, self.deps, cfg_.report_interval)
        self.service.run()
        LOG.info("Compute service %s started (driver %s, service %s)", self.host,
                 self.deps.driver.name, service_id)

    def stop(self) -> None:
        self.service.stop()
        self.power_events.stop()
        self.deps.driver.cleanup_host()

    def _audit_usage(self) -> None:
        """Set this node's used figures from the claims its instances hold, so that
        whatever a crash left half-done, the scheduler starts from the truth."""
        if self.deps.node_id is not None:
            with self.deps.db.write() as conn:
                claims.recompute_usage(conn, self.deps.node_id)

    def update_resources(self) -> None:
        assert self.service.service_id is not None
        resources.report(self.deps, self.service.service_id)
        self.deps.scheduler.fanout(admin_context(), "refresh_host", RefreshHost(host=self.host))

    # ---- driver callbacks -------------------------------------------------------------------
    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        self.power_events.report(uuid, power_state)

    def fetch_image(self, image_id: str, dest: str) -> None:
        image_cache.fetch_image(self.deps, image_id, dest)

    # ---- RPC methods ----------------------------------------------------------------------
    def build_and_run_instance(self, ctx: RequestContext, req: BuildAndRun) -> None:
        build.build_and_run(self.deps, ctx, req)

    def run_instance_action(self, ctx: RequestContext, req: InstanceOp) -> None:
        power.run_action(self.deps, ctx, req)

    def terminate_instance(self, ctx: RequestContext, req: InstanceOp) -> None:
        delete.terminate(self.deps, ctx, req)

    def snapshot_instance(self, ctx: RequestContext, req: SnapshotInstance) -> None:
        snapshot.snapshot_instance(self.deps, ctx, req)

    def get_console_output(self, ctx: RequestContext, req: ConsoleOutput) -> ConsoleText:
        with self.deps.db.read() as conn:
            row = inst_db.get(conn, req.instance_uuid)
        if row is None:
            raise exceptions.InstanceNotFound(instance_id=req.instance_uuid)
        text = require(self.deps.driver, ConsoleSupport, "console output"
                       ).get_console_output(from_row(row))
        if req.length is not None:
            text = "\n".join(text.splitlines()[-req.length:]) if req.length > 0 else ""
        return ConsoleText(output=text)
