"""50 concurrent boots on 3 hosts that fit exactly 30: no overcommit, clean failures."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fixtures.cloud import RunningCloud, start_cloud

PER_HOST = 10
HOSTS = 3
REQUESTS = 50
FLAVOR = {"vcpus": 1, "ram": 256, "disk": 1}
OVERRIDES: dict[str, dict[str, Any]] = {
    "fake_driver": {"vcpus": PER_HOST * FLAVOR["vcpus"], "memory_mb": PER_HOST * FLAVOR["ram"],
                    "local_gb": 1000},
    "DEFAULT": {"ram_allocation_ratio": 1.0, "cpu_allocation_ratio": 1.0,
                "disk_allocation_ratio": 1.0, "reserved_host_memory_mb": 0},
}


@pytest.fixture
def cloud3(tmp_path: Path) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path, fake_hosts=HOSTS, overrides=OVERRIDES)
    yield running
    running.close()


def _boot(cloud: RunningCloud, index: int) -> tuple[int, str]:
    with cloud.client(version="2.37") as c:
        resp = c.post("/servers", json={"server": {
            "name": f"burst-{index}", "flavorRef": "burst", "imageRef": cloud.image_id,
            "networks": "none"}})
    return resp.status_code, resp.json()["server"]["id"] if resp.status_code == 202 else resp.text


def _servers(cloud: RunningCloud) -> list[dict[str, Any]]:
    with cloud.client(version="2.47") as c:
        resp = c.get("/servers/detail", params={"name": "^burst-"})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["servers"])


def _hypervisors(cloud: RunningCloud) -> dict[str, dict[str, Any]]:
    with cloud.client() as c:
        resp = c.get("/os-hypervisors/detail")
    assert resp.status_code == 200, resp.text
    return {h["hypervisor_hostname"]: h for h in resp.json()["hypervisors"]}


def _wait_settled(cloud: RunningCloud, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        servers = _servers(cloud)
        hypervisors = _hypervisors(cloud)
        for h in hypervisors.values():  # checked while the burst is still in flight too
            assert h["vcpus_used"] <= h["vcpus"] and h["memory_mb_used"] <= h["memory_mb"], h
        if len(servers) == REQUESTS and all(
                s["status"] != "BUILD" and s["OS-EXT-STS:task_state"] is None for s in servers):
            return servers
        assert time.monotonic() < deadline, Counter(s["status"] for s in servers)
        time.sleep(0.1)


def test_fifty_boots_fill_exactly_thirty_slots(cloud3: RunningCloud) -> None:
    with cloud3.client() as admin:
        resp = admin.post("/flavors", json={"flavor": {"name": "burst", "id": "burst",
                                                       **FLAVOR}})
        assert resp.status_code == 200, resp.text

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(pool.map(lambda i: _boot(cloud3, i), range(REQUESTS)))
    assert [status for status, _ in answers] == [202] * REQUESTS, answers
    ids = {sid for _, sid in answers}
    assert len(ids) == REQUESTS

    servers = _wait_settled(cloud3)
    assert {s["id"] for s in servers} == ids
    by_status = Counter(s["status"] for s in servers)
    assert by_status == {"ACTIVE": HOSTS * PER_HOST, "ERROR": REQUESTS - HOSTS * PER_HOST}

    for s in servers:
        if s["status"] == "ERROR":
            assert "No valid host" in s["fault"]["message"], s["fault"]
            assert s["OS-EXT-SRV-ATTR:host"] is None
        else:
            assert "fault" not in s
            assert s["flavor"]["original_name"] == "burst"

    active_per_host = Counter(s["OS-EXT-SRV-ATTR:host"] for s in servers
                              if s["status"] == "ACTIVE")
    hypervisors = _hypervisors(cloud3)
    assert set(hypervisors) == {f"host-{i}" for i in range(1, HOSTS + 1)}
    for name, h in hypervisors.items():
        count = active_per_host[name]
        assert count == PER_HOST  # exactly full: spreading filled every host
        assert h["running_vms"] == count
        assert h["vcpus_used"] == count * FLAVOR["vcpus"] <= h["vcpus"]
        assert h["memory_mb_used"] == count * FLAVOR["ram"] <= h["memory_mb"]
        assert h["local_gb_used"] == count * FLAVOR["disk"]
        assert h["free_ram_mb"] == 0

    with cloud3.client() as c:
        for sid in ids:
            assert c.delete(f"/servers/{sid}").status_code == 204
        deadline = time.monotonic() + 30
        while _servers(cloud3):
            assert time.monotonic() < deadline, "servers were not deleted"
            time.sleep(0.1)
    for h in _hypervisors(cloud3).values():
        assert (h["running_vms"], h["vcpus_used"], h["memory_mb_used"],
                h["local_gb_used"]) == (0, 0, 0, 0), h
