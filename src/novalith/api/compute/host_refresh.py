"""Tell every scheduler to reload hosts whose service or aggregates an admin changed,
so a disabled host or a new zone counts from the next request on."""

from __future__ import annotations

from collections.abc import Iterable

from novalith.api.deps import Call
from novalith.rpc.dispatch import RPCClient
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER
from novalith.scheduler.rpcapi import RefreshHost


def refresh_hosts(call: Call, hosts: Iterable[str]) -> None:
    client = RPCClient(call.services.conductor.transport, SCHEDULER)
    for host in sorted(set(hosts)):
        client.fanout(call.ctx, "refresh_host", RefreshHost(host=host))
