"""The conductor's RPC surface (topic ``conductor``)."""

from __future__ import annotations

import msgspec

from novalith.objects.specs import RequestSpec
from novalith.rpc.dispatch import Surface


class BuildInstances(msgspec.Struct, frozen=True, kw_only=True):
    """Schedule and build instances whose rows the API has written (cast)."""

    request_spec: RequestSpec
    admin_passwords: dict[str, str] = {}


class Reschedule(msgspec.Struct, frozen=True, kw_only=True):
    """A build failed on ``failed_host``; try another host or give up (cast)."""

    instance_uuid: str
    request_spec: RequestSpec
    failed_host: str
    reason: str
    admin_password: str | None = None


SURFACE = Surface(topic="conductor", version=1, methods={
    "build_instances": (BuildInstances, None),
    "reschedule": (Reschedule, None),
})
