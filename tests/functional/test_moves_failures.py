"""Moves that fail half-way: the server ends in a stable state with a fault, and every
node's used figures are exactly what the server and its migration still hold.

Failures are injected per host with ``[fake_driver] fail_operations``. host-3 is
disabled for the scheduler, so a move from host-1 goes to host-2 and back; an
evacuation can still be forced to host-3, where every spawn fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.moves import (
    action,
    assert_claims_match_usage,
    delta,
    flavor_use,
    migrations,
    set_disabled,
    set_forced_down,
    usage,
    wait_for,
)
from novalith.compute import move_recovery
from novalith.db import claims
from novalith.db import flavors as flavor_db
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.objects.specs import FlavorSpec

FAILS = ["host-2:finish_migration", "host-2:finish_revert_migration",
         "host-2:confirm_migration", "host-2:check_can_live_migrate_destination",
         "host-2:live_migration"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("move-failures"), fake_hosts=3, overrides={
        "fake_driver": {"vcpus": 16, "memory_mb": 32768, "local_gb": 500,
                        "fail_operations": FAILS, "spawn_fail_hosts": ["host-3"]},
        "DEFAULT": {"reserved_host_memory_mb": 0}})
    try:
        set_disabled(running, "host-3", True)
        with running.cloud.db.write() as conn:
            flavor_db.create(conn, {"flavorid": "huge", "name": "huge", "memory_mb": 10**7,
                                    "vcpus": 1, "root_gb": 1, "ephemeral_gb": 0, "swap": 0,
                                    "rxtx_factor": 1.0, "is_public": True, "disabled": False})
        yield running
    finally:
        running.close()


@pytest.fixture
def client(cloud: RunningCloud) -> Iterator[httpx.Client]:
    with cloud.client(version="2.47") as c:
        yield c


def boot(cloud: RunningCloud, client: httpx.Client, host: str, flavor: str = "1") -> str:
    sid = cloud.boot(client, "fail", flavor=flavor, availability_zone=f"nova:{host}")
    assert cloud.wait_status(client, sid, {"ACTIVE"})["OS-EXT-SRV-ATTR:host"] == host
    return sid


def recorded_fault(cloud: RunningCloud, sid: str) -> str:
    """The newest fault recorded (the API shows faults only of ERROR servers, as Nova)."""
    with cloud.cloud.db.read() as conn:
        row = inst_db.latest_faults(conn, [sid]).get(sid)
    assert row is not None, f"no fault recorded for {sid}"
    return str(row["message"])


def last_action_failed(client: httpx.Client, sid: str, name: str) -> dict:
    actions = client.get(f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    assert actions[0]["action"] == name, actions
    shown = client.get(f"/servers/{sid}/os-instance-actions/{actions[0]['request_id']}").json()
    events = shown["instanceAction"]["events"]
    assert any(e["result"] == "Error" and e["traceback"] for e in events), events
    return shown["instanceAction"]


def test_finish_migration_fails_at_destination(cloud: RunningCloud,
                                               client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    before = usage(client)
    assert action(client, sid, {"resize": {"flavorRef": "2"}}).status_code == 202
    server = cloud.wait_status(client, sid, {"ACTIVE", "ERROR"})
    # Back on the source, running, old flavor; the destination holds nothing.
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host-1")
    assert server["flavor"]["original_name"] == "m1.tiny"
    assert server["OS-EXT-STS:power_state"] == 1
    assert delta(before, usage(client)) == {}
    assert migrations(cloud, sid)[-1]["status"] == "error"
    assert "fault" not in client.get(f"/servers/{sid}").json()["server"]
    assert "finish_migration" in recorded_fault(cloud, sid)
    last_action_failed(client, sid, "resize")
    assert sid not in cloud.cloud.computes[1].deps.driver.list_instances()
    assert_claims_match_usage(cloud)


def test_resize_down_the_disk_fails_at_the_source(cloud: RunningCloud,
                                                  client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1", flavor="2")
    before = usage(client)
    assert action(client, sid, {"resize": {"flavorRef": "1"}}).status_code == 202
    server = cloud.wait_status(client, sid, {"ACTIVE", "ERROR"})
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host-1")
    assert recorded_fault(cloud, sid) == "Resize error: Unable to resize disk down."
    last_action_failed(client, sid, "resize")
    assert delta(before, usage(client)) == {}
    assert_claims_match_usage(cloud)


def test_no_destination_keeps_the_server(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    before = usage(client)
    assert action(client, sid, {"resize": {"flavorRef": "huge"}}).status_code == 202
    server = cloud.wait_status(client, sid, {"ACTIVE", "ERROR"})
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host-1")
    assert "No valid host" in recorded_fault(cloud, sid)
    assert migrations(cloud, sid)[-1]["status"] == "error"
    assert delta(before, usage(client)) == {}
    assert_claims_match_usage(cloud)


def test_confirm_fails_at_the_source(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-2")
    before = usage(client)
    assert action(client, sid, {"resize": {"flavorRef": "2"}}).status_code == 202
    cloud.wait_status(client, sid, {"VERIFY_RESIZE"})
    assert action(client, sid, {"confirmResize": None}).status_code == 204
    server = cloud.wait_status(client, sid, {"ERROR"})
    assert server["OS-EXT-SRV-ATTR:host"] == "host-1"
    assert "confirm_migration" in server["fault"]["message"]
    # The source could not drop its copy: the migration still holds its claim there.
    assert delta(before, usage(client)) == {"host-1": flavor_use("2")}
    assert migrations(cloud, sid)[-1]["status"] == "error"
    assert_claims_match_usage(cloud)
    # Deleting the server releases both, and removes the copy on the source too.
    assert client.delete(f"/servers/{sid}").status_code == 204
    wait_for(lambda: client.get(f"/servers/{sid}").status_code == 404, what="delete")
    assert delta(before, usage(client)) == {"host-2": tuple(-x for x in flavor_use("1"))}
    wait_for(lambda: sid not in cloud.cloud.computes[1].deps.driver.list_instances(),
             what="leftover removed from host-2")
    assert_claims_match_usage(cloud)


def test_revert_fails_at_the_source(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-2")
    before = usage(client)
    assert action(client, sid, {"resize": {"flavorRef": "2"}}).status_code == 202
    cloud.wait_status(client, sid, {"VERIFY_RESIZE"})
    assert action(client, sid, {"revertResize": None}).status_code == 202
    server = cloud.wait_status(client, sid, {"ERROR"})
    # The destination let go; the instance is back on its source, whose restore failed.
    assert server["OS-EXT-SRV-ATTR:host"] == "host-2"
    assert server["flavor"]["original_name"] == "m1.tiny"
    assert "finish_revert_migration" in server["fault"]["message"]
    assert delta(before, usage(client)) == {}
    assert sid not in cloud.cloud.computes[0].deps.driver.list_instances()
    assert_claims_match_usage(cloud)


def test_live_migration_check_fails(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    before = usage(client)
    # Before 2.34 the checks run before the answer: 400.
    resp = action(client, sid, {"os-migrateLive": {"host": None, "block_migration": "auto"}},
                  "2.25")
    assert resp.status_code == 400, resp.text
    assert "check_can_live_migrate_destination" in resp.json()["badRequest"]["message"]
    server = client.get(f"/servers/{sid}").json()["server"]
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    # From 2.34 they run after it: 202, then the failure shows in the instance action.
    resp = action(client, sid, {"os-migrateLive": {"host": None, "block_migration": "auto"}},
                  "2.34")
    assert resp.status_code == 202, resp.text
    server = cloud.wait_status(client, sid, {"ACTIVE"})
    assert server["OS-EXT-SRV-ATTR:host"] == "host-1"
    last_action_failed(client, sid, "live-migration")
    assert [m["status"] for m in migrations(cloud, sid)] == ["error", "error"]
    assert delta(before, usage(client)) == {}
    assert_claims_match_usage(cloud)


def test_live_migration_fails_at_the_source(cloud: RunningCloud,
                                            client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-2")
    before = usage(client)
    resp = action(client, sid, {"os-migrateLive": {"host": None, "block_migration": "auto"}})
    assert resp.status_code == 202, resp.text
    server = cloud.wait_status(client, sid, {"ACTIVE", "ERROR"})
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "host-2")
    assert server["OS-EXT-STS:power_state"] == 1
    assert "live_migration" in recorded_fault(cloud, sid)
    last_action_failed(client, sid, "live-migration")
    assert migrations(cloud, sid)[-1]["status"] == "error"
    assert delta(before, usage(client)) == {}
    assert sid not in cloud.cloud.computes[0].deps.driver.list_instances()
    assert_claims_match_usage(cloud)


def test_evacuation_fails_at_the_destination(cloud: RunningCloud,
                                             client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    before = usage(client)
    set_forced_down(cloud, "host-1", True)
    try:
        resp = action(client, sid, {"evacuate": {"host": "host-3", "force": True}}, "2.29")
        assert resp.status_code == 200, resp.text
        server = cloud.wait_status(client, sid, {"ERROR"})
        assert server["OS-EXT-SRV-ATTR:host"] == "host-1"
        assert "injected failure" in server["fault"]["message"]
        assert migrations(cloud, sid)[-1]["status"] == "failed"
        assert delta(before, usage(client)) == {}
        assert_claims_match_usage(cloud)
    finally:
        set_forced_down(cloud, "host-1", False)


def test_restart_in_the_middle_of_a_resize(cloud: RunningCloud, client: httpx.Client) -> None:
    """A compute service that died during resize_migrating comes back: the move ends in
    error, the destination claim is released, the server is ACTIVE on its source."""
    sid = boot(cloud, client, "host-1")
    before = usage(client)
    source = cloud.cloud.computes[0]
    with cloud.cloud.db.write() as conn:
        mid = moves_db.create(conn, {
            "instance_uuid": sid, "migration_type": moves_db.RESIZE,
            "status": moves_db.PRE_MIGRATING, "source_compute": "host-1",
            "source_node": "host-1", "old_vm_state": "active",
            "old_flavor": {"flavorid": "1"}, "new_flavor": {"flavorid": "2"}})
        node = cloud.cloud.computes[1].deps.node_id
        assert node is not None
        flavor = FlavorSpec(flavorid="2", name="m1.small", vcpus=1, memory_mb=2048, root_gb=20)
        assert claims.claim_move(conn, mid, node, flavor, "host-2", "host-2") == claims.CLAIMED
        moves_db.set_status(conn, mid, moves_db.MIGRATING)
        inst_db.transition(conn, sid, {"task_state": "resize_migrating"})
    assert delta(before, usage(client)) == {"host-2": flavor_use("2")}
    move_recovery.at_startup(source.deps)
    server = client.get(f"/servers/{sid}").json()["server"]
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("ACTIVE", None)
    assert migrations(cloud, sid)[-1]["status"] == "error"
    assert "restarted during resize_migrating" in recorded_fault(cloud, sid)
    assert delta(before, usage(client)) == {}
    assert_claims_match_usage(cloud)
