"""Host aggregates and availability zones: the API, and what the scheduler makes of them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud

FILTERS = ("ComputeFilter,AvailabilityZoneFilter,RamFilter,CoreFilter,DiskFilter,"
           "ImagePropertiesFilter,AggregateInstanceExtraSpecsFilter").split(",")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("aggregates"), fake_hosts=3, overrides={
        "filter_scheduler": {"enabled_filters": FILTERS}})
    yield running
    running.close()


def _zones(c: httpx.Client, detail: bool = False) -> dict[str, Any]:
    resp = c.get("/os-availability-zone/detail" if detail else "/os-availability-zone")
    assert resp.status_code == 200, resp.text
    return {z["zoneName"]: z for z in resp.json()["availabilityZoneInfo"]}


def _action(c: httpx.Client, agg: int, body: dict[str, Any], status: int = 200
            ) -> dict[str, Any]:
    resp = c.post(f"/os-aggregates/{agg}/action", json=body)
    assert resp.status_code == status, resp.text
    return dict(resp.json())


def _place(cloud: RunningCloud, c: httpx.Client, n: int, **extra: Any) -> list[str]:
    ids = [cloud.boot(c, f"az-{i}", **extra) for i in range(n)]
    hosts = [cloud.wait_status(c, i, {"ACTIVE"})["OS-EXT-SRV-ATTR:host"] for i in ids]
    for i in ids:
        c.delete(f"/servers/{i}")
    deadline = time.monotonic() + 30
    while any(c.get(f"/servers/{i}").status_code == 200 for i in ids):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return hosts


def test_zone_aggregate_moves_a_host_and_boots_follow(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        assert set(_zones(c)) == {"nova"}
        resp = c.post("/os-aggregates", json={"aggregate": {"name": "rack-a",
                                                            "availability_zone": "zone-a"}})
        assert resp.status_code == 200, resp.text
        agg = resp.json()["aggregate"]
        assert agg["availability_zone"] == "zone-a" and "uuid" in agg
        assert "hosts" not in agg  # as Nova's create answer
        assert set(_zones(c)) == {"nova"}  # a zone with no host is not listed
        body = _action(c, agg["id"], {"add_host": {"host": "host-2"}})["aggregate"]
        assert body["hosts"] == ["host-2"]
        assert body["metadata"] == {"availability_zone": "zone-a"}
        assert set(_zones(c)) == {"nova", "zone-a"}
        detail = _zones(c, detail=True)
        assert set(detail["zone-a"]["hosts"]) == {"host-2"}
        assert set(detail["nova"]["hosts"]) == {"host-1", "host-3"}
        assert detail["internal"]["hosts"]["host"]["nova-scheduler"]["active"] is True
        services = {s["host"]: s["zone"] for s in c.get("/os-services", params={
            "binary": "nova-compute"}).json()["services"]}
        assert services == {"host-1": "nova", "host-2": "zone-a", "host-3": "nova"}
        assert set(_place(cloud, c, 3, availability_zone="zone-a")) == {"host-2"}
        assert "host-2" not in _place(cloud, c, 4, availability_zone="nova")
        server = cloud.boot(c, "in-zone", availability_zone="zone-a")
        assert cloud.wait_status(c, server, {"ACTIVE"})["OS-EXT-AZ:availability_zone"] == \
            "zone-a"
        # A host running servers cannot change zone; neither can its aggregate.
        resp = c.put(f"/os-aggregates/{agg['id']}",
                     json={"aggregate": {"availability_zone": "zone-b"}})
        assert resp.status_code == 400 and "contain instances" in resp.text
        c.delete(f"/servers/{server}")
        deadline = time.monotonic() + 30
        while c.get(f"/servers/{server}").status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        resp = c.put(f"/os-aggregates/{agg['id']}",
                     json={"aggregate": {"name": "rack-a2", "availability_zone": "zone-b"}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["aggregate"]["name"] == "rack-a2"
        assert set(_zones(c)) == {"nova", "zone-b"}
        # An unknown zone is refused at boot.
        resp = c.post("/servers", json={"server": {
            "name": "x", "flavorRef": "1", "imageRef": cloud.image_id,
            "availability_zone": "zone-a"}})
        assert resp.status_code == 400
        # A host is never in two zones.
        other = c.post("/os-aggregates", json={"aggregate": {
            "name": "rack-c", "availability_zone": "zone-c"}}).json()["aggregate"]
        _action(c, other["id"], {"add_host": {"host": "host-2"}}, status=409)
        _action(c, agg["id"], {"remove_host": {"host": "host-2"}})
        _action(c, agg["id"], {"remove_host": {"host": "host-2"}}, status=404)
        assert set(_zones(c)) == {"nova"}
        assert c.delete(f"/os-aggregates/{other['id']}").status_code == 200
        assert c.delete(f"/os-aggregates/{agg['id']}").status_code == 200
        assert c.get(f"/os-aggregates/{agg['id']}").status_code == 404


def test_extra_specs_filter_sends_flavors_to_matching_aggregates(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        agg = c.post("/os-aggregates", json={"aggregate": {"name": "fast"}}).json()["aggregate"]
        _action(c, agg["id"], {"add_host": {"host": "host-3"}})
        body = _action(c, agg["id"], {"set_metadata": {"metadata": {"ssd": "true",
                                                                      "gen": "4"}}})
        assert body["aggregate"]["metadata"] == {"ssd": "true", "gen": "4"}
        assert body["aggregate"]["availability_zone"] is None
        resp = c.post("/flavors", json={"flavor": {"name": "ssd.tiny", "ram": 256, "vcpus": 1,
                                                   "disk": 1, "id": "ssd-tiny"}})
        assert resp.status_code == 200, resp.text
        c.post("/flavors/ssd-tiny/os-extra_specs", json={"extra_specs": {
            "aggregate_instance_extra_specs:ssd": "true",
            "aggregate_instance_extra_specs:gen": ">= 3"}})
        assert set(_place(cloud, c, 3, flavor="ssd-tiny")) == {"host-3"}
        # A null value removes a key: the flavor then fits nowhere.
        _action(c, agg["id"], {"set_metadata": {"metadata": {"ssd": None}}})
        assert c.get(f"/os-aggregates/{agg['id']}").json()["aggregate"]["metadata"] == {
            "gen": "4"}
        sid = cloud.boot(c, "nowhere", flavor="ssd-tiny")
        server = cloud.wait_status(c, sid, {"ERROR"})
        assert "AggregateInstanceExtraSpecsFilter" in server["fault"]["message"]
        c.delete(f"/servers/{sid}")
        _action(c, agg["id"], {"remove_host": {"host": "host-3"}})
        assert c.delete(f"/os-aggregates/{agg['id']}").status_code == 200
        c.delete("/flavors/ssd-tiny")


def test_aggregate_errors(cloud: RunningCloud) -> None:
    with cloud.client(version="2.40") as c:
        agg = c.post("/os-aggregates", json={"aggregate": {"name": "errs"}}).json()["aggregate"]
        assert "uuid" not in agg  # 2.41
        assert c.post("/os-aggregates", json={"aggregate": {"name": "errs"}}).status_code == 409
        for bad in ({"name": ""}, {"name": "x", "availability_zone": "internal"},
                    {"name": "x", "availability_zone": "a:b"}, {"nope": 1}):
            assert c.post("/os-aggregates", json={"aggregate": bad}).status_code in (400, 409)
        _action(c, agg["id"], {"add_host": {"host": "no-such-host"}}, status=404)
        _action(c, agg["id"], {"add_host": {"host": "host-1"}})
        _action(c, agg["id"], {"add_host": {"host": "host-1"}}, status=409)
        _action(c, agg["id"], {"add_host": {"host": "host-1"}, "remove_host": {
            "host": "host-1"}}, status=400)
        assert c.delete(f"/os-aggregates/{agg['id']}").status_code == 400  # not empty
        _action(c, 999999, {"add_host": {"host": "host-1"}}, status=404)
        assert c.put(f"/os-aggregates/{agg['id']}", json={"aggregate": {}}).status_code == 400
        _action(c, agg["id"], {"remove_host": {"host": "host-1"}})
        assert c.delete(f"/os-aggregates/{agg['id']}").status_code == 200
