"""Identity v3 HTTP API (Keystone subset): ``build_identity_router``."""

from novalith.api.identity.router import build_identity_router

__all__ = ["build_identity_router"]
