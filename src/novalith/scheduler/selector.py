"""HostSelector: filters, then weighers, then a pick per instance of a request.

Pure and in memory: the caller (the scheduler manager) refreshes the host states
from the DB before and makes the atomic DB claim after. Per instance:

1. drop ``spec.ignore_hosts``; keep only ``spec.requested_host`` (and
   ``requested_node``) when set; the filters still apply to it;
2. run every filter in order; none left raises NoValidHost naming the filter
   that removed the last candidates;
3. weigh the rest, pick at random among the ``host_subset_size`` best, and add
   up to ``max_attempts - 1`` alternates, best first;
4. consume the flavor on the chosen host so the next instance sees it (and, for a
   server group, add the host to ``spec.group_hosts``).

Only the best few hosts are ever ordered (a partial selection), never all of them.

:meth:`HostSelector.check_host` answers a different question without consuming
anything: may an instance stay on the host it holds with a new image (a rebuild)?
Only the filters with ``run_on_rebuild`` judge it, no weigher runs.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Sequence

import msgspec

from novalith.conf.scheduler import SchedulerConfig
from novalith.exceptions import NoValidHost
from novalith.objects.specs import RequestSpec
from novalith.scheduler.filters import BaseFilter
from novalith.scheduler.host_state import HostState
from novalith.scheduler.weighers import BaseWeigher, total_weights

LOG = logging.getLogger(__name__)

NOT_ENOUGH_HOSTS = "There are not enough hosts available."


def best_indices(weights: list[float], count: int) -> list[int]:
    """Indices of the ``count`` largest weights, largest first; ties keep input order."""
    n = len(weights)
    if count <= 0 or n == 0:
        return []
    if n <= count:
        return sorted(range(n), key=weights.__getitem__, reverse=True)  # stable
    # A C-level partial selection over the floats alone, then list.index (a C scan)
    # per value: no Python-level pass over every host. nlargest is stable, so k
    # equal values in its answer are the first k occurrences in input order.
    found: list[int] = []
    previous: float | None = None
    for value in heapq.nlargest(count, weights):
        start = found[-1] + 1 if value == previous else 0
        found.append(weights.index(value, start))
        previous = value
    return found


class HostSelector:
    """Chooses hosts for a request; one instance serves every request of a scheduler."""

    def __init__(
        self,
        filters: Sequence[BaseFilter],
        weighers: Sequence[BaseWeigher],
        config: SchedulerConfig,
        rng: random.Random | None = None,
    ) -> None:
        self.filters = list(filters)
        self.weighers = list(weighers)
        self.config = config
        self._filter_names = [f.name for f in self.filters]
        self._rebuild_filters = [f for f in self.filters if f.run_on_rebuild]
        self._rng = rng or random.Random()

    def select(
        self, hosts: list[HostState], spec: RequestSpec, num_instances: int
    ) -> list[list[HostState]]:
        """Per instance, the chosen host first, then its alternates best first.

        The chosen hosts' states are consumed in memory. On NoValidHost part way
        through a batch, what earlier instances consumed is released again, so
        the host states are as they were.
        """
        candidates = self._candidates(hosts, spec)
        chosen_so_far: list[HostState] = []
        result: list[list[HostState]] = []
        try:
            for index in range(num_instances):
                selection = self._select_one(candidates, spec, index, num_instances)
                selection[0].consume(spec.flavor)
                chosen_so_far.append(selection[0])
                if spec.group_policy is not None:  # the next member sees this one
                    spec = msgspec.structs.replace(
                        spec, group_hosts=[*spec.group_hosts, selection[0].host])
                result.append(selection)
        except NoValidHost:
            for host in chosen_so_far:
                host.release(spec.flavor)
            raise
        return result

    def check_host(self, hosts: list[HostState], spec: RequestSpec) -> str | None:
        """Why ``spec.requested_host`` (and ``requested_node``) cannot keep the instance
        with ``spec.image``, or None when it can. Nothing is consumed or claimed: the
        instance's flavor is already accounted for there."""
        if spec.requested_host is None:
            raise ValueError("check_host needs spec.requested_host")
        passing = self._candidates(hosts, spec)
        if not passing:
            return "the server's host is unknown to the scheduler"
        for filt in self._rebuild_filters:
            passing = filt.filter_all(passing, spec)
            if not passing:
                LOG.info("Host %s (node %s) fails %s for %s with image %s",
                         spec.requested_host, spec.requested_node, filt.name,
                         spec.instance_uuids, spec.image.id if spec.image else None)
                return f"the server's host does not pass {filt.name}"
        return None

    def _candidates(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        if spec.ignore_hosts:
            ignored = set(spec.ignore_hosts)
            hosts = [h for h in hosts if h.host not in ignored]
        if spec.requested_host is not None:
            hosts = [h for h in hosts if h.host == spec.requested_host]
        if spec.requested_node is not None:
            hosts = [h for h in hosts if h.nodename == spec.requested_node]
        return hosts

    def _select_one(
        self, hosts: list[HostState], spec: RequestSpec, index: int, total: int
    ) -> list[HostState]:
        if not hosts:
            raise self._no_valid_host(spec, index, total, None, len(hosts), [])
        passing = hosts
        counts: list[tuple[str, int]] = []
        for name, filt in zip(self._filter_names, self.filters, strict=True):
            passing = filt.filter_all(passing, spec)
            counts.append((name, len(passing)))
            if not passing:
                raise self._no_valid_host(spec, index, total, name, len(hosts), counts)
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug("Instance %d/%d: %d candidates, after filters %s",
                      index + 1, total, len(hosts), counts)

        config = self.config
        subset = min(config.host_subset_size, len(passing))
        if len(passing) == 1:
            order = [0]
        else:
            weights = total_weights(self.weighers, passing, spec, ranking_only=True)
            order = best_indices(weights, max(subset, config.max_attempts))
        pick = order[self._rng.randrange(subset)] if subset > 1 else order[0]
        alternates = [passing[i] for i in order if i != pick][: config.max_attempts - 1]
        return [passing[pick], *alternates]

    def _no_valid_host(
        self,
        spec: RequestSpec,
        index: int,
        total: int,
        filter_name: str | None,
        candidates: int,
        counts: list[tuple[str, int]],
    ) -> NoValidHost:
        if filter_name is None:
            if spec.requested_host or spec.requested_node:
                why = "the requested host is unknown or ignored"
            else:
                why = "no compute hosts are known or all are ignored"
        else:
            why = f"{filter_name} eliminated the last candidates"
        if total > 1:
            why += f" (instance {index + 1} of {total})"
        LOG.info("No valid host for %s: %s; %d candidates, after filters %s",
                 spec.instance_uuids, why, candidates, counts)
        return NoValidHost(reason=f"{NOT_ENOUGH_HOSTS} {why[0].upper()}{why[1:]}.",
                           filter_name=filter_name, counts=counts)
