"""The compute service's RPC surface (topic ``compute``, server = host name)."""

from __future__ import annotations

import msgspec

from novalith.objects.specs import InstanceSpec, RequestSpec
from novalith.rpc.dispatch import Surface


class BuildAndRun(msgspec.Struct, frozen=True, kw_only=True):
    instance: InstanceSpec
    request_spec: RequestSpec
    node_id: int
    admin_password: str | None = None


class InstanceOp(msgspec.Struct, frozen=True, kw_only=True):
    """An operation on one instance whose task_state the API has already set."""

    instance_uuid: str
    action: str  # key of novalith.compute.state_machine.ACTIONS, or "delete"


class ConsoleOutput(msgspec.Struct, frozen=True, kw_only=True):
    instance_uuid: str
    length: int | None = None


class ConsoleText(msgspec.Struct, frozen=True, kw_only=True):
    output: str


SURFACE = Surface(topic="compute", version=1, methods={
    "build_and_run_instance": (BuildAndRun, None),
    "run_instance_action": (InstanceOp, None),
    "terminate_instance": (InstanceOp, None),
    "get_console_output": (ConsoleOutput, ConsoleText),
})
