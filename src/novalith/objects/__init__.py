"""Typed, serialisable objects that cross RPC and the driver boundary (msgspec Structs).

Rules (one version number per service, see :mod:`novalith.rpc.messages`): a new
field always has a default; readers ignore fields they do not know.
"""
