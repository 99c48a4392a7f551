"""The wire format: envelopes, replies, version tolerance and remote errors."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from novalith import exceptions
from novalith.objects.context import RequestContext
from novalith.rpc import envelope
from novalith.rpc.dispatch import Dispatcher, Surface


class OldRequest(msgspec.Struct, frozen=True, kw_only=True):
    name: str


class NewRequest(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    flavour: str = "plain"  # a field added later, with a default


CTX = RequestContext(request_id="req-1", user_id="u", project_id="p", user_name="alice",
                     project_name="demo", roles=("member", "reader"))


def test_pack_and_unpack_round_trip() -> None:
    data = envelope.pack(CTX, "do", NewRequest(name="x", flavour="spicy"), version=7)
    env = envelope.unpack(data)
    assert env.method == "do"
    assert env.version == 7
    assert env.context == CTX
    assert msgspec.json.decode(env.args, type=NewRequest) == NewRequest(name="x",
                                                                       flavour="spicy")


def test_envelope_is_plain_json() -> None:
    body = orjson.loads(envelope.pack(CTX, "do", OldRequest(name="x")))
    assert body["method"] == "do"
    assert body["context"]["request_id"] == "req-1"
    assert body["args"] == {"name": "x"}


def test_reader_ignores_envelope_fields_it_does_not_know() -> None:
    body = orjson.loads(envelope.pack(CTX, "do", OldRequest(name="x")))
    body["priority"] = "high"
    body["context"]["domain_id"] = "default"
    env = envelope.unpack(orjson.dumps(body))
    assert env.method == "do" and env.context == CTX


def test_older_reader_accepts_a_newer_senders_request() -> None:
    data = envelope.pack(CTX, "do", NewRequest(name="x", flavour="spicy"))
    assert msgspec.json.decode(envelope.unpack(data).args, type=OldRequest) == OldRequest(
        name="x")


def test_newer_reader_fills_defaults_for_an_older_senders_request() -> None:
    data = envelope.pack(CTX, "do", OldRequest(name="x"))
    assert msgspec.json.decode(envelope.unpack(data).args, type=NewRequest) == NewRequest(
        name="x", flavour="plain")


def test_context_defaults_when_the_sender_sends_a_minimal_one() -> None:
    env = envelope.unpack(b'{"method": "do", "context": {}}')
    assert env.version == 1
    assert env.context.request_id.startswith("req-")
    assert env.context.roles == ()
    assert bytes(env.args) == b"null"


def test_reply_round_trip() -> None:
    reply = envelope.unpack_reply(envelope.pack_reply({"a": [1, 2]}))
    assert reply.error_class is None
    assert orjson.loads(bytes(reply.result)) == {"a": [1, 2]}


def test_error_reply_names_the_class_and_keeps_the_message() -> None:
    exc = exceptions.FlavorNotFound(flavor_id="42")
    reply = envelope.unpack_reply(envelope.pack_error(exc))
    assert reply.error_class == "FlavorNotFound"
    assert reply.error_message == "Flavor 42 could not be found."


@pytest.mark.parametrize("cls", [
    exceptions.NovalithError, exceptions.Invalid, exceptions.InstanceNotFound,
    exceptions.InstanceInvalidState, exceptions.NotSupported, exceptions.NoValidHost,
    exceptions.BuildFailed, exceptions.ServiceUnavailable, exceptions.RPCTimeout,
    exceptions.QuotaExceeded,
])
def test_raise_remote_restores_every_novalith_error_class(
        cls: type[exceptions.NovalithError]) -> None:
    reply = envelope.unpack_reply(envelope.pack_error(cls("the message")))
    with pytest.raises(cls) as info:
        envelope.raise_remote(reply)
    assert type(info.value) is cls
    assert str(info.value) == "the message"
    assert info.value.status == cls.status


@pytest.mark.parametrize("name", ["KeyError", "Exception", "annotations", "LOG", "Nope", ""])
def test_raise_remote_never_builds_a_non_novalith_class(name: str) -> None:
    reply = envelope.Reply(error_class=name, error_message="detail")
    with pytest.raises(exceptions.NovalithError) as info:
        envelope.raise_remote(reply)
    assert type(info.value) is exceptions.NovalithError
    assert "detail" in str(info.value)


SURFACE = Surface(topic="t", version=2, methods={"do": (NewRequest, NewRequest)})


class Manager:
    def __init__(self) -> None:
        self.seen: list[tuple[RequestContext, NewRequest]] = []

    def do(self, ctx: RequestContext, req: NewRequest) -> NewRequest:
        self.seen.append((ctx, req))
        if req.name == "fail":
            raise exceptions.Conflict("busy")
        return NewRequest(name=req.name.upper(), flavour=req.flavour)


def test_dispatcher_decodes_calls_and_encodes_the_reply() -> None:
    manager = Manager()
    out = Dispatcher(SURFACE, manager)(envelope.pack(CTX, "do", OldRequest(name="x")), True)
    assert out is not None
    reply = envelope.unpack_reply(out)
    assert msgspec.json.decode(reply.result, type=NewRequest) == NewRequest(name="X")
    assert manager.seen == [(CTX, NewRequest(name="x"))]


def test_dispatcher_returns_nothing_for_a_cast() -> None:
    manager = Manager()
    assert Dispatcher(SURFACE, manager)(envelope.pack(CTX, "do", NewRequest(name="x")),
                                        False) is None
    assert len(manager.seen) == 1


def test_dispatcher_turns_errors_into_error_replies() -> None:
    out = Dispatcher(SURFACE, Manager())(envelope.pack(CTX, "do", NewRequest(name="fail")),
                                         True)
    assert out is not None
    reply = envelope.unpack_reply(out)
    assert (reply.error_class, reply.error_message) == ("Conflict", "busy")


@pytest.mark.parametrize("data", [
    b"not json",
    b'{"method": "do"}',  # no context
    b'{"method": "do", "context": {}, "args": {"name": 5}}',  # wrong arg type
])
def test_dispatcher_answers_malformed_messages_with_an_error(data: bytes) -> None:
    manager = Manager()
    out = Dispatcher(SURFACE, manager)(data, True)
    assert out is not None
    assert envelope.unpack_reply(out).error_class is not None
    assert manager.seen == []
    assert Dispatcher(SURFACE, manager)(data, False) is None
