"""The RPC versioning rule (novalith.rpc.envelope; docs/deployment.md), shown with two
releases of one service talking to each other during a rolling upgrade:

- a newer sender's new field is ignored by an older reader;
- an older sender's message without the field takes the field's default in a newer
  reader;
- the same holds for replies and for the envelope itself.

tests/integration/test_rpc_rabbit.py runs the same exchange over RabbitMQ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from novalith.compute.rpcapi import SURFACE as COMPUTE
from novalith.conductor.rpcapi import SURFACE as CONDUCTOR
from novalith.objects.context import RequestContext
from novalith.rpc import envelope
from novalith.rpc.dispatch import Dispatcher, RPCClient, Surface
from novalith.rpc.inproc import InprocTransport
from novalith.rpc.transport import Transport
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER

CTX = RequestContext(request_id="req-v", user_id="u", project_id="p", roles=("member",))


# Release 1 of a "power" service.
class StopV1(msgspec.Struct, frozen=True, kw_only=True):
    instance_uuid: str


class StoppedV1(msgspec.Struct, frozen=True, kw_only=True):
    state: str


# Release 2 added a request field and a reply field, each with a default.
class StopV2(msgspec.Struct, frozen=True, kw_only=True):
    instance_uuid: str
    clean_shutdown: bool = True


class StoppedV2(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    took_seconds: float = 0.0


V1 = Surface(topic="power", version=1, methods={"stop": (StopV1, StoppedV1)})
V2 = Surface(topic="power", version=2, methods={"stop": (StopV2, StoppedV2)})


class ManagerV1:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def stop(self, ctx: RequestContext, req: StopV1) -> StoppedV1:
        self.seen.append(req)
        return StoppedV1(state="stopped")


class ManagerV2:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def stop(self, ctx: RequestContext, req: StopV2) -> StoppedV2:
        self.seen.append(req)
        return StoppedV2(state="stopped", took_seconds=1.5)


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = InprocTransport()
    yield t
    t.close()


def exchange(transport: Transport, client_surface: Surface, server_surface: Surface,
             manager: Any, request: Any) -> Any:
    server = Dispatcher(server_surface, manager).serve(transport, "node-1", 1)
    try:
        return RPCClient(transport, client_surface, timeout=10).call(CTX, "stop", request)
    finally:
        server.stop()


def test_an_older_reader_ignores_a_newer_senders_new_field(transport: Transport) -> None:
    old = ManagerV1()
    reply = exchange(transport, V2, V1, old, StopV2(instance_uuid="i-1", clean_shutdown=False))
    assert old.seen == [StopV1(instance_uuid="i-1")]
    # ...and the newer client reads the older reply, the new reply field at its default.
    assert reply == StoppedV2(state="stopped", took_seconds=0.0)


def test_an_older_senders_message_takes_the_default_in_a_newer_reader(
        transport: Transport) -> None:
    new = ManagerV2()
    reply = exchange(transport, V1, V2, new, StopV1(instance_uuid="i-2"))
    assert new.seen == [StopV2(instance_uuid="i-2", clean_shutdown=True)]
    # ...and the older client ignores the reply field it does not know.
    assert reply == StoppedV1(state="stopped")


def test_the_envelope_carries_the_senders_version_and_tolerates_new_fields() -> None:
    packed = envelope.pack(CTX, "stop", StopV2(instance_uuid="i-3"), version=2)
    env = envelope.unpack(packed)
    assert (env.method, env.version) == ("stop", 2)
    # A later release may add envelope fields (say, a trace id): older readers cope.
    raw = msgspec.json.decode(packed)
    raw["trace_id"] = "abc"
    assert envelope.unpack(msgspec.json.encode(raw)).method == "stop"
    # A reply from a later release with an extra field still reads.
    reply = msgspec.json.decode(envelope.pack_reply({"state": "x"}))
    reply["retry_after"] = 3
    assert envelope.unpack_reply(msgspec.json.encode(reply)).error_class is None


@pytest.mark.parametrize("surface", [COMPUTE, CONDUCTOR, SCHEDULER], ids=lambda s: s.topic)
def test_no_message_type_of_a_real_service_refuses_unknown_fields(surface: Surface) -> None:
    """The rule needs readers that ignore what they do not know: no RPC Struct may be
    declared with forbid_unknown_fields, and every field added after a message's
    first release must have a default (here: fields without one are the ones the
    message has had from the start)."""
    for method, (req, resp) in surface.methods.items():
        for struct in (req, resp):
            if struct is None:
                continue
            assert not struct.__struct_config__.forbid_unknown_fields, (method, struct)
