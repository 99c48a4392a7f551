"""ComputeFilter: only hosts whose compute service is up and enabled."""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState


class ComputeFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.service_up and not host.service_disabled

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        return [h for h in hosts if h.service_up and not h.service_disabled]
