"""RamFilter: only hosts with room for the flavor's RAM.

``free_ram_mb`` already applies the host's reserved memory and allocation ratio
(see :mod:`novalith.scheduler.host_state`).
"""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState


class RamFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_ram_mb >= spec.flavor.memory_mb

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        wanted = float(spec.flavor.memory_mb)  # float vs float compares fastest
        return [h for h in hosts if h.free_ram_mb >= wanted]
