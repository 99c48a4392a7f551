"""RAMWeigher: favour hosts with more free RAM (spread), or less with a negative
``ram_weight_multiplier`` (stack)."""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.host_state import HostState
from novalith.scheduler.weighers import BaseWeigher


class RAMWeigher(BaseWeigher):
    multiplier_option = "ram_weight_multiplier"

    def weigh(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        return [h.free_ram_mb for h in hosts]
