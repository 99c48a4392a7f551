"""The conductor's part of a rebuild with a new image: ask the scheduler whether the
instance's host accepts it, then cast to compute, or undo the rebuild (ERROR, old
image back, fault, event in error).

Real pieces: a SQLite database synced by the migrations, the conductor, the
in-process transport. The scheduler and the compute host are fakes on the transport.
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

from novalith.compute.rpcapi import SURFACE as COMPUTE
from novalith.compute.rpcapi import RebuildInstance
from novalith.conductor.manager import ConductorManager
from novalith.conductor.rpcapi import PreviousImage, RebuildServer
from novalith.conf import make_conf
from novalith.db import instances as inst_db
from novalith.db import migration
from novalith.db.api import Database
from novalith.db.engine import sqlite_url
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, ImageMeta
from novalith.rpc.dispatch import Dispatcher
from novalith.rpc.inproc import InprocTransport
from novalith.rpc.transport import RPCServer
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER
from novalith.scheduler.rpcapi import CheckHost, HostCheck

FLAVOR = FlavorSpec(flavorid="1", name="m1.tiny", memory_mb=512, vcpus=1, root_gb=1)
OLD = ImageMeta(id="old-image", name="busybox", disk_format="raw", container_format="docker",
                properties={"hypervisor_type": "docker"})
NEW = ImageMeta(id="new-image", name="cirros", disk_format="qcow2", container_format="bare",
                properties={"hypervisor_type": "qemu"})
PREVIOUS = PreviousImage(image_ref=OLD.id, kernel_id="k-old", ramdisk_id=None, meta=OLD)


class FakeScheduler:
    def __init__(self) -> None:
        self.checks: list[CheckHost] = []
        self.failure: str | None = None
        self.during_check: Any = None  # called inside check_host, to race it

    def check_host(self, ctx: RequestContext, req: CheckHost) -> HostCheck:
        self.checks.append(req)
        if self.during_check is not None:
            self.during_check()
        return HostCheck(failure=self.failure)


class FakeCompute:
    def __init__(self, host: str, sink: list[tuple[str, RebuildInstance]],
                 arrived: threading.Condition) -> None:
        self.host, self.sink, self.arrived = host, sink, arrived

    def rebuild_instance(self, ctx: RequestContext, req: RebuildInstance) -> None:
        with self.arrived:
            self.sink.append((self.host, req))
            self.arrived.notify_all()


class Env:
    def __init__(self, tmp_path: Path) -> None:
        conf = make_conf([], {"DEFAULT": {"host": "cond-1", "state_path": str(tmp_path),
                                          "report_interval": 3600,
                                          "rpc_response_timeout": 5}})
        self.db = Database(sqlite_url(str(tmp_path)))
        migration.sync(self.db)
        self.transport = InprocTransport()
        self.scheduler = FakeScheduler()
        self.casts: list[tuple[str, RebuildInstance]] = []
        self.arrived = threading.Condition()
        self.servers: list[RPCServer] = [
            Dispatcher(SCHEDULER, self.scheduler).serve(self.transport, "sched-1", 1),
            Dispatcher(COMPUTE, FakeCompute("h1", self.casts, self.arrived))
            .serve(self.transport, "h1", 1)]
        self.conductor = ConductorManager(conf, self.db, self.transport)
        self.ctx = RequestContext(request_id="req-rebuild", user_id="u1", project_id="p1",
                                  roles=("member",))

    def close(self) -> None:
        self.conductor.stop()
        for server in self.servers:
            server.stop()
        self.db.dispose()

    def rebuilding(self, vm_state: str = s.ACTIVE, meta: ImageMeta = NEW) -> str:
        """An instance on h1 as the API leaves it: the new image written, task rebuilding,
        the rebuild action started."""
        u = str(uuid.uuid4())
        row = {"uuid": u, "display_name": "vm", "hostname": "vm", "user_id": "u1",
               "project_id": "p1", "flavor_id": 1, "flavor": msgspec.to_builtins(FLAVOR),
               "vcpus": 1, "memory_mb": 512, "root_gb": 1, "vm_state": vm_state,
               "task_state": s.REBUILDING, "host": "h1", "node": "h1-node", "attempts": [],
               "reservation_id": "r-1", "launch_index": 0, "deleted": False,
               "image_ref": meta.id, "kernel_id": None, "ramdisk_id": None,
               "system_metadata": {"image": msgspec.to_builtins(meta),
                                   "injected_files": [["/etc/motd", "aGk="]]}}
        with self.db.write() as conn:
            inst_db.create(conn, [row], self.ctx)
            conn.execute(sa.delete(inst_db.ACTION).where(inst_db.ACTION.c.instance_uuid == u))
            inst_db.start_action(conn, u, "rebuild", self.ctx)
        return u

    def rebuild(self, u: str, previous: PreviousImage | None = PREVIOUS) -> None:
        self.conductor.rebuild_server(self.ctx, RebuildServer(
            instance_uuid=u, admin_password="pw", previous_image=previous))

    def wait_casts(self, n: int) -> list[tuple[str, RebuildInstance]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.casts) >= n, 5), self.casts
            return list(self.casts)

    def row(self, u: str) -> dict[str, Any]:
        with self.db.read() as conn:
            got = inst_db.get(conn, u, read_deleted=True)
        assert got is not None
        return dict(got)

    def fault(self, u: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            got = inst_db.latest_faults(conn, [u]).get(u)
        return None if got is None else dict(got)

    def action_and_events(self, u: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        with self.db.read() as conn:
            act = dict(conn.execute(sa.select(inst_db.ACTION).where(
                inst_db.ACTION.c.instance_uuid == u)).mappings().one())
            events = [(e["event"], e["result"]) for e in conn.execute(
                sa.select(inst_db.EVENT).where(inst_db.EVENT.c.action_id == act["id"]))
                .mappings()]
        return act, events


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


def test_an_accepted_image_goes_to_the_instances_host(env: Env) -> None:
    u = env.rebuilding()
    env.rebuild(u)
    ((host, req),) = env.wait_casts(1)
    assert (host, req.instance_uuid, req.admin_password) == ("h1", u, "pw")
    (check,) = env.scheduler.checks
    spec = check.request_spec
    assert (spec.requested_host, spec.requested_node, spec.ignore_hosts) == ("h1", "h1-node",
                                                                             [])
    assert spec.image == NEW and spec.flavor == FLAVOR
    row = env.row(u)
    assert (row["vm_state"], row["task_state"], row["image_ref"]) == (s.ACTIVE, s.REBUILDING,
                                                                      NEW.id)
    act, events = env.action_and_events(u)
    assert events == [("conductor_rebuild_server", "Success")]
    assert act["message"] is None and act["finish_time"] is None  # compute finishes it
    assert env.fault(u) is None


@pytest.mark.parametrize("was", [s.ACTIVE, s.STOPPED])
def test_a_refused_image_is_undone_and_the_instance_errors(env: Env, was: str) -> None:
    env.scheduler.failure = "the server's host does not pass ImagePropertiesFilter"
    u = env.rebuilding(vm_state=was)
    env.rebuild(u)
    row = env.row(u)
    assert (row["vm_state"], row["task_state"]) == (s.ERROR, None)
    assert (row["image_ref"], row["kernel_id"], row["ramdisk_id"]) == (OLD.id, "k-old", None)
    assert row["system_metadata"] == {"image": msgspec.to_builtins(OLD),
                                      "injected_files": [["/etc/motd", "aGk="]]}
    fault = env.fault(u)
    assert fault is not None
    assert fault["message"] == ("No valid host was found. Image new-image is unacceptable: "
                                "the server's host does not pass ImagePropertiesFilter.")
    assert (fault["code"], fault["host"]) == (500, "cond-1")
    act, events = env.action_and_events(u)
    assert act["message"] == "Error"
    assert events == [("conductor_rebuild_server", "Error")]
    assert env.casts == []


def test_an_unreachable_scheduler_refuses_the_rebuild(env: Env) -> None:
    env.servers[0].stop()
    u = env.rebuilding()
    env.rebuild(u)
    row = env.row(u)
    assert (row["vm_state"], row["task_state"], row["image_ref"]) == (s.ERROR, None, OLD.id)
    fault = env.fault(u)
    assert fault is not None and "scheduler" in fault["message"]
    assert env.action_and_events(u)[0]["message"] == "Error"
    assert env.casts == []


def test_a_same_image_rebuild_skips_the_check(env: Env) -> None:
    u = env.rebuilding(meta=OLD)
    env.rebuild(u, previous=None)
    ((host, req),) = env.wait_casts(1)
    assert (host, req.instance_uuid) == ("h1", u)
    assert env.scheduler.checks == []
    assert env.action_and_events(u)[1] == []


def test_a_server_without_an_image_before_gets_none_back(env: Env) -> None:
    env.scheduler.failure = "no"
    u = env.rebuilding()
    env.rebuild(u, previous=PreviousImage(image_ref="", meta=None))
    row = env.row(u)
    assert (row["vm_state"], row["image_ref"]) == (s.ERROR, "")
    assert "image" not in row["system_metadata"]


def test_a_refusal_never_overwrites_an_instance_that_moved_on(env: Env) -> None:
    env.scheduler.failure = "no"
    u = env.rebuilding()

    def delete() -> None:
        with env.db.write() as conn:
            inst_db.transition(conn, u, {"vm_state": s.DELETED, "task_state": None,
                                         "deleted": True})

    env.scheduler.during_check = delete
    env.rebuild(u)
    row = env.row(u)
    assert (row["vm_state"], row["image_ref"]) == (s.DELETED, NEW.id)
    assert env.fault(u) is None
    assert env.casts == []
