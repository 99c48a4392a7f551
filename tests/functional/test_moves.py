"""Resize, cold and live migration, evacuation and rebuild across 3 fake hosts.

Each test checks the status walk, the host the server ends on, the migration
record and, at every stable step, the hypervisors' used figures (as deltas from
before the test) and that every node's figures equal the sum of its claims.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.moves import (
    action,
    assert_claims_match_usage,
    delta,
    flavor_use,
    migrations,
    set_forced_down,
    usage,
    wait_for,
)
from novalith.db import images as image_db
from novalith.db.models import ComputeNode

HOSTS = ("host-1", "host-2", "host-3")
FAKE = {"vcpus": 16, "memory_mb": 32768, "local_gb": 500}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("moves"), fake_hosts=len(HOSTS), overrides={
        "fake_driver": {**FAKE, "live_migration_delay": 0.0},
        "DEFAULT": {"reserved_host_memory_mb": 0, "report_interval": 1}})
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def client(cloud: RunningCloud) -> Iterator[httpx.Client]:
    with cloud.client(version="2.47") as c:
        yield c


def boot(cloud: RunningCloud, client: httpx.Client, host: str, flavor: str = "1",
         name: str = "mv") -> str:
    sid = cloud.boot(client, name, flavor=flavor, availability_zone=f"nova:{host}")
    server = cloud.wait_status(client, sid, {"ACTIVE"})
    assert server["OS-EXT-SRV-ATTR:host"] == host
    return sid


def show(client: httpx.Client, sid: str) -> dict:
    resp = client.get(f"/servers/{sid}")
    assert resp.status_code == 200, resp.text
    return resp.json()["server"]


def statuses_seen(client: httpx.Client, sid: str, until: set[str], timeout: float = 20.0
                  ) -> list[str]:
    seen: list[str] = []

    def done() -> bool:
        s = show(client, sid)
        if not seen or seen[-1] != s["status"]:
            seen.append(s["status"])
        return s["status"] in until and s["OS-EXT-STS:task_state"] is None

    wait_for(done, timeout, f"{sid} to reach {until}")
    return seen


def test_resize_then_confirm(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    before = usage(client)
    resp = action(client, sid, {"resize": {"flavorRef": "2"}})
    assert resp.status_code == 202, resp.text
    seen = statuses_seen(client, sid, {"VERIFY_RESIZE"})
    assert seen[-1] == "VERIFY_RESIZE" and set(seen) <= {"RESIZE", "VERIFY_RESIZE", "ACTIVE"}
    server = show(client, sid)
    dest = server["OS-EXT-SRV-ATTR:host"]
    assert dest != "host-1"  # allow_resize_to_same_host is off
    assert server["flavor"]["original_name"] == "m1.small"
    assert server["OS-EXT-STS:vm_state"] == "resized"
    # Both claims held while the owner decides: old flavor on the source, new at dest.
    assert delta(before, usage(client)) == {dest: flavor_use("2")}
    mig = migrations(cloud, sid)[-1]
    assert (mig["status"], mig["migration_type"], mig["source_compute"],
            mig["dest_compute"]) == ("finished", "resize", "host-1", dest)
    assert_claims_match_usage(cloud)

    resp = action(client, sid, {"confirmResize": None})
    assert resp.status_code == 204, resp.text
    server = cloud.wait_status(client, sid, {"ACTIVE"})
    assert server["OS-EXT-SRV-ATTR:host"] == dest
    assert delta(before, usage(client)) == {
        "host-1": tuple(-x for x in flavor_use("1")), dest: flavor_use("2")}
    assert migrations(cloud, sid)[-1]["status"] == "confirmed"
    assert_claims_match_usage(cloud)
    # A second confirm has nothing to confirm.
    assert action(client, sid, {"confirmResize": None}).status_code == 409
    assert client.delete(f"/servers/{sid}").status_code == 204
    wait_for(lambda: client.get(f"/servers/{sid}").status_code == 404, what="delete")
    assert delta(before, usage(client)) == {"host-1": tuple(-x for x in flavor_use("1"))}


def test_resize_then_revert(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-2")
    before = usage(client)
    assert action(client, sid, {"resize": {"flavorRef": 3}}).status_code == 202
    cloud.wait_status(client, sid, {"VERIFY_RESIZE"})
    dest = show(client, sid)["OS-EXT-SRV-ATTR:host"]
    assert delta(before, usage(client)) == {dest: flavor_use("3")}
    resp = action(client, sid, {"revertResize": None})
    assert resp.status_code == 202, resp.text
    seen = statuses_seen(client, sid, {"ACTIVE"})
    assert set(seen) <= {"REVERT_RESIZE", "VERIFY_RESIZE", "ACTIVE"}, seen
    server = show(client, sid)
    assert server["OS-EXT-SRV-ATTR:host"] == "host-2"
    assert server["flavor"]["original_name"] == "m1.tiny"
    assert delta(before, usage(client)) == {}
    assert migrations(cloud, sid)[-1]["status"] == "reverted"
    assert_claims_match_usage(cloud)
    # Console shows the guest's history moved with it and back.
    console = action(client, sid, {"os-getConsoleOutput": {}}).json()["output"]
    assert "migration reverted" in console


def test_stopped_server_resizes_and_stays_stopped(cloud: RunningCloud,
                                                  client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-3")
    assert action(client, sid, {"os-stop": None}).status_code == 202
    cloud.wait_status(client, sid, {"SHUTOFF"})
    assert action(client, sid, {"resize": {"flavorRef": "2"}}).status_code == 202
    server = cloud.wait_status(client, sid, {"VERIFY_RESIZE"})
    assert server["OS-EXT-STS:power_state"] == 4
    assert action(client, sid, {"confirmResize": None}).status_code == 204
    server = cloud.wait_status(client, sid, {"SHUTOFF"})
    assert server["OS-EXT-STS:vm_state"] == "stopped"


def test_cold_migrate_then_confirm(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    before = usage(client)
    assert action(client, sid, {"migrate": None}).status_code == 202
    cloud.wait_status(client, sid, {"VERIFY_RESIZE"})
    server = show(client, sid)
    dest = server["OS-EXT-SRV-ATTR:host"]
    assert dest != "host-1" and server["flavor"]["original_name"] == "m1.tiny"
    assert delta(before, usage(client)) == {dest: flavor_use("1")}
    assert migrations(cloud, sid)[-1]["migration_type"] == "migration"
    assert action(client, sid, {"confirmResize": None}).status_code == 204
    cloud.wait_status(client, sid, {"ACTIVE"})
    assert delta(before, usage(client)) == {"host-1": tuple(-x for x in flavor_use("1")),
                                            dest: flavor_use("1")}
    assert_claims_match_usage(cloud)


@pytest.mark.parametrize("version", ["2.1", "2.25", "2.30", "2.34"])
def test_live_migrate(cloud: RunningCloud, client: httpx.Client, version: str) -> None:
    sid = boot(cloud, client, "host-2")
    before = usage(client)
    body: dict = {"host": None, "block_migration": "auto" if version >= "2.25" else False}
    if version < "2.25":
        body["disk_over_commit"] = False
    resp = action(client, sid, {"os-migrateLive": body}, version=version)
    assert resp.status_code == 202, resp.text
    server = cloud.wait_status(client, sid, {"ACTIVE"})
    dest = server["OS-EXT-SRV-ATTR:host"]
    assert dest != "host-2"
    assert delta(before, usage(client)) == {"host-2": tuple(-x for x in flavor_use("1")),
                                            dest: flavor_use("1")}
    mig = migrations(cloud, sid)[-1]
    assert (mig["migration_type"], mig["status"]) == ("live-migration", "completed")
    assert_claims_match_usage(cloud)


def test_live_migrate_to_a_named_host_keeps_paused(cloud: RunningCloud,
                                                   client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    assert action(client, sid, {"pause": None}).status_code == 202
    cloud.wait_status(client, sid, {"PAUSED"})
    resp = action(client, sid, {"os-migrateLive": {"host": "host-3",
                                                   "block_migration": "auto"}}, "2.30")
    assert resp.status_code == 202, resp.text
    server = wait_for(lambda: (s := show(client, sid))["OS-EXT-SRV-ATTR:host"] == "host-3"
                      and s["OS-EXT-STS:task_state"] is None and s, what="live migration")
    assert (server["status"], server["OS-EXT-STS:power_state"]) == ("PAUSED", 3)
    # The named host must exist and differ from the source.
    assert action(client, sid, {"os-migrateLive": {"host": "host-3", "block_migration": "auto"}},
                  "2.30").status_code in (400, 409)
    assert action(client, sid, {"os-migrateLive": {"host": "nowhere", "block_migration":
                                                   "auto"}}, "2.30").status_code == 400


def test_evacuate_from_a_forced_down_host(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-3")
    before = usage(client)
    # The source's compute service is up: evacuation is refused.
    assert action(client, sid, {"evacuate": {}}, "2.29").status_code == 400
    set_forced_down(cloud, "host-3", True)
    try:
        resp = action(client, sid, {"evacuate": {"onSharedStorage": False}}, "2.13")
        assert resp.status_code == 200, resp.text
        assert resp.json()["adminPass"]
        server = cloud.wait_status(client, sid, {"ACTIVE"})
        dest = server["OS-EXT-SRV-ATTR:host"]
        assert dest != "host-3"
        # The source still holds the guest until its compute service runs again.
        assert delta(before, usage(client)) == {dest: flavor_use("1")}
        assert migrations(cloud, sid)[-1]["status"] == "done"
        assert_claims_match_usage(cloud)
    finally:
        set_forced_down(cloud, "host-3", False)
    wait_for(lambda: migrations(cloud, sid)[-1]["status"] == "completed", what="clean-up")
    assert delta(before, usage(client)) == {"host-3": tuple(-x for x in flavor_use("1")),
                                            dest: flavor_use("1")}
    assert sid not in cloud.cloud.computes[2].deps.driver.list_instances()
    assert_claims_match_usage(cloud)


def test_rebuild_keeps_id_and_host(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    with cloud.cloud.db.write() as conn:
        image_db.create(conn, {"id": "11111111-2222-3333-4444-555555555555", "name": "other",
                               "status": "active", "disk_format": "raw",
                               "container_format": "bare", "size": 0, "visibility": "public",
                               "protected": False, "owner": None, "min_disk": 0,
                               "min_ram": 0, "properties": {}})
    before = usage(client)
    resp = action(client, sid, {"rebuild": {"imageRef": "11111111-2222-3333-4444-555555555555",
                                            "name": "rebuilt", "metadata": {"k": "v"},
                                            "adminPass": "pw-rebuild"}})
    assert resp.status_code == 202, resp.text
    body = resp.json()["server"]
    assert (body["id"], body["name"], body["status"], body["adminPass"]) == (
        sid, "rebuilt", "REBUILD", "pw-rebuild")
    assert body["image"]["id"] == "11111111-2222-3333-4444-555555555555"
    server = cloud.wait_status(client, sid, {"ACTIVE"})
    assert server["OS-EXT-SRV-ATTR:host"] == "host-1"
    assert server["metadata"] == {"k": "v"}
    assert delta(before, usage(client)) == {}
    console = action(client, sid, {"os-getConsoleOutput": {}}).json()["output"]
    assert console.count("booted 1 times") == 1  # a new guest
    # A stopped server is rebuilt and stays stopped.
    assert action(client, sid, {"os-stop": None}).status_code == 202
    cloud.wait_status(client, sid, {"SHUTOFF"})
    assert action(client, sid, {"rebuild": {"imageRef": cloud.image_id}}).status_code == 202
    assert cloud.wait_status(client, sid, {"SHUTOFF"})["image"]["id"] == cloud.image_id


def test_bad_move_requests(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-2")
    cases = [
        ({"resize": {"flavorRef": "1"}}, 400),          # same flavor
        ({"resize": {"flavorRef": "nope"}}, 400),       # unknown flavor
        ({"resize": {}}, 400),                          # flavorRef required
        ({"resize": {"flavorRef": "2", "x": 1}}, 400),  # extra property
        ({"confirmResize": None}, 409),                 # not resized
        ({"revertResize": None}, 409),
        ({"migrate": {"host": "host-1"}}, 400),         # host is 2.56
        ({"os-migrateLive": {"block_migration": "auto"}}, 400),  # host is required
        ({"evacuate": {"host": "host-1"}}, 400),        # source compute is up
        ({"rebuild": {}}, 400),                         # imageRef required
        ({"rebuild": {"imageRef": "no-such-image"}}, 400),
    ]
    for body, status in cases:
        resp = action(client, sid, body)
        assert resp.status_code == status, (body, resp.status_code, resp.text)
    assert show(client, sid)["status"] == "ACTIVE"
    assert len(migrations(cloud, sid)) == 0


def test_delete_while_waiting_for_confirmation(cloud: RunningCloud,
                                               client: httpx.Client) -> None:
    before = usage(client)
    sid = boot(cloud, client, "host-1")
    assert action(client, sid, {"resize": {"flavorRef": "2"}}).status_code == 202
    cloud.wait_status(client, sid, {"VERIFY_RESIZE"})
    assert client.delete(f"/servers/{sid}").status_code == 204
    wait_for(lambda: client.get(f"/servers/{sid}").status_code == 404, what="delete")
    # Both claims are gone, and so are the guest and the copy the source kept.
    assert delta(before, usage(client)) == {}
    wait_for(lambda: all(sid not in c.deps.driver.list_instances()
                         for c in cloud.cloud.computes), what="leftovers removed")
    assert_claims_match_usage(cloud)


def test_a_driver_without_the_capability_answers_409(cloud: RunningCloud,
                                                    client: httpx.Client) -> None:
    sid = boot(cloud, client, "host-1")
    cn = ComputeNode.__table__
    with cloud.cloud.db.write() as conn:
        stats = conn.execute(sa.select(cn.c.stats).where(cn.c.host == "host-1")).scalar()
        caps = {**stats["capabilities"], "supports_live_migration": False,
                "supports_migration": False}
        conn.execute(sa.update(cn).where(cn.c.host == "host-1")
                     .values(stats={**stats, "capabilities": caps}))
    try:
        for body in ({"os-migrateLive": {"host": None, "block_migration": "auto"}},
                     {"migrate": None}, {"resize": {"flavorRef": "2"}}):
            resp = action(client, sid, body)
            assert resp.status_code == 409, resp.text
            assert "not supported" in resp.json()["conflictingRequest"]["message"]
        assert show(client, sid)["status"] == "ACTIVE"
    finally:
        cloud.cloud.computes[0].update_resources()
