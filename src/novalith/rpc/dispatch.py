"""Typed clients and dispatchers over a transport.

A service declares its RPC surface once as a :class:`Surface`: method name ->
(request type, response type). The client encodes requests of those types; the
dispatcher decodes them and calls the method of the same name on the manager as
``manager.method(ctx, request)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from novalith import exceptions
from novalith.objects.context import RequestContext
from novalith.rpc import envelope
from novalith.rpc.transport import RPCServer, Transport

LOG = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class Surface:
    """The RPC surface of one service: its topic, version and typed methods."""

    topic: str
    version: int
    methods: dict[str, tuple[type[Any], type[Any] | None]]


class RPCClient:
    def __init__(self, transport: Transport, surface: Surface, timeout: float = 60.0) -> None:
        self.transport, self.surface, self.timeout = transport, surface, timeout

    def _pack(self, ctx: RequestContext, method: str, request: Any) -> bytes:
        req_type, _ = self.surface.methods[method]
        if not isinstance(request, req_type):
            raise TypeError(f"{method} takes {req_type.__name__}, not {type(request).__name__}")
        return envelope.pack(ctx, method, request, self.surface.version)

    def call(self, ctx: RequestContext, method: str, request: Any, *, server: str | None = None,
             timeout: float | None = None) -> Any:
        data = self._pack(ctx, method, request)
        raw = self.transport.call(self.surface.topic, server, data, timeout or self.timeout)
        reply = envelope.unpack_reply(raw)
        if reply.error_class:
            envelope.raise_remote(reply)
        _, resp_type = self.surface.methods[method]
        if resp_type is None:
            return None
        return msgspec.json.decode(reply.result, type=resp_type)

    def cast(self, ctx: RequestContext, method: str, request: Any, *,
             server: str | None = None) -> None:
        self.transport.cast(self.surface.topic, server, self._pack(ctx, method, request))

    def fanout(self, ctx: RequestContext, method: str, request: Any) -> None:
        self.transport.fanout(self.surface.topic, self._pack(ctx, method, request))


class Dispatcher:
    """Decodes envelopes and calls ``manager.<method>(ctx, request)``."""

    def __init__(self, surface: Surface, manager: object) -> None:
        self.surface, self.manager = surface, manager
        self._decoders = {name: msgspec.json.Decoder(req)
                          for name, (req, _) in surface.methods.items()}

    def __call__(self, data: bytes, want_reply: bool) -> bytes | None:
        try:
            env = envelope.unpack(data)
            decoder = self._decoders.get(env.method)
            if decoder is None:
                raise exceptions.NovalithError(f"Unknown RPC method {env.method!r}")
            request = decoder.decode(env.args)
            result = getattr(self.manager, env.method)(env.context, request)
        except Exception as exc:
            if not isinstance(exc, exceptions.NovalithError) or not want_reply:
                LOG.exception("RPC method failed on topic %s", self.surface.topic)
            return envelope.pack_error(exc) if want_reply else None
        return envelope.pack_reply(result) if want_reply else None

    def serve(self, transport: Transport, server: str, workers: int) -> RPCServer:
        return transport.serve(self.surface.topic, server, self, workers)
