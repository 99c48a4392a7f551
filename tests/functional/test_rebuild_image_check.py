"""Rebuild with a new image, whole stack: the conductor asks the scheduler whether the
server's own host accepts the image (ImagePropertiesFilter) before compute touches
the guest.

Two fake hosts: ``host-1`` the plain fake driver (hypervisor_type ``fake``),
``host-2`` the fake driver posing as a Docker host (fixtures.container_fake). A
refused rebuild ends as in Nova: 202, then ERROR with a "No valid host" fault, the
old image back, the rebuild action in error, the guest untouched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.container_fake import container_hosts
from fixtures.moves import action, delta, migrations, usage
from novalith.db import images as image_db
from novalith.db import instances as inst_db
from novalith.objects.context import RequestContext
from novalith.scheduler.rpcapi import CheckHost, HostCheck


@pytest.fixture
def mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningCloud]:
    container_hosts(monkeypatch, "host-2")
    running = start_cloud(tmp_path, fake_hosts=2)
    yield running
    running.close()


@pytest.fixture
def client(mixed: RunningCloud) -> Iterator[httpx.Client]:
    with mixed.client(version="2.47") as c:
        yield c


@pytest.fixture
def host_checks(mixed: RunningCloud, monkeypatch: pytest.MonkeyPatch) -> list[CheckHost]:
    """The check_host requests the scheduler receives."""
    scheduler = mixed.cloud.scheduler
    seen: list[CheckHost] = []
    real = scheduler.check_host

    def spy(ctx: RequestContext, req: CheckHost) -> HostCheck:
        seen.append(req)
        return real(ctx, req)

    monkeypatch.setattr(scheduler, "check_host", spy)
    return seen


def add_image(running: RunningCloud, name: str, disk_format: str, container_format: str,
              **properties: str) -> str:
    image_id = str(uuid.uuid4())
    with running.cloud.db.write() as conn:
        image_db.create(conn, {"id": image_id, "name": name, "status": "active",
                               "disk_format": disk_format, "container_format": container_format,
                               "size": 0, "visibility": "public", "protected": False,
                               "owner": None, "min_disk": 0, "min_ram": 0,
                               "properties": properties})
    return image_id


def boot(running: RunningCloud, client: httpx.Client, image: str, **extra: Any
         ) -> dict[str, Any]:
    resp = client.post("/servers", json={"server": {
        "name": "rb", "flavorRef": "1", "imageRef": image, "networks": "none", **extra}})
    assert resp.status_code == 202, resp.text
    return running.wait_status(client, resp.json()["server"]["id"], {"ACTIVE"})


def rebuild(client: httpx.Client, sid: str, image: str) -> dict[str, Any]:
    resp = action(client, sid, {"rebuild": {"imageRef": image}})
    assert resp.status_code == 202, resp.text
    body: dict[str, Any] = resp.json()["server"]
    assert (body["status"], body["image"]["id"]) == ("REBUILD", image)
    return body


def last_action(client: httpx.Client, sid: str) -> dict[str, Any]:
    actions = client.get(f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    resp = client.get(f"/servers/{sid}/os-instance-actions/{actions[0]['request_id']}")
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()["instanceAction"]
    return found


def console(client: httpx.Client, sid: str) -> str:
    resp = action(client, sid, {"os-getConsoleOutput": {}})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["output"])


def test_a_container_host_refuses_a_vm_image_and_keeps_the_guest(
        mixed: RunningCloud, client: httpx.Client, host_checks: list[CheckHost]) -> None:
    docker = add_image(mixed, "ctr", "raw", "docker", hypervisor_type="docker")
    vm = add_image(mixed, "vm", "qcow2", "bare", hypervisor_type="fake")
    server = boot(mixed, client, docker)
    sid = server["id"]
    assert server["OS-EXT-SRV-ATTR:host"] == "host-2"
    assert action(client, sid, {"reboot": {"type": "SOFT"}}).status_code == 202
    mixed.wait_status(client, sid, {"ACTIVE"})
    assert console(client, sid).endswith("booted 2 times\n")
    before = usage(client)

    rebuild(client, sid, vm)
    server = mixed.wait_status(client, sid, {"ERROR"})
    assert (server["OS-EXT-SRV-ATTR:host"], server["image"]["id"]) == ("host-2", docker)
    assert server["OS-EXT-STS:power_state"] == 1  # still running
    fault = server["fault"]
    assert fault["code"] == 500
    assert fault["message"] == (f"No valid host was found. Image {vm} is unacceptable: the "
                                "server's host does not pass ImagePropertiesFilter.")
    act = last_action(client, sid)
    assert (act["action"], act["message"]) == ("rebuild", "Error")
    assert [(e["event"], e["result"]) for e in act["events"]] == [
        ("conductor_rebuild_server", "Error")]
    # The scheduler was asked about the server's own host and node, with the new image.
    (check,) = host_checks
    spec = check.request_spec
    assert (spec.requested_host, spec.requested_node) == ("host-2", "host-2")
    assert spec.image is not None and spec.image.id == vm
    # Nothing claimed or left behind; the same guest, never destroyed.
    assert delta(before, usage(client)) == {}
    assert migrations(mixed, sid) == []
    assert console(client, sid).endswith("booted 2 times\n")
    with mixed.cloud.db.read() as conn:
        inst = inst_db.get(conn, sid)
    assert inst is not None
    assert inst["system_metadata"]["image"]["id"] == docker
    assert inst["system_metadata"]["image"]["properties"] == {"hypervisor_type": "docker"}

    # From ERROR, a rebuild with an image the host accepts works (a new guest).
    other = add_image(mixed, "ctr-2", "raw", "docker", hypervisor_type="docker")
    rebuild(client, sid, other)
    server = mixed.wait_status(client, sid, {"ACTIVE"})
    assert (server["OS-EXT-SRV-ATTR:host"], server["image"]["id"]) == ("host-2", other)
    assert "fault" not in server
    assert console(client, sid) == "fake console: booted 1 times\n"
    act = last_action(client, sid)
    assert act["message"] is None
    assert {(e["event"], e["result"]) for e in act["events"]} == {
        ("conductor_rebuild_server", "Success"), ("compute_rebuild_instance", "Success")}
    assert len(host_checks) == 2


def test_a_vm_host_refuses_a_container_image_and_accepts_its_own(
        mixed: RunningCloud, client: httpx.Client) -> None:
    docker = add_image(mixed, "ctr", "raw", "docker", hypervisor_type="docker")
    vm = add_image(mixed, "vm", "qcow2", "bare", hypervisor_type="fake")
    sid = boot(mixed, client, mixed.image_id, availability_zone="nova:host-1")["id"]
    # Stopped servers are checked too: refused, ERROR (as in Nova), image unchanged.
    assert action(client, sid, {"os-stop": None}).status_code == 202
    mixed.wait_status(client, sid, {"SHUTOFF"})
    rebuild(client, sid, docker)
    server = mixed.wait_status(client, sid, {"ERROR"})
    assert server["image"]["id"] == mixed.image_id
    assert "ImagePropertiesFilter" in server["fault"]["message"]
    # An image asking for the host's own hypervisor type passes; ERROR -> ACTIVE.
    rebuild(client, sid, vm)
    server = mixed.wait_status(client, sid, {"ACTIVE"})
    assert (server["OS-EXT-SRV-ATTR:host"], server["image"]["id"]) == ("host-1", vm)


def test_a_same_image_rebuild_does_not_ask_the_scheduler(
        mixed: RunningCloud, client: httpx.Client, host_checks: list[CheckHost]) -> None:
    docker = add_image(mixed, "ctr", "raw", "docker", hypervisor_type="docker")
    sid = boot(mixed, client, docker)["id"]
    rebuild(client, sid, docker)
    server = mixed.wait_status(client, sid, {"ACTIVE"})
    assert server["image"]["id"] == docker
    assert host_checks == []
    act = last_action(client, sid)
    assert [e["event"] for e in act["events"]] == ["compute_rebuild_instance"]


def test_a_host_full_of_instances_still_takes_a_new_image(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Capacity filters do not run on a rebuild: the instance's own claim is not counted
    twice, and a disabled compute service does not stop it either."""
    running = start_cloud(tmp_path, fake_hosts=1, overrides={
        "fake_driver": {"vcpus": 1, "memory_mb": 512, "local_gb": 1},
        "DEFAULT": {"reserved_host_memory_mb": 0, "reserved_host_disk_mb": 0,
                    "cpu_allocation_ratio": 1.0, "ram_allocation_ratio": 1.0,
                    "disk_allocation_ratio": 1.0}})
    try:
        with running.client() as client:
            server = boot(running, client, running.image_id)
            sid, host = server["id"], server["OS-EXT-SRV-ATTR:host"]
            # The host is full: a second server finds no host.
            resp = client.post("/servers", json={"server": {
                "name": "no-room", "flavorRef": "1", "imageRef": running.image_id}})
            assert resp.status_code == 202, resp.text
            running.wait_status(client, resp.json()["server"]["id"], {"ERROR"})
            resp = client.put("/os-services/disable",
                              json={"host": host, "binary": "nova-compute"})
            assert resp.status_code == 200, resp.text
            vm = add_image(running, "vm", "qcow2", "bare", hypervisor_type="fake")
            rebuild(client, sid, vm)
            server = running.wait_status(client, sid, {"ACTIVE"})
            assert server["image"]["id"] == vm
    finally:
        running.close()
