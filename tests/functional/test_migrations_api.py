"""os-migrations, server migrations (list, show, force_complete, abort) and auto-confirm.

Live migrations here take 30 s unless forced to complete or aborted
(``[fake_driver] live_migration_delay``), so they can be watched while running;
resizes are confirmed automatically after 1 s (``resize_confirm_window``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.moves import action, assert_claims_match_usage, delta, usage, wait_for

MIGRATION_KEYS = {"created_at", "dest_compute", "dest_host", "dest_node", "id",
                  "instance_uuid", "new_instance_type_id", "old_instance_type_id",
                  "source_compute", "source_node", "status", "updated_at"}
SERVER_MIGRATION_KEYS = {"created_at", "dest_compute", "dest_host", "dest_node",
                         "disk_processed_bytes", "disk_remaining_bytes", "disk_total_bytes",
                         "id", "memory_processed_bytes", "memory_remaining_bytes",
                         "memory_total_bytes", "server_uuid", "source_compute", "source_node",
                         "status", "updated_at"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("migrations-api"), fake_hosts=2, overrides={
        "fake_driver": {"live_migration_delay": 30.0},
        "DEFAULT": {"reserved_host_memory_mb": 0, "resize_confirm_window": 1}})
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def client(cloud: RunningCloud) -> Iterator[httpx.Client]:
    with cloud.client(version="2.30") as c:
        yield c


def boot_on(cloud: RunningCloud, client: httpx.Client, host: str) -> str:
    sid = cloud.boot(client, "lm", availability_zone=f"nova:{host}")
    cloud.wait_status(client, sid, {"ACTIVE"})
    return sid


def running_migration(client: httpx.Client, sid: str) -> dict:
    def found() -> dict | None:
        migs = client.get(f"/servers/{sid}/migrations").json()["migrations"]
        return migs[0] if migs and migs[0]["status"] == "running" else None
    return wait_for(found, what="a running live migration")  # type: ignore[no-any-return]


def test_force_complete_a_running_live_migration(cloud: RunningCloud,
                                                 client: httpx.Client) -> None:
    sid = boot_on(cloud, client, "host-1")
    assert action(client, sid, {"os-migrateLive": {"host": None,
                                                   "block_migration": "auto"}}).status_code == 202
    mig = running_migration(client, sid)
    assert set(mig) == SERVER_MIGRATION_KEYS
    assert (mig["server_uuid"], mig["source_compute"], mig["dest_compute"]) == (
        sid, "host-1", "host-2")
    assert mig["memory_total_bytes"] == 512 * 1024 * 1024
    shown = client.get(f"/servers/{sid}/migrations/{mig['id']}")
    assert shown.status_code == 200 and shown.json()["migration"]["id"] == mig["id"]
    server = client.get(f"/servers/{sid}").json()["server"]
    assert (server["status"], server["OS-EXT-STS:task_state"]) == ("MIGRATING", "migrating")
    # os-migrations links an in-progress live migration (2.23).
    listed = client.get("/os-migrations", params={"instance_uuid": sid}).json()["migrations"]
    assert listed[0]["migration_type"] == "live-migration"
    assert listed[0]["links"][0]["href"].endswith(f"/servers/{sid}/migrations/{mig['id']}")
    resp = client.post(f"/servers/{sid}/migrations/{mig['id']}/action",
                       json={"force_complete": None})
    assert resp.status_code == 202, resp.text
    server = cloud.wait_status(client, sid, {"ACTIVE"}, timeout=10)
    assert server["OS-EXT-SRV-ATTR:host"] == "host-2"
    assert client.get(f"/servers/{sid}/migrations").json()["migrations"] == []
    assert client.get(f"/servers/{sid}/migrations/{mig['id']}").status_code == 404
    # Not running any more: force_complete is refused.
    resp = client.post(f"/servers/{sid}/migrations/{mig['id']}/action",
                       json={"force_complete": None})
    assert resp.status_code == 409, resp.text


def test_abort_a_running_live_migration(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot_on(cloud, client, "host-1")
    before = usage(client)
    assert action(client, sid, {"os-migrateLive": {"host": "host-2",
                                                   "block_migration": "auto"}}).status_code == 202
    mig = running_migration(client, sid)
    # While it runs, the destination is claimed too.
    assert delta(before, usage(client)) == {"host-2": (1, 512, 1, 1)}
    assert client.delete(f"/servers/{sid}/migrations/{mig['id']}").status_code == 202
    server = cloud.wait_status(client, sid, {"ACTIVE"}, timeout=10)
    assert server["OS-EXT-SRV-ATTR:host"] == "host-1"
    assert delta(before, usage(client)) == {}
    assert_claims_match_usage(cloud)
    listed = client.get("/os-migrations", params={"instance_uuid": sid}).json()["migrations"]
    assert listed[0]["status"] == "cancelled" and "links" not in listed[0]
    # An aborted migration leaves no fault: the server is fine.
    assert "fault" not in server


def test_server_migrations_errors(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot_on(cloud, client, "host-2")
    assert client.get(f"/servers/{sid}/migrations/12345").status_code == 404
    assert client.get(f"/servers/{sid}/migrations/abc").status_code == 404
    # Not live-migrating: 409 for force_complete and abort.
    assert client.post(f"/servers/{sid}/migrations/1/action",
                       json={"force_complete": None}).status_code == 409
    assert client.delete(f"/servers/{sid}/migrations/1").status_code == 409
    with cloud.client(version="2.22") as old:
        assert old.get(f"/servers/{sid}/migrations").status_code == 404
        assert old.delete(f"/servers/{sid}/migrations/1").status_code == 404
    member = cloud.add_user("mig-project", "mig-member", "member")
    with cloud.client(member, version="2.24") as c:
        assert c.get("/os-migrations").status_code == 403
        # Another project's server is not found at all.
        assert c.get(f"/servers/{sid}/migrations").status_code in (403, 404)


def test_resize_is_confirmed_automatically(cloud: RunningCloud, client: httpx.Client) -> None:
    sid = boot_on(cloud, client, "host-1")
    assert action(client, sid, {"resize": {"flavorRef": "2"}}).status_code == 202
    wait_for(lambda: client.get(f"/servers/{sid}").json()["server"]["status"]
             == "VERIFY_RESIZE", what="VERIFY_RESIZE")
    server = cloud.wait_status(client, sid, {"ACTIVE"}, timeout=15)
    assert server["OS-EXT-SRV-ATTR:host"] == "host-2"
    actions = client.get(f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions][:2] == ["confirmResize", "resize"]
    listed = client.get("/os-migrations", params={"instance_uuid": sid}).json()["migrations"]
    assert listed[0]["status"] == "confirmed"


def test_os_migrations_fields_and_filters(cloud: RunningCloud, client: httpx.Client) -> None:
    listed = client.get("/os-migrations", headers={"OpenStack-API-Version": "compute 2.1"}
                        ).json()["migrations"]
    assert listed and all(set(m) == MIGRATION_KEYS for m in listed)
    assert all(isinstance(m["id"], int) for m in listed)
    for query, check in (({"status": "confirmed"}, lambda m: m["status"] == "confirmed"),
                         ({"migration_type": "resize"},
                          lambda m: m["migration_type"] == "resize"),
                         ({"source_compute": "host-1"}, lambda m: m["source_compute"] == "host-1"),
                         ({"host": "host-2"}, lambda m: "host-2" in (m["source_compute"],
                                                                     m["dest_compute"]))):
        found = client.get("/os-migrations", params=query).json()["migrations"]
        assert found and all(check(m) for m in found), query
    assert client.get("/os-migrations", params={"status": "nothing"}).json() == {
        "migrations": []}


def test_delete_during_a_live_migration(cloud: RunningCloud, client: httpx.Client) -> None:
    before = usage(client)
    sid = boot_on(cloud, client, "host-1")
    assert action(client, sid, {"os-migrateLive": {"host": None,
                                                   "block_migration": "auto"}}).status_code == 202
    running_migration(client, sid)
    assert client.delete(f"/servers/{sid}").status_code == 204
    # The copy is aborted, so the delete does not wait for the 30 s migration.
    wait_for(lambda: client.get(f"/servers/{sid}").status_code == 404, timeout=10,
             what="delete")
    assert delta(before, usage(client)) == {}
    for compute in cloud.cloud.computes:
        assert sid not in compute.deps.driver.list_instances()
    assert_claims_match_usage(cloud)
