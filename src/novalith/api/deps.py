"""What a Compute API route gets per request: the caller, the microversion, URL bases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from fastapi import Request
from oslo_config import cfg

from novalith import exceptions
from novalith.api.microversion import APIVersion, negotiate
from novalith.conf.quota import QuotaConfig
from novalith.db.api import Database
from novalith.image.client import ImageClient
from novalith.objects.context import RequestContext
from novalith.policy import Policy
from novalith.rpc.dispatch import RPCClient


@dataclass(frozen=True)
class ApiConfig:
    auth_strategy: str
    max_limit: int
    public_endpoint: str
    enable_instance_password: bool
    default_availability_zone: str
    internal_availability_zone: str
    service_down_time: int
    quota: QuotaConfig = field(default_factory=QuotaConfig)
    # The authorization rules (oslo.policy, [oslo_policy] policy_file overrides).
    policy: Policy = field(default_factory=Policy, compare=False, repr=False)
    # Image properties a snapshot does not copy ([DEFAULT] non_inheritable_image_properties).
    non_inheritable_image_properties: frozenset[str] = frozenset({"cache_in_nova",
                                                                  "bittorrent"})

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> ApiConfig:
        return cls(auth_strategy=conf.api.auth_strategy, max_limit=conf.api.max_limit,
                   public_endpoint=conf.api.public_endpoint.rstrip("/"),
                   enable_instance_password=conf.enable_instance_password,
                   default_availability_zone=conf.default_availability_zone,
                   internal_availability_zone=conf.internal_service_availability_zone,
                   service_down_time=conf.service_down_time,
                   quota=QuotaConfig.from_conf(conf), policy=Policy(conf),
                   non_inheritable_image_properties=frozenset(
                       conf.non_inheritable_image_properties))


@dataclass
class ApiServices:
    """Everything the API process talks to; stored on ``app.state.services``."""

    db: Database
    identity: Any  # novalith.identity.service.IdentityService
    conductor: RPCClient
    compute: RPCClient
    config: ApiConfig
    # How the Compute API reaches the image service (createImage, createBackup);
    # None: no image service wired in.
    image_client: ImageClient | None = None
    # The image service behind the Image API (novalith.image.service.ImageService);
    # None: the Image API answers 503.
    image: Any = None


@dataclass(frozen=True)
class Call:
    """One authenticated Compute API request."""

    ctx: RequestContext
    version: APIVersion
    root: str
    services: ApiServices

    @property
    def base(self) -> str:
        return self.root + "/compute/v2.1"

    @property
    def bookmark(self) -> str:
        return self.root + "/compute"

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def policy(self) -> Policy:
        return self.services.config.policy

    def authorize(self, rule: str, target: Mapping[str, Any] | None = None) -> None:
        """403 unless policy ``rule`` lets the caller act on ``target`` (the owning
        ``project_id`` / ``user_id``; default: the caller's own project and user)."""
        self.policy.authorize(self.ctx, rule, target)

    def allowed(self, rule: str, target: Mapping[str, Any] | None = None) -> bool:
        return self.policy.check(self.ctx, rule, target)

    def require_admin(self, action: str) -> None:
        """Policy ``action`` (admin by default); a name without a registered rule
        falls back to ``admin_api``."""
        if not self.allowed(action if self.policy.knows(action) else "admin_api"):
            raise exceptions.Forbidden(action=action)

    def require_writer(self, action: str) -> None:
        """Policy ``action`` on the caller's project (member by default); a name
        without a registered rule falls back to ``project_member_or_admin``. Callers
        have already scoped the object to the caller's project (404 otherwise)."""
        if not self.allowed(action if self.policy.knows(action) else "project_member_or_admin"):
            raise exceptions.Forbidden(action=action)


def root_url(request: Request, config: ApiConfig) -> str:
    return config.public_endpoint or str(request.base_url).rstrip("/")


def authenticate(request: Request, services: ApiServices) -> RequestContext:
    rid = str(request.scope["state"]["request_id"])
    token = request.headers.get("x-auth-token")
    if not token:
        raise exceptions.NotAuthenticated()
    if services.config.auth_strategy == "noauth2":
        user, _, project = token.partition(":")
        roles = ("admin", "member", "reader") if user == "admin" else ("member", "reader")
        return RequestContext(request_id=rid, user_id=user, project_id=project or user,
                              user_name=user, project_name=project or user, roles=roles)
    info = services.identity.validate(token)
    ctx: RequestContext = info.to_context(rid)
    if ctx.project_id is None:
        raise exceptions.Forbidden("A project-scoped token is required.")
    return ctx


def compute_call(request: Request) -> Call:
    """FastAPI dependency of every authenticated Compute API route."""
    services: ApiServices = request.app.state.services
    # Authentication first: keystonemiddleware answers 401 before Nova looks at anything.
    ctx = authenticate(request, services)
    version = negotiate(request.headers.get("openstack-api-version"),
                        request.headers.get("x-openstack-nova-api-version"))
    request.scope["state"]["microversion"] = version
    ctx = msgspec.structs.replace(ctx, admin=services.config.policy.is_admin(ctx))
    return Call(ctx=ctx, version=version, root=root_url(request, services.config),
                services=services)
