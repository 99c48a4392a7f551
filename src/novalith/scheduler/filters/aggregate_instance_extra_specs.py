"""AggregateInstanceExtraSpecsFilter: flavor extra specs against aggregate metadata.

A flavor's ``aggregate_instance_extra_specs:<key>`` specs, and its unscoped specs
(no ``:``), must each be matched (:mod:`extra_specs_ops`) by a value that one of
the host's aggregates gives ``<key>``. Specs of other scopes (``hw:``,
``capabilities:``, ...) are not this filter's business. A flavor without any such
spec passes every host.
"""

from __future__ import annotations

from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.filters.extra_specs_ops import matches
from novalith.scheduler.host_state import HostState

SCOPE = "aggregate_instance_extra_specs"


def _requirements(spec: RequestSpec) -> list[tuple[str, str]]:
    out = []
    for key, wanted in spec.flavor.extra_specs.items():
        scope, sep, name = key.partition(":")
        if not sep:
            out.append((key, wanted))
        elif scope == SCOPE and name:
            out.append((name, wanted))
    return out


def _passes(host: HostState, needs: list[tuple[str, str]]) -> bool:
    meta = host.aggregate_metadata
    for key, wanted in needs:
        values = meta.get(key)
        if not values or not any(matches(v, wanted) for v in values):
            return False
    return True


class AggregateInstanceExtraSpecsFilter(BaseFilter):
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return _passes(host, _requirements(spec))

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        needs = _requirements(spec)
        if not needs:
            return hosts
        return [h for h in hosts if _passes(h, needs)]
