"""What the compute operation modules work with, bundled once by the manager."""

from __future__ import annotations

from dataclasses import dataclass, field

from novalith.compute.config import ComputeConfig
from novalith.compute.locks import InstanceLocks
from novalith.db.api import Database
from novalith.image.client import ImageClient
from novalith.rpc.dispatch import RPCClient
from novalith.virt.driver import ComputeDriver


@dataclass
class ComputeDeps:
    db: Database
    driver: ComputeDriver
    config: ComputeConfig
    conductor: RPCClient
    scheduler: RPCClient
    locks: InstanceLocks = field(default_factory=InstanceLocks)
    # One lock per server group (keyed by group uuid): the late group-policy check of
    # two builds of one group on this host runs one after the other (compute.group_policy).
    group_locks: InstanceLocks = field(default_factory=InstanceLocks)
    node_id: int | None = None
    # How compute reaches the image service (None: no image service wired in).
    image_client: ImageClient | None = None
    # The other compute services (moves: resize, live migration); set by the manager.
    compute: RPCClient | None = None

    @property
    def host(self) -> str:
        return self.config.host
