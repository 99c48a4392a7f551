"""The built-in identity service: users, projects, roles and tokens (Keystone v3 subset).

Public surface::

    IdentityService(db, IdentityConfig.from_conf(conf))  # authenticate, validate, manage
    TokenInfo, IssuedToken                               # what a token says
    ProjectRecord, UserRecord, RoleRecord                # managed entities
    bootstrap(identity, admin_password) -> BootstrapResult
"""

from novalith.identity.bootstrap import BootstrapResult, bootstrap
from novalith.identity.records import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    IMPLIED_ROLES,
    IdentityConfig,
    IssuedToken,
    ProjectRecord,
    RoleRecord,
    TokenInfo,
    UserRecord,
)
from novalith.identity.service import IdentityService

__all__ = [
    "DEFAULT_DOMAIN_ID", "DEFAULT_DOMAIN_NAME", "IMPLIED_ROLES", "BootstrapResult",
    "IdentityConfig", "IdentityService", "IssuedToken", "ProjectRecord", "RoleRecord",
    "TokenInfo", "UserRecord", "bootstrap",
]
