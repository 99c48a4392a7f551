"""The conductor's build watchdog (novalith.conductor.recovery): every rule, and that
several conductors running it at once act once.

Real pieces: SQLite synced by the migrations, real claims on real nodes, the real
conductor, the in-process transport. The scheduler claims, for real, on the first
host that is up and not yet tried; compute hosts are recorders of the builds cast
to them.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from novalith.compute.rpcapi import SURFACE as COMPUTE
from novalith.compute.rpcapi import BuildAndRun
from novalith.conductor.manager import ConductorManager
from novalith.conductor.recovery import request_spec_from_row
from novalith.conf import make_conf
from novalith.db import claims, migration
from novalith.db import instances as inst_db
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.db.engine import sqlite_url
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, ImageMeta
from novalith.rpc.dispatch import Dispatcher
from novalith.rpc.inproc import InprocTransport
from novalith.rpc.transport import RPCServer
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER
from novalith.scheduler.rpcapi import SelectAndClaim, SelectAndClaimResult, Selection

FLAVOR = FlavorSpec(flavorid="1", name="m1.tiny", memory_mb=512, vcpus=1, root_gb=1)
IMAGE = ImageMeta(id="img-1", name="cirros", properties={"hw_architecture": "x86_64"})
INST = inst_db.INST
LONG_AGO = dt.timedelta(hours=1)


class UpHostScheduler:
    """Claims on the first host (in order) that is up and not in ignore_hosts."""

    def __init__(self, db: Database, nodes: dict[str, int]) -> None:
        self.db, self.nodes = db, nodes
        self.calls = 0

    def select_and_claim(self, ctx: RequestContext, req: SelectAndClaim
                         ) -> SelectAndClaimResult:
        self.calls += 1
        spec = req.request_spec
        with self.db.read() as conn:
            up = {r["host"] for r in svc_db.list_services(conn, binary="nova-compute")
                  if svc_db.is_up(r, 60)}
        selections, failures = [], {}
        for u in spec.instance_uuids:
            for host, node_id in self.nodes.items():
                if host in spec.ignore_hosts or host not in up:
                    continue
                with self.db.write() as conn:
                    outcome = claims.claim(conn, u, node_id, spec.flavor, host, host, "nova",
                                           [*spec.ignore_hosts, host])
                if outcome == claims.CLAIMED:
                    selections.append(Selection(instance_uuid=u, host=host, nodename=host,
                                                node_id=node_id, availability_zone="nova"))
                break
            else:
                failures[u] = "No valid host was found."
        return SelectAndClaimResult(selections=selections, failures=failures)


class Builds:
    """Records build_and_run_instance casts, per host."""

    def __init__(self) -> None:
        self.got: list[tuple[str, BuildAndRun]] = []
        self.cond = threading.Condition()

    def on(self, host: str) -> Any:
        builds = self

        class Compute:
            def build_and_run_instance(self, ctx: RequestContext, req: BuildAndRun) -> None:
                with builds.cond:
                    builds.got.append((host, req))
                    builds.cond.notify_all()

        return Compute()

    def wait(self, n: int) -> list[tuple[str, BuildAndRun]]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.got) >= n, 5), self.got
            return list(self.got)


class Env:
    def __init__(self, tmp_path: Path, max_attempts: int = 3) -> None:
        self.conf = make_conf([], {
            "DEFAULT": {"host": "cond-1", "state_path": str(tmp_path), "report_interval": 3600,
                        "rpc_response_timeout": 5, "service_down_time": 60},
            "scheduler": {"max_attempts": max_attempts},
            "conductor": {"build_check_interval": 0, "build_redeliver_after": 120,
                          "build_timeout": 1800},
        })
        self.db = Database(sqlite_url(str(tmp_path)))
        migration.sync(self.db)
        self.transport = InprocTransport()
        self.nodes = {h: self._node(h) for h in ("h1", "h2")}
        self.scheduler = UpHostScheduler(self.db, self.nodes)
        self.builds = Builds()
        self.servers: list[RPCServer] = [
            Dispatcher(SCHEDULER, self.scheduler).serve(self.transport, "sched-1", 1)]
        self.servers += [Dispatcher(COMPUTE, self.builds.on(h)).serve(self.transport, h, 1)
                         for h in self.nodes]
        self.conductor = ConductorManager(self.conf, self.db, self.transport)
        self.ctx = RequestContext(request_id="req-boot", user_id="u1", project_id="p1",
                                  roles=("member",))

    def _node(self, host: str) -> int:
        with self.db.write() as conn:
            service_id = svc_db.register(conn, host, "nova-compute", "compute", "nova", 1)
            return svc_db.upsert_node(conn, service_id, host, {
                "hypervisor_hostname": host, "hypervisor_type": "fake", "vcpus": 8,
                "memory_mb": 8192, "local_gb": 100, "cpu_allocation_ratio": 1.0,
                "ram_allocation_ratio": 1.0, "disk_allocation_ratio": 1.0})

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.db.dispose()

    def instance(self, *, claim_on: str | None = None, task: str = s.SCHEDULING,
                 age: dt.timedelta = dt.timedelta(0), created: dt.timedelta | None = None
                 ) -> str:
        """A building instance last changed ``age`` ago (created ``created`` ago)."""
        u = str(uuid.uuid4())
        now = utcnow()
        with self.db.write() as conn:
            inst_db.create(conn, [{
                "uuid": u, "display_name": "vm", "hostname": "vm", "user_id": "u1",
                "project_id": "p1", "flavor_id": 1, "flavor": msgspec.to_builtins(FLAVOR),
                "vcpus": 1, "memory_mb": 512, "root_gb": 1, "vm_state": s.BUILDING,
                "task_state": s.SCHEDULING, "attempts": [], "reservation_id": "r-1",
                "launch_index": 0, "deleted": False, "requested_az": "nova",
                "system_metadata": {"image": msgspec.to_builtins(IMAGE)}}], self.ctx)
            if claim_on is not None:
                assert claims.claim(conn, u, self.nodes[claim_on], FLAVOR, claim_on, claim_on,
                                    "nova", [claim_on]) == claims.CLAIMED
            conn.execute(sa.update(INST).where(INST.c.uuid == u).values(
                task_state=task, updated_at=now - age,
                created_at=now - (created if created is not None else age)))
        return u

    def host_down(self, host: str) -> None:
        with self.db.write() as conn:
            conn.execute(sa.update(svc_db.SVC).where(svc_db.SVC.c.host == host).values(
                last_seen_up=utcnow() - LONG_AGO, updated_at=utcnow() - LONG_AGO))

    def row(self, u: str) -> dict[str, Any]:
        with self.db.read() as conn:
            got = inst_db.get(conn, u, read_deleted=True)
        assert got is not None
        return dict(got)

    def used_memory(self, host: str) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(svc_db.CN.c.memory_mb_used).where(
                svc_db.CN.c.id == self.nodes[host])).scalar_one())

    def fault(self, u: str) -> str | None:
        with self.db.read() as conn:
            got = inst_db.latest_faults(conn, [u]).get(u)
        return None if got is None else str(got["message"])


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    e = Env(tmp_path, **getattr(request, "param", {}))
    yield e
    e.close()


def test_fresh_builds_are_left_alone(env: Env) -> None:
    env.instance()
    env.instance(claim_on="h1", task=s.SPAWNING)
    assert env.conductor.watchdog.check() == {}
    assert env.builds.got == [] and env.scheduler.calls == 0


def test_a_build_on_a_host_that_went_down_is_rescheduled_and_its_claim_released(
        env: Env) -> None:
    u = env.instance(claim_on="h1", task=s.SPAWNING)
    env.host_down("h1")
    assert env.conductor.watchdog.check() == {"host_down": 1}
    ((host, req),) = env.builds.wait(1)
    assert host == "h2" and req.instance.uuid == u
    assert req.request_spec.ignore_hosts == ["h1"]
    row = env.row(u)
    assert (row["vm_state"], row["task_state"], row["host"]) == (s.BUILDING, s.SCHEDULING, "h2")
    assert row["attempts"] == ["h1", "h2"]
    assert env.used_memory("h1") == 0 and env.used_memory("h2") == 512


@pytest.mark.parametrize("env", [{"max_attempts": 1}], indirect=True)
def test_a_build_on_a_down_host_with_no_attempt_left_goes_to_error(env: Env) -> None:
    u = env.instance(claim_on="h1", task=s.SPAWNING)
    env.host_down("h1")
    assert env.conductor.watchdog.check() == {"host_down": 1}
    row = env.row(u)
    assert (row["vm_state"], row["task_state"], row["claim_node_id"]) == (s.ERROR, None, None)
    fault = env.fault(u)
    assert fault is not None and "compute-1" not in fault and "went down" in fault
    assert env.used_memory("h1") == 0 and env.builds.got == []


def test_a_lost_build_instances_is_scheduled_again_once(env: Env) -> None:
    u = env.instance(age=dt.timedelta(seconds=300))
    assert env.conductor.watchdog.check() == {"redelivered": 1}
    ((host, req),) = env.builds.wait(1)
    assert host == "h1" and req.instance.uuid == u
    assert req.request_spec.image == IMAGE and req.request_spec.availability_zone == "nova"
    # It counts as changed now: the next round leaves it alone.
    assert env.conductor.watchdog.check() == {}
    assert env.scheduler.calls == 1


def test_a_lost_build_cast_is_sent_again_to_the_claimed_host(env: Env) -> None:
    u = env.instance(claim_on="h2", age=dt.timedelta(seconds=300))
    assert env.conductor.watchdog.check() == {"redelivered": 1}
    ((host, req),) = env.builds.wait(1)
    assert (host, req.instance.uuid, req.node_id) == ("h2", u, env.nodes["h2"])
    assert env.scheduler.calls == 0  # the claim stands; nothing is scheduled again


def test_a_build_past_build_timeout_goes_to_error_and_gives_back_its_claim(env: Env) -> None:
    u = env.instance(claim_on="h1", task=s.SPAWNING, created=dt.timedelta(hours=2))
    assert env.conductor.watchdog.check() == {"timed_out": 1}
    row = env.row(u)
    assert (row["vm_state"], row["task_state"], row["claim_node_id"], row["host"]) == (
        s.ERROR, None, None, "h1")  # the host stays: a delete goes there to clean up
    fault = env.fault(u)
    assert fault is not None and "timed out after 1800 seconds" in fault
    assert env.used_memory("h1") == 0


def test_several_conductors_move_a_stuck_build_once(env: Env) -> None:
    others = [ConductorManager(env.conf, env.db, env.transport, host=f"cond-{i}")
              for i in range(2, 5)]
    watchdogs = [env.conductor.watchdog, *(c.watchdog for c in others)]
    u = env.instance(age=dt.timedelta(seconds=300))
    start = threading.Barrier(len(watchdogs))
    results: list[dict[str, int]] = []

    def run(w: Any) -> None:
        start.wait()
        results.append(w.check())

    threads = [threading.Thread(target=run, args=(w,)) for w in watchdogs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.get("redelivered", 0) for r in results) == [0, 0, 0, 1]
    env.builds.wait(1)
    assert len(env.builds.got) == 1 and env.row(u)["host"] == "h1"


def test_request_spec_from_row_keeps_what_placement_needs(env: Env) -> None:
    u = env.instance(claim_on="h1")
    row = env.row(u)
    spec = request_spec_from_row(row, {"group": "g-1"})
    assert spec.instance_uuids == [u] and spec.flavor == FLAVOR and spec.image == IMAGE
    assert spec.ignore_hosts == ["h1"] and spec.availability_zone == "nova"
    assert spec.scheduler_hints == {"group": "g-1"} and spec.project_id == "p1"
