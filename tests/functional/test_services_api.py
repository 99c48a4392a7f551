"""os-services updates (disable with a reason, enable, force down, delete) and what the
scheduler and os-hypervisors make of them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud

HOSTS = ("host-1", "host-2", "host-3")


@pytest.fixture
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("services"), fake_hosts=3)
    yield running
    running.close()


def _computes(c: httpx.Client) -> dict[str, dict[str, Any]]:
    resp = c.get("/os-services", params={"binary": "nova-compute"})
    assert resp.status_code == 200, resp.text
    return {s["host"]: s for s in resp.json()["services"]}


def _put(c: httpx.Client, action: str, **body: Any) -> httpx.Response:
    return c.put(f"/os-services/{action}", json={"binary": "nova-compute", **body})


def _boot_hosts(cloud: RunningCloud, c: httpx.Client, n: int) -> list[str]:
    ids = [cloud.boot(c, f"svc-{i}") for i in range(n)]
    return [cloud.wait_status(c, i, {"ACTIVE"})["OS-EXT-SRV-ATTR:host"] for i in ids]


def test_disable_enable_and_force_down(cloud: RunningCloud) -> None:
    with cloud.client(version="2.11") as c:
        resp = _put(c, "disable-log-reason", host="host-1", disabled_reason="maintenance")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"service": {"host": "host-1", "binary": "nova-compute",
                                           "status": "disabled",
                                           "disabled_reason": "maintenance"}}
        svc = _computes(c)["host-1"]
        assert (svc["status"], svc["state"], svc["disabled_reason"]) == (
            "disabled", "up", "maintenance")
        resp = _put(c, "force-down", host="host-2", forced_down=True)
        assert resp.json() == {"service": {"host": "host-2", "binary": "nova-compute",
                                           "forced_down": True}}
        svc = _computes(c)["host-2"]
        assert (svc["state"], svc["forced_down"], svc["status"]) == ("down", True, "enabled")
        hyps = {h["hypervisor_hostname"]: h for h in
                c.get("/os-hypervisors").json()["hypervisors"]}
        assert (hyps["host-1"]["status"], hyps["host-2"]["state"]) == ("disabled", "down")
        # Only host-3 takes new servers now.
        assert set(_boot_hosts(cloud, c, 4)) == {"host-3"}
        assert _put(c, "enable", host="host-1").json() == {"service": {
            "host": "host-1", "binary": "nova-compute", "status": "enabled"}}
        assert _computes(c)["host-1"]["disabled_reason"] is None
        _put(c, "force-down", host="host-2", forced_down=False)
        assert _computes(c)["host-2"]["state"] == "up"
        _put(c, "disable", host="host-3")
        assert "host-3" not in set(_boot_hosts(cloud, c, 4))
        _put(c, "enable", host="host-3")
        # Statistics and per-host details match the servers actually there.
        servers = c.get("/servers/detail").json()["servers"]
        per_host: dict[str, int] = {}
        for s in servers:
            per_host[s["OS-EXT-SRV-ATTR:host"]] = per_host.get(s["OS-EXT-SRV-ATTR:host"], 0) + 1
        detail = {h["hypervisor_hostname"]: h for h in
                  c.get("/os-hypervisors/detail").json()["hypervisors"]}
        for host in HOSTS:
            assert detail[host]["running_vms"] == per_host.get(host, 0)
            assert detail[host]["vcpus_used"] == per_host.get(host, 0)  # m1.tiny: 1 vCPU
        stats = c.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]
        assert stats["running_vms"] == len(servers) == 8 and stats["count"] == 3


def test_errors(cloud: RunningCloud) -> None:
    with cloud.client(version="2.10") as c:
        # force-down came with 2.11.
        assert _put(c, "force-down", host="host-1", forced_down=True).status_code == 404
        assert _put(c, "disable", host="nope").status_code == 404
        assert _put(c, "disable-log-reason", host="host-1").status_code == 400
        assert _put(c, "frobnicate", host="host-1").status_code in (400, 404)
        assert c.put("/os-services/disable", json={"host": "host-1"}).status_code == 400
        assert c.delete("/os-services/99999").status_code == 404
    member = cloud.add_user("svc-p", "svc-member", "member")
    with cloud.client(member, version="2.11") as c:
        assert _put(c, "disable", host="host-1").status_code == 403
        assert c.get("/os-services").status_code == 403
        assert c.delete("/os-services/1").status_code == 403


def test_delete_compute_service(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        services = _computes(c)
        sid = cloud.boot(c, "pinned", availability_zone="nova:host-3")
        cloud.wait_status(c, sid, {"ACTIVE"})
        resp = c.delete(f"/os-services/{services['host-3']['id']}")
        assert resp.status_code == 409 and "hosting instances" in resp.text
        c.delete(f"/servers/{sid}")
        deadline = time.monotonic() + 30
        while c.get(f"/servers/{sid}").status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        agg = c.post("/os-aggregates", json={"aggregate": {"name": "a"}}).json()["aggregate"]
        c.post(f"/os-aggregates/{agg['id']}/action", json={"add_host": {"host": "host-3"}})
        assert c.delete(f"/os-services/{services['host-3']['id']}").status_code == 204
        assert "host-3" not in _computes(c)
        assert "host-3" not in {h["hypervisor_hostname"] for h in
                                c.get("/os-hypervisors").json()["hypervisors"]}
        assert c.get(f"/os-aggregates/{agg['id']}").json()["aggregate"]["hosts"] == []
        assert "host-3" not in set(_boot_hosts(cloud, c, 3))
