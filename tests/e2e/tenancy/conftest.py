"""A ``novalith up`` with three fake hosts for the tenancy e2e tests (keypairs, server
groups, zones and aggregates, quotas, services), driven with unmodified openstacksdk.

One cloud serves this package's tests. Each test works in a project of its own
(``tenant`` fixture: a project with a member user), so quotas and server lists of
different tests never mix; admin changes to hosts (aggregates, disabled services)
are undone by the test that makes them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from ..conftest import SDK_WARNINGS, NovalithProcess, running_cloud

__all__ = ["SDK_WARNINGS"]  # the package's test modules import it from here

HOSTS = ("e2e-host-1", "e2e-host-2", "e2e-host-3")
WAIT = 30.0
FILTERS = ("ComputeFilter,AvailabilityZoneFilter,RamFilter,CoreFilter,DiskFilter,"
           "ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,"
           "AggregateInstanceExtraSpecsFilter")
CONFIG = f"""
[DEFAULT]
reserved_host_memory_mb = 0
[filter_scheduler]
enabled_filters = {FILTERS}
# Strong enough to beat the spreading RAM and CPU weighers (each at most 1.0).
soft_affinity_weight_multiplier = 10
soft_anti_affinity_weight_multiplier = 10
[fake_driver]
vcpus = 16
memory_mb = 32768
local_gb = 1000
"""

@pytest.fixture(scope="session")
def cloud3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NovalithProcess]:
    with running_cloud(tmp_path_factory.mktemp("novalith-e2e-3"), fake_hosts=3,
                       extra_config=CONFIG) as running:
        yield running


@pytest.fixture(scope="session")
def admin(cloud3: NovalithProcess) -> Iterator[Connection]:
    conn = cloud3.connect()
    yield conn
    conn.close()


@dataclass
class Tenant:
    """A project of its own, with a member user (and a reader, on demand)."""

    cloud: NovalithProcess
    admin: Connection
    project_id: str
    project_name: str
    member: Connection
    password: str
    _opened: list[Connection] = field(default_factory=list)

    def member_login(self) -> Connection:
        """Another connection as this project's member (one per thread)."""
        conn = self.cloud.connect(username=f"{self.project_name}-member",
                                  password=self.password, project_name=self.project_name)
        self._opened.append(conn)
        return conn

    def user(self, role: str) -> Connection:
        """A new user with only ``role`` in this project, logged in there."""
        identity = self.admin.identity
        name = f"{self.project_name}-{role}-{uuid.uuid4().hex[:4]}"
        user = identity.create_user(name=name, password=self.password, domain_id="default")
        identity.assign_project_role_to_user(self.project_id, user,
                                             identity.find_role(role, ignore_missing=False))
        conn = self.cloud.connect(username=name, password=self.password,
                                  project_name=self.project_name)
        self._opened.append(conn)
        return conn


def _make_tenant(cloud: NovalithProcess, admin: Connection, prefix: str) -> Tenant:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    password = "pw-" + uuid.uuid4().hex[:12]
    identity = admin.identity
    project = identity.create_project(name=name, domain_id="default")
    user = identity.create_user(name=f"{name}-member", password=password, domain_id="default")
    identity.assign_project_role_to_user(project, user,
                                         identity.find_role("member", ignore_missing=False))
    member = cloud.connect(username=f"{name}-member", password=password, project_name=name)
    return Tenant(cloud=cloud, admin=admin, project_id=project.id, project_name=name,
                  member=member, password=password)


@pytest.fixture
def tenant(cloud3: NovalithProcess, admin: Connection, request: pytest.FixtureRequest
           ) -> Iterator[Tenant]:
    t = _make_tenant(cloud3, admin, request.node.name[:20].replace("[", "-").strip("-_"))
    try:
        yield t
    finally:
        delete_project_servers(admin, t.project_id)
        for conn in (t.member, *t._opened):
            conn.close()


def delete_project_servers(admin: Connection, project_id: str) -> None:
    servers = list(admin.compute.servers(all_projects=True, project_id=project_id))
    for server in servers:
        admin.compute.delete_server(server)
    for server in servers:
        admin.compute.wait_for_delete(server, wait=WAIT, interval=0.1)


def wait_active(conn: Connection, server: Server, status: str = "ACTIVE") -> Server:
    result: Server = conn.compute.wait_for_server(server, status=status, wait=WAIT,
                                                  interval=0.1, failures=["ERROR"]
                                                  if status != "ERROR" else [])
    return result


def host_of(admin: Connection, server_id: str) -> str:
    """Where a server runs, as an admin sees it (OS-EXT-SRV-ATTR:host)."""
    host = admin.compute.get_server(server_id).compute_host
    assert host, server_id
    return str(host)


def usage(admin: Connection) -> dict[str, dict[str, int]]:
    """Per hypervisor: running_vms, vcpus_used and memory_mb_used (os-hypervisors/detail)."""
    return {h.name: {"running_vms": h.running_vms, "vcpus_used": h.vcpus_used,
                     "memory_used": h.memory_used}
            for h in admin.compute.hypervisors(details=True)}


def boot(conn: Connection, name: str, flavor: str = "m1.tiny", **kwargs: Any) -> Server:
    image = conn.image.find_image("fake-image", ignore_missing=False)
    flv = conn.compute.find_flavor(flavor, ignore_missing=False)
    server: Server = conn.compute.create_server(name=name, flavor_id=flv.id, image_id=image.id,
                                                networks="none", **kwargs)
    return server


def expect_usage(admin: Connection, before: dict[str, dict[str, int]],
                 placed: dict[str, int], flavor: tuple[int, int] = (1, 512)) -> None:
    """Hypervisor figures now = before + ``placed`` servers per host of ``flavor``
    (vcpus, ram MB); waits briefly (the figures are written as claims are made)."""
    vcpus, ram = flavor
    want = {h: {"running_vms": u["running_vms"] + placed.get(h, 0),
                "vcpus_used": u["vcpus_used"] + vcpus * placed.get(h, 0),
                "memory_used": u["memory_used"] + ram * placed.get(h, 0)}
            for h, u in before.items()}
    until(lambda: usage(admin) == want, f"hypervisor usage {want}")


def until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
