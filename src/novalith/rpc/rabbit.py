"""The RabbitMQ transport: the Transport interface over oslo.messaging's rabbit driver.

Selected by ``transport_url = rabbit://user:pass@host:port/vhost``. Each envelope
travels as one string argument of one oslo.messaging method (``novalith``), so
the typed clients and dispatchers of :mod:`novalith.rpc.dispatch` work unchanged
and the wire format stays ours (and versioned by ours: see
:mod:`novalith.rpc.envelope`).

Semantics, as Nova has them over the same driver:

- ``call`` waits at most ``timeout`` seconds, then raises RPCTimeout. A message
  nobody consumes (no server of the topic running) also ends in RPCTimeout: AMQP
  does not tell a sender that a queue is empty of consumers.
- ``cast`` and ``fanout`` return once the broker has the message. Delivery is at
  most once: a server acknowledges a message when it takes it, before running it,
  so a server killed mid-operation does not get it again (recovery of such
  operations is the conductor's build watchdog, :mod:`novalith.conductor.recovery`).
- While the broker is unreachable, sending reconnects ``[DEFAULT] rpc_send_retries``
  times and then (after about 3 s for the default 1) raises ServiceUnavailable: a
  request fails fast with a clear error and never hangs. Servers and reply
  listeners reconnect by themselves, for as long as it takes.
- Servers run handlers on a thread pool (oslo.messaging's ``threading``
  executor); nothing here uses or patches eventlet.

Options of the driver itself (heartbeats, TLS, quorum queues, ...) are read
from the ``[oslo_messaging_rabbit]`` section of the same config files.
"""

from __future__ import annotations

import importlib
import logging
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

from oslo_config import cfg

from novalith import exceptions
from novalith.rpc.transport import Handler, RPCServer, Transport

with warnings.catch_warnings():
    # oslo.messaging imports oslo.service, which imports eventlet, which warns on import
    # that it is deprecated. Nothing here uses eventlet (threading executor only).
    warnings.simplefilter("ignore")
    import oslo_messaging as om

LOG = logging.getLogger(__name__)
METHOD = "novalith"  # the one oslo.messaging method every envelope rides on


class _Endpoint:
    """What oslo.messaging dispatches to: hands the envelope to our handler."""

    def __init__(self, handler: Handler, topic: str, server: str) -> None:
        self.handler, self.topic, self.server = handler, topic, server

    def novalith(self, ctxt: Any, data: str, reply: bool) -> str | None:
        try:
            out = self.handler(data.encode(), reply)
        except Exception:  # the dispatcher reports its own errors; this is a last resort
            LOG.exception("RPC handler on %s.%s crashed", self.topic, self.server)
            raise
        return out.decode() if out is not None else None


class _Server(RPCServer):
    def __init__(self, server: Any) -> None:
        self._server = server

    def stop(self) -> None:
        self._server.stop()
        self._server.wait()


class RabbitTransport(Transport):
    """call/cast/fanout/serve over an oslo.messaging RPC transport."""

    def __init__(self, url: str, *, control_exchange: str = "novalith",
                 config_files: Sequence[str] = (), send_retries: int = 1) -> None:
        # A private ConfigOpts: oslo.messaging registers its own options (some share
        # names with ours, e.g. transport_url), reading [oslo_messaging_rabbit] and
        # friends from the same files.
        self._conf = cfg.ConfigOpts()
        _register_global_only_opts(self._conf)
        self._conf([], project="novalith", default_config_files=list(config_files))
        try:
            self._transport = om.get_rpc_transport(self._conf, url=url)
        except (om.InvalidTransportURL, om.DriverLoadFailure) as exc:
            raise ValueError(f"Unusable transport_url: {exc}") from None
        self.exchange = control_exchange
        self.send_retries = send_retries
        self._clients: dict[tuple[str, str | None, bool], Any] = {}
        self._lock = threading.Lock()
        # messages this process sent, by kind (call, cast, fanout); replies are not counted
        self.sent: Counter[str] = Counter()

    def _client(self, topic: str, server: str | None, fanout: bool = False) -> Any:
        key = (topic, server, fanout)
        client = self._clients.get(key)
        if client is None:
            target = om.Target(exchange=self.exchange, topic=topic, server=server,
                               fanout=fanout)
            client = om.get_rpc_client(self._transport, target, retry=self.send_retries)
            with self._lock:
                self._clients[key] = client
        return client

    def _count(self, kind: str) -> None:
        with self._lock:
            self.sent[kind] += 1

    def call(self, topic: str, server: str | None, data: bytes, timeout: float) -> bytes:
        client = self._client(topic, server).prepare(timeout=timeout)
        self._count("call")
        try:
            result = client.call({}, METHOD, data=data.decode(), reply=True)
        except om.MessagingTimeout:
            raise exceptions.RPCTimeout(topic=topic + (f".{server}" if server else ""),
                                        method="call") from None
        except om.MessagingException as exc:  # delivery failed, or another driver error
            raise _undeliverable(topic, server, exc) from None
        if not isinstance(result, str):
            raise exceptions.NovalithError(f"Malformed reply from {topic}: {type(result)}")
        return result.encode()

    def cast(self, topic: str, server: str | None, data: bytes) -> None:
        self._count("cast")
        try:
            self._client(topic, server).cast({}, METHOD, data=data.decode(), reply=False)
        except om.MessagingException as exc:
            raise _undeliverable(topic, server, exc) from None

    def fanout(self, topic: str, data: bytes) -> None:
        self._count("fanout")
        try:
            self._client(topic, None, fanout=True).cast({}, METHOD, data=data.decode(),
                                                         reply=False)
        except om.MessagingException as exc:
            raise _undeliverable(topic, "*", exc) from None

    def serve(self, topic: str, server: str, handler: Handler, workers: int) -> RPCServer:
        target = om.Target(exchange=self.exchange, topic=topic, server=server)
        # No executor argument (deprecated): oslo.messaging picks "threading" unless
        # eventlet has monkey-patched the process, which nothing here ever does.
        srv = om.get_rpc_server(self._transport, target, [_Endpoint(handler, topic, server)])
        if srv.executor_type != "threading":
            raise RuntimeError(f"oslo.messaging chose the {srv.executor_type!r} executor: "
                               "something monkey-patched this process")
        srv.start(override_pool_size=workers)
        return _Server(srv)

    def close(self) -> None:
        self._transport.cleanup()


# Options oslo.messaging reads from the ConfigOpts it is given but registers on the global
# cfg.CONF only (as of 18.x); its ConfFixture registers the same list, from these modules.
_GLOBAL_ONLY_OPTS = (
    ("oslo_messaging._metrics.client", "oslo_messaging_metrics", "oslo_messaging_metrics"),
    ("oslo_messaging._tracing.client", "oslo_messaging_tracing", "oslo_messaging_tracing"),
    ("oslo_messaging.rpc.dispatcher", "_dispatcher_opts", None),
)


def _register_global_only_opts(conf: cfg.ConfigOpts) -> None:
    for module_name, attribute, group in _GLOBAL_ONLY_OPTS:
        try:
            opts = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            continue  # another release: it registers what it reads, or reads nothing
        conf.register_opts(opts, group=group)


def _undeliverable(topic: str, server: str | None, exc: Exception) -> exceptions.NovalithError:
    LOG.error("Could not deliver to %s%s: %s", topic, f".{server}" if server else "", exc)
    return exceptions.ServiceUnavailable(
        f"The message service is unreachable; could not deliver to {topic}.")
