"""os-getConsoleOutput."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from novalith import exceptions
from novalith.api.compute.actions import action, check_capability
from novalith.api.deps import Call
from novalith.api.responses import JSON
from novalith.compute.rpcapi import ConsoleOutput


@action("os-getConsoleOutput")
def console_output(call: Call, row: Any, args: Any) -> Response:
    call.require_writer("os_compute_api:os-console-output")
    length = None
    if isinstance(args, dict) and args.get("length") is not None:
        try:
            length = int(args["length"])
        except (TypeError, ValueError):
            raise exceptions.ValidationError(field="length", detail="Must be an integer.") from None
        if length < -1:
            raise exceptions.ValidationError(field="length", detail="Must be >= -1.")
        if length == -1:
            length = None
    if row["host"] is None or row["vm_state"] not in ("active", "stopped", "paused",
                                                      "suspended", "error"):
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready for console output.")
    check_capability(call, row, "supports_console", "os-getConsoleOutput")
    text = call.services.compute.call(call.ctx, "get_console_output",
                                      ConsoleOutput(instance_uuid=row["uuid"], length=length),
                                      server=row["host"])
    return JSON({"output": text.output})
