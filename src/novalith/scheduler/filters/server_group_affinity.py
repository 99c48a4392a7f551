"""ServerGroupAffinityFilter: members of an ``affinity`` group go where the others are.

The first member may go anywhere; once a member has a host, only that host (the
hosts of ``spec.group_hosts``) passes.
"""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState

POLICY = "affinity"


class ServerGroupAffinityFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.group_policy != POLICY or not spec.group_hosts:
            return True
        return host.host in spec.group_hosts

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        if spec.group_policy != POLICY or not spec.group_hosts:
            return hosts
        wanted = set(spec.group_hosts)
        return [h for h in hosts if h.host in wanted]
