"""Atomic claims: placement's capacity formula, GONE, idempotent release, real races.

The race tests run on SQLite (a WAL file database) always, and on PostgreSQL and
MariaDB when a server answers on 127.0.0.1 (otherwise they skip, saying why).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fixtures.databases import BACKENDS, open_database
from novalith.db import claims, migration
from novalith.db import instances as inst_db
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.engine import sqlite_url
from novalith.db.models import ComputeNode
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec

CN = ComputeNode.__table__
USED = ("vcpus_used", "memory_mb_used", "local_gb_used", "running_vms")


@pytest.fixture(params=BACKENDS)
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A schema-synced database on each backend (the server ones skip when absent)."""
    with open_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(sqlite_url(str(tmp_path)))
    migration.sync(database)
    yield database
    database.dispose()


def flavor(vcpus: int = 1, memory_mb: int = 512, root_gb: int = 1, ephemeral_gb: int = 0,
           swap: int = 0) -> FlavorSpec:
    return FlavorSpec(flavorid="f", name="f", vcpus=vcpus, memory_mb=memory_mb,
                      root_gb=root_gb, ephemeral_gb=ephemeral_gb, swap=swap)


def make_node(db: Database, host: str = "h1", **totals: Any) -> int:
    values: dict[str, Any] = {
        "hypervisor_hostname": f"{host}.node", "hypervisor_type": "fake", "vcpus": 64,
        "memory_mb": 65536, "local_gb": 1000, "ram_allocation_ratio": 1.0,
        "cpu_allocation_ratio": 1.0, "disk_allocation_ratio": 1.0,
        "reserved_host_memory_mb": 0, "reserved_host_disk_mb": 0, "reserved_host_cpus": 0,
    }
    values.update(totals)
    with db.write() as conn:
        service_id = svc_db.register(conn, host, "nova-compute", "compute", "nova", 1)
        return svc_db.upsert_node(conn, service_id, host, values)


def make_instance(db: Database, fl: FlavorSpec, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "uuid": str(uuid.uuid4()), "display_name": "vm", "hostname": "vm", "user_id": "u",
        "project_id": "p", "flavor_id": 1, "flavor": {"flavorid": fl.flavorid},
        "vcpus": fl.vcpus, "memory_mb": fl.memory_mb, "root_gb": fl.root_gb,
        "ephemeral_gb": fl.ephemeral_gb, "swap": fl.swap, "vm_state": s.BUILDING,
        "task_state": s.SCHEDULING, "reservation_id": "r", "deleted": False, "attempts": [],
    }
    values.update(overrides)
    with db.write() as conn:
        inst_db.create(conn, [values], RequestContext())
    return str(values["uuid"])


def used(db: Database, node_id: int) -> dict[str, int]:
    with db.read() as conn:
        got = conn.execute(sa.select(*(CN.c[k] for k in USED)).where(CN.c.id == node_id)).one()
    return dict(zip(USED, (int(v) for v in got), strict=True))


def instance(db: Database, u: str) -> dict[str, Any]:
    with db.read() as conn:
        got = inst_db.get(conn, u, read_deleted=True)
    assert got is not None
    return dict(got)


def claim(db: Database, u: str, node_id: int, fl: FlavorSpec, host: str = "h1") -> str:
    with db.write() as conn:
        return claims.claim(conn, u, node_id, fl, host, f"{host}.node", "nova", [host])


def release(db: Database, u: str, clear_host: bool = False) -> bool:
    with db.write() as conn:
        return claims.release(conn, u, clear_host=clear_host)


@pytest.mark.parametrize(("fl", "expected"), [
    (flavor(root_gb=10), 10), (flavor(root_gb=10, ephemeral_gb=5), 15),
    (flavor(root_gb=0, swap=1), 1), (flavor(root_gb=1, swap=1024), 2),
    (flavor(root_gb=1, swap=1025), 3),
])
def test_disk_gb_rounds_swap_up(fl: FlavorSpec, expected: int) -> None:
    assert claims.disk_gb(fl) == expected


def test_claim_adds_usage_and_records_the_host_on_the_instance(db: Database) -> None:
    node = make_node(db)
    fl = flavor(vcpus=2, memory_mb=1024, root_gb=10, ephemeral_gb=2, swap=512)
    u = make_instance(db, fl)
    with db.write() as conn:
        assert claims.claim(conn, u, node, fl, "h1", "h1.node", "az1",
                            ["h0", "h1"]) == claims.CLAIMED
    assert used(db, node) == {"vcpus_used": 2, "memory_mb_used": 1024, "local_gb_used": 13,
                              "running_vms": 1}
    row = instance(db, u)
    assert (row["host"], row["node"], row["claim_node_id"], row["launched_on"],
            row["availability_zone"], row["attempts"]) == (
        "h1", "h1.node", node, "h1", "az1", ["h0", "h1"])
    assert (row["vm_state"], row["task_state"]) == (s.BUILDING, s.SCHEDULING)


