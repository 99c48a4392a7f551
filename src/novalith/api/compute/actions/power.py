"""reboot, os-stop, os-start, pause, unpause, suspend, resume."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from novalith import exceptions
from novalith.api.compute.actions import action, check_capability, start
from novalith.api.deps import Call


@action("reboot")
def reboot(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:servers:reboot")
    rtype = args.get("type") if isinstance(args, dict) else None
    if not isinstance(rtype, str) or rtype.upper() not in ("SOFT", "HARD"):
        raise exceptions.ValidationError(field="type",
                                         detail="'type' must be one of 'SOFT', 'HARD'.")
    start(call, row, "reboot_hard" if rtype.upper() == "HARD" else "reboot_soft")
    return Response(status_code=202)


def _simple(name: str, key: str, capability: str | None) -> None:
    """Register an action whose body value must be null."""

    @action(name)
    def handler(call: Call, row: Any, args: Any) -> Response:
        call.require_writer(f"os_compute_api:servers:{name}")
        if args is not None:
            raise exceptions.ValidationError(field=name, detail="The value must be null.")
        if capability is not None:
            check_capability(call, row, capability, name)
        start(call, row, key)
        return Response(status_code=202)


for _name, _key, _cap in (("os-stop", "stop", None), ("os-start", "start", None),
                          ("pause", "pause", "supports_pause"),
                          ("unpause", "unpause", "supports_pause"),
                          ("suspend", "suspend", "supports_suspend"),
                          ("resume", "resume", "supports_suspend")):
    _simple(_name, _key, _cap)
