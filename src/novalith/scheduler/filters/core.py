"""CoreFilter: only hosts with room for the flavor's vCPUs.

``free_vcpus`` already applies the host's reserved CPUs and allocation ratio.
"""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState


class CoreFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_vcpus >= spec.flavor.vcpus

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        wanted = float(spec.flavor.vcpus)  # float vs float compares fastest
        return [h for h in hosts if h.free_vcpus >= wanted]