@pytest.mark.parametrize(("totals", "fits", "fl"), [
    # (total - reserved) * ratio, for each resource
    ({"vcpus": 2, "reserved_host_cpus": 1, "cpu_allocation_ratio": 4.0}, 4, flavor(vcpus=1)),
    ({"vcpus": 4, "cpu_allocation_ratio": 0.5}, 2, flavor(vcpus=1)),
    ({"memory_mb": 4096, "reserved_host_memory_mb": 512, "ram_allocation_ratio": 1.0}, 7,
     flavor(memory_mb=512)),
    ({"memory_mb": 1024, "ram_allocation_ratio": 1.5}, 3, flavor(memory_mb=512)),
    ({"local_gb": 10, "reserved_host_disk_mb": 1, "disk_allocation_ratio": 1.0}, 3,
     flavor(root_gb=3)),  # 1 MB reserved is a whole GB: 9 usable
    ({"local_gb": 10, "reserved_host_disk_mb": 2048, "disk_allocation_ratio": 2.0}, 5,
     flavor(root_gb=3)),  # (10 - 2) * 2 = 16
    ({"local_gb": 10}, 3, flavor(root_gb=1, swap=1025)),  # 1 + 2 GB (1025 MB swap) each
])
def test_claims_fill_a_node_exactly_to_its_capacity(db: Database, totals: dict[str, Any],
                                                    fits: int, fl: FlavorSpec) -> None:
    node = make_node(db, **totals)
    results = [claim(db, make_instance(db, fl), node, fl) for _ in range(fits + 2)]
    assert results == [claims.CLAIMED] * fits + [claims.NO_CAPACITY] * 2
    assert used(db, node)["running_vms"] == fits


@pytest.mark.parametrize("too_big", [flavor(vcpus=5), flavor(memory_mb=5000),
                                     flavor(root_gb=50)])
def test_no_capacity_changes_nothing(db: Database, too_big: FlavorSpec) -> None:
    node = make_node(db, vcpus=4, memory_mb=4096, local_gb=40)
    u = make_instance(db, too_big)
    before_node, before_inst = used(db, node), instance(db, u)
    assert claim(db, u, node, too_big) == claims.NO_CAPACITY
    assert used(db, node) == before_node
    assert instance(db, u) == before_inst


def test_claim_of_a_missing_node_is_no_capacity(db: Database) -> None:
    fl = flavor()
    assert claim(db, make_instance(db, fl), 4242, fl) == claims.NO_CAPACITY


@pytest.mark.parametrize("overrides", [
    {"deleted": True, "vm_state": s.DELETED, "task_state": None},
    {"vm_state": s.ERROR, "task_state": None},
    {"vm_state": s.ACTIVE, "task_state": None},
])
def test_claim_for_an_instance_no_longer_waiting_is_gone_and_changes_nothing(
        db: Database, overrides: dict[str, Any]) -> None:
    node = make_node(db)
    fl = flavor(vcpus=2)
    u = make_instance(db, fl, **overrides)
    before_node, before_inst = used(db, node), instance(db, u)
    assert claim(db, u, node, fl) == claims.GONE
    assert used(db, node) == before_node
    assert instance(db, u) == before_inst


def test_claim_of_an_unknown_instance_is_gone(db: Database) -> None:
    node = make_node(db)
    assert claim(db, "no-such-uuid", node, flavor()) == claims.GONE
    assert used(db, node) == dict.fromkeys(USED, 0)


def test_a_second_claim_for_the_same_instance_is_gone(db: Database) -> None:
    node, other = make_node(db, "h1"), make_node(db, "h2")
    fl = flavor(vcpus=3)
    u = make_instance(db, fl)
    assert claim(db, u, node, fl) == claims.CLAIMED
    assert claim(db, u, other, fl, host="h2") == claims.GONE
    assert used(db, node)["vcpus_used"] == 3
    assert used(db, other) == dict.fromkeys(USED, 0)
    assert instance(db, u)["claim_node_id"] == node


def test_release_twice_subtracts_once(db: Database) -> None:
    node = make_node(db)
    fl = flavor(vcpus=2, memory_mb=2048, root_gb=20, swap=100)
    keep, u = make_instance(db, fl), make_instance(db, fl)
    claim(db, keep, node, fl)
    claim(db, u, node, fl)
    assert release(db, u) is True
    assert release(db, u) is False
    assert used(db, node) == {"vcpus_used": 2, "memory_mb_used": 2048, "local_gb_used": 21,
                              "running_vms": 1}
    row = instance(db, u)
    assert row["claim_node_id"] is None and row["host"] == "h1"


def test_release_can_forget_the_host(db: Database) -> None:
    node = make_node(db)
    fl = flavor()
    u = make_instance(db, fl)
    claim(db, u, node, fl)
    assert release(db, u, clear_host=True)
    row = instance(db, u)
    assert (row["host"], row["node"], row["claim_node_id"]) == (None, None, None)
    assert row["attempts"] == ["h1"]  # the conductor still needs to know where it failed
    # Released and back to the scheduler: it may claim again.
    assert claim(db, u, node, fl) == claims.CLAIMED
    assert used(db, node)["running_vms"] == 1


