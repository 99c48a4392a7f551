"""ServerGroupSoftAntiAffinityWeigher: favour hosts holding fewer members of a
``soft-anti-affinity`` group (``soft_anti_affinity_weight_multiplier``)."""

from __future__ import annotations

from collections import Counter

from novalith.objects.specs import RequestSpec
from novalith.scheduler.host_state import HostState
from novalith.scheduler.weighers import BaseWeigher

POLICY = "soft-anti-affinity"


class ServerGroupSoftAntiAffinityWeigher(BaseWeigher):
    multiplier_option = "soft_anti_affinity_weight_multiplier"

    def applies(self, spec: RequestSpec) -> bool:
        return spec.group_policy == POLICY and bool(spec.group_hosts)

    def weigh(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        if spec.group_policy != POLICY or not spec.group_hosts:
            return [0.0] * len(hosts)
        members = Counter(spec.group_hosts)
        return [-float(members.get(h.host, 0)) for h in hosts]
