"""Unmodified openstacksdk against ``novalith up``: log in, look up, boot, act, delete."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openstack
import pytest
from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from .conftest import SDK_WARNINGS, NovalithProcess

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]

# conn.image.find_image calls the base find with ignore_missing=True itself, which
# warns even when the caller passes ignore_missing=False.
image_find_warns = pytest.mark.filterwarnings(
    "ignore:The ignore_missing parameter of all find_:openstack.warnings.RemovedInSDK60Warning")

WAIT = 30
POLL = 0.1
NOVA_DEFAULT_FLAVORS = {
    # name: (ram MB, vcpus, disk GB)
    "m1.tiny": (512, 1, 1), "m1.small": (2048, 1, 20), "m1.medium": (4096, 2, 40),
    "m1.large": (8192, 4, 80), "m1.xlarge": (16384, 8, 160),
}


@pytest.fixture
def conn(novalith: NovalithProcess) -> Iterator[Connection]:
    connection = novalith.connect()
    yield connection
    connection.close()


def _prefix() -> str:
    return f"sdk-{uuid.uuid4().hex[:8]}"


def _wait(conn: Connection, server: Server, status: str) -> Server:
    """Wait for ``status`` with no task in progress; check the power state that goes with it."""
    server = conn.compute.wait_for_server(server, status=status, wait=WAIT, interval=POLL)
    assert server.status == status, (server.name, server.status)
    assert server.task_state is None, (server.name, server.task_state)
    power = {"ACTIVE": 1, "PAUSED": 3, "SHUTOFF": 4, "SUSPENDED": 7}[status]
    assert server.power_state == power, (server.name, status, server.power_state)
    return server


def test_admin_authenticates_with_explicit_arguments(novalith: NovalithProcess,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("OS_")]:
        monkeypatch.delenv(name)  # the caller's OS_CLOUD etc. must not leak in
    conn = openstack.connect(
        auth_url=novalith.auth_url, username="admin", password=novalith.password,
        project_name="admin", user_domain_name="Default", project_domain_name="Default")
    try:
        assert conn.authorize()
        assert conn.current_project.name == "admin"
    finally:
        conn.close()


def test_connect_via_written_clouds_yaml(novalith: NovalithProcess,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(novalith.clouds_yaml))
    # A password set in novalith.conf is not written to clouds.yaml; pass it here.
    conn = openstack.connect(cloud="novalith", password=novalith.password)
    try:
        assert conn.config.config["auth"]["auth_url"] == novalith.auth_url
        assert conn.authorize()
        assert {f.name for f in conn.compute.flavors()} >= set(NOVA_DEFAULT_FLAVORS)
    finally:
        conn.close()


def test_wrong_password_is_an_auth_error(novalith: NovalithProcess) -> None:
    conn = novalith.connect(password="not-the-password")
    try:
        with pytest.raises(ks_exceptions.Unauthorized):
            list(conn.compute.flavors())
        with pytest.raises(sdk_exceptions.SDKException, match="HTTP 401"):
            conn.authorize()
    finally:
        conn.close()


def test_token_is_reused_across_requests(conn: Connection, novalith: NovalithProcess) -> None:
    token = conn.auth_token
    assert token
    list(conn.compute.flavors())
    list(conn.image.images())
    list(conn.compute.servers())
    assert conn.auth_token == token
    # The same token works for a plain HTTP client too, on every API.
    headers = {"X-Auth-Token": token}
    for path in ("/compute/v2.1/flavors", "/image/v2/images", "/compute/v2.1/servers"):
        resp = httpx.get(novalith.endpoint + path, headers=headers, timeout=10)
        assert resp.status_code == 200, (path, resp.text)


def test_default_flavors_have_nova_sizes(conn: Connection) -> None:
    flavors = {f.name: f for f in conn.compute.flavors(details=True)}
    for name, (ram, vcpus, disk) in NOVA_DEFAULT_FLAVORS.items():
        flavor = flavors[name]
        assert (flavor.ram, flavor.vcpus, flavor.disk) == (ram, vcpus, disk), name
        found = conn.compute.find_flavor(name, ignore_missing=False)
        assert found.id == flavor.id
        assert conn.compute.get_flavor(flavor.id).ram == ram


@image_find_warns
# The Compute API's image proxy is deprecated; using it on purpose is the point here.
@pytest.mark.filterwarnings(
    "ignore:This API is a proxy to the image service:"
    "openstack.warnings.OpenStackDeprecationWarning")
def test_image_is_found_via_image_and_compute_apis(conn: Connection) -> None:
    image = conn.image.find_image("fake-image", ignore_missing=False)
    assert image.status == "active"
    assert image.visibility == "public"
    assert conn.image.get_image(image.id).name == "fake-image"
    # The Compute API's deprecated image proxy (microversion <= 2.35; the SDK sends none).
    proxied = conn.compute.find_image("fake-image", ignore_missing=False)
    assert proxied.id == image.id
    detail = conn.compute.get_image(image.id)
    assert detail.name == "fake-image"
    assert detail.status == "ACTIVE"
    assert image.id in {i.id for i in conn.compute.images()}
    # Gone from 2.36 on, as in Nova.
    assert conn.compute.get("/images", microversion="2.36").status_code == 404
    assert conn.compute.get("/images", microversion="2.35").status_code == 200


# The SDK marks hypervisor fields that Nova dropped in 2.88 (we serve 2.47, where they exist)
# and warns as it builds each Hypervisor from the response.
@pytest.mark.filterwarnings(
    "ignore:The field '[a-z_]+' has been deprecated:openstack.warnings.RemovedFieldWarning")
def test_hypervisors_and_services_as_admin(conn: Connection) -> None:
    hypervisors = list(conn.compute.hypervisors(details=True))
    names = sorted(h.name for h in hypervisors)
    assert names == ["e2e-host-1", "e2e-host-2"]
    for hyp in hypervisors:
        assert (hyp.state, hyp.status) == ("up", "enabled")
        assert hyp.vcpus and hyp.memory_size
        assert conn.compute.get_hypervisor(hyp.id).name == hyp.name
    services = list(conn.compute.services())
    by_binary: dict[str, set[str]] = {}
    for svc in services:
        assert (svc.state, svc.status) == ("up", "enabled"), svc
        by_binary.setdefault(svc.binary, set()).add(svc.host)
    assert by_binary["nova-compute"] == {"e2e-host-1", "e2e-host-2"}
    assert "nova-scheduler" in by_binary and "nova-conductor" in by_binary


@image_find_warns
def test_server_lifecycle(conn: Connection) -> None:
    prefix = _prefix()
    image = conn.image.find_image("fake-image", ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.tiny", ignore_missing=False)
    created: list[Server] = []
    try:
        for i in range(3):
            created.append(conn.compute.create_server(
                name=f"{prefix}-{i}", flavor_id=flavor.id, image_id=image.id, networks="none"))
        servers = [_wait(conn, s, "ACTIVE") for s in created]
        hosts = {h.name for h in conn.compute.hypervisors()}
        for server in servers:
            assert server.image.id == image.id
            assert server.flavor.name == "m1.tiny"
            assert server.compute_host in hosts
            assert server.addresses == {}

        # Every power action, on all three servers at once, then wait for each.
        for action, kwargs, status in (
                (conn.compute.reboot_server, {"reboot_type": "SOFT"}, "ACTIVE"),
                (conn.compute.reboot_server, {"reboot_type": "HARD"}, "ACTIVE"),
                (conn.compute.stop_server, {}, "SHUTOFF"),
                (conn.compute.start_server, {}, "ACTIVE"),
                (conn.compute.pause_server, {}, "PAUSED"),
                (conn.compute.unpause_server, {}, "ACTIVE"),
                (conn.compute.suspend_server, {}, "SUSPENDED"),
                (conn.compute.resume_server, {}, "ACTIVE")):
            for server in servers:
                action(server, **kwargs)
            servers = [_wait(conn, s, status) for s in servers]

        renamed = conn.compute.update_server(servers[0], name=f"{prefix}-renamed")
        assert renamed.name == f"{prefix}-renamed"
        assert conn.compute.get_server(servers[0].id).name == f"{prefix}-renamed"

        _check_list_filters(conn, prefix, [s.id for s in servers])

        console = conn.compute.get_server_console_output(servers[1])
        assert console["output"]
        tail = conn.compute.get_server_console_output(servers[1], length=2)
        assert 0 < len(tail["output"].splitlines()) <= 2
    finally:
        for server in created:
            with contextlib.suppress(sdk_exceptions.NotFoundException):
                conn.compute.delete_server(server)
    for server in created:
        conn.compute.wait_for_delete(server, wait=WAIT, interval=POLL)
    assert not list(conn.compute.servers(name=f"^{prefix}"))
    assert conn.compute.find_server(created[0].id, ignore_missing=True) is None


def _check_list_filters(conn: Connection, prefix: str, ids: list[str]) -> None:
    mine = set(ids)

    def listed(**query: Any) -> list[Server]:
        return [s for s in conn.compute.servers(**query) if s.id in mine]

    # ``name`` is a regular expression, as in Nova.
    assert {s.id for s in listed(name=f"^{prefix}-")} == mine
    renamed = listed(name=f"^{prefix}-renamed$")
    assert [s.id for s in renamed] == [ids[0]]

    active = listed(status="ACTIVE", details=True)
    assert {s.id for s in active} == mine
    assert all(s.flavor and s.status == "ACTIVE" for s in active)
    assert listed(status="SHUTOFF") == []

    brief = listed(details=False)
    assert {s.id for s in brief} == mine
    assert all(s.name and s.status is None for s in brief)

    # One page of one, and every page of one followed through ``servers_links``.
    assert len(list(conn.compute.servers(limit=1, paginated=False))) == 1
    paged = [s.id for s in conn.compute.servers(limit=1, paginated=True, name=f"^{prefix}")]
    assert sorted(paged) == sorted(ids)
