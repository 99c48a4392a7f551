"""Typed call/cast/fanout over the in-process transport, and how remote errors come back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import msgspec
import pytest

from novalith import exceptions
from novalith.objects.context import RequestContext
from novalith.rpc.dispatch import Dispatcher, RPCClient, Surface
from novalith.rpc.inproc import InprocTransport
from novalith.rpc.transport import RPCServer, get_transport


class Echo(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    delay_event: bool = False


class EchoReply(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    server: str
    request_id: str


class Boom(msgspec.Struct, frozen=True, kw_only=True):
    kind: str


SURFACE = Surface(topic="echo", version=3, methods={
    "echo": (Echo, EchoReply),
    "note": (Echo, None),
    "boom": (Boom, None),
})


class EchoManager:
    """What a service manager looks like to the dispatcher."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.notes: list[str] = []
        self.noted = threading.Event()
        self.release = threading.Event()

    def echo(self, ctx: RequestContext, req: Echo) -> EchoReply:
        if req.delay_event:
            self.release.wait(5)
        return EchoReply(text=req.text, server=self.name, request_id=ctx.request_id)

    def note(self, ctx: RequestContext, req: Echo) -> None:
        self.notes.append(req.text)
        self.noted.set()

    def boom(self, ctx: RequestContext, req: Boom) -> None:
        if req.kind == "not_found":
            raise exceptions.InstanceNotFound(instance_id="abc")
        if req.kind == "conflict":
            raise exceptions.InstanceInvalidState(action="stop", instance_id="abc",
                                                  attr="vm_state", state="building")
        raise ValueError("a bug, not a deliberate error")


_SERVERS: list[RPCServer] = []


@pytest.fixture
def transport() -> Iterator[InprocTransport]:
    t = InprocTransport()
    yield t
    while _SERVERS:
        _SERVERS.pop().stop()
    t.close()


def serve(transport: InprocTransport, name: str, workers: int = 2) -> EchoManager:
    """Start a dispatcher for a new EchoManager; the fixture stops it after the test."""
    manager = EchoManager(name)
    _SERVERS.append(Dispatcher(SURFACE, manager).serve(transport, name, workers))
    return manager


CTX = RequestContext(request_id="req-fixed", user_id="u", project_id="p", roles=("member",))


def test_get_transport_selects_inproc_and_rejects_others() -> None:
    assert isinstance(get_transport("inproc://"), InprocTransport)
    assert isinstance(get_transport(""), InprocTransport)
    with pytest.raises(ValueError, match="rabbit://"):
        get_transport("kafka://localhost:9092")


def test_call_returns_the_typed_reply_and_carries_the_context(
        transport: InprocTransport) -> None:
    serve(transport, "a")
    reply = RPCClient(transport, SURFACE).call(CTX, "echo", Echo(text="hi"))
    assert reply == EchoReply(text="hi", server="a", request_id="req-fixed")


def test_call_of_a_method_without_reply_type_returns_none_after_it_ran(
        transport: InprocTransport) -> None:
    manager = serve(transport, "a")
    assert RPCClient(transport, SURFACE).call(CTX, "note", Echo(text="x")) is None
    assert manager.notes == ["x"]


def test_call_to_a_named_server_reaches_only_that_server(transport: InprocTransport) -> None:
    serve(transport, "a")
    serve(transport, "b")
    client = RPCClient(transport, SURFACE)
    for _ in range(4):
        assert client.call(CTX, "echo", Echo(text="t"), server="b").server == "b"


def test_call_without_server_shares_load_round_robin(transport: InprocTransport) -> None:
    serve(transport, "a")
    serve(transport, "b")
    client = RPCClient(transport, SURFACE)
    seen = [client.call(CTX, "echo", Echo(text="t")).server for _ in range(6)]
    assert seen.count("a") == 3 and seen.count("b") == 3


def test_cast_delivers_without_waiting(transport: InprocTransport) -> None:
    manager = serve(transport, "a")
    RPCClient(transport, SURFACE).cast(CTX, "note", Echo(text="later"), server="a")
    assert manager.noted.wait(5)
    assert manager.notes == ["later"]


def test_fanout_reaches_every_server_of_the_topic(transport: InprocTransport) -> None:
    managers = [serve(transport, name) for name in ("a", "b", "c")]
    RPCClient(transport, SURFACE).fanout(CTX, "note", Echo(text="all"))
    for manager in managers:
        assert manager.noted.wait(5)
        assert manager.notes == ["all"]


def test_fanout_and_cast_with_no_listener_are_dropped_quietly(
        transport: InprocTransport) -> None:
    client = RPCClient(transport, SURFACE)
    client.fanout(CTX, "note", Echo(text="nobody"))
    client.cast(CTX, "note", Echo(text="nobody"))
    client.cast(CTX, "note", Echo(text="nobody"), server="ghost")


