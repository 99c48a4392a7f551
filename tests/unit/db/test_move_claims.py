"""Move claims: a migration holds the claim the instance does not; claim_move, swap_move,
release_move keep every node's used figures equal to the claims naming it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fixtures.databases import BACKENDS, open_database
from novalith.db import claims, migration
from novalith.db import instances as inst_db
from novalith.db import moves as moves_db
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.engine import sqlite_url
from novalith.db.models import ComputeNode
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec

CN = ComputeNode.__table__
USED = ("vcpus_used", "memory_mb_used", "local_gb_used", "running_vms")
OLD = FlavorSpec(flavorid="1", name="old", vcpus=1, memory_mb=512, root_gb=1)
NEW = FlavorSpec(flavorid="2", name="new", vcpus=2, memory_mb=2048, root_gb=20, swap=1025)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(sqlite_url(str(tmp_path)))
    migration.sync(database)
    yield database
    database.dispose()


@pytest.fixture(params=BACKENDS)
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with open_database(request.param, tmp_path) as database:
        yield database


def make_node(db: Database, host: str, **totals: Any) -> int:
    values: dict[str, Any] = {
        "hypervisor_hostname": host, "hypervisor_type": "fake", "vcpus": 64,
        "memory_mb": 65536, "local_gb": 1000, "ram_allocation_ratio": 1.0,
        "cpu_allocation_ratio": 1.0, "disk_allocation_ratio": 1.0, "host_ip": "10.0.0.9",
        "reserved_host_memory_mb": 0, "reserved_host_disk_mb": 0, "reserved_host_cpus": 0}
    values.update(totals)
    with db.write() as conn:
        service_id = svc_db.register(conn, host, "nova-compute", "compute", "nova", 1)
        return svc_db.upsert_node(conn, service_id, host, values)


def used(db: Database, node_id: int) -> tuple[int, ...]:
    with db.read() as conn:
        return tuple(conn.execute(sa.select(*(CN.c[k] for k in USED))
                                  .where(CN.c.id == node_id)).one())


def active_instance(db: Database, node: int, host: str) -> str:
    """An ACTIVE instance of flavor OLD holding its claim on ``node``."""
    u = str(uuid.uuid4())
    with db.write() as conn:
        inst_db.create(conn, [{
            "uuid": u, "display_name": "vm", "hostname": "vm", "user_id": "u",
            "project_id": "p", "flavor_id": 1, "flavor": {"flavorid": "1"},
            "vcpus": OLD.vcpus, "memory_mb": OLD.memory_mb, "root_gb": OLD.root_gb,
            "ephemeral_gb": 0, "swap": 0, "vm_state": s.BUILDING, "task_state": s.SCHEDULING,
            "reservation_id": "r", "deleted": False, "attempts": []}], RequestContext())
        assert claims.claim(conn, u, node, OLD, host, host, "nova", [host]) == claims.CLAIMED
        inst_db.transition(conn, u, {"vm_state": s.ACTIVE, "task_state": None})
    return u


def new_migration(db: Database, u: str, status: str = moves_db.PRE_MIGRATING) -> int:
    with db.write() as conn:
        return moves_db.create(conn, {"instance_uuid": u, "migration_type": moves_db.RESIZE,
                                      "status": status, "source_compute": "src"})


def claim_move(db: Database, mid: int, node: int, flavor: FlavorSpec = NEW,
               host: str = "dst") -> str:
    with db.write() as conn:
        return claims.claim_move(conn, mid, node, flavor, host, host)


def row(db: Database, table: str, key: Any) -> dict[str, Any]:
    with db.read() as conn:
        got = (inst_db.get(conn, key) if table == "instance" else moves_db.get(conn, key))
    assert got is not None
    return dict(got)


OLD_USE, NEW_USE = (1, 512, 1, 1), (2, 2048, 22, 1)  # 1025 MB swap is 2 GB
NOTHING = (0, 0, 0, 0)


def test_resize_walk_keeps_both_nodes_exact(db: Database) -> None:
    src, dst = make_node(db, "src"), make_node(db, "dst")
    u = active_instance(db, src, "src")
    mid = new_migration(db, u)
    assert claim_move(db, mid, dst) == claims.CLAIMED
    assert (used(db, src), used(db, dst)) == (OLD_USE, NEW_USE)
    mig = row(db, "migration", mid)
    assert (mig["claim_node_id"], mig["dest_compute"], mig["dest_node"], mig["dest_host"]) == (
        dst, "dst", "dst", "10.0.0.9")
    # The guest arrives: the claims change hands, no figure moves.
    with db.write() as conn:
        assert claims.swap_move(conn, mid, u, host="dst", node="dst", flavor=NEW,
                                extra={"vm_state": s.RESIZED})
    assert (used(db, src), used(db, dst)) == (OLD_USE, NEW_USE)
    inst, mig = row(db, "instance", u), row(db, "migration", mid)
    assert (inst["host"], inst["claim_node_id"], inst["vcpus"], inst["vm_state"]) == (
        "dst", dst, 2, s.RESIZED)
    assert (mig["claim_node_id"], mig["claim_vcpus"], mig["claim_memory_mb"],
            mig["claim_disk_gb"]) == (src, 1, 512, 1)
    # Confirm: the source claim goes, once.
    with db.write() as conn:
        assert claims.release_move(conn, mid) is True
        assert claims.release_move(conn, mid) is False
    assert (used(db, src), used(db, dst)) == (NOTHING, NEW_USE)


def test_revert_swaps_back_and_releases_the_destination(db: Database) -> None:
    src, dst = make_node(db, "src"), make_node(db, "dst")
    u = active_instance(db, src, "src")
    mid = new_migration(db, u)
    claim_move(db, mid, dst)
    with db.write() as conn:
        claims.swap_move(conn, mid, u, host="dst", node="dst", flavor=NEW)
        claims.swap_move(conn, mid, u, host="src", node="src", flavor=OLD)
        claims.release_move(conn, mid)
    assert (used(db, src), used(db, dst)) == (OLD_USE, NOTHING)
    inst = row(db, "instance", u)
    assert (inst["host"], inst["claim_node_id"], inst["memory_mb"]) == ("src", src, 512)


def test_failure_before_the_swap_releases_the_destination(db: Database) -> None:
    src, dst = make_node(db, "src"), make_node(db, "dst")
    u = active_instance(db, src, "src")
    mid = new_migration(db, u)
    claim_move(db, mid, dst)
    with db.write() as conn:
        claims.release_move(conn, mid)
    assert (used(db, src), used(db, dst)) == (OLD_USE, NOTHING)


def test_claim_move_no_capacity_and_gone_change_nothing(db: Database) -> None:
    src, small = make_node(db, "src"), make_node(db, "small", memory_mb=1024)
    u = active_instance(db, src, "src")
    mid = new_migration(db, u)
    assert claim_move(db, mid, small) == claims.NO_CAPACITY
    assert used(db, small) == NOTHING
    done = new_migration(db, u, status=moves_db.ERROR)
    assert claim_move(db, done, src) == claims.GONE
    assert claim_move(db, 4242, src) == claims.GONE
    assert used(db, src) == OLD_USE
    # One destination per migration.
    dst, other = make_node(db, "dst"), make_node(db, "other")
    assert claim_move(db, mid, dst) == claims.CLAIMED
    assert claim_move(db, mid, other, host="other") == claims.GONE
    assert used(db, other) == NOTHING


def test_deleting_the_instance_releases_its_migrations_claims(db: Database) -> None:
    src, dst = make_node(db, "src"), make_node(db, "dst")
    u = active_instance(db, src, "src")
    mid = new_migration(db, u)
    claim_move(db, mid, dst)
    with db.write() as conn:
        assert claims.release(conn, u)
        moves_db.soft_delete_for_instance(conn, u)
    assert (used(db, src), used(db, dst)) == (NOTHING, NOTHING)
    mig = row(db, "migration", mid)
    assert (mig["deleted"], mig["status"], mig["claim_node_id"]) == (True, moves_db.ERROR, None)


def test_recompute_usage_counts_migration_claims(db: Database) -> None:
    src, dst = make_node(db, "src"), make_node(db, "dst")
    u = active_instance(db, src, "src")
    claim_move(db, new_migration(db, u), dst)
    with db.write() as conn:
        conn.execute(sa.update(CN).values(vcpus_used=99, memory_mb_used=0, running_vms=5))
        claims.recompute_usage(conn, src)
        claims.recompute_usage(conn, dst)
    assert (used(db, src), used(db, dst)) == (OLD_USE, NEW_USE)


def test_swap_of_a_deleted_instance_changes_nothing(db: Database) -> None:
    src, dst = make_node(db, "src"), make_node(db, "dst")
    u = active_instance(db, src, "src")
    mid = new_migration(db, u)
    claim_move(db, mid, dst)
    with db.write() as conn:
        inst_db.transition(conn, u, {"deleted": True})
        assert not claims.swap_move(conn, mid, u, host="dst", node="dst", flavor=NEW)
    assert row(db, "migration", mid)["claim_node_id"] == dst


def test_racing_move_claims_never_overcommit(any_db: Database) -> None:
    """Ten migrations race for a destination that fits three of the new flavor."""
    src = make_node(any_db, "src")
    dst = make_node(any_db, "dst", memory_mb=3 * 2048, vcpus=100, local_gb=1000)
    mids = [new_migration(any_db, active_instance(any_db, src, "src")) for _ in range(10)]
    handles = [any_db, *(Database(any_db.url) for _ in range(3))]
    barrier = threading.Barrier(10)
    results: list[str] = [""] * 10

    def run(i: int) -> None:
        barrier.wait(10)
        results[i] = claim_move(handles[i % 4], mids[i], dst)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for handle in handles[1:]:
        handle.dispose()
    assert results.count(claims.CLAIMED) == 3
    assert results.count(claims.NO_CAPACITY) == 7
    assert used(any_db, dst) == (6, 3 * 2048, 3 * 22, 3)
