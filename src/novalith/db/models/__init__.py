"""All tables; importing this module registers them on ``Base.metadata``."""

from novalith.db.base import Base
from novalith.db.models.compute import (
    ComputeNode,
    Flavor,
    FlavorExtraSpec,
    Instance,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    Service,
)
from novalith.db.models.identity import Project, Role, RoleAssignment, Token, User
from novalith.db.models.image import Image

__all__ = [
    "Base", "ComputeNode", "Flavor", "FlavorExtraSpec", "Image", "Instance",
    "InstanceAction", "InstanceActionEvent", "InstanceFault", "Project", "Role",
    "RoleAssignment", "Service", "Token", "User",
]
