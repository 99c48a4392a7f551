"""os-services with openstacksdk: disable with a reason, force down, enable; what the
scheduler and os-hypervisors then show; deleting a service."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from ..conftest import NovalithProcess, launch, stop
from .conftest import (
    CONFIG,
    HOSTS,
    SDK_WARNINGS,
    Tenant,
    boot,
    expect_usage,
    host_of,
    usage,
    wait_active,
)

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]


def _compute(admin: Connection, host: str) -> object:
    [svc] = [s for s in admin.compute.services() if s.host == host
             and s.binary == "nova-compute"]
    return svc


def test_disabled_and_forced_down_hosts_get_no_servers(tenant: Tenant,
                                                       admin: Connection) -> None:
    one, two, three = HOSTS
    try:
        admin.compute.disable_service(_compute(admin, one), host=one, binary="nova-compute",
                                      disabled_reason="e2e maintenance")
        admin.compute.update_service_forced_down(_compute(admin, two), host=two,
                                                 binary="nova-compute", forced=True)
        services = {s.host: s for s in admin.compute.services() if s.binary == "nova-compute"}
        assert (services[one].status, services[one].disabled_reason) == (
            "disabled", "e2e maintenance")
        assert (services[two].state, services[two].is_forced_down) == ("down", True)
        assert (services[three].status, services[three].state) == ("enabled", "up")
        hyps = {h.name: h for h in admin.compute.hypervisors(details=True)}
        assert (hyps[one].status, hyps[two].state) == ("disabled", "down")

        before = usage(admin)
        servers = [wait_active(tenant.member, boot(tenant.member, f"svc-{i}"))
                   for i in range(3)]
        assert {host_of(admin, s.id) for s in servers} == {three}
        expect_usage(admin, before, {three: 3})
        stats = admin.compute.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]
        after = usage(admin)
        assert stats["running_vms"] == sum(u["running_vms"] for u in after.values())
        assert stats["count"] == 3
    finally:
        admin.compute.enable_service(_compute(admin, one), host=one, binary="nova-compute")
        admin.compute.update_service_forced_down(_compute(admin, two), host=two,
                                                 binary="nova-compute", forced=False)
    services = {s.host: s for s in admin.compute.services() if s.binary == "nova-compute"}
    assert all(s.status == "enabled" and s.state == "up" for s in services.values())
    assert services[one].disabled_reason is None


def test_services_are_admin_only(tenant: Tenant) -> None:
    with pytest.raises(sdk_exceptions.ForbiddenException):
        list(tenant.member.compute.services())
    with pytest.raises(sdk_exceptions.ForbiddenException):
        list(tenant.member.compute.hypervisors())


@pytest.fixture
def spare_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NovalithProcess]:
    """A cloud of its own: deleting a compute service takes its host away for good."""
    proc, running = launch(tmp_path_factory.mktemp("novalith-e2e-delete"), fake_hosts=2,
                           extra_config=CONFIG)
    try:
        yield running
    finally:
        stop(proc, signal.SIGINT)


def test_delete_a_compute_service(spare_cloud: NovalithProcess) -> None:
    admin = spare_cloud.connect()
    try:
        host = "e2e-host-2"
        server = wait_active(admin, boot(admin, "pinned", availability_zone=f"nova:{host}"))
        svc = _compute(admin, host)
        with pytest.raises(sdk_exceptions.ConflictException, match="hosting instances"):
            admin.compute.delete_service(svc)
        admin.compute.delete_server(server)
        admin.compute.wait_for_delete(server, wait=30, interval=0.1)
        admin.compute.delete_service(svc)
        assert host not in {s.host for s in admin.compute.services()}
        assert host not in {h.name for h in admin.compute.hypervisors()}
        other = wait_active(admin, boot(admin, "after"))
        assert host_of(admin, other.id) == "e2e-host-1"
    finally:
        admin.close()
