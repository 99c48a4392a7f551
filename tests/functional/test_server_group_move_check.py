"""Moves re-check a hard server-group policy on their destination.

As in test_server_group_late_check, the scheduler's anti-affinity filter is switched
off, so that it picks a destination that already holds another member (stacking
weighers make it prefer that fuller host). The destination must refuse the move:
a cold migration goes on to another host, or fails and keeps the server on its
source; a live migration fails its destination pre-check; an evacuation fails with
a fault. ``[workarounds] disable_group_policy_check_upcall`` lets the move through.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.moves import (
    action,
    assert_claims_match_usage,
    migrations,
    set_forced_down,
    usage,
    wait_for,
)
from novalith.conf.scheduler import DEFAULT_FILTERS
from novalith.db import instances as inst_db

ANTI = "Anti-affinity instance group policy was violated."
STACK = {"ram_weight_multiplier": -1.0, "cpu_weight_multiplier": -1.0}


def _cloud(tmp_path: Path, check: bool = True) -> RunningCloud:
    filters = [f for f in DEFAULT_FILTERS if f != "ServerGroupAntiAffinityFilter"]
    return start_cloud(tmp_path, fake_hosts=3, overrides={
        "filter_scheduler": {"enabled_filters": filters, **STACK},
        "fake_driver": {"live_migration_delay": 0.0},
        "DEFAULT": {"reserved_host_memory_mb": 0},
        "workarounds": {"disable_group_policy_check_upcall": not check}})


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RunningCloud]:
    running = _cloud(tmp_path)
    try:
        yield running
    finally:
        running.close()


def _members(cloud: RunningCloud, c: httpx.Client, hosts: list[str]) -> list[str]:
    """One member of a new anti-affinity group on each of ``hosts``, ACTIVE."""
    resp = c.post("/os-server-groups", json={"server_group": {"name": "g",
                                                              "policies": ["anti-affinity"]}})
    assert resp.status_code == 200, resp.text
    group = resp.json()["server_group"]["id"]
    ids = []
    for host in hosts:
        resp = c.post("/servers", headers={"OpenStack-API-Version": "compute 2.37"}, json={
            "server": {"name": f"m-{host}", "flavorRef": "1", "imageRef": cloud.image_id,
                       "networks": "none", "availability_zone": f"nova:{host}"},
            "os:scheduler_hints": {"group": group}})
        assert resp.status_code == 202, resp.text
        ids.append(str(resp.json()["server"]["id"]))
        server = cloud.wait_status(c, ids[-1], {"ACTIVE"})
        assert server["OS-EXT-SRV-ATTR:host"] == host
    return ids


def _settled(c: httpx.Client, sid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        server = c.get(f"/servers/{sid}").json()["server"]
        return server if server["OS-EXT-STS:task_state"] is None else None
    settled: dict[str, Any] = wait_for(done, what=f"{sid} to settle")
    return settled


def _fault(cloud: RunningCloud, sid: str) -> str:
    with cloud.cloud.db.read() as conn:
        row = inst_db.latest_faults(conn, [sid]).get(sid)
    return "" if row is None else str(row["message"])


def _guests(cloud: RunningCloud) -> dict[str, list[str]]:
    return {c.host: sorted(c.deps.driver.list_instances()) for c in cloud.cloud.computes}


def test_cold_migration_refused_by_a_member_host_goes_on(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        a, b = _members(cloud, c, ["host-1", "host-2"])
        assert action(c, a, {"migrate": None}).status_code == 202
        server = cloud.wait_status(c, a, {"VERIFY_RESIZE", "ACTIVE", "ERROR"})
        # host-2 (fuller, so preferred) refused; host-3 took it.
        assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == (
            "VERIFY_RESIZE", "host-3")
        assert [m["dest_compute"] for m in migrations(cloud, a)] == ["host-3"]
        assert action(c, a, {"confirmResize": None}).status_code == 204
        cloud.wait_status(c, a, {"ACTIVE"})
        assert _guests(cloud) == {"host-1": [], "host-2": [b], "host-3": [a]}
        assert_claims_match_usage(cloud)


def test_cold_migration_with_no_allowed_host_keeps_the_server(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        a, b, d = _members(cloud, c, ["host-1", "host-2", "host-3"])
        c.post(f"/servers/{a}/action", json={"os-stop": None})
        cloud.wait_status(c, a, {"SHUTOFF"})
        before = usage(c)
        assert action(c, a, {"migrate": None}).status_code == 202
        server = _settled(c, a)
        assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("SHUTOFF", "host-1")
        assert [m["status"] for m in migrations(cloud, a)] == ["error"]
        assert "No valid host" in _fault(cloud, a)
        assert usage(c) == before
        assert _guests(cloud) == {"host-1": [a], "host-2": [b], "host-3": [d]}
        assert_claims_match_usage(cloud)


@pytest.mark.parametrize("version", ["2.25", "2.34"])
def test_live_migration_to_a_member_host_fails_its_pre_check(cloud: RunningCloud,
                                                             version: str) -> None:
    with cloud.client(version="2.47") as c:
        a, b = _members(cloud, c, ["host-1", "host-2"])
        before = usage(c)
        body = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
        resp = action(c, a, body, version)
        if version < "2.34":  # the checks run before the answer
            assert resp.status_code == 400, resp.text
            assert ANTI in resp.json()["badRequest"]["message"]
        else:
            assert resp.status_code == 202, resp.text
        server = _settled(c, a)
        assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host-1")
        [mig] = migrations(cloud, a)
        assert (mig["status"], mig["dest_compute"]) == ("error", "host-2")
        assert ANTI in _fault(cloud, a)
        assert usage(c) == before
        assert _guests(cloud) == {"host-1": [a], "host-2": [b], "host-3": []}
        assert_claims_match_usage(cloud)


def test_evacuation_to_a_member_host_fails(cloud: RunningCloud) -> None:
    with cloud.client(version="2.47") as c:
        a, b = _members(cloud, c, ["host-1", "host-2"])
        before = usage(c)
        set_forced_down(cloud, "host-1", True)
        try:
            resp = action(c, a, {"evacuate": {"host": "host-2", "force": True}}, "2.29")
            assert resp.status_code == 200, resp.text
            server = _settled(c, a)
            assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host-1")
            assert [m["status"] for m in migrations(cloud, a)] == ["failed"]
            assert ANTI in _fault(cloud, a)
            assert usage(c) == before
            assert _guests(cloud) == {"host-1": [a], "host-2": [b], "host-3": []}
            assert_claims_match_usage(cloud)
        finally:
            set_forced_down(cloud, "host-1", False)


def test_the_workaround_lets_moves_through(tmp_path: Path) -> None:
    cloud = _cloud(tmp_path, check=False)
    try:
        with cloud.client(version="2.47") as c:
            a, b = _members(cloud, c, ["host-1", "host-2"])
            assert action(c, a, {"migrate": None}).status_code == 202
            server = cloud.wait_status(c, a, {"VERIFY_RESIZE", "ACTIVE", "ERROR"})
            assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == (
                "VERIFY_RESIZE", "host-2")
            assert action(c, a, {"revertResize": None}).status_code == 202
            cloud.wait_status(c, a, {"ACTIVE"})
            resp = action(c, a, {"os-migrateLive": {"host": None, "block_migration": "auto"}},
                          "2.30")
            assert resp.status_code == 202, resp.text
            server = wait_for(lambda: (s := _settled(c, a))["OS-EXT-SRV-ATTR:host"] == "host-2"
                              and s, what="live migration")
            assert server["status"] == "ACTIVE"
    finally:
        cloud.close()
