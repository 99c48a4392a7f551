"""ServerGroupAntiAffinityFilter: members of an ``anti-affinity`` group never share a host.

Hosts already holding a member (``spec.group_hosts``) fail.
"""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState

POLICY = "anti-affinity"


class ServerGroupAntiAffinityFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.group_policy != POLICY:
            return True
        return host.host not in spec.group_hosts

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        if spec.group_policy != POLICY or not spec.group_hosts:
            return hosts
        taken = set(spec.group_hosts)
        return [h for h in hosts if h.host not in taken]
