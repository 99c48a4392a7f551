"""os-hypervisors and os-services as an admin sees them, against the servers placed."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.cloud import RunningCloud, start_cloud

HOSTS = ("host-1", "host-2", "host-3")
RESERVED_MB = 512  # Nova's default reserved_host_memory_mb, counted as used
FAKE = {"vcpus": 16, "memory_mb": 65536, "local_gb": 500}
FLAVORS = {"1": (1, 512, 1), "2": (1, 2048, 20)}  # id -> (vcpus, ram, disk)
LIST_KEYS = {"id", "hypervisor_hostname", "state", "status"}
DETAIL_KEYS = LIST_KEYS | {
    "cpu_info", "current_workload", "disk_available_least", "free_disk_gb", "free_ram_mb",
    "host_ip", "hypervisor_type", "hypervisor_version", "local_gb", "local_gb_used",
    "memory_mb", "memory_mb_used", "running_vms", "service", "vcpus", "vcpus_used"}
STATISTICS_KEYS = {"count", "current_workload", "disk_available_least", "free_disk_gb",
                   "free_ram_mb", "local_gb", "local_gb_used", "memory_mb", "memory_mb_used",
                   "running_vms", "vcpus", "vcpus_used"}
SERVICE_KEYS = {"id", "binary", "host", "zone", "status", "state", "updated_at",
                "disabled_reason"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("admin-apis"), fake_hosts=len(HOSTS),
                          overrides={"fake_driver": FAKE,
                                     "DEFAULT": {"reserved_host_memory_mb": RESERVED_MB}})
    try:
        with running.client(version="2.37") as c:
            ids = [running.boot(c, f"placed-{i}", flavor=flavor)
                   for i, flavor in enumerate(["1", "2", "1", "2", "1"])]
            for sid in ids:
                running.wait_status(c, sid, {"ACTIVE"})
        yield running
    finally:
        running.close()


def _expected(cloud: RunningCloud) -> dict[str, dict[str, int]]:
    """Per host, what the servers placed there use, from the servers API."""
    use: dict[str, dict[str, int]] = {h: defaultdict(int) for h in HOSTS}
    with cloud.client() as c:
        for s in c.get("/servers/detail").json()["servers"]:
            vcpus, ram, disk = FLAVORS[s["flavor"]["id"]]
            host = use[s["OS-EXT-SRV-ATTR:host"]]
            host["running_vms"] += 1
            host["vcpus_used"] += vcpus
            host["memory_mb_used"] += ram
            host["local_gb_used"] += disk
    return use


def test_hypervisor_list(cloud: RunningCloud) -> None:
    with cloud.client() as c:
        hypervisors = c.get("/os-hypervisors").json()["hypervisors"]
    assert sorted(h["hypervisor_hostname"] for h in hypervisors) == list(HOSTS)
    for h in hypervisors:
        assert set(h) == LIST_KEYS
        assert (h["state"], h["status"]) == ("up", "enabled")


def test_hypervisor_detail_matches_placed_servers(cloud: RunningCloud) -> None:
    expected = _expected(cloud)
    assert sum(e["running_vms"] for e in expected.values()) == 5
    with cloud.client() as c:
        hypervisors = c.get("/os-hypervisors/detail").json()["hypervisors"]
        services = {s["host"]: s for s in c.get("/os-services", params={
            "binary": "nova-compute"}).json()["services"]}
    assert len(hypervisors) == len(HOSTS)
    for h in hypervisors:
        assert set(h) == DETAIL_KEYS
        use = expected[h["hypervisor_hostname"]]
        assert h["running_vms"] == use["running_vms"]
        assert h["vcpus"] == FAKE["vcpus"] and h["vcpus_used"] == use["vcpus_used"]
        assert h["memory_mb"] == FAKE["memory_mb"]
        assert h["memory_mb_used"] == RESERVED_MB + use["memory_mb_used"]
        assert h["free_ram_mb"] == FAKE["memory_mb"] - h["memory_mb_used"]
        assert h["local_gb"] == FAKE["local_gb"] and h["local_gb_used"] == use["local_gb_used"]
        assert h["free_disk_gb"] == FAKE["local_gb"] - use["local_gb_used"]
        assert h["hypervisor_type"] == "fake" and isinstance(h["hypervisor_version"], int)
        assert h["current_workload"] == 0
        assert h["host_ip"] == "127.0.0.1"
        # cpu_info is a JSON string before 2.28
        assert json.loads(h["cpu_info"])["arch"] == "x86_64"
        host = h["hypervisor_hostname"]
        assert h["service"] == {"host": host, "id": services[host]["id"],
                                "disabled_reason": None}


def test_hypervisor_show_and_cpu_info_object(cloud: RunningCloud) -> None:
    with cloud.client() as c:
        listed = c.get("/os-hypervisors/detail").json()["hypervisors"]
        for h in listed:
            shown = c.get(f"/os-hypervisors/{h['id']}")
            assert shown.status_code == 200
            assert shown.json()["hypervisor"] == h
        missing = c.get("/os-hypervisors/9999")
        assert missing.status_code == 404 and "9999" in missing.json()["itemNotFound"]["message"]
    with cloud.client(version="2.28") as c:
        shown = c.get(f"/os-hypervisors/{listed[0]['id']}").json()["hypervisor"]
        assert shown["cpu_info"]["arch"] == "x86_64"


def test_hypervisor_statistics(cloud: RunningCloud) -> None:
    expected = _expected(cloud)
    with cloud.client() as c:
        stats = c.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]
    assert set(stats) == STATISTICS_KEYS
    assert stats["count"] == len(HOSTS)
    assert stats["running_vms"] == 5
    assert stats["vcpus"] == FAKE["vcpus"] * len(HOSTS)
    assert stats["vcpus_used"] == sum(e["vcpus_used"] for e in expected.values())
    assert stats["memory_mb"] == FAKE["memory_mb"] * len(HOSTS)
    assert stats["memory_mb_used"] == (RESERVED_MB * len(HOSTS)
                                       + sum(e["memory_mb_used"] for e in expected.values()))
    assert stats["free_ram_mb"] == stats["memory_mb"] - stats["memory_mb_used"]
    assert stats["local_gb_used"] == sum(e["local_gb_used"] for e in expected.values())
    assert stats["free_disk_gb"] == stats["local_gb"] - stats["local_gb_used"]


def test_statistics_follow_a_delete(cloud: RunningCloud) -> None:
    with cloud.client(version="2.37") as c:
        sid = cloud.boot(c, "short-lived", flavor="2")
        cloud.wait_status(c, sid, {"ACTIVE"})
        during = c.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]
        assert c.delete(f"/servers/{sid}").status_code == 204
        deadline = time.monotonic() + 10
        while c.get(f"/servers/{sid}").status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        after = c.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]
    assert during["running_vms"] - after["running_vms"] == 1
    assert during["memory_mb_used"] - after["memory_mb_used"] == 2048
    assert during["vcpus_used"] - after["vcpus_used"] == 1
    assert during["local_gb_used"] - after["local_gb_used"] == 20


def _services(cloud: RunningCloud, version: str | None = None, **params: Any
              ) -> list[dict[str, Any]]:
    with cloud.client(version=version) as c:
        resp = c.get("/os-services", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["services"])


def test_services_list(cloud: RunningCloud) -> None:
    services = _services(cloud)
    by_binary: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in services:
        assert set(s) == SERVICE_KEYS
        assert (s["state"], s["status"], s["disabled_reason"]) == ("up", "enabled", None)
        assert isinstance(s["updated_at"], str) and "T" in s["updated_at"]
        by_binary[s["binary"]].append(s)
    assert set(by_binary) == {"nova-scheduler", "nova-conductor", "nova-compute"}
    assert [s["zone"] for s in by_binary["nova-scheduler"]] == ["internal"]
    assert [s["zone"] for s in by_binary["nova-conductor"]] == ["internal"]
    assert sorted(s["host"] for s in by_binary["nova-compute"]) == list(HOSTS)
    assert {s["zone"] for s in by_binary["nova-compute"]} == {"nova"}
    assert len({s["id"] for s in services}) == len(services)

    (latest,) = [s for s in _services(cloud, "2.11") if s["host"] == "host-2"]
    assert set(latest) == SERVICE_KEYS | {"forced_down"} and latest["forced_down"] is False
    assert [s["host"] for s in _services(cloud, host="host-3")] == ["host-3"]
    assert [s["binary"] for s in _services(cloud, binary="nova-conductor")] == [
        "nova-conductor"]
    assert _services(cloud, host="nowhere") == []
