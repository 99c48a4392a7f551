"""Server groups: the API, and placement across three hosts by policy."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud

HOSTS = ("host-1", "host-2", "host-3")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("groups"), fake_hosts=3, overrides={
        "filter_scheduler": {"soft_affinity_weight_multiplier": 10.0,
                             "soft_anti_affinity_weight_multiplier": 10.0},
        "quota": {"server_group_members": 10}})
    yield running
    running.close()


def _group(c: httpx.Client, policy: str, name: str = "g") -> dict[str, Any]:
    resp = c.post("/os-server-groups", json={"server_group": {"name": name,
                                                              "policies": [policy]}})
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["server_group"])


def _boot(cloud: RunningCloud, c: httpx.Client, name: str, group: str, **extra: Any) -> str:
    resp = c.post("/servers", headers={"OpenStack-API-Version": "compute 2.37"}, json={
        "server": {"name": name, "flavorRef": "1", "imageRef": cloud.image_id,
                   "networks": "none", **extra},
        "os:scheduler_hints": {"group": group}})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["server"]["id"])


def _hosts(cloud: RunningCloud, c: httpx.Client, ids: list[str]) -> list[str]:
    return [cloud.wait_status(c, i, {"ACTIVE"})["OS-EXT-SRV-ATTR:host"] for i in ids]


def _cleanup(c: httpx.Client, ids: list[str]) -> None:
    for i in ids:
        c.delete(f"/servers/{i}")
    deadline = time.monotonic() + 30
    while any(c.get(f"/servers/{i}").status_code == 200 for i in ids):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_anti_affinity_three_hosts_then_no_valid_host(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        group = _group(c, "anti-affinity")
        ids = [_boot(cloud, c, f"anti-{i}", group["id"]) for i in range(3)]
        assert sorted(_hosts(cloud, c, ids)) == list(HOSTS)
        fourth = _boot(cloud, c, "anti-3", group["id"])
        server = cloud.wait_status(c, fourth, {"ERROR"})
        assert "No valid host was found" in server["fault"]["message"]
        assert server["OS-EXT-SRV-ATTR:host"] is None
        members = c.get(f"/os-server-groups/{group['id']}").json()["server_group"]["members"]
        assert sorted(members) == sorted([*ids, fourth])
        _cleanup(c, [*ids, fourth])
        assert c.get(f"/os-server-groups/{group['id']}").json()["server_group"][
            "members"] == []


def test_anti_affinity_in_one_multi_create_request(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        group = _group(c, "anti-affinity")
        _boot(cloud, c, "batch", group["id"], min_count=3, max_count=3)
        members = c.get(f"/os-server-groups/{group['id']}").json()["server_group"]["members"]
        assert len(members) == 3
        assert sorted(_hosts(cloud, c, members)) == list(HOSTS)
        _cleanup(c, members)


def test_affinity_keeps_every_member_on_one_host(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        group = _group(c, "affinity")
        ids = [_boot(cloud, c, f"aff-{i}", group["id"]) for i in range(2)]
        ids.append(_boot(cloud, c, "aff-batch", group["id"], min_count=2, max_count=2))
        members = c.get(f"/os-server-groups/{group['id']}").json()["server_group"]["members"]
        assert len(members) == 4
        assert len(set(_hosts(cloud, c, members))) == 1
        _cleanup(c, members)


def test_soft_policies(cloud: RunningCloud) -> None:
    with cloud.client(version="2.15") as c:
        soft_anti = _group(c, "soft-anti-affinity")
        ids = [_boot(cloud, c, f"sa-{i}", soft_anti["id"]) for i in range(6)]
        assert Counter(_hosts(cloud, c, ids)) == {h: 2 for h in HOSTS}  # spread, no failure
        soft = _group(c, "soft-affinity")
        more = [_boot(cloud, c, f"sf-{i}", soft["id"]) for i in range(4)]
        assert len(set(_hosts(cloud, c, more))) == 1
        _cleanup(c, ids + more)
    with cloud.client(version="2.14") as c:  # soft policies came with 2.15
        resp = c.post("/os-server-groups", json={"server_group": {
            "name": "s", "policies": ["soft-affinity"]}})
        assert resp.status_code == 400


def test_group_api_shapes_and_errors(cloud: RunningCloud) -> None:
    with cloud.client(version="2.13") as c:
        group = _group(c, "affinity", "shape")
        assert set(group) == {"id", "name", "policies", "members", "metadata", "project_id",
                              "user_id"}
        assert group["policies"] == ["affinity"] and group["metadata"] == {}
        for bad in ({"name": "x", "policies": []}, {"name": "x", "policies": ["x"]},
                    {"name": "x", "policies": ["affinity", "anti-affinity"]},
                    {"name": "", "policies": ["affinity"]}, {"policies": ["affinity"]}):
            assert c.post("/os-server-groups", json={"server_group": bad}
                          ).status_code == 400, bad
        ids = [g["id"] for g in c.get("/os-server-groups").json()["server_groups"]]
        assert group["id"] in ids
        assert c.delete(f"/os-server-groups/{group['id']}").status_code == 204
        assert c.get(f"/os-server-groups/{group['id']}").status_code == 404
        assert c.delete(f"/os-server-groups/{group['id']}").status_code == 404
    with cloud.client(version="2.12") as c:
        assert "project_id" not in _group(c, "affinity", "old")
        # A boot naming a group that is not there (or not a uuid) is a 400.
        for hint in ("5c1b0fd4-4f53-4b1b-8b3e-0d8bd6a2c1f0", "not-a-uuid"):
            resp = c.post("/servers", headers={"OpenStack-API-Version": "compute 2.37"},
                          json={"server": {"name": "x", "flavorRef": "1",
                                           "imageRef": cloud.image_id, "networks": "none"},
                                "os:scheduler_hints": {"group": hint}})
            assert resp.status_code == 400, resp.text


def test_group_quotas(cloud: RunningCloud) -> None:
    token = cloud.add_user("sg-quota", "sg-quota-member", "member")
    project = cloud.cloud.identity.find_project("sg-quota").id
    with cloud.client(version="2.47") as admin:
        admin.put(f"/os-quota-sets/{project}",
                  json={"quota_set": {"server_groups": 1, "server_group_members": 2}})
    with cloud.client(token, version="2.47") as c:
        group = _group(c, "anti-affinity")
        resp = c.post("/os-server-groups", json={"server_group": {
            "name": "two", "policies": ["affinity"]}})
        assert resp.status_code == 403
        assert resp.json()["forbidden"]["message"] == "Quota exceeded, too many server groups."
        ids = [_boot(cloud, c, f"m-{i}", group["id"]) for i in range(2)]
        resp = c.post("/servers", headers={"OpenStack-API-Version": "compute 2.37"}, json={
            "server": {"name": "m-2", "flavorRef": "1", "imageRef": cloud.image_id,
                       "networks": "none"}, "os:scheduler_hints": {"group": group["id"]}})
        assert resp.status_code == 403
        assert resp.json()["forbidden"]["message"] == (
            "Quota exceeded, too many servers in group")
        limits = c.get("/limits").json()["limits"]["absolute"]
        assert limits["totalServerGroupsUsed"] == 1 and limits["maxServerGroupMembers"] == 2
        _cleanup(c, ids)
