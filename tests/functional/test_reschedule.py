"""A build that fails on one host is rescheduled to another; when all fail, ERROR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fixtures.cloud import RunningCloud, start_cloud
from novalith.db.models import ComputeNode, Instance, InstanceAction, InstanceActionEvent

CN = ComputeNode.__table__
INST = Instance.__table__
ACTION = InstanceAction.__table__
EVENT = InstanceActionEvent.__table__
FAILING = "host-1"


def _events(cloud: RunningCloud, uuid: str) -> list[dict[str, Any]]:
    with cloud.cloud.db.read() as conn:
        rows = conn.execute(
            select(ACTION.c.action, EVENT.c.event, EVENT.c.host, EVENT.c.result,
                   EVENT.c.traceback)
            .select_from(EVENT.join(ACTION, EVENT.c.action_id == ACTION.c.id))
            .where(ACTION.c.instance_uuid == uuid).order_by(EVENT.c.id)).mappings()
        return [dict(r) for r in rows]


def _usage(cloud: RunningCloud) -> dict[str, tuple[int, int, int, int]]:
    with cloud.cloud.db.read() as conn:
        return {r.host: (r.vcpus_used, r.memory_mb_used, r.local_gb_used, r.running_vms)
                for r in conn.execute(select(CN))}


def _claims(cloud: RunningCloud) -> list[Any]:
    with cloud.cloud.db.read() as conn:
        return list(conn.execute(select(INST.c.uuid, INST.c.claim_node_id)
                                 .where(INST.c.claim_node_id.is_not(None))))


def test_failed_spawn_is_rescheduled_elsewhere(tmp_path: Path) -> None:
    cloud = start_cloud(tmp_path, fake_hosts=3,
                        overrides={"fake_driver": {"spawn_fail_hosts": [FAILING]}})
    try:
        with cloud.client(version="2.47") as c:
            # Equal hosts tie and the first (the failing one) wins, so the first boot
            # lands there; the spreading weighers send later ones there again.
            ids = [cloud.boot(c, f"resched-{i}") for i in range(6)]
            servers = [cloud.wait_status(c, sid, {"ACTIVE", "ERROR"}) for sid in ids]
        assert [s["status"] for s in servers] == ["ACTIVE"] * len(ids), servers
        hosts = {s["OS-EXT-SRV-ATTR:host"] for s in servers}
        assert FAILING not in hosts and hosts <= {"host-2", "host-3"}

        rescheduled = 0
        for server in servers:
            events = _events(cloud, server["id"])
            assert {e["action"] for e in events} == {"create"}
            failed = [e for e in events if e["result"] == "Error"]
            assert all(e["host"] == FAILING for e in failed), events
            assert all("injected failure" in e["traceback"] for e in failed)
            if failed:
                rescheduled += 1
                last = events[-1]
                assert (last["host"], last["result"]) == (server["OS-EXT-SRV-ATTR:host"],
                                                          "Success")
            assert "fault" not in server
        assert rescheduled >= 1

        usage = _usage(cloud)
        assert usage[FAILING] == (0, 0, 0, 0)
        assert sum(u[3] for u in usage.values()) == len(ids)
        assert cloud.cloud.computes[0].host == FAILING
        assert cloud.cloud.computes[0].deps.driver.list_instances() == []
    finally:
        cloud.close()


@pytest.mark.parametrize("max_attempts", [3, 5])
def test_all_hosts_failing_ends_in_error(tmp_path: Path, max_attempts: int) -> None:
    cloud = start_cloud(tmp_path, fake_hosts=3, overrides={
        "fake_driver": {"spawn_fail_rate": 1.0}, "scheduler": {"max_attempts": max_attempts}})
    try:
        with cloud.client(version="2.47") as c:
            ids = [cloud.boot(c, f"doomed-{i}") for i in range(2)]
            servers = [cloud.wait_status(c, sid, {"ACTIVE", "ERROR"}) for sid in ids]
        for server in servers:
            assert server["status"] == "ERROR"
            assert server["OS-EXT-SRV-ATTR:host"] is None
            message = server["fault"]["message"]
            assert "Exhausted all hosts available" in message, message
            assert server["fault"]["code"] == 500
            events = _events(cloud, server["id"])
            failed_hosts = [e["host"] for e in events if e["result"] == "Error"
                            and e["event"].startswith("compute")]
            assert sorted(failed_hosts) == ["host-1", "host-2", "host-3"], events
        assert set(_usage(cloud).values()) == {(0, 0, 0, 0)}
        assert _claims(cloud) == []
        for compute in cloud.cloud.computes:
            assert compute.deps.driver.list_instances() == []
    finally:
        cloud.close()
