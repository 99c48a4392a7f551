"""Scheduler filters: small pure classes deciding whether a host can take a request.

Each filter is an entry point in ``novalith.scheduler.filters``. The selector calls
:meth:`BaseFilter.filter_all` once per instance over every candidate, so filters
override it with one list comprehension (no per-host method call) and return the
input list itself when the request does not concern them.

A filter whose ``run_on_rebuild`` is True also judges whether an instance may stay
on its host with a new image (a rebuild); the others (capacity, liveness, zone,
server group) would count the instance against the host it already holds.
"""

from __future__ import annotations

from typing import ClassVar

from novalith.conf.scheduler import SchedulerConfig
from novalith.objects.specs import RequestSpec
from novalith.scheduler.host_state import HostState


class BaseFilter:
    """A host predicate over one request. Must not touch the DB or RPC."""

    #: Whether a rebuild with a new image runs this filter on the instance's own host.
    run_on_rebuild: ClassVar[bool] = False

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()

    @property
    def name(self) -> str:
        return type(self).__name__

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        raise NotImplementedError

    def filter_all(self, hosts: list[HostState], spec: RequestSpec) -> list[HostState]:
        """The hosts that pass, in their input order."""
        return [host for host in hosts if self.host_passes(host, spec)]
