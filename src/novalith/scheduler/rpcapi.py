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


SURFACE = Surface(topic="scheduler", version=1, methods={
    "select_and_claim": (SelectAndClaim, SelectAndClaimResult),
    "refresh_host": (RefreshHost, None),
})