@pytest.mark.parametrize("server", [None, "ghost"])
def test_call_with_no_listener_is_service_unavailable(transport: InprocTransport,
                                                      server: str | None) -> None:
    if server is not None:
        serve(transport, "a")  # the topic has a server, just not that one
    with pytest.raises(exceptions.ServiceUnavailable) as info:
        RPCClient(transport, SURFACE).call(CTX, "echo", Echo(text="x"), server=server)
    assert info.value.status == 503
    assert "echo" in str(info.value)


def test_call_times_out_with_rpc_timeout(transport: InprocTransport) -> None:
    manager = serve(transport, "a")
    try:
        with pytest.raises(exceptions.RPCTimeout) as info:
            RPCClient(transport, SURFACE, timeout=30).call(
                CTX, "echo", Echo(text="slow", delay_event=True), timeout=0.05)
        assert info.value.status == 504
        assert "echo" in str(info.value)
    finally:
        manager.release.set()


@pytest.mark.parametrize(("kind", "cls", "status"), [
    ("not_found", exceptions.InstanceNotFound, 404),
    ("conflict", exceptions.InstanceInvalidState, 409),
])
def test_deliberate_errors_are_reraised_as_the_same_class(
        transport: InprocTransport, kind: str, cls: type[exceptions.NovalithError],
        status: int) -> None:
    serve(transport, "a")
    with pytest.raises(cls) as info:
        RPCClient(transport, SURFACE).call(CTX, "boom", Boom(kind=kind))
    assert type(info.value) is cls
    assert info.value.status == status
    assert "abc" in str(info.value)


def test_unexpected_errors_come_back_as_a_generic_error(transport: InprocTransport) -> None:
    serve(transport, "a")
    with pytest.raises(exceptions.NovalithError) as info:
        RPCClient(transport, SURFACE).call(CTX, "boom", Boom(kind="bug"))
    assert type(info.value) is exceptions.NovalithError
    assert "ValueError" in str(info.value)
    assert info.value.status == 500


def test_a_failing_cast_does_not_kill_the_server(transport: InprocTransport) -> None:
    serve(transport, "a")
    client = RPCClient(transport, SURFACE)
    client.cast(CTX, "boom", Boom(kind="bug"))
    assert client.call(CTX, "echo", Echo(text="still here")).text == "still here"


def test_client_refuses_a_request_of_the_wrong_type(transport: InprocTransport) -> None:
    serve(transport, "a")
    with pytest.raises(TypeError, match="echo takes Echo, not Boom"):
        RPCClient(transport, SURFACE).call(CTX, "echo", Boom(kind="x"))


def test_unknown_method_on_the_server_is_an_error(transport: InprocTransport) -> None:
    serve(transport, "a")
    wider = Surface(topic="echo", version=4,
                    methods={**SURFACE.methods, "newer": (Echo, None)})
    with pytest.raises(exceptions.NovalithError, match="Unknown RPC method 'newer'"):
        RPCClient(transport, wider).call(CTX, "newer", Echo(text="x"))


def test_stop_unregisters_the_server(transport: InprocTransport) -> None:
    manager = EchoManager("a")
    server = Dispatcher(SURFACE, manager).serve(transport, "a", 1)
    client = RPCClient(transport, SURFACE)
    assert client.call(CTX, "echo", Echo(text="x")).server == "a"
    server.stop()
    with pytest.raises(exceptions.ServiceUnavailable):
        client.call(CTX, "echo", Echo(text="x"))


def test_stopping_a_replaced_server_keeps_its_replacement(transport: InprocTransport) -> None:
    old = Dispatcher(SURFACE, EchoManager("old")).serve(transport, "a", 1)
    serve(transport, "a")  # a restart registers a new server under the same name
    old.stop()
    assert RPCClient(transport, SURFACE).call(CTX, "echo", Echo(text="x"), server="a").text \
        == "x"


def test_calls_run_concurrently_on_the_worker_pool(transport: InprocTransport) -> None:
    manager = serve(transport, "a", workers=4)
    client = RPCClient(transport, SURFACE)
    results: list[str] = []

    def slow() -> None:
        results.append(client.call(CTX, "echo", Echo(text="s", delay_event=True)).text)

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for t in threads:
        t.start()
    # A fourth call still gets a worker while three wait.
    assert client.call(CTX, "echo", Echo(text="quick"), timeout=5).text == "quick"
    manager.release.set()
    for t in threads:
        t.join(5)
    assert results == ["s", "s", "s"]
