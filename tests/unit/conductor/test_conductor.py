"""The conductor: schedule then cast builds; reschedule failed builds; ERROR with a fault.

Real pieces: a SQLite database synced by the migrations, real claims on real node
rows, the in-process transport. The scheduler is a fake registered on the transport
that claims on the first host not yet tried; compute hosts are fakes that record
the builds cast to them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from novalith import exceptions
from novalith.compute.rpcapi import SURFACE as COMPUTE
from novalith.compute.rpcapi import BuildAndRun
from novalith.conductor.manager import ConductorManager
from novalith.conductor.rpcapi import SURFACE as CONDUCTOR
from novalith.conductor.rpcapi import BuildInstances, Reschedule
from novalith.conf import make_conf
from novalith.db import claims, migration
from novalith.db import instances as inst_db
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.engine import sqlite_url
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, RequestSpec
from novalith.rpc.dispatch import Dispatcher, RPCClient
from novalith.rpc.inproc import InprocTransport
from novalith.rpc.transport import RPCServer
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER
from novalith.scheduler.rpcapi import SelectAndClaim, SelectAndClaimResult, Selection

FLAVOR = FlavorSpec(flavorid="1", name="m1.tiny", memory_mb=512, vcpus=1, root_gb=1)
HOSTS = ("h1", "h2", "h3")


class FakeScheduler:
    """Claims, for real, on the first host (in HOSTS order) the spec does not ignore."""

    def __init__(self, db: Database, nodes: dict[str, int]) -> None:
        self.db, self.nodes = db, nodes
        self.requests: list[RequestSpec] = []
        self.raise_error: exceptions.NovalithError | None = None

    def select_and_claim(self, ctx: RequestContext, req: SelectAndClaim
                         ) -> SelectAndClaimResult:
        spec = req.request_spec
        self.requests.append(spec)
        if self.raise_error is not None:
            raise self.raise_error
        selections, failures = [], {}
        for u in spec.instance_uuids:
            for host, node_id in self.nodes.items():
                if host in spec.ignore_hosts:
                    continue
                with self.db.write() as conn:
                    outcome = claims.claim(conn, u, node_id, spec.flavor, host, host, "nova",
                                           [*spec.ignore_hosts, host])
                if outcome == claims.CLAIMED:
                    selections.append(Selection(instance_uuid=u, host=host, nodename=host,
                                                node_id=node_id, availability_zone="nova"))
                    break
                if outcome == claims.GONE:
                    break
            else:
                failures[u] = "No valid host was found. There are not enough hosts available."
        return SelectAndClaimResult(selections=selections, failures=failures)


class FakeCompute:
    """Records builds cast to one host."""

    def __init__(self, host: str, sink: list[tuple[str, BuildAndRun]],
                 arrived: threading.Condition) -> None:
        self.host, self.sink, self.arrived = host, sink, arrived

    def build_and_run_instance(self, ctx: RequestContext, req: BuildAndRun) -> None:
        with self.arrived:
            self.sink.append((self.host, req))
            self.arrived.notify_all()


class Env:
    def __init__(self, tmp_path: Path, max_attempts: int, hosts: tuple[str, ...]) -> None:
        self.conf = make_conf([], {
            "DEFAULT": {"host": "cond-1", "state_path": str(tmp_path),
                        "report_interval": 3600, "rpc_response_timeout": 5},
            "scheduler": {"max_attempts": max_attempts},
        })
        self.db = Database(sqlite_url(str(tmp_path)))
        migration.sync(self.db)
        self.transport = InprocTransport()
        self.nodes = {h: self._node(h) for h in hosts}
        self.scheduler = FakeScheduler(self.db, self.nodes)
        self.builds: list[tuple[str, BuildAndRun]] = []
        self.arrived = threading.Condition()
        self.servers: list[RPCServer] = [
            Dispatcher(SCHEDULER, self.scheduler).serve(self.transport, "sched-1", 1)]
        self.servers += [Dispatcher(COMPUTE, FakeCompute(h, self.builds, self.arrived))
                         .serve(self.transport, h, 1) for h in hosts]
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
        self.conductor.stop()
        for server in self.servers:
            server.stop()
        self.db.dispose()

    def new_instances(self, n: int = 1) -> list[str]:
        rows = [{
            "uuid": str(uuid.uuid4()), "display_name": f"vm-{i}", "hostname": f"vm-{i}",
            "user_id": "u1", "project_id": "p1", "flavor_id": 1,
            "flavor": msgspec.to_builtins(FLAVOR), "vcpus": 1, "memory_mb": 512, "root_gb": 1,
            "vm_state": s.BUILDING, "task_state": s.SCHEDULING, "attempts": [],
            "reservation_id": "r-1", "launch_index": i, "deleted": False,
        } for i in range(n)]
        with self.db.write() as conn:
            inst_db.create(conn, rows, self.ctx)
        return [r["uuid"] for r in rows]

    def spec(self, uuids: list[str]) -> RequestSpec:
        return RequestSpec(instance_uuids=uuids, project_id="p1", flavor=FLAVOR)

    def wait_builds(self, n: int) -> list[tuple[str, BuildAndRun]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.builds) >= n, 5), self.builds
            return list(self.builds)

    def fail_build(self, u: str, host: str, reason: str = "spawn exploded",
                   password: str | None = None) -> None:
        """What compute does when a spawn fails: hand back, then ask for a reschedule."""
        with self.db.write() as conn:
            claims.release(conn, u, clear_host=True)
            inst_db.transition(conn, u, {"task_state": s.SCHEDULING})
        self.conductor.reschedule(self.ctx, Reschedule(
            instance_uuid=u, request_spec=self.spec([u]), failed_host=host, reason=reason,
            admin_password=password))

    def row(self, u: str) -> dict[str, Any]:
        with self.db.read() as conn:
            got = inst_db.get(conn, u, read_deleted=True)
        assert got is not None
        return dict(got)

    def fault(self, u: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            got = inst_db.latest_faults(conn, [u]).get(u)
        return None if got is None else dict(got)

    def action(self, u: str) -> dict[str, Any]:
        with self.db.read() as conn:
            return dict(conn.execute(sa.select(inst_db.ACTION).where(
                inst_db.ACTION.c.instance_uuid == u)).mappings().one())


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    """Three hosts and max_attempts = 3, unless parametrized (indirect) otherwise."""
    kwargs: dict[str, Any] = {"max_attempts": 3, "hosts": HOSTS,
                              **getattr(request, "param", {})}
    e = Env(tmp_path, **kwargs)
    yield e
    e.close()


def test_build_instances_casts_each_build_to_its_host(env: Env) -> None:
    a, b = env.new_instances(2)
    env.conductor.build_instances(env.ctx, BuildInstances(
        request_spec=env.spec([a, b]), admin_passwords={a: "pw-a"}))
    builds = env.wait_builds(2)
    assert [(host, req.instance.uuid) for host, req in builds] == [("h1", a), ("h1", b)]
    by_uuid = {req.instance.uuid: req for _, req in builds}
    assert by_uuid[a].admin_password == "pw-a" and by_uuid[b].admin_password is None
    assert by_uuid[a].node_id == env.nodes["h1"]
    assert by_uuid[a].instance.display_name == "vm-0"
    assert by_uuid[a].instance.flavor == FLAVOR
    assert by_uuid[a].request_spec.instance_uuids == [a, b]
    assert env.row(a)["host"] == "h1" and env.row(a)["attempts"] == ["h1"]


def test_build_instances_over_rpc(env: Env) -> None:
    env.conductor.start()
    (u,) = env.new_instances(1)
    RPCClient(env.transport, CONDUCTOR).cast(env.ctx, "build_instances",
                                             BuildInstances(request_spec=env.spec([u])))
    ((host, req),) = env.wait_builds(1)
    assert (host, req.instance.uuid) == ("h1", u)


def test_no_valid_host_sets_error_with_a_fault(env: Env) -> None:
    a, b = env.new_instances(2)
    env.scheduler.raise_error = exceptions.NoValidHost(reason="No host has 1 TB of RAM.")
    env.conductor.build_instances(env.ctx, BuildInstances(request_spec=env.spec([a, b])))
    for u in (a, b):
        row = env.row(u)
        assert (row["vm_state"], row["task_state"]) == (s.ERROR, None)
        fault = env.fault(u)
        assert fault is not None
        assert fault["message"] == "No valid host was found. No host has 1 TB of RAM."
        assert fault["code"] == 500
        assert env.action(u)["message"] == "Error"
    assert env.builds == []


def test_per_instance_failures_error_only_those(env: Env) -> None:
    ok, too_many = env.new_instances(2)
    env.scheduler.nodes = {"h1": env.nodes["h1"]}
    with env.db.write() as conn:  # h1 has room for exactly one more
        conn.execute(sa.text("UPDATE compute_nodes SET vcpus_used = 7 WHERE host = 'h1'"))
    env.conductor.build_instances(env.ctx, BuildInstances(request_spec=env.spec([ok,
                                                                                too_many])))
    ((host, req),) = env.wait_builds(1)
    assert (host, req.instance.uuid) == ("h1", ok)
    assert env.row(ok)["vm_state"] == s.BUILDING
    assert env.row(too_many)["vm_state"] == s.ERROR
    fault = env.fault(too_many)
    assert fault is not None and fault["message"].startswith("No valid host was found.")


def test_unreachable_scheduler_sets_error_with_a_fault(env: Env) -> None:
    env.servers[0].stop()
    (u,) = env.new_instances(1)
    env.conductor.build_instances(env.ctx, BuildInstances(request_spec=env.spec([u])))
    assert env.row(u)["vm_state"] == s.ERROR
    fault = env.fault(u)
    assert fault is not None and "scheduler" in fault["message"]


def test_error_never_overwrites_an_instance_that_moved_on(env: Env) -> None:
    (u,) = env.new_instances(1)
    with env.db.write() as conn:
        inst_db.transition(conn, u, {"vm_state": s.DELETED, "task_state": None,
                                     "deleted": True})
    env.scheduler.raise_error = exceptions.NoValidHost(reason="none")
    env.conductor.build_instances(env.ctx, BuildInstances(request_spec=env.spec([u])))
    assert env.row(u)["vm_state"] == s.DELETED
    assert env.fault(u) is None


def test_reschedule_tries_other_hosts_then_errors_after_max_attempts(env: Env) -> None:
    (u,) = env.new_instances(1)
    env.conductor.build_instances(env.ctx, BuildInstances(request_spec=env.spec([u]),
                                                          admin_passwords={u: "pw"}))
    tried = [env.wait_builds(1)[-1][0]]
    for n in (2, 3):
        env.fail_build(u, tried[-1], reason=f"failure {n - 1}", password="pw")
        host, req = env.wait_builds(n)[-1]
        assert req.admin_password == "pw"
        assert req.request_spec.ignore_hosts == tried
        tried.append(host)
    assert tried == ["h1", "h2", "h3"]
    assert env.row(u)["attempts"] == tried
    # The third failure exhausts max_attempts = 3.
    env.fail_build(u, "h3", reason="failure 3")
    row = env.row(u)
    assert (row["vm_state"], row["task_state"]) == (s.ERROR, None)
    fault = env.fault(u)
    assert fault is not None
    assert fault["message"].startswith("Exceeded maximum number of retries.")
    assert "Last error: failure 3" in fault["message"] and fault["code"] == 500
    assert len(env.builds) == 3
    assert len(env.scheduler.requests) == 3


@pytest.mark.parametrize("env", [{"max_attempts": 2}], indirect=True)
def test_max_attempts_counts_every_host_tried(env: Env) -> None:
    (u,) = env.new_instances(1)
    env.conductor.build_instances(env.ctx, BuildInstances(request_spec=env.spec([u])))
    env.wait_builds(1)
    env.fail_build(u, "h1")
    env.wait_builds(2)
    env.fail_build(u, "h2", reason="again")
    assert env.row(u)["vm_state"] == s.ERROR
    assert len(env.builds) == 2


@pytest.mark.parametrize("env", [{"hosts": ("h1", "h2")}], indirect=True)
def test_no_host_left_to_try_is_reported_as_exhausted_retries(env: Env) -> None:
    (u,) = env.new_instances(1)
    env.conductor.build_instances(env.ctx, BuildInstances(request_spec=env.spec([u])))
    env.wait_builds(1)
    env.fail_build(u, "h1")
    env.wait_builds(2)
    env.fail_build(u, "h2", reason="disk full")
    assert env.row(u)["vm_state"] == s.ERROR
    fault = env.fault(u)
    assert fault is not None
    assert fault["message"].startswith("Exceeded maximum number of retries.")
    assert "disk full" in fault["message"]
    assert env.scheduler.requests[-1].ignore_hosts == ["h1", "h2"]


@pytest.mark.parametrize("change", [
    {"vm_state": s.DELETED, "task_state": None, "deleted": True},
    {"vm_state": s.ERROR, "task_state": None},
])
def test_reschedule_of_an_instance_no_longer_building_does_nothing(
        env: Env, change: dict[str, Any]) -> None:
    (u,) = env.new_instances(1)
    with env.db.write() as conn:
        inst_db.transition(conn, u, change)
    env.conductor.reschedule(env.ctx, Reschedule(
        instance_uuid=u, request_spec=env.spec([u]), failed_host="h1", reason="x"))
    assert env.scheduler.requests == []
    assert env.fault(u) is None
    assert env.row(u)["vm_state"] == change["vm_state"]
