"""RPC between services: call (with timeout), cast, fanout over a pluggable transport.

Service code sees only :class:`~novalith.rpc.client.RPCClient` and
:class:`~novalith.rpc.dispatch.Dispatcher`; which transport carries the bytes
(in-process queues or RabbitMQ) is chosen by ``transport_url``.
"""
