"""The build watchdog: finishes builds whose message, scheduler or compute host was lost.

Casts are delivered at most once (see :mod:`novalith.rpc.rabbit`), and a compute
host can die in the middle of a build. Every conductor therefore looks, every
``[conductor] build_check_interval`` seconds, at the instances still building,
and moves each one on by the first rule that applies:

1. **Timed out**: created more than ``build_timeout`` seconds ago. The instance
   goes to ERROR with a fault and its claim is released. Its host (if any) is
   kept, so a delete still reaches that host to remove whatever it built.
2. **Host down**: it holds a claim on a host whose compute service is down
   (``service_down_time``). The claim is released, the host forgotten and the
   build goes through :meth:`ConductorManager.reschedule` with that host counted
   as an attempt: another host builds it, or (attempts exhausted) ERROR. When the
   dead host comes back, its start-up reconcile destroys what it had half-built,
   since the instance is no longer on it.
3. **Message lost**: waiting for scheduling for longer than ``build_redeliver_after``
   seconds since its last change. Without a claim it is scheduled again (the
   ``build_instances`` cast or the scheduler's answer was lost); with a claim on a
   live host the ``build_and_run_instance`` cast is sent again.

Several conductors may run this at once, and a repeat is harmless: each rule
starts with a conditional write that only one conductor wins, a claim needs an
instance without one, and a compute host only builds an instance that is still
waiting (task ``scheduling``) for that very host, so nothing is built twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select, update

from novalith.compute.instance_spec import from_row
from novalith.compute.rpcapi import BuildAndRun
from novalith.conductor.rpcapi import BuildInstances, Reschedule
from novalith.conf.conductor import WatchdogConfig
from novalith.db import claims
from novalith.db import instances as inst_db
from novalith.db import server_groups as group_db
from novalith.db import services as svc_db
from novalith.db.base import utcnow
from novalith.objects import states as s
from novalith.objects.context import admin_context
from novalith.objects.specs import FlavorSpec, ImageMeta, RequestSpec

if TYPE_CHECKING:
    from novalith.conductor.manager import ConductorManager

LOG = logging.getLogger(__name__)
INST = inst_db.INST
# task states of a build: waiting for a host, or being built by one
BUILD_TASKS = (s.SCHEDULING, s.SPAWNING, s.NETWORKING, s.BLOCK_DEVICE_MAPPING)


def request_spec_from_row(row: Mapping[str, Any], hints: dict[str, Any] | None = None
                          ) -> RequestSpec:
    """The request spec of one instance, rebuilt from its row (the API's original spec
    travelled in a message): the row keeps everything placement needs but the scheduler
    hints, of which only the server group matters after the boot (``hints``)."""
    image = (row["system_metadata"] or {}).get("image")
    return RequestSpec(
        instance_uuids=[row["uuid"]], project_id=row["project_id"],
        flavor=msgspec.convert(row["flavor"], FlavorSpec),
        image=msgspec.convert(image, ImageMeta) if image else None,
        availability_zone=row["requested_az"], requested_host=row["requested_host"],
        requested_node=row["requested_node"], ignore_hosts=list(row["attempts"] or []),
        scheduler_hints=dict(hints or {}))


class BuildWatchdog:
    """One conductor's periodic check of building instances (see the module docstring)."""

    def __init__(self, conductor: ConductorManager, config: WatchdogConfig) -> None:
        self.conductor, self.config, self.db = conductor, config, conductor.db

    def run(self) -> None:
        """The periodic task."""
        self.check()

    def check(self) -> dict[str, int]:
        """Apply the rules once; returns how many instances each rule moved."""
        with self.db.read() as conn:
            rows = list(conn.execute(select(INST).where(
                INST.c.vm_state == s.BUILDING, INST.c.deleted == False  # noqa: E712
            )).mappings())
            if not rows:
                return {}
            now = utcnow()
            up = {r["host"]: svc_db.is_up(r, self.config.service_down_time, now)
                  for r in svc_db.list_services(conn, binary="nova-compute")}
        done: dict[str, int] = {}
        for row in rows:
            rule = self._rule(row, up, now)  # RowMapping: keyed by column name
            if rule is not None and getattr(self, "_" + rule)(row):
                done[rule] = done.get(rule, 0) + 1
        if done:
            LOG.warning("Build watchdog moved stuck builds on: %s", done)
        return done

    def _rule(self, row: Mapping[Any, Any], up: dict[str, bool], now: dt.datetime
              ) -> str | None:
        if (now - row["created_at"]).total_seconds() > self.config.build_timeout:
            return "timed_out"
        host = row["host"]
        if host is not None and row["task_state"] in BUILD_TASKS and not up.get(host, False):
            return "host_down"
        changed = row["updated_at"] or row["created_at"]
        if row["task_state"] == s.SCHEDULING and \
                (now - changed).total_seconds() > self.config.redeliver_after:
            return "redelivered"
        return None

    def _spec(self, row: Mapping[str, Any]) -> RequestSpec:
        with self.db.read() as conn:
            group = group_db.group_of(conn, row["uuid"])
        return request_spec_from_row(row, {"group": group["uuid"]} if group else None)

    # ---- the rules --------------------------------------------------------------------------
    def _timed_out(self, row: Mapping[str, Any]) -> bool:
        reason = (f"Build of instance {row['uuid']} timed out after "
                  f"{self.config.build_timeout} seconds.")
        with self.db.write() as conn:
            changed = inst_db.transition(conn, row["uuid"], {"vm_state": s.ERROR,
                                                             "task_state": None},
                                         expected_vm=[s.BUILDING])
            if changed:
                claims.release(conn, row["uuid"])
                inst_db.add_fault(conn, row["uuid"], None, code=500, message=reason,
                                  host=row["host"])
        if changed:
            LOG.error(reason)
        return changed

    def _host_down(self, row: Mapping[str, Any]) -> bool:
        host = row["host"]
        with self.db.write() as conn:
            moved = conn.execute(
                update(INST).where(INST.c.uuid == row["uuid"], INST.c.host == host,
                                   INST.c.vm_state == s.BUILDING,
                                   INST.c.task_state.in_(BUILD_TASKS),
                                   INST.c.deleted == False)  # noqa: E712
                .values(task_state=s.SCHEDULING, updated_at=utcnow())).rowcount == 1
            if moved:
                claims.release(conn, row["uuid"], clear_host=True)
        if not moved:
            return False
        reason = f"Compute host {host} went down while building the instance."
        LOG.warning("Rescheduling %s: %s", row["uuid"], reason)
        # The failed host is in the row's attempts already (the claim recorded it).
        self.conductor.reschedule(admin_context(), Reschedule(
            instance_uuid=row["uuid"], request_spec=self._spec(row),
            failed_host=host, reason=reason))
        return True

    def _redelivered(self, row: Mapping[str, Any]) -> bool:
        # Take the instance for this round: only one conductor's touch matches.
        same_change = (INST.c.updated_at.is_(None) if row["updated_at"] is None
                       else INST.c.updated_at == row["updated_at"])
        with self.db.write() as conn:
            taken = conn.execute(
                update(INST).where(INST.c.uuid == row["uuid"], same_change,
                                   INST.c.vm_state == s.BUILDING,
                                   INST.c.task_state == s.SCHEDULING,
                                   INST.c.deleted == False)  # noqa: E712
                .values(updated_at=utcnow())).rowcount == 1
        if not taken:
            return False
        ctx = admin_context()
        spec = self._spec(row)
        if row["claim_node_id"] is None:
            LOG.warning("Scheduling %s again: its request was not answered in %s s",
                        row["uuid"], self.config.redeliver_after)
            self.conductor.build_instances(ctx, BuildInstances(request_spec=spec))
        else:
            LOG.warning("Sending the build of %s to %s again: not started in %s s",
                        row["uuid"], row["host"], self.config.redeliver_after)
            self.conductor.compute.cast(ctx, "build_and_run_instance", BuildAndRun(
                instance=from_row(row), request_spec=spec, node_id=row["claim_node_id"]),
                server=row["host"])
        return True
