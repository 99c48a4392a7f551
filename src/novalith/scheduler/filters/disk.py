"""DiskFilter: only hosts with room for root + ephemeral + swap disk.

``free_disk_gb`` already applies the host's reserved disk (rounded up to whole GB)
and allocation ratio.
"""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState, requested_disk_gb


class DiskFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_disk_gb >= requested_disk_gb(spec.flavor)

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        wanted = float(requested_disk_gb(spec.flavor))  # float vs float compares fastest
        return [h for h in hosts if h.free_disk_gb >= wanted]
