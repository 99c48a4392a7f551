"""The compute host's late server-group check catches what a scheduler let through.

Two schedulers placing members of one group at the same instant do not see each
other's choice. Here the scheduler's own group filter is switched off, which makes
one scheduler exactly that blind: it puts members where the policy forbids, and the
compute host must refuse the build so that the conductor reschedules it. With
``[workarounds] disable_group_policy_check_upcall`` the members stay where the
scheduler put them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fixtures.cloud import RunningCloud, start_cloud
from novalith.conf.scheduler import DEFAULT_FILTERS
from novalith.db.models import ComputeNode, Instance, InstanceAction, InstanceActionEvent

CN = ComputeNode.__table__
INST = Instance.__table__
ACTION = InstanceAction.__table__
EVENT = InstanceActionEvent.__table__
ANTI = "Anti-affinity instance group policy was violated."
AFF = "Affinity instance group policy was violated."
STACK = {"ram_weight_multiplier": -1.0, "cpu_weight_multiplier": -1.0}


def _cloud(tmp_path: Path, blind_to: str, check: bool, **filter_scheduler: Any
           ) -> RunningCloud:
    """Two hosts; the scheduler ignores ``blind_to`` (a group filter)."""
    filters = [f for f in DEFAULT_FILTERS if f != blind_to]
    return start_cloud(tmp_path, fake_hosts=2, overrides={
        "filter_scheduler": {"enabled_filters": filters, **filter_scheduler},
        "workarounds": {"disable_group_policy_check_upcall": not check}})


def _group(c: httpx.Client, policy: str) -> str:
    resp = c.post("/os-server-groups", json={"server_group": {"name": "g",
                                                              "policies": [policy]}})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["server_group"]["id"])


def _boot(cloud: RunningCloud, c: httpx.Client, name: str, group: str, **extra: Any) -> str:
    resp = c.post("/servers", headers={"OpenStack-API-Version": "compute 2.37"}, json={
        "server": {"name": name, "flavorRef": "1", "imageRef": cloud.image_id,
                   "networks": "none", **extra},
        "os:scheduler_hints": {"group": group}})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["server"]["id"])


def _members(c: httpx.Client, group: str) -> list[str]:
    return list(c.get(f"/os-server-groups/{group}").json()["server_group"]["members"])


def _failed_builds(cloud: RunningCloud, uuid: str) -> list[tuple[str, str]]:
    """(host, traceback) of each build of ``uuid`` that a host refused or failed."""
    with cloud.cloud.db.read() as conn:
        rows = conn.execute(
            select(EVENT.c.host, EVENT.c.traceback)
            .select_from(EVENT.join(ACTION, EVENT.c.action_id == ACTION.c.id))
            .where(ACTION.c.instance_uuid == uuid, EVENT.c.result == "Error",
                   EVENT.c.event == "compute__do_build_and_run_instance")
            .order_by(EVENT.c.id))
        return [(r.host, r.traceback) for r in rows]


def _nothing_left_behind(cloud: RunningCloud, servers: list[dict[str, Any]]) -> None:
    """Each host holds exactly the guests and claims of the servers placed on it."""
    placed = {s["id"]: s["OS-EXT-SRV-ATTR:host"] for s in servers}
    for compute in cloud.cloud.computes:
        mine = sorted(u for u, h in placed.items() if h == compute.host)
        assert sorted(compute.deps.driver.list_instances()) == mine, compute.host
    with cloud.cloud.db.read() as conn:
        vms = {r.host: r.running_vms for r in conn.execute(select(CN))}
        claims = {r.uuid for r in conn.execute(
            select(INST.c.uuid).where(INST.c.claim_node_id.is_not(None)))}
    assert vms == {h: sum(1 for x in placed.values() if x == h) for h in vms}
    assert claims == {u for u, h in placed.items() if h is not None}


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "one-request"])
def test_anti_affinity_members_put_on_one_host_are_rescheduled(tmp_path: Path,
                                                               batch: bool) -> None:
    # Stacking weighers: the blind scheduler sends every member to host-1.
    cloud = _cloud(tmp_path, "ServerGroupAntiAffinityFilter", check=True, **STACK)
    try:
        with cloud.client(version="2.47") as c:
            group = _group(c, "anti-affinity")
            if batch:  # both placed in one selection, built side by side on host-1
                _boot(cloud, c, "anti", group, min_count=2, max_count=2)
            else:
                cloud.wait_status(c, _boot(cloud, c, "anti-0", group), {"ACTIVE"})
                _boot(cloud, c, "anti-1", group)
            ids = _members(c, group)
            servers = [cloud.wait_status(c, i, {"ACTIVE", "ERROR"}) for i in ids]
            assert [s["status"] for s in servers] == ["ACTIVE", "ACTIVE"], servers
            assert {s["OS-EXT-SRV-ATTR:host"] for s in servers} == {"host-1", "host-2"}
            refused = {i: _failed_builds(cloud, i) for i in ids}
            moved = [i for i, failed in refused.items() if failed]
            assert len(moved) == 1, refused
            [(host, traceback)] = refused[moved[0]]
            assert host == "host-1" and ANTI in traceback
            assert next(s for s in servers if s["id"] == moved[0])[
                "OS-EXT-SRV-ATTR:host"] == "host-2"
            _nothing_left_behind(cloud, servers)

            if not batch:  # a third member fits nowhere: refused on both, then ERROR
                third = cloud.wait_status(c, _boot(cloud, c, "anti-2", group), {"ERROR"})
                assert "Exhausted all hosts available" in third["fault"]["message"]
                assert ANTI in third["fault"]["message"]
                assert sorted(h for h, _ in _failed_builds(cloud, third["id"])) == [
                    "host-1", "host-2"]
                _nothing_left_behind(cloud, [*servers, third])
    finally:
        cloud.close()


def test_affinity_member_put_on_another_host_is_rescheduled(tmp_path: Path) -> None:
    # Spreading weighers (the default): the blind scheduler sends the second member
    # to the empty host-2.
    cloud = _cloud(tmp_path, "ServerGroupAffinityFilter", check=True)
    try:
        with cloud.client(version="2.47") as c:
            group = _group(c, "affinity")
            first = cloud.wait_status(c, _boot(cloud, c, "aff-0", group), {"ACTIVE"})
            assert first["OS-EXT-SRV-ATTR:host"] == "host-1"
            second = cloud.wait_status(c, _boot(cloud, c, "aff-1", group), {"ACTIVE"})
            assert second["OS-EXT-SRV-ATTR:host"] == "host-1"
            [(host, traceback)] = _failed_builds(cloud, second["id"])
            assert host == "host-2" and AFF in traceback
            assert _failed_builds(cloud, first["id"]) == []
            _nothing_left_behind(cloud, [first, second])
    finally:
        cloud.close()


def test_first_affinity_members_built_on_two_hosts_at_once(tmp_path: Path) -> None:
    """Both members placed in one selection, one per host, and built at the same time
    by two compute services: only the group's row lock orders the two checks, and
    exactly one member moves to the other's host."""
    cloud = _cloud(tmp_path, "ServerGroupAffinityFilter", check=True)
    try:
        with cloud.client(version="2.47") as c:
            group = _group(c, "affinity")
            _boot(cloud, c, "aff", group, min_count=2, max_count=2)
            ids = _members(c, group)
            servers = [cloud.wait_status(c, i, {"ACTIVE", "ERROR"}) for i in ids]
            assert [s["status"] for s in servers] == ["ACTIVE", "ACTIVE"], servers
            assert len({s["OS-EXT-SRV-ATTR:host"] for s in servers}) == 1
            refused = [_failed_builds(cloud, i) for i in ids]
            assert sorted(len(r) for r in refused) == [0, 1], refused
            _nothing_left_behind(cloud, servers)
    finally:
        cloud.close()


@pytest.mark.parametrize(("policy", "blind_to", "weighers", "hosts"), [
    ("anti-affinity", "ServerGroupAntiAffinityFilter", STACK, ["host-1", "host-1"]),
    ("affinity", "ServerGroupAffinityFilter", {}, ["host-1", "host-2"]),
])
def test_the_workaround_turns_the_check_off(tmp_path: Path, policy: str, blind_to: str,
                                            weighers: dict[str, float],
                                            hosts: list[str]) -> None:
    cloud = _cloud(tmp_path, blind_to, check=False, **weighers)
    try:
        with cloud.client(version="2.47") as c:
            group = _group(c, policy)
            ids = []
            for i in range(2):
                ids.append(_boot(cloud, c, f"wa-{i}", group))
                cloud.wait_status(c, ids[-1], {"ACTIVE"})
            servers = [cloud.wait_status(c, i, {"ACTIVE"}) for i in ids]
            assert [s["OS-EXT-SRV-ATTR:host"] for s in servers] == hosts
            assert all(_failed_builds(cloud, i) == [] for i in ids)
    finally:
        cloud.close()
