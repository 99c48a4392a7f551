"""The scheduler never picks a compute whose heartbeats stopped, even between two reads
of its host view, and several schedulers share the work through the DB claims.

Real SchedulerManager objects on SQLite, two computes registered as compute services
do it (services + compute_nodes rows); instances written as the API writes them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from novalith.conf import make_conf
from novalith.db import instances as inst_db
from novalith.db import migration
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.db.engine import sqlite_url
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, RequestSpec
from novalith.rpc.inproc import InprocTransport
from novalith.scheduler.manager import SchedulerManager
from novalith.scheduler.rpcapi import SelectAndClaim

FLAVOR = FlavorSpec(flavorid="1", name="m1.tiny", memory_mb=512, vcpus=1, root_gb=1)
CTX = RequestContext(request_id="req-s", user_id="u", project_id="p", roles=("member",))


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.conf = make_conf([], {"DEFAULT": {
            "state_path": str(tmp_path), "service_down_time": 20, "report_interval": 3600,
            "reserved_host_memory_mb": 0}})
        self.db = Database(sqlite_url(str(tmp_path)))
        migration.sync(self.db)
        self.hosts = {h: self._node(h) for h in ("h1", "h2")}

    def _node(self, host: str) -> int:
        with self.db.write() as conn:
            service_id = svc_db.register(conn, host, "nova-compute", "compute", "nova", 1)
            return svc_db.upsert_node(conn, service_id, host, {
                "hypervisor_hostname": host, "hypervisor_type": "fake", "vcpus": 64,
                "memory_mb": 65536, "local_gb": 1000, "cpu_allocation_ratio": 1.0,
                "ram_allocation_ratio": 1.0, "disk_allocation_ratio": 1.0})

    def scheduler(self, name: str) -> SchedulerManager:
        return SchedulerManager(self.conf, self.db, InprocTransport(), host=name)

    def instances(self, n: int) -> list[str]:
        uuids = [str(uuid.uuid4()) for _ in range(n)]
        with self.db.write() as conn:
            inst_db.create(conn, [{
                "uuid": u, "display_name": "vm", "hostname": "vm", "user_id": "u",
                "project_id": "p", "flavor_id": 1, "flavor": msgspec.to_builtins(FLAVOR),
                "vcpus": 1, "memory_mb": 512, "root_gb": 1, "vm_state": s.BUILDING,
                "task_state": s.SCHEDULING, "attempts": [], "reservation_id": "r",
                "launch_index": 0, "deleted": False} for u in uuids], CTX)
        return uuids

    def place(self, sched: SchedulerManager, uuids: list[str]) -> dict[str, str]:
        spec = RequestSpec(instance_uuids=uuids, project_id="p", flavor=FLAVOR)
        result = sched.select_and_claim(CTX, SelectAndClaim(request_spec=spec))
        assert not result.failures, result.failures
        return {sel.instance_uuid: sel.host for sel in result.selections}

    def silence(self, host: str, seconds: int) -> None:
        """The host's last heartbeat was ``seconds`` ago."""
        then = utcnow() - dt.timedelta(seconds=seconds)
        with self.db.write() as conn:
            conn.execute(sa.update(svc_db.SVC).where(svc_db.SVC.c.host == host)
                         .values(last_seen_up=then, updated_at=then))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.db.dispose()


def test_the_view_is_reread_well_within_service_down_time(world: World) -> None:
    assert world.scheduler("s").refresh_seconds == 5.0  # a quarter of 20 s


def test_a_host_whose_heartbeats_stop_drops_out_without_a_reread(world: World) -> None:
    sched = world.scheduler("s")
    sched.refresh_all()
    assert set(world.place(sched, world.instances(4)).values()) == {"h1", "h2"}
    # h1's last heartbeat (as last read) ages past service_down_time; the view is
    # not re-read (refresh far off), yet h1 is no longer chosen.
    for state in sched._hosts.values():
        if state.host == "h1":
            sched._liveness[state.node_id]["last_seen_up"] = utcnow() - dt.timedelta(seconds=30)
    sched._liveness_checked = 0.0
    assert set(world.place(sched, world.instances(4)).values()) == {"h2"}


def test_a_silent_host_is_down_after_a_reread(world: World) -> None:
    sched = world.scheduler("s")
    world.silence("h2", 60)
    sched.refresh_all()
    assert set(world.place(sched, world.instances(3)).values()) == {"h1"}


def test_two_schedulers_never_overcommit_one_host(world: World) -> None:
    """Each scheduler's own view says h1 has room; the DB claim decides."""
    world.silence("h2", 60)  # only h1 is up
    with world.db.write() as conn:  # room for exactly 3 tiny servers on h1
        conn.execute(sa.update(svc_db.CN).where(svc_db.CN.c.hypervisor_hostname == "h1")
                     .values(memory_mb=3 * 512))
    a, b = world.scheduler("a"), world.scheduler("b")
    a.refresh_all()
    b.refresh_all()
    placed = {**world.place(a, world.instances(2))}
    spec = RequestSpec(instance_uuids=world.instances(2), project_id="p", flavor=FLAVOR)
    result = b.select_and_claim(CTX, SelectAndClaim(request_spec=spec))
    assert len(result.selections) == 1 and len(result.failures) == 1
    assert len(placed) == 2
    with world.db.read() as conn:
        used = conn.execute(sa.select(svc_db.CN.c.memory_mb_used).where(
            svc_db.CN.c.hypervisor_hostname == "h1")).scalar_one()
    assert used == 3 * 512


def test_a_host_that_missed_the_fanout_is_found_before_no_valid_host(world: World) -> None:
    """A compute registered after the scheduler's last read, whose refresh_host fanout
    the scheduler missed, is still found: the view is re-read before failing."""
    world.silence("h1", 60)
    world.silence("h2", 60)
    sched = world.scheduler("s")
    sched.refresh_all()
    world.hosts["h3"] = world._node("h3")  # no refresh_host, no periodic read due
    spec = RequestSpec(instance_uuids=world.instances(1), project_id="p", flavor=FLAVOR)
    # A view read just now is trusted: no re-read, no valid host.
    result = sched.select_and_claim(CTX, SelectAndClaim(request_spec=spec))
    assert not result.selections and result.failures
    sched._refreshed -= 2  # over RECHECK_SECONDS old, still far from the periodic read
    assert set(world.place(sched, world.instances(2)).values()) == {"h3"}


def test_no_valid_host_still_fails_after_the_reread(world: World) -> None:
    world.silence("h1", 60)
    world.silence("h2", 60)
    sched = world.scheduler("s")
    sched.refresh_all()
    sched._refreshed -= 2
    spec = RequestSpec(instance_uuids=world.instances(1), project_id="p", flavor=FLAVOR)
    result = sched.select_and_claim(CTX, SelectAndClaim(request_spec=spec))
    assert not result.selections and len(result.failures) == 1
    assert "ComputeFilter" in next(iter(result.failures.values()))
