"""Choosing and claiming the destination of a move (resize, migration, evacuation).

The same filters and weighers as a boot, over the same in-memory view, with the
source host in ``ignore_hosts`` (unless a resize may stay) and the requested host,
if any, as the only candidate. The claim is :func:`novalith.db.claims.claim_move`:
an atomic conditional UPDATE recorded on the migration row, so a stale view
costs a retry on the next candidate, never an overcommit.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from novalith import exceptions
from novalith.db import claims
from novalith.scheduler import request_groups
from novalith.scheduler.host_state import HostState
from novalith.scheduler.rpcapi import MoveSelection, SelectAndClaimMove

if TYPE_CHECKING:
    from novalith.scheduler.manager import SchedulerManager

LOG = logging.getLogger(__name__)


def _candidates(mgr: SchedulerManager, hosts: list[HostState], req: SelectAndClaimMove
                ) -> list[HostState]:
    spec = req.request_spec
    if not req.force:
        return mgr.selector.select(hosts, spec, 1)[0]  # the first one is consumed
    forced = [h for h in hosts if h.host == spec.requested_host
              and h.host not in spec.ignore_hosts]
    if not forced:
        raise exceptions.NoValidHost(reason=f"The requested host {spec.requested_host} is "
                                            "unknown or is the instance's own host.")
    forced[0].consume(spec.flavor)
    return forced[:1]


def select_and_claim_move(mgr: SchedulerManager, req: SelectAndClaimMove) -> MoveSelection:
    """The chosen destination, claimed; NoValidHost when none fits, MigrationError
    when the migration stopped waiting (failed, or its instance deleted)."""
    if time.monotonic() - mgr._refreshed > mgr.refresh_seconds:
        mgr.refresh_all()
    spec = req.request_spec
    with mgr._lock:
        mgr._check_liveness()
        hosts = list(mgr._hosts.values())
        if request_groups.group_hint(spec) is not None:
            with mgr.db.read() as conn:
                spec = request_groups.with_group(conn, spec)
            req = SelectAndClaimMove(migration_id=req.migration_id, request_spec=spec,
                                     force=req.force)
        for index, host in enumerate(_candidates(mgr, hosts, req)):
            if index > 0:
                host.consume(spec.flavor)
            with mgr.db.write() as conn:
                outcome = claims.claim_move(conn, req.migration_id, host.node_id, spec.flavor,
                                            host.host, host.nodename)
            if outcome == claims.CLAIMED:
                LOG.info("Move %s goes to %s", req.migration_id, host.host)
                return MoveSelection(host=host.host, nodename=host.nodename,
                                     node_id=host.node_id)
            host.release(spec.flavor)
            if outcome == claims.GONE:
                raise exceptions.MigrationError(
                    reason=f"migration {req.migration_id} no longer waits for a destination")
            LOG.info("Move claim on %s lost a race; refreshing it", host.host)
            mgr._refresh_nodes(host.host)
    raise exceptions.NoValidHost(reason="Resources were claimed by other requests.")
