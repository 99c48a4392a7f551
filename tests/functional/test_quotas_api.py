"""Quotas through the API: os-quota-sets, limits, and enforcement at boot.

Nova's defaults (10 instances, 20 cores, 51200 MB) apply here: the fixture's usual
"unlimited" override is replaced by the real defaults.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud

NOVA_DEFAULTS = {"instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128,
                 "injected_files": 5, "injected_file_content_bytes": 10240,
                 "injected_file_path_bytes": 255, "key_pairs": 100, "server_groups": 10,
                 "server_group_members": 10}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("quotas"), fake_hosts=2,
                          overrides={"quota": {"instances": 10, "cores": 20, "ram": 51200}})
    yield running
    running.close()


def _project(cloud: RunningCloud, name: str) -> tuple[str, str]:
    """A project with a member; returns (project id, member token)."""
    token = cloud.add_user(name, f"{name}-member", "member")
    return cloud.cloud.identity.find_project(name).id, token


def _boot(cloud: RunningCloud, token: str, name: str, **extra: Any) -> httpx.Response:
    with cloud.client(token, version="2.37") as c:
        return c.post("/servers", json={"server": {
            "name": name, "flavorRef": "1", "imageRef": cloud.image_id, "networks": "none",
            **extra}})


def _settle(cloud: RunningCloud, token: str, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    with cloud.client(token, version="2.47") as c:
        while True:
            servers = c.get("/servers/detail").json()["servers"]
            if all(s["status"] != "BUILD" for s in servers) or time.monotonic() > deadline:
                return list(servers)
            time.sleep(0.05)


def _delete_all(cloud: RunningCloud, token: str) -> None:
    with cloud.client(token) as c:
        for s in c.get("/servers").json()["servers"]:
            c.delete(f"/servers/{s['id']}")
        deadline = time.monotonic() + 30
        while c.get("/servers").json()["servers"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_defaults_show_and_detail(cloud: RunningCloud) -> None:
    project, token = _project(cloud, "q-show")
    with cloud.client(token, version="2.47") as c:
        shown = c.get(f"/os-quota-sets/{project}").json()["quota_set"]
        assert shown == {"id": project, **NOVA_DEFAULTS}
        assert c.get(f"/os-quota-sets/{project}/defaults").json()["quota_set"] == shown
        detail = c.get(f"/os-quota-sets/{project}/detail").json()["quota_set"]
        assert detail["instances"] == {"in_use": 0, "limit": 10, "reserved": 0}
    # Below 2.36 the network quotas are there too (never enforced: no network service).
    with cloud.client(token, version="2.35") as c:
        old = c.get(f"/os-quota-sets/{project}").json()["quota_set"]
        assert old["floating_ips"] == 10 and old["security_groups"] == 10
        assert c.get(f"/os-quota-sets/{project}/detail").json()["quota_set"]["fixed_ips"] == {
            "in_use": 0, "limit": -1, "reserved": 0}


def test_update_and_revert_are_admin_only(cloud: RunningCloud) -> None:
    project, token = _project(cloud, "q-update")
    with cloud.client(token) as member:
        resp = member.put(f"/os-quota-sets/{project}", json={"quota_set": {"instances": 50}})
        assert resp.status_code == 403, resp.text
        assert member.delete(f"/os-quota-sets/{project}").status_code == 403
    with cloud.client(version="2.47") as admin:
        resp = admin.put(f"/os-quota-sets/{project}",
                         json={"quota_set": {"instances": 3, "cores": 5}})
        assert resp.status_code == 200, resp.text
        body = resp.json()["quota_set"]
        assert "id" not in body and body["instances"] == 3 and body["cores"] == 5
        assert admin.get(f"/os-quota-sets/{project}").json()["quota_set"]["instances"] == 3
        for bad in ({"instances": -2}, {"instances": "x"}, {"nope": 1},
                    {"floating_ips": 3}):  # network quotas are gone at 2.36+
            assert admin.put(f"/os-quota-sets/{project}",
                             json={"quota_set": bad}).status_code == 400, bad
        assert admin.put("/os-quota-sets/no-such-project",
                         json={"quota_set": {"instances": 1}}).status_code == 400
        assert admin.delete(f"/os-quota-sets/{project}").status_code == 202
        assert admin.get(f"/os-quota-sets/{project}").json()["quota_set"]["instances"] == 10


def test_refused_boot_is_403_in_novas_words_and_changes_nothing(cloud: RunningCloud) -> None:
    project, token = _project(cloud, "q-refuse")
    with cloud.client(version="2.47") as admin:
        admin.put(f"/os-quota-sets/{project}", json={"quota_set": {"instances": 2}})
    for i in range(2):
        assert _boot(cloud, token, f"ok-{i}").status_code == 202
    resp = _boot(cloud, token, "over")
    assert resp.status_code == 403
    assert resp.json() == {"forbidden": {"code": 403, "message": (
        "Quota exceeded for instances: Requested 1, but already used 2 of 2 instances")}}
    servers = _settle(cloud, token)
    assert sorted(s["name"] for s in servers) == ["ok-0", "ok-1"]
    # Cores: m1.tiny has 1 vCPU, m1.medium 2; with two tiny ones running, a 4-core
    # quota lets one medium in, not two.
    with cloud.client(version="2.47") as admin:
        admin.put(f"/os-quota-sets/{project}",
                  json={"quota_set": {"instances": 10, "cores": 4}})
    assert _boot(cloud, token, "medium", flavorRef="3").status_code == 202
    resp = _boot(cloud, token, "medium-2", flavorRef="3")
    assert resp.status_code == 403
    assert resp.json()["forbidden"]["message"] == (
        "Quota exceeded for cores: Requested 2, but already used 4 of 4 cores")
    # Lowering a quota under what is used needs force.
    with cloud.client(version="2.47") as admin:
        resp = admin.put(f"/os-quota-sets/{project}", json={"quota_set": {"instances": 1}})
        assert resp.status_code == 400
        assert "must be greater than or equal to already used and reserved 3" in resp.text
        resp = admin.put(f"/os-quota-sets/{project}",
                         json={"quota_set": {"instances": 1, "force": True}})
        assert resp.status_code == 200
    _delete_all(cloud, token)


def test_min_max_count_boots_what_fits(cloud: RunningCloud) -> None:
    project, token = _project(cloud, "q-count")
    with cloud.client(version="2.47") as admin:
        admin.put(f"/os-quota-sets/{project}", json={"quota_set": {"instances": 3}})
    assert _boot(cloud, token, "many", min_count=1, max_count=5).status_code == 202
    assert len(_settle(cloud, token)) == 3
    resp = _boot(cloud, token, "more", min_count=1, max_count=5)
    assert resp.status_code == 403
    _delete_all(cloud, token)


def test_twenty_concurrent_boots_against_a_quota_of_ten(cloud: RunningCloud) -> None:
    project, token = _project(cloud, "q-burst")
    with cloud.client(version="2.47") as admin:
        before = admin.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]

    def boot(i: int) -> int:
        return _boot(cloud, token, f"burst-{i}").status_code

    with ThreadPoolExecutor(20) as pool:
        codes = Counter(pool.map(boot, range(20)))
    assert codes == {202: 10, 403: 10}
    servers = _settle(cloud, token)
    assert len(servers) == 10 and {s["status"] for s in servers} == {"ACTIVE"}
    with cloud.client(token, version="2.47") as c:
        limits = c.get("/limits").json()["limits"]["absolute"]
        assert (limits["totalInstancesUsed"], limits["maxTotalInstances"]) == (10, 10)
        assert limits["totalCoresUsed"] == 10 and limits["totalRAMUsed"] == 5120
        detail = c.get(f"/os-quota-sets/{project}/detail").json()["quota_set"]
        assert detail["instances"] == {"in_use": 10, "limit": 10, "reserved": 0}
        assert detail["ram"]["in_use"] == 5120
    with cloud.client(version="2.47") as admin:
        after = admin.get("/os-hypervisors/statistics").json()["hypervisor_statistics"]
    assert after["running_vms"] - before["running_vms"] == 10
    assert after["memory_mb_used"] - before["memory_mb_used"] == 5120
    _delete_all(cloud, token)
    with cloud.client(token) as c:
        absolute = c.get("/limits").json()["limits"]["absolute"]
        assert absolute["totalInstancesUsed"] == 0
    # Nothing leaked: the freed quota is whole again.
    assert _boot(cloud, token, "again").status_code == 202
    _delete_all(cloud, token)


def test_limits_shape_per_microversion_and_other_projects(cloud: RunningCloud) -> None:
    project, token = _project(cloud, "q-limits")
    with cloud.client(token, version="2.35") as c:
        absolute = c.get("/limits").json()["limits"]["absolute"]
        assert {"maxSecurityGroups", "maxTotalFloatingIps", "maxImageMeta"} <= set(absolute)
    with cloud.client(token, version="2.39") as c:
        body = c.get("/limits").json()["limits"]
        assert body["rate"] == []
        assert set(body["absolute"]) == {
            "maxPersonality", "maxPersonalitySize", "maxServerMeta", "maxTotalCores",
            "maxTotalInstances", "maxTotalKeypairs", "maxTotalRAMSize", "maxServerGroups",
            "maxServerGroupMembers", "totalCoresUsed", "totalInstancesUsed", "totalRAMUsed",
            "totalServerGroupsUsed"}
        # Another project's limits are for admins only.
        assert c.get("/limits", params={"tenant_id": "admin"}).status_code == 403
    with cloud.client() as admin:
        resp = admin.get("/limits", params={"tenant_id": project})
        assert resp.status_code == 200
        assert resp.json()["limits"]["absolute"]["maxTotalInstances"] == 10


def test_metadata_items_quota(cloud: RunningCloud) -> None:
    project, token = _project(cloud, "q-meta")
    with cloud.client(version="2.47") as admin:
        admin.put(f"/os-quota-sets/{project}", json={"quota_set": {"metadata_items": 1}})
    resp = _boot(cloud, token, "meta", metadata={"a": "1", "b": "2"})
    assert resp.status_code == 403 and "metadata_items" in resp.text
    assert _settle(cloud, token) == []


def test_only_counted_quotas_take_the_project_lock(cloud: RunningCloud,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Unlimited instances, cores and RAM: creates in the project don't queue on its lock."""
    from novalith.db import quotas as quota_db

    locked: list[set[str]] = []
    real_lock = quota_db.lock

    def spy(conn: Any, scopes: Any) -> None:
        locked.append(set(scopes))
        real_lock(conn, scopes)

    monkeypatch.setattr(quota_db, "lock", spy)
    free, free_token = _project(cloud, "q-unlimited")
    capped, capped_token = _project(cloud, "q-capped")
    with cloud.client(version="2.47") as admin:
        assert admin.put(f"/os-quota-sets/{free}", json={"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}}).status_code == 200
    locked.clear()  # the quota update itself locks the project
    assert _boot(cloud, free_token, "free").status_code == 202
    assert _boot(cloud, capped_token, "capped").status_code == 202
    assert locked == [set(), {f"project:{capped}"}]
    _delete_all(cloud, free_token)
    _delete_all(cloud, capped_token)
