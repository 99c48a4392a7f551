"""CPUWeigher: favour hosts with more free vCPUs (spread), or fewer with a negative
``cpu_weight_multiplier`` (stack)."""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.host_state import HostState
from novalith.scheduler.weighers import BaseWeigher


class CPUWeigher(BaseWeigher):
    multiplier_option = "cpu_weight_multiplier"

    def weigh(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [h.free_vcpus for h in hosts]
