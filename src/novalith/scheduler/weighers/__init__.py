"""Scheduler weighers: rank the hosts that passed the filters.

A weigher gives each host a raw value; the selector maps each weigher's values
linearly onto 0..1 (lowest -> 0, highest -> 1, all equal -> 0) and sums them
times each weigher's multiplier. The highest total wins. A positive multiplier
favours large raw values (spread, for free resources), a negative one favours
small ones (stack).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from novalith.conf.scheduler import SchedulerConfig
from novalith.objects.specs import RequestSpec
from novalith.scheduler.host_state import HostState


class BaseWeigher:
    """Raw per-host values for one criterion. Must not touch the DB or RPC."""

    #: Name of the SchedulerConfig field holding this weigher's multiplier.
    multiplier_option: ClassVar[str | None] = None

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def multiplier(self) -> float:
        if self.multiplier_option is None:
            return 1.0
        return float(getattr(self.config, self.multiplier_option))

    def weigh(self, hosts: list[HostState], spec: RequestSpec) -> list[float]:
        """One raw value per host, in the order of ``hosts``."""
        raise NotImplementedError

    def applies(self, spec: RequestSpec) -> bool:
        """False when this weigher would give every host the same value for ``spec``
        (e.g. a server-group weigher for a request without a group): it is skipped."""
        return True


def normalise(values: Sequence[float]) -> list[float]:
    """Map min..max linearly onto 0..1; all equal (or empty) gives zeros."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high == low:
        return [0.0] * len(values)
    span = high - low
    return [(v - low) / span for v in values]


def total_weights(
    weighers: Sequence[BaseWeigher],
    hosts: list[HostState],
    spec: RequestSpec,
    *,
    ranking_only: bool = False,
) -> list[float]:
    """Sum over weighers of multiplier * normalise(raw), one total per host.

    Each weigher's term is the affine form ``a * raw + c`` with
    ``a = multiplier / (max - min)`` and ``c = -a * min``; all terms are summed in
    one pass over the hosts. Equal to the plain formula up to float rounding.
    ``ranking_only`` leaves out the sum of the ``c`` (the same for every host):
    the order is unchanged and the selector saves a float operation per host.
    """
    terms: list[tuple[float, list[float]]] = []
    offset = 0.0
    for weigher in weighers:
        multiplier = weigher.multiplier
        if multiplier == 0.0 or not weigher.applies(spec):
            continue
        raw = weigher.weigh(hosts, spec)
        low, high = min(raw, default=0.0), max(raw, default=0.0)
        if high == low:
            continue
        scale = multiplier / (high - low)
        offset -= scale * low
        terms.append((scale, raw))
    if not terms:
        return [0.0] * len(hosts)
    if len(terms) == 2:  # the default configuration: one fused pass
        (s0, r0), (s1, r1) = terms
        if ranking_only:
            return [s0 * x + s1 * y for x, y in zip(r0, r1, strict=True)]
        return [s0 * x + s1 * y + offset for x, y in zip(r0, r1, strict=True)]
    if ranking_only:
        offset = 0.0
    (s0, r0), rest = terms[0], terms[1:]
    totals = [s0 * x + offset for x in r0]
    for scale, raw in rest:
        totals = [t + scale * r for t, r in zip(totals, raw, strict=True)]
    return totals
