"""AvailabilityZoneFilter: only hosts in the requested availability zone, if any."""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState


class AvailabilityZoneFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return spec.availability_zone is None or host.availability_zone == spec.availability_zone

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        zone = spec.availability_zone
        if zone is None:
            return hosts
        return [h for h in hosts if h.availability_zone == zone]
