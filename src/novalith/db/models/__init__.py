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
from novalith.db.models.image import Image, ImageMember, ImageTag
from novalith.db.models.moves import InstanceTag, Migration
from novalith.db.models.tenancy import (
    Aggregate,
    AggregateHost,
    AggregateMetadata,
    InstanceGroup,
    InstanceGroupMember,
    KeyPair,
    Quota,
    QuotaLock,
)

__all__ = [
    "Base", "ComputeNode", "Flavor", "FlavorExtraSpec", "Image", "ImageMember", "ImageTag",
    "Instance", "InstanceAction", "InstanceActionEvent", "InstanceFault", "Project", "Role",
    "RoleAssignment", "Service", "Token", "User",
]
__all__ += [
    "Aggregate", "AggregateHost", "AggregateMetadata", "InstanceGroup", "InstanceGroupMember",
    "KeyPair", "Quota", "QuotaLock",
]
__all__ += ["InstanceTag", "Migration"]
