"""The scheduler service: in-memory host states, filter/weigh, atomic DB claim.

Host states live in memory and are refreshed from the DB periodically, when a
compute host reports (``refresh_host`` fanout) and whenever a claim on a host
fails. The DB claim is the only authority: a stale view costs a retry on the
next candidate, never an overcommit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from oslo_config import cfg

from novalith import exceptions
from novalith.conf.scheduler import SchedulerConfig
from novalith.db import claims
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.objects.context import RequestContext
from novalith.rpc.transport import Transport
from novalith.scheduler.host_state import HostState
from novalith.scheduler.plugins import load_filters, load_weighers
from novalith.scheduler.rpcapi import (
    SURFACE,
    RefreshHost,
    SelectAndClaim,
    SelectAndClaimResult,
    Selection,
)
from novalith.scheduler.selector import HostSelector
from novalith.service import RPCService

LOG = logging.getLogger(__name__)
BINARY = "nova-scheduler"
REFRESH_SECONDS = 10.0


class SchedulerManager:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, transport: Transport,
                 host: str | None = None, workers: int = 4) -> None:
        self.db, self.transport = db, transport
        self.host = host or conf.host
        self.config = SchedulerConfig.from_conf(conf)
        self.selector = HostSelector(load_filters(self.config.enabled_filters, self.config),
                                     load_weighers(self.config.weight_classes, self.config),
                                     self.config)
        self.default_az: str = conf.default_availability_zone
        self.service_down_time: int = conf.service_down_time
        self._lock = threading.Lock()
        self._hosts: dict[int, HostState] = {}
        self._refreshed = 0.0
        self.service = RPCService(db, transport, self.host, BINARY, SURFACE, self,
                                  conf.internal_service_availability_zone,
                                  conf.report_interval, workers)

    def start(self) -> None:
        self.service.register()
        self.refresh_all()
        self.service.run()

    def stop(self) -> None:
        self.service.stop()

    # ---- host state view --------------------------------------------------------------------
    def _mapping(self, row: Mapping[Any, Any], now: Any) -> dict[str, Any]:
        m = dict(row)
        m["availability_zone"] = row["availability_zone"] or self.default_az
        m["service_up"] = svc_db.is_up({"forced_down": row["forced_down"],
                                        "last_seen_up": row["last_seen_up"],
                                        "updated_at": row["service_updated_at"],
                                        "created_at": row["service_created_at"]},
                                       self.service_down_time, now)
        return m

    def refresh_all(self) -> None:
        with self.db.read() as conn:
            rows = svc_db.nodes_with_services(conn)
        now = utcnow()
        hosts = {}
        for row in rows:
            hosts[row["id"]] = HostState.from_mapping(self._mapping(row, now))
        with self._lock:
            self._hosts = hosts
            self._refreshed = time.monotonic()

    def _refresh_nodes(self, host: str) -> None:
        """Reload one host's nodes (caller holds the lock)."""
        with self.db.read() as conn:
            rows = [r for r in svc_db.nodes_with_services(conn) if r["host"] == host]
        now = utcnow()
        for row in rows:
            mapping = self._mapping(row, now)
            state = self._hosts.get(row["id"])
            if state is None:
                self._hosts[row["id"]] = HostState.from_mapping(mapping)
            else:
                state.update_from_mapping(mapping)

    # ---- RPC methods --------------------------------------------------------------------
    def refresh_host(self, ctx: RequestContext, req: RefreshHost) -> None:
        with self._lock:
            self._refresh_nodes(req.host)

    def select_and_claim(self, ctx: RequestContext, req: SelectAndClaim) -> SelectAndClaimResult:
        if time.monotonic() - self._refreshed > REFRESH_SECONDS:
            self.refresh_all()
        spec = req.request_spec
        selections: list[Selection] = []
        failures: dict[str, str] = {}
        with self._lock:
            hosts = list(self._hosts.values())
            for uuid in spec.instance_uuids:
                try:
                    sel = self._place_one(hosts, spec, uuid)
                except exceptions.NoValidHost as exc:
                    failures[uuid] = str(exc)
                    continue
                if sel is not None:
                    selections.append(sel)
        return SelectAndClaimResult(selections=selections, failures=failures)

    def _place_one(self, hosts: list[HostState], spec: Any, uuid: str) -> Selection | None:
        """Choose and claim a host for one instance; None if the instance went away."""
        candidates = self.selector.select(hosts, spec, 1)[0]
        for index, host in enumerate(candidates):
            if index > 0:  # the selector consumed the first candidate already
                host.consume(spec.flavor)
            with self.db.write() as conn:
                outcome = claims.claim(conn, uuid, host.node_id, spec.flavor, host.host,
                                       host.nodename, host.availability_zone,
                                       attempts=[*spec.ignore_hosts, host.host])
            if outcome == claims.CLAIMED:
                return Selection(instance_uuid=uuid, host=host.host, nodename=host.nodename,
                                 node_id=host.node_id, availability_zone=host.availability_zone)
            host.release(spec.flavor)
            if outcome == claims.GONE:
                return None
            LOG.info("Claim on %s lost a race; refreshing it", host.host)
            self._refresh_nodes(host.host)
        raise exceptions.NoValidHost(reason="Resources were claimed by other requests.")
