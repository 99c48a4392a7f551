"""The wire format: one JSON envelope per message, typed payloads inside.

Versioning rule (one version number per service): a message carries the sender's
service version; a new field always has a default and readers ignore fields they
do not know, so an older reader accepts a newer sender's message and vice versa.
A change that cannot follow that rule needs a new method name. (docs/deployment.md
spells the rule out for rolling upgrades; tests/unit/rpc/test_rpc_versioning.py and
tests/integration/test_rpc_rabbit.py show it.)
"""

from __future__ import annotations

from typing import Any

import msgspec

from novalith import exceptions
from novalith.objects.context import RequestContext


class Envelope(msgspec.Struct, kw_only=True):
    method: str
    version: int = 1
    context: RequestContext
    args: msgspec.Raw = msgspec.Raw(b"null")


class Reply(msgspec.Struct, kw_only=True):
    result: msgspec.Raw = msgspec.Raw(b"null")
    error_class: str | None = None
    error_message: str | None = None


_encoder = msgspec.json.Encoder()
_env_decoder = msgspec.json.Decoder(Envelope)
_reply_decoder = msgspec.json.Decoder(Reply)


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def pack(ctx: RequestContext, method: str, args: Any, version: int = 1) -> bytes:
    return _encoder.encode(Envelope(method=method, version=version, context=ctx,
                                    args=msgspec.Raw(_encoder.encode(args))))


def unpack(data: bytes) -> Envelope:
    return _env_decoder.decode(data)


def pack_reply(result: Any) -> bytes:
    return _encoder.encode(Reply(result=msgspec.Raw(_encoder.encode(result))))


def pack_error(exc: BaseException) -> bytes:
    name = type(exc).__name__
    return _encoder.encode(Reply(error_class=name, error_message=str(exc)))


def unpack_reply(data: bytes) -> Reply:
    return _reply_decoder.decode(data)


def raise_remote(reply: Reply) -> None:
    """Re-raise an error that a remote method raised, as the same class where known."""
    cls = getattr(exceptions, reply.error_class or "", None)
    if isinstance(cls, type) and issubclass(cls, exceptions.NovalithError):
        raise cls(reply.error_message)
    raise exceptions.NovalithError(f"Remote error {reply.error_class}: {reply.error_message}")
