"""The transport interface every carrier implements, and its selection by URL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from oslo_config import cfg

# A server's handler: takes an envelope, returns reply bytes (or None for casts).
Handler = Callable[[bytes, bool], bytes | None]


class RPCServer(ABC):
    @abstractmethod
    def stop(self) -> None:
        """Stop taking messages and wait for running handlers to finish."""


class Transport(ABC):
    """Carries envelopes to (topic, server) targets.

    ``server`` None means any one server listening on the topic (load-shared);
    ``fanout`` delivers to every server of the topic.
    """

    @abstractmethod
    def call(self, topic: str, server: str | None, data: bytes, timeout: float) -> bytes:
        """Deliver and wait for the reply; RPCTimeout after ``timeout`` seconds,
        ServiceUnavailable when the message cannot be delivered (in process: nothing
        listens; over RabbitMQ: the broker is unreachable; a message nobody consumes
        there ends in RPCTimeout)."""

    @abstractmethod
    def cast(self, topic: str, server: str | None, data: bytes) -> None:
        """Deliver without waiting for any reply; ServiceUnavailable when the message
        cannot be handed to the carrier (broker unreachable)."""

    @abstractmethod
    def fanout(self, topic: str, data: bytes) -> None:
        """Deliver to every server listening on ``topic``."""

    @abstractmethod
    def serve(self, topic: str, server: str, handler: Handler, workers: int) -> RPCServer:
        """Start delivering messages for (topic, server) to ``handler`` on ``workers`` threads."""

    def close(self) -> None:  # noqa: B027 (optional hook: most transports hold nothing)
        """Release connections; servers must have been stopped."""


def get_transport(url: str, conf: cfg.ConfigOpts | None = None) -> Transport:
    """The transport ``url`` names: ``inproc://`` (one process) or ``rabbit://...``.

    ``conf`` (the service's config) supplies the RabbitMQ transport's
    ``control_exchange``, ``rpc_send_retries`` and the config files whose
    ``[oslo_messaging_rabbit]`` section tunes the driver.
    """
    if url in ("", "inproc://", "inproc:"):
        from novalith.rpc.inproc import InprocTransport

        return InprocTransport()
    if url.startswith("rabbit://"):
        from novalith.rpc.rabbit import RabbitTransport

        if conf is None:
            return RabbitTransport(url)
        return RabbitTransport(url, control_exchange=conf.control_exchange,
                               config_files=list(conf.config_file or []),
                               send_retries=conf.rpc_send_retries)
    raise ValueError(f"Unsupported transport_url {url!r}: use inproc:// or rabbit://")
