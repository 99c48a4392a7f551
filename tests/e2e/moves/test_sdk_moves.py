"""Unmodified openstacksdk moving servers across 3 fake hosts: resize (confirm, revert),
cold and live migration (watched, forced to complete, aborted), evacuation, rebuild;
and lock, metadata, tags and instance actions.

Each test checks the status walk, the host (``OS-EXT-SRV-ATTR:host``, as admin) and
the hypervisors' used figures before and after every step.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openstack import exceptions as sdk_exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from ..conftest import NovalithProcess
from .conftest import HOSTS, SDK_WARNINGS

pytestmark = [
    pytest.mark.e2e, *SDK_WARNINGS,
    # The hypervisor usage fields Nova dropped in 2.88 (we serve 2.47) warn when read.
    pytest.mark.filterwarnings(
        "ignore:The field '[a-z_]+' has been deprecated:openstack.warnings.RemovedFieldWarning"),
]
WAIT = 30
TINY, SMALL, MEDIUM = (1, 512, 1), (1, 2048, 20), (2, 4096, 40)  # vcpus, ram, disk

Usage = dict[str, tuple[int, int, int, int]]


def usage(conn: Connection) -> Usage:
    """host -> (vcpus_used, memory_mb_used, local_gb_used, running_vms) of os-hypervisors."""
    return {h.name: (h.vcpus_used, h.memory_used, h.local_disk_used, h.running_vms)
            for h in conn.compute.hypervisors(details=True)}


def delta(before: Usage, after: Usage) -> dict[str, tuple[int, ...]]:
    out = {}
    for host, now in after.items():
        d = tuple(a - b for a, b in zip(now, before[host], strict=True))
        if any(d):
            out[host] = d
    return out


def plus(size: tuple[int, int, int]) -> tuple[int, ...]:
    return (*size, 1)


def minus(size: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(-x for x in plus(size))


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def settle(conn: Connection, server: Server, status: str) -> Server:
    """Wait for ``status`` with no task in progress."""
    def done() -> Server | None:
        current = conn.compute.get_server(server.id)
        if current.status == "ERROR" and status != "ERROR":
            raise AssertionError(f"{server.name} went to ERROR: {current.fault}")
        return current if current.status == status and current.task_state is None else None
    return wait_until(done, f"{server.name} to be {status}")  # type: ignore[no-any-return]


def walk(conn: Connection, server: Server, status: str) -> tuple[Server, list[str]]:
    """Wait for ``status`` (no task), recording each status seen on the way."""
    seen: list[str] = []

    def done() -> Server | None:
        current = conn.compute.get_server(server.id)
        if not seen or seen[-1] != current.status:
            seen.append(current.status)
        if current.status == "ERROR" and status != "ERROR":
            raise AssertionError(f"{server.name} went to ERROR: {current.fault}")
        return current if current.status == status and current.task_state is None else None
    return wait_until(done, f"{server.name} to be {status}"), seen


@pytest.fixture(scope="module")
def ids(conn: Connection) -> dict[str, str]:
    flavors = {f.name: f.id for f in conn.compute.flavors()}
    image = next(conn.image.images(name="fake-image"))
    return {"tiny": flavors["m1.tiny"], "small": flavors["m1.small"],
            "medium": flavors["m1.medium"], "image": image.id}


@pytest.fixture
def boot(conn: Connection, ids: dict[str, str]) -> Iterator[Callable[..., Server]]:
    made: list[str] = []

    def make(host: str, flavor: str = "tiny", name: str | None = None) -> Server:
        server = conn.compute.create_server(
            name=name or f"mv-{uuid.uuid4().hex[:6]}", flavor_id=ids[flavor],
            image_id=ids["image"], networks="none", availability_zone=f"nova:{host}")
        made.append(server.id)
        server = settle(conn, server, "ACTIVE")
        assert server.compute_host == host
        return server

    yield make
    for sid in made:
        conn.compute.delete_server(sid, ignore_missing=True)


def test_resize_confirm_then_resize_revert(conn: Connection, boot: Callable[..., Server],
                                          ids: dict[str, str]) -> None:
    server = boot(HOSTS[0])
    before = usage(conn)
    conn.compute.resize_server(server, ids["small"])
    server, seen = walk(conn, server, "VERIFY_RESIZE")
    assert set(seen) <= {"ACTIVE", "RESIZE", "VERIFY_RESIZE"}, seen
    dest = server.compute_host
    assert dest != HOSTS[0] and server.flavor.original_name == "m1.small"
    assert delta(before, usage(conn)) == {dest: plus(SMALL)}
    conn.compute.confirm_server_resize(server)
    server = settle(conn, server, "ACTIVE")
    assert server.compute_host == dest
    assert delta(before, usage(conn)) == {HOSTS[0]: minus(TINY), dest: plus(SMALL)}

    middle = usage(conn)
    conn.compute.resize_server(server, ids["medium"])
    server = settle(conn, server, "VERIFY_RESIZE")
    second = server.compute_host
    assert second != dest
    assert delta(middle, usage(conn)) == {second: plus(MEDIUM)}
    conn.compute.revert_server_resize(server)
    server, seen = walk(conn, server, "ACTIVE")
    assert set(seen) <= {"VERIFY_RESIZE", "REVERT_RESIZE", "ACTIVE"}, seen
    assert server.compute_host == dest and server.flavor.original_name == "m1.small"
    assert delta(middle, usage(conn)) == {}
    kinds = [(m.migration_type, m.status) for m in conn.compute.migrations(server_id=server.id)]
    assert sorted(kinds) == [("resize", "confirmed"), ("resize", "reverted")]


def test_cold_migrate_then_confirm(conn: Connection, boot: Callable[..., Server]) -> None:
    server = boot(HOSTS[1])
    before = usage(conn)
    conn.compute.migrate_server(server)
    server = settle(conn, server, "VERIFY_RESIZE")
    dest = server.compute_host
    assert dest != HOSTS[1]
    assert delta(before, usage(conn)) == {dest: plus(TINY)}
    conn.compute.confirm_server_resize(server)
    server = settle(conn, server, "ACTIVE")
    assert server.compute_host == dest
    assert delta(before, usage(conn)) == {HOSTS[1]: minus(TINY), dest: plus(TINY)}


def _running_migration(conn: Connection, server: Server) -> Any:
    def running() -> Any:
        migs = list(conn.compute.server_migrations(server))
        return migs[0] if migs and migs[0].status == "running" else None
    return wait_until(running, "a running live migration")


def test_live_migration_watched_and_forced_to_complete(conn: Connection,
                                                      boot: Callable[..., Server]) -> None:
    server = boot(HOSTS[2])
    before = usage(conn)
    conn.compute.live_migrate_server(server, host=None, block_migration="auto")
    migration = _running_migration(conn, server)
    assert conn.compute.get_server(server.id).status == "MIGRATING"
    dest = migration.dest_compute
    assert migration.source_compute == HOSTS[2] and dest != HOSTS[2]
    # While it runs, the destination is claimed as well.
    assert delta(before, usage(conn)) == {dest: plus(TINY)}
    conn.compute.force_complete_server_migration(migration, server)
    server = settle(conn, server, "ACTIVE")
    assert server.compute_host == dest
    assert delta(before, usage(conn)) == {HOSTS[2]: minus(TINY), dest: plus(TINY)}
    done = list(conn.compute.migrations(server_id=server.id))
    assert [(m.migration_type, m.status) for m in done] == [("live-migration", "completed")]


def test_live_migration_to_a_named_host_aborted(conn: Connection,
                                               boot: Callable[..., Server]) -> None:
    server = boot(HOSTS[0])
    before = usage(conn)
    conn.compute.live_migrate_server(server, host=HOSTS[1], block_migration="auto")
    migration = _running_migration(conn, server)
    assert migration.dest_compute == HOSTS[1]
    assert delta(before, usage(conn)) == {HOSTS[1]: plus(TINY)}
    conn.compute.abort_server_migration(migration, server)
    server = settle(conn, server, "ACTIVE")
    assert server.compute_host == HOSTS[0]
    assert delta(before, usage(conn)) == {}
    statuses = [m.status for m in conn.compute.migrations(server_id=server.id)]
    assert statuses == ["cancelled"]


def test_evacuate_after_forcing_the_host_down(conn: Connection,
                                              boot: Callable[..., Server]) -> None:
    server = boot(HOSTS[2])
    before = usage(conn)
    with pytest.raises(sdk_exceptions.BadRequestException, match="still in use"):
        conn.compute.evacuate_server(server)
    conn.compute.update_service_forced_down(None, host=HOSTS[2], binary="nova-compute",
                                            forced=True)
    try:
        conn.compute.evacuate_server(server)
        server, seen = walk(conn, server, "ACTIVE")
        assert set(seen) <= {"ACTIVE", "REBUILD"}, seen
        dest = server.compute_host
        assert dest != HOSTS[2]
        # The dead host keeps its claim until its compute service is back.
        assert delta(before, usage(conn)) == {dest: plus(TINY)}
    finally:
        conn.compute.update_service_forced_down(None, host=HOSTS[2], binary="nova-compute",
                                                forced=False)
    wait_until(lambda: delta(before, usage(conn)) == {HOSTS[2]: minus(TINY), dest: plus(TINY)},
               "the evacuated host to be cleaned up")
    kinds = [(m.migration_type, m.status) for m in conn.compute.migrations(server_id=server.id)]
    assert kinds == [("evacuation", "completed")]


def test_rebuild(conn: Connection, boot: Callable[..., Server], ids: dict[str, str]) -> None:
    server = boot(HOSTS[0])
    before = usage(conn)
    rebuilt = conn.compute.rebuild_server(server, ids["image"], name="rebuilt",
                                          admin_password="pw-rebuilt", metadata={"r": "1"})
    assert rebuilt.id == server.id and rebuilt.status == "REBUILD"
    assert rebuilt.admin_password == "pw-rebuilt"
    server = settle(conn, server, "ACTIVE")
    assert (server.name, server.compute_host, server.metadata) == (
        "rebuilt", HOSTS[0], {"r": "1"})
    assert delta(before, usage(conn)) == {}
    actions = [a.action for a in conn.compute.server_actions(server)]
    assert actions[:2] == ["rebuild", "create"]


@pytest.fixture(scope="module")
def member(moves_cloud: NovalithProcess, conn: Connection) -> Iterator[Connection]:
    name = f"moves-{uuid.uuid4().hex[:6]}"
    project = conn.identity.create_project(name=name, domain_id="default")
    user = conn.identity.create_user(name=name, password="pw-" + name, domain_id="default")
    role = conn.identity.find_role("member")
    conn.identity.assign_project_role_to_user(project, user, role)
    member_conn = moves_cloud.connect(username=name, password="pw-" + name, project_name=name)
    yield member_conn
    member_conn.close()


def test_lock_metadata_tags_and_actions(conn: Connection, member: Connection,
                                        ids: dict[str, str]) -> None:
    server = member.compute.create_server(name="owned", flavor_id=ids["tiny"],
                                          image_id=ids["image"], networks="none")
    try:
        server = settle(member, server, "ACTIVE")
        member.compute.lock_server(server)
        assert member.compute.get_server(server.id).is_locked
        with pytest.raises(sdk_exceptions.ConflictException, match="locked"):
            member.compute.stop_server(server)
        conn.compute.stop_server(server)  # an admin is not held back
        settle(member, server, "SHUTOFF")
        member.compute.unlock_server(server)
        member.compute.start_server(server)
        settle(member, server, "ACTIVE")

        member.compute.set_server_metadata(server, color="blue", size="s")
        assert member.compute.fetch_server_metadata(server).metadata == {
            "color": "blue", "size": "s"}
        member.compute.delete_server_metadata(server, ["size"])
        assert member.compute.fetch_server_metadata(server).metadata == {"color": "blue"}

        server.add_tag(member.compute, "web")
        server.set_tags(member.compute, ["web", "prod"])
        assert sorted(server.fetch_tags(member.compute).tags) == ["prod", "web"]
        server.remove_tag(member.compute, "prod")
        assert [s.id for s in member.compute.servers(tags="web")] == [server.id]
        assert list(member.compute.servers(tags="prod")) == []
        with pytest.raises(sdk_exceptions.BadRequestException):
            server.add_tag(member.compute, "x" * 61)

        actions = list(member.compute.server_actions(server))
        assert [a.action for a in actions][:5] == ["start", "unlock", "stop", "lock", "create"]
        stop = next(a for a in actions if a.action == "stop")
        shown = conn.compute.get_server_action(stop.request_id, server)
        assert [e.event for e in shown.events] == ["compute_stop_instance"]
        assert shown.events[0].result == "Success"
    finally:
        member.compute.delete_server(server, ignore_missing=True)
