"""The RabbitMQ transport against the machine's RabbitMQ (a vhost of this module's own):
typed call/cast/fanout, load sharing, timeouts, remote errors, the versioning rule.

Two transports stand for two processes: servers listen on one, clients send on the
other, so every message crosses the broker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from fixtures.cluster import rabbit_vhost, require
from novalith import exceptions
from novalith.objects.context import RequestContext
from novalith.rpc.dispatch import Dispatcher, RPCClient, Surface
from novalith.rpc.rabbit import RabbitTransport
from novalith.rpc.transport import RPCServer, get_transport

pytestmark = pytest.mark.timeout(120)
CTX = RequestContext(request_id="req-rabbit", user_id="u", project_id="p", roles=("member",))


class Echo(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    wait: float = 0.0


class EchoReply(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    server: str
    request_id: str


class Boom(msgspec.Struct, frozen=True, kw_only=True):
    kind: str


SURFACE = Surface(topic="echo", version=1, methods={
    "echo": (Echo, EchoReply), "note": (Echo, None), "boom": (Boom, None)})


class EchoManager:
    def __init__(self, name: str) -> None:
        self.name = name
        self.notes: list[str] = []
        self.noted = threading.Event()

    def echo(self, ctx: RequestContext, req: Echo) -> EchoReply:
        time.sleep(req.wait)
        return EchoReply(text=req.text, server=self.name, request_id=ctx.request_id)

    def note(self, ctx: RequestContext, req: Echo) -> None:
        self.notes.append(req.text)
        self.noted.set()

    def boom(self, ctx: RequestContext, req: Boom) -> None:
        if req.kind == "not_found":
            raise exceptions.InstanceNotFound(instance_id="abc")
        raise ValueError("a bug")


@pytest.fixture(scope="module")
def url(servers_up: dict[str, bool]) -> Iterator[str]:
    require(servers_up, "rabbitmq")
    with rabbit_vhost("novalith-rpc") as (transport_url, _):
        yield transport_url


@pytest.fixture
def pair(url: str) -> Iterator[tuple[RabbitTransport, RabbitTransport]]:
    exchange = f"rpc-test-{time.monotonic_ns()}"  # every test its own topics
    servers = RabbitTransport(url, control_exchange=exchange)
    clients = RabbitTransport(url, control_exchange=exchange)
    yield servers, clients
    for srv in _running:
        srv.stop()
    _running.clear()
    clients.close()
    servers.close()


_running: list[RPCServer] = []


def serve(transport: RabbitTransport, name: str, surface: Surface = SURFACE,
          manager: Any = None) -> Any:
    manager = manager or EchoManager(name)
    _running.append(Dispatcher(surface, manager).serve(transport, name, 4))
    return manager


def test_get_transport_selects_rabbit(url: str) -> None:
    transport = get_transport(url)
    try:
        assert isinstance(transport, RabbitTransport)
    finally:
        transport.close()


def test_call_cast_and_fanout_cross_the_broker(
        pair: tuple[RabbitTransport, RabbitTransport]) -> None:
    servers, clients = pair
    a, b = serve(servers, "a"), serve(servers, "b")
    client = RPCClient(clients, SURFACE, timeout=10)
    assert client.call(CTX, "echo", Echo(text="hi"), server="b") == EchoReply(
        text="hi", server="b", request_id="req-rabbit")
    seen = {client.call(CTX, "echo", Echo(text="x")).server for _ in range(20)}
    assert seen == {"a", "b"}  # load-shared over one topic queue
    client.cast(CTX, "note", Echo(text="to-a"), server="a")
    assert a.noted.wait(10) and a.notes == ["to-a"]
    a.noted.clear()
    client.fanout(CTX, "note", Echo(text="all"))
    assert a.noted.wait(10) and b.noted.wait(10)
    assert a.notes[-1] == "all" and b.notes == ["all"]
    assert clients.sent == {"call": 21, "cast": 1, "fanout": 1}


def test_a_slow_or_missing_server_ends_in_rpc_timeout_never_a_hang(
        pair: tuple[RabbitTransport, RabbitTransport]) -> None:
    servers, clients = pair
    serve(servers, "a")
    client = RPCClient(clients, SURFACE, timeout=10)
    began = time.monotonic()
    with pytest.raises(exceptions.RPCTimeout):
        client.call(CTX, "echo", Echo(text="slow", wait=3), timeout=1)
    with pytest.raises(exceptions.RPCTimeout):
        client.call(CTX, "echo", Echo(text="nobody"), server="ghost", timeout=1)
    assert time.monotonic() - began < 5


def test_remote_errors_come_back_typed(pair: tuple[RabbitTransport, RabbitTransport]) -> None:
    servers, clients = pair
    serve(servers, "a")
    client = RPCClient(clients, SURFACE, timeout=10)
    with pytest.raises(exceptions.InstanceNotFound):
        client.call(CTX, "boom", Boom(kind="not_found"))
    with pytest.raises(exceptions.NovalithError, match="ValueError"):
        client.call(CTX, "boom", Boom(kind="bug"))
    assert client.call(CTX, "echo", Echo(text="alive")).text == "alive"


class StopV1(msgspec.Struct, frozen=True, kw_only=True):
    instance_uuid: str


class StopV2(msgspec.Struct, frozen=True, kw_only=True):
    instance_uuid: str
    clean_shutdown: bool = True


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.got = threading.Event()

    def stop(self, ctx: RequestContext, req: Any) -> None:
        self.seen.append(req)
        self.got.set()


def test_versioning_rule_over_rabbitmq(pair: tuple[RabbitTransport, RabbitTransport]) -> None:
    servers, clients = pair
    old_surface = Surface(topic="power", version=1, methods={"stop": (StopV1, None)})
    new_surface = Surface(topic="power", version=2, methods={"stop": (StopV2, None)})
    old, new = Recorder(), Recorder()
    serve(servers, "old-node", old_surface, old)
    serve(servers, "new-node", new_surface, new)
    # A newer sender to an older reader: the new field is ignored.
    RPCClient(clients, new_surface).cast(
        CTX, "stop", StopV2(instance_uuid="i-1", clean_shutdown=False), server="old-node")
    # An older sender to a newer reader: the missing field takes its default.
    RPCClient(clients, old_surface).cast(CTX, "stop", StopV1(instance_uuid="i-2"),
                                         server="new-node")
    assert old.got.wait(10) and new.got.wait(10)
    assert old.seen == [StopV1(instance_uuid="i-1")]
    assert new.seen == [StopV2(instance_uuid="i-2", clean_shutdown=True)]
