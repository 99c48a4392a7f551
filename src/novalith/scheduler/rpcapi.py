"""The scheduler's RPC surface (topic ``scheduler``)."""

from __future__ import annotations

import msgspec

from novalith.objects.specs import RequestSpec
from novalith.rpc.dispatch import Surface


class SelectAndClaim(msgspec.Struct, frozen=True, kw_only=True):
    """Pick a host for each instance of the spec and claim its resources there."""

    request_spec: RequestSpec


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    instance_uuid: str
    host: str
    nodename: str
    node_id: int
    availability_zone: str


class SelectAndClaimResult(msgspec.Struct, frozen=True, kw_only=True):
    selections: list[Selection] = []
    # instance uuid -> reason, for instances no host could take
    failures: dict[str, str] = {}


class RefreshHost(msgspec.Struct, frozen=True, kw_only=True):
    """Fanout from a compute service: reload this host's nodes from the DB."""

    host: str


class SelectAndClaimMove(msgspec.Struct, frozen=True, kw_only=True):
    """Pick a destination for a move and claim it on the migration row.

    ``request_spec`` carries the flavor to claim, the hosts to ignore (the
    source) and the requested host; ``force`` skips the filters for the
    requested host (the claim still checks capacity).
    """

    migration_id: int
    request_spec: RequestSpec
    force: bool = False


class MoveSelection(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    nodename: str
    node_id: int


class CheckHost(msgspec.Struct, frozen=True, kw_only=True):
    """May the instance stay on ``request_spec.requested_host`` (and ``requested_node``)
    with ``request_spec.image``? A rebuild with a new image asks this (call). Only the
    filters that run on rebuild judge; nothing is weighed, consumed or claimed."""

    request_spec: RequestSpec


class HostCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to CheckHost: ``failure`` says why not (safe to show), None if it may."""

    failure: str | None = None


SURFACE = Surface(topic="scheduler", version=1, methods={
    "select_and_claim": (SelectAndClaim, SelectAndClaimResult),
    "select_and_claim_move": (SelectAndClaimMove, MoveSelection),
    "refresh_host": (RefreshHost, None),
    "check_host": (CheckHost, HostCheck),
})
