"""The scheduler service: in-memory host states, filter/weigh, atomic DB claim.

Host states live in memory and are refreshed from the DB periodically, when a
compute host reports (``refresh_host`` fanout), whenever a claim on a host
fails, and before a request is failed with no valid host if the view is over a
second old. The DB claim is the only authority: a stale view costs a retry on the
next candidate, never an overcommit. That is also what lets several schedulers
run at once (active-active): each keeps its own view, and the claims arbitrate.

Liveness (ComputeFilter) is re-derived at most a second before each selection
from the heartbeat times last read, and the view is re-read at least every
quarter of ``service_down_time``, so a compute that stops heartbeating drops out
within about ``service_down_time`` and a live one never looks down.
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
from novalith.db import aggregates as agg_db
from novalith.db import claims
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.objects.context import RequestContext
from novalith.rpc.transport import Transport
from novalith.scheduler import moves, request_groups
from novalith.scheduler.host_state import HostState
from novalith.scheduler.plugins import load_filters, load_weighers
from novalith.scheduler.rpcapi import (
    SURFACE,
    CheckHost,
    HostCheck,
    MoveSelection,
    RefreshHost,
    SelectAndClaim,
    SelectAndClaimMove,
    SelectAndClaimResult,
    Selection,
)
from novalith.scheduler.selector import HostSelector
from novalith.service import RPCService

LOG = logging.getLogger(__name__)
DECISIONS = logging.getLogger("novalith.scheduler.decisions")
BINARY = "nova-scheduler"
REFRESH_SECONDS = 10.0
#: A view older than this is re-read before a request is failed with no valid host.
RECHECK_SECONDS = 1.0


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
        # From host aggregates: host -> availability zone, host -> key -> values.
        self._zones: dict[str, str] = {}
        self._agg_meta: dict[str, dict[str, set[str]]] = {}
        # node id -> its service's liveness fields (forced_down and heartbeat times)
        self._liveness: dict[int, dict[str, Any]] = {}
        self._refreshed = 0.0
        self._liveness_checked = 0.0
        self.refresh_seconds = min(REFRESH_SECONDS, self.service_down_time / 4)
        self.service = RPCService(db, transport, self.host, BINARY, SURFACE, self,
                                  conf.internal_service_availability_zone,
                                  conf.report_interval, workers)

    def start(self) -> None:
        self.service.register()
        self.refresh_all()
        self.service.run()
        # Again, now that refresh_host fanouts arrive: a compute that registered
        # between the first read and the subscription is in this one.
        self.refresh_all()

    def stop(self) -> None:
        self.service.stop()

    # ---- host state view --------------------------------------------------------------------
    def _mapping(self, row: Mapping[Any, Any], now: Any) -> dict[str, Any]:
        m = dict(row)
        m["availability_zone"] = (self._zones.get(row["host"]) or row["availability_zone"]
                                  or self.default_az)
        m["aggregate_metadata"] = self._agg_meta.get(row["host"], {})
        liveness = {"forced_down": row["forced_down"], "last_seen_up": row["last_seen_up"],
                    "updated_at": row["service_updated_at"],
                    "created_at": row["service_created_at"]}
        self._liveness[row["id"]] = liveness
        m["service_up"] = svc_db.is_up(liveness, self.service_down_time, now)
        return m

    def _check_liveness(self) -> None:
        """Re-derive ``service_up`` from the heartbeats last read (caller holds the lock)."""
        now_m = time.monotonic()
        if now_m - self._liveness_checked < 1.0:
            return
        self._liveness_checked = now_m
        now = utcnow()
        for node_id, state in self._hosts.items():
            liveness = self._liveness.get(node_id)
            if liveness is not None:
                state.service_up = svc_db.is_up(liveness, self.service_down_time, now)

    def _load_aggregates(self, conn: Any) -> None:
        self._zones = agg_db.host_zones(conn)
        self._agg_meta = agg_db.host_metadata(conn)

    def refresh_all(self) -> None:
        hosts = self._read_all()
        with self._lock:
            self._hosts = hosts
            self._refreshed = time.monotonic()

    def _read_all(self) -> dict[int, HostState]:
        with self.db.read() as conn:
            rows = svc_db.nodes_with_services(conn)
            self._load_aggregates(conn)
        now = utcnow()
        return {row["id"]: HostState.from_mapping(self._mapping(row, now)) for row in rows}

    def _reread_if_old(self) -> bool:
        """Before answering "no valid host": re-read the whole view if it is older than
        ``RECHECK_SECONDS`` (caller holds the lock). A compute that registered while
        this scheduler started can miss the ``refresh_host`` fanout and stay unseen
        until the next periodic read; a failure is rare, so the re-read costs nothing
        on the boot path. True if the view changed."""
        if time.monotonic() - self._refreshed < RECHECK_SECONDS:
            return False
        self._hosts = self._read_all()
        self._refreshed = time.monotonic()
        self._liveness_checked = 0.0
        return True

    def _refresh_nodes(self, host: str) -> None:
        """Reload one host's nodes (caller holds the lock)."""
        with self.db.read() as conn:
            rows = [r for r in svc_db.nodes_with_services(conn) if r["host"] == host]
            self._load_aggregates(conn)
        now = utcnow()
        for row in rows:
            mapping = self._mapping(row, now)
            state = self._hosts.get(row["id"])
            if state is None:
                self._hosts[row["id"]] = HostState.from_mapping(mapping)
            else:
                state.update_from_mapping(mapping)
        kept = {row["id"] for row in rows}  # nodes of a deleted service go
        for node_id in [i for i, st in self._hosts.items() if st.host == host and i not in kept]:
            del self._hosts[node_id]

    # ---- RPC methods --------------------------------------------------------------------
    def refresh_host(self, ctx: RequestContext, req: RefreshHost) -> None:
        with self._lock:
            self._refresh_nodes(req.host)

    def select_and_claim(self, ctx: RequestContext, req: SelectAndClaim) -> SelectAndClaimResult:
        if time.monotonic() - self._refreshed > self.refresh_seconds:
            self.refresh_all()
        spec = req.request_spec
        selections: list[Selection] = []
        failures: dict[str, str] = {}
        with self._lock:
            self._check_liveness()
            hosts = list(self._hosts.values())
            if request_groups.group_hint(spec) is not None:
                with self.db.read() as conn:
                    spec = request_groups.with_group(conn, spec)
            for uuid in spec.instance_uuids:
                started = time.perf_counter()
                try:
                    try:
                        sel = self._place_one(hosts, spec, uuid)
                    except exceptions.NoValidHost:
                        if not self._reread_if_old():
                            raise
                        self._check_liveness()
                        hosts = list(self._hosts.values())
                        sel = self._place_one(hosts, spec, uuid)
                except exceptions.NoValidHost as exc:
                    failures[uuid] = str(exc)
                    continue
                finally:
                    # One decision: filter, weigh and the DB claim (read by bench/).
                    DECISIONS.debug("decision %s %.3f ms", uuid,
                                    (time.perf_counter() - started) * 1000)
                if sel is not None:
                    selections.append(sel)
                    spec = request_groups.extend(spec, sel.host)
        return SelectAndClaimResult(selections=selections, failures=failures)

    def select_and_claim_move(self, ctx: RequestContext, req: SelectAndClaimMove
                              ) -> MoveSelection:
        return moves.select_and_claim_move(self, req)

    def check_host(self, ctx: RequestContext, req: CheckHost) -> HostCheck:
        """The rebuild check: the filters that run on rebuild, on the requested host."""
        if time.monotonic() - self._refreshed > self.refresh_seconds:
            self.refresh_all()
        with self._lock:
            failure = self.selector.check_host(list(self._hosts.values()), req.request_spec)
        return HostCheck(failure=failure)

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
