"""The conductor: turns scheduling decisions into builds, and reschedules failed ones."""

from __future__ import annotations

import logging

import msgspec
from oslo_config import cfg

from novalith import exceptions
from novalith.compute.instance_spec import from_row
from novalith.compute.rpcapi import SURFACE as COMPUTE
from novalith.compute.rpcapi import BuildAndRun
from novalith.conductor.move_routes import MoveRoutes
from novalith.conductor.recovery import BuildWatchdog
from novalith.conductor.rpcapi import SURFACE, BuildInstances, Reschedule
from novalith.conf.conductor import WatchdogConfig
from novalith.db import instances as inst_db
from novalith.db.api import Database
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import RequestSpec
from novalith.rpc.dispatch import RPCClient
from novalith.rpc.transport import Transport
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER
from novalith.scheduler.rpcapi import SelectAndClaim
from novalith.service import RPCService

LOG = logging.getLogger(__name__)
BINARY = "nova-conductor"


class ConductorManager(MoveRoutes):
    def __init__(self, conf: cfg.ConfigOpts, db: Database, transport: Transport,
                 host: str | None = None, workers: int = 8) -> None:
        self.db, self.transport = db, transport
        self.host = host or conf.host
        self.max_attempts: int = conf.scheduler.max_attempts
        self.allow_resize_to_same_host: bool = conf.allow_resize_to_same_host
        timeout = conf.rpc_response_timeout
        self.scheduler = RPCClient(transport, SCHEDULER, timeout)
        self.compute = RPCClient(transport, COMPUTE, timeout)
        self.service = RPCService(db, transport, self.host, BINARY, SURFACE, self,
                                  conf.internal_service_availability_zone,
                                  conf.report_interval, workers)
        self.watchdog = BuildWatchdog(self, WatchdogConfig.from_conf(conf))

    def start(self) -> None:
        self.service.register()
        self.service.periodic.add("build_watchdog", self.watchdog.config.check_interval,
                                  self.watchdog.run)
        self.service.run()

    def stop(self) -> None:
        self.service.stop()

    # ---- RPC methods ------------------------------------------------------------------------
    def build_instances(self, ctx: RequestContext, req: BuildInstances) -> None:
        self._schedule_and_build(ctx, req.request_spec, req.admin_passwords)

    def reschedule(self, ctx: RequestContext, req: Reschedule) -> None:
        with self.db.read() as conn:
            row = inst_db.get(conn, req.instance_uuid)
        if row is None or row["vm_state"] != s.BUILDING or row["task_state"] != s.SCHEDULING:
            return
        attempts = list(row["attempts"] or [])
        exhausted = (f"Exceeded maximum number of retries. Exhausted all hosts available for "
                     f"retrying build failures for instance {req.instance_uuid}. "
                     f"Last error: {req.reason}")
        if len(attempts) >= self.max_attempts:
            self._fail(ctx, [req.instance_uuid], exhausted, code=500)
            return
        spec = msgspec.structs.replace(req.request_spec, instance_uuids=[req.instance_uuid],
                                       ignore_hosts=attempts)
        passwords = {req.instance_uuid: req.admin_password} if req.admin_password else {}
        # No host left besides those tried: the retries are exhausted too.
        self._schedule_and_build(ctx, spec, passwords, no_host_reason=exhausted)

    # ---- helpers ----------------------------------------------------------------------------
    def _schedule_and_build(self, ctx: RequestContext, spec: RequestSpec,
                            passwords: dict[str, str], no_host_reason: str | None = None
                            ) -> None:
        try:
            result = self.scheduler.call(ctx, "select_and_claim", SelectAndClaim(request_spec=spec))
        except exceptions.RPCTimeout as exc:
            # Delivered but not answered in time: whether a claim was made is unknown,
            # so nothing is decided here; the build watchdog (recovery.py) sends the
            # build on if a claim exists, or schedules again if not.
            LOG.warning("Scheduling %s got no answer (%s); the build watchdog takes it over",
                        spec.instance_uuids, exc)
            return
        except exceptions.NovalithError as exc:
            LOG.error("Scheduling %s failed: %s", spec.instance_uuids, exc)
            self._fail(ctx, spec.instance_uuids, str(exc))
            return
        if result.failures:
            self._fail(ctx, list(result.failures),
                       no_host_reason or next(iter(result.failures.values())))
        if not result.selections:
            return
        with self.db.read() as conn:
            rows = {r["uuid"]: r for r in inst_db.get_many(
                conn, [sel.instance_uuid for sel in result.selections])}
        for sel in result.selections:
            row = rows.get(sel.instance_uuid)
            if row is None:
                continue
            self.compute.cast(ctx, "build_and_run_instance", BuildAndRun(
                instance=from_row(row), request_spec=spec, node_id=sel.node_id,
                admin_password=passwords.get(sel.instance_uuid)), server=sel.host)

    def _fail(self, ctx: RequestContext, uuids: list[str], reason: str, code: int = 500) -> None:
        """Instances no host could take: ERROR with a fault the API shows."""
        for uuid in uuids:
            with self.db.write() as conn:
                changed = inst_db.transition(conn, uuid, {"vm_state": s.ERROR, "task_state": None},
                                             expected_vm=[s.BUILDING])
                if changed:
                    inst_db.add_fault(conn, uuid, None, code=code, message=reason)
                    inst_db.finish_event(conn, uuid, ctx.request_id, "conductor_schedule",
                                         exc=exceptions.NoValidHost(reason))