def test_release_without_a_claim_does_nothing(db: Database) -> None:
    node = make_node(db)
    u = make_instance(db, flavor())
    assert release(db, u) is False
    assert release(db, "no-such-uuid") is False
    assert used(db, node) == dict.fromkeys(USED, 0)


def test_release_of_a_deleted_instance_still_gives_back_its_resources(db: Database) -> None:
    node = make_node(db)
    fl = flavor(vcpus=4)
    u = make_instance(db, fl)
    claim(db, u, node, fl)
    with db.write() as conn:
        inst_db.transition(conn, u, {"deleted": True, "vm_state": s.DELETED})
    assert release(db, u)
    assert used(db, node) == dict.fromkeys(USED, 0)


def test_recompute_usage_sets_used_figures_to_the_recorded_claims(db: Database) -> None:
    node, other = make_node(db, "h1"), make_node(db, "h2")
    a, b = flavor(vcpus=1, memory_mb=256, root_gb=1, swap=1), flavor(vcpus=2, root_gb=5,
                                                                    ephemeral_gb=1)
    for fl in (a, b):
        claim(db, make_instance(db, fl), node, fl)
    claim(db, make_instance(db, a), other, a, host="h2")
    released = make_instance(db, b)
    claim(db, released, node, b)
    release(db, released)
    expected = used(db, node)
    assert expected == {"vcpus_used": 3, "memory_mb_used": 768, "local_gb_used": 8,
                        "running_vms": 2}
    with db.write() as conn:
        conn.execute(sa.update(CN).where(CN.c.id == node).values(
            vcpus_used=99, memory_mb_used=-5, local_gb_used=0, running_vms=17))
        claims.recompute_usage(conn, node)
    assert used(db, node) == expected
    empty = make_node(db, "h3")
    with db.write() as conn:
        conn.execute(sa.update(CN).where(CN.c.id == empty).values(vcpus_used=3))
        claims.recompute_usage(conn, empty)
    assert used(db, empty) == dict.fromkeys(USED, 0)


# ---- real concurrency ----------------------------------------------------------------------

def _race(n: int, fn: Callable[[int], str | bool]) -> list[str | bool]:
    """Run ``fn(i)`` on ``n`` threads released together; re-raise any thread's error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def handles(any_db: Database) -> Iterator[list[Database]]:
    """Four handles on one database, as four processes would hold.

    A Database queues its own SQLite writers on a Python lock; separate handles
    make SQLite itself arbitrate, as it does between processes.
    """
    more = [Database(any_db.url) for _ in range(3)]
    yield [any_db, *more]
    for handle in more:
        handle.dispose()


def test_twenty_racing_claims_on_a_node_that_fits_seven(any_db: Database,
                                                        handles: list[Database]) -> None:
    # Memory is the tight resource: (4096 - 512) * 1.0 = 3584 = 7 x 512.
    node = make_node(any_db, memory_mb=4096, reserved_host_memory_mb=512,
                     ram_allocation_ratio=1.0, vcpus=100, local_gb=1000)
    fl = flavor(vcpus=3, memory_mb=512, root_gb=2, swap=1)
    uuids = [make_instance(any_db, fl) for _ in range(20)]
    results = _race(20, lambda i: claim(handles[i % 4], uuids[i], node, fl))
    assert results.count(claims.CLAIMED) == 7
    assert results.count(claims.NO_CAPACITY) == 13
    assert used(any_db, node) == {"vcpus_used": 21, "memory_mb_used": 3584,
                                  "local_gb_used": 21, "running_vms": 7}
    winners = {u for u, r in zip(uuids, results, strict=True) if r == claims.CLAIMED}
    for u in uuids:
        assert (instance(any_db, u)["claim_node_id"] == node) == (u in winners)


def test_racing_releases_of_one_instance_subtract_once(any_db: Database,
                                                      handles: list[Database]) -> None:
    node = make_node(any_db)
    fl = flavor(vcpus=2, memory_mb=1024, root_gb=10)
    keep, u = make_instance(any_db, fl), make_instance(any_db, fl)
    claim(any_db, keep, node, fl)
    claim(any_db, u, node, fl)
    results = _race(10, lambda i: release(handles[i % 4], u))
    assert results.count(True) == 1
    assert used(any_db, node) == {"vcpus_used": 2, "memory_mb_used": 1024,
                                  "local_gb_used": 10, "running_vms": 1}


def test_claims_racing_a_delete_never_leak_resources(any_db: Database,
                                                     handles: list[Database]) -> None:
    """Each instance is either claimed then released by its delete, or GONE: never both."""
    node = make_node(any_db)
    fl = flavor(vcpus=1, memory_mb=128, root_gb=1)
    uuids = [make_instance(any_db, fl) for _ in range(8)]

    def claim_or_delete(i: int) -> str | bool:
        u, handle = uuids[i // 2], handles[i % 4]
        if i % 2 == 0:
            return claim(handle, u, node, fl)
        with handle.write() as conn:
            inst_db.transition(conn, u, {"deleted": True, "vm_state": s.DELETED,
                                         "task_state": None})
            return claims.release(conn, u)

    _race(16, claim_or_delete)
    assert used(any_db, node) == dict.fromkeys(USED, 0)
