"""The compute service end to end on one host: build, power actions, delete, reconcile.

Real pieces: a SQLite database in tmp_path synced by the migrations, the fake
driver, the in-process transport. The conductor and the scheduler are small fakes
registered on the transport that record what compute sends them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa

from novalith import exceptions
from novalith.compute import reconcile
from novalith.compute import state_machine as sm
from novalith.compute.instance_spec import from_row
from novalith.compute.manager import ComputeManager
from novalith.compute.rpcapi import SURFACE as COMPUTE
from novalith.compute.rpcapi import BuildAndRun, ConsoleOutput, InstanceOp
from novalith.conductor.rpcapi import SURFACE as CONDUCTOR
from novalith.conductor.rpcapi import BuildInstances, Reschedule
from novalith.conf import make_conf
from novalith.db import claims, migration
from novalith.db import instances as inst_db
from novalith.db import services as svc_db
from novalith.db.api import Database
from novalith.db.engine import sqlite_url
from novalith.db.models import ComputeNode
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec, RequestSpec
from novalith.objects.states import PowerState
from novalith.rpc.dispatch import Dispatcher, RPCClient
from novalith.rpc.inproc import InprocTransport
from novalith.rpc.transport import RPCServer
from novalith.scheduler.rpcapi import SURFACE as SCHEDULER
from novalith.scheduler.rpcapi import RefreshHost, SelectAndClaim, SelectAndClaimResult
from novalith.virt.fake import FakeDriver

HOST = "c1"
FLAVOR = FlavorSpec(flavorid="1", name="m1.tiny", memory_mb=512, vcpus=1, root_gb=1, swap=512)
IMAGE = ImageMeta(id="img-1", name="cirros", disk_format="qcow2")
CN = ComputeNode.__table__
USED = ("vcpus_used", "memory_mb_used", "local_gb_used", "running_vms")


class Recorder:
    """A fake conductor and scheduler: records what arrives, in arrival order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._cond = threading.Condition()

    def _record(self, name: str, req: Any) -> None:
        with self._cond:
            self.calls.append((name, req))
            self._cond.notify_all()

    def wait_for(self, name: str, timeout: float = 5.0) -> Any:
        with self._cond:
            assert self._cond.wait_for(
                lambda: any(n == name for n, _ in self.calls), timeout), f"no {name} arrived"
            return next(r for n, r in self.calls if n == name)

    def named(self, name: str) -> list[Any]:
        with self._cond:
            return [r for n, r in self.calls if n == name]

    # conductor
    def reschedule(self, ctx: RequestContext, req: Reschedule) -> None:
        self._record("reschedule", req)

    def build_instances(self, ctx: RequestContext, req: BuildInstances) -> None:
        self._record("build_instances", req)

    # scheduler
    def refresh_host(self, ctx: RequestContext, req: RefreshHost) -> None:
        self._record("refresh_host", req)

    def select_and_claim(self, ctx: RequestContext, req: SelectAndClaim
                         ) -> SelectAndClaimResult:
        self._record("select_and_claim", req)
        return SelectAndClaimResult()


class Harness:
    """One compute host and its surroundings; ``start()`` runs the real start-up."""

    def __init__(self, tmp_path: Path, fake_driver: dict[str, Any]) -> None:
        self.conf = make_conf([], {
            "DEFAULT": {"host": HOST, "state_path": str(tmp_path), "report_interval": 3600,
                        "update_resources_interval": 3600, "sync_power_state_interval": -1,
                        "rpc_response_timeout": 10, "reserved_host_memory_mb": 0,
                        "ram_allocation_ratio": 1.0},
            "fake_driver": {"vcpus": 8, "memory_mb": 8192, "local_gb": 100, **fake_driver},
        })
        self.db = Database(sqlite_url(str(tmp_path)))
        migration.sync(self.db)
        self.transport = InprocTransport()
        self.recorder = Recorder()
        self._servers: list[RPCServer] = [
            Dispatcher(CONDUCTOR, self.recorder).serve(self.transport, "conductor-1", 1),
            Dispatcher(SCHEDULER, self.recorder).serve(self.transport, "scheduler-1", 1),
        ]
        self.manager = ComputeManager(self.conf, self.db, self.transport, host=HOST)
        self.client = RPCClient(self.transport, COMPUTE, timeout=10)
        self.started = False

    @property
    def driver(self) -> FakeDriver:
        driver = self.manager.deps.driver
        assert isinstance(driver, FakeDriver)
        return driver

    @property
    def node_id(self) -> int:
        assert self.manager.deps.node_id is not None
        return self.manager.deps.node_id

    def prepare(self) -> None:
        """What start() does before it reconciles: connect, register, report the node."""
        self.driver.init_host()
        self.manager.service.register()
        self.manager.update_resources()

    def start(self) -> None:
        self.manager.start()
        self.started = True

    def close(self) -> None:
        if self.started:
            self.manager.stop()
        for server in self._servers:
            server.stop()
        self.db.dispose()

    # ---- instances ---------------------------------------------------------------------
    def new_instance(self, ctx: RequestContext, *, claim: bool = True,
                     host: str | None = None, **overrides: Any) -> str:
        """A row as the API writes it, claimed on this host as the scheduler does."""
        u = str(uuid.uuid4())
        values: dict[str, Any] = {
            "uuid": u, "display_name": "vm", "hostname": "vm", "user_id": "u1",
            "project_id": "p1", "image_ref": IMAGE.id, "flavor_id": 1,
            "flavor": msgspec.to_builtins(FLAVOR), "vcpus": FLAVOR.vcpus,
            "memory_mb": FLAVOR.memory_mb, "root_gb": FLAVOR.root_gb, "ephemeral_gb": 0,
            "swap": FLAVOR.swap, "vm_state": s.BUILDING, "task_state": s.SCHEDULING,
            "power_state": 0, "attempts": [], "metadata": {"k": "v"},
            "system_metadata": {"image": msgspec.to_builtins(IMAGE)}, "reservation_id": "r",
            "deleted": False,
        }
        with self.db.write() as conn:
            inst_db.create(conn, [values], ctx)
            if claim:
                assert claims.claim(conn, u, self.node_id, FLAVOR, HOST, HOST, "nova",
                                    [HOST]) == claims.CLAIMED
            later = dict(overrides)
            if host is not None:
                later["host"] = host
            if later:
                inst_db.transition(conn, u, later, allow_deleted=True)
        return u

    def row(self, u: str) -> dict[str, Any]:
        with self.db.read() as conn:
            got = inst_db.get(conn, u, read_deleted=True)
        assert got is not None
        return dict(got)

    def spec(self, u: str) -> InstanceSpec:
        return from_row(self.row(u))

    def used(self) -> dict[str, int]:
        with self.db.read() as conn:
            got = conn.execute(sa.select(*(CN.c[k] for k in USED))
                               .where(CN.c.id == self.node_id)).one()
        return dict(zip(USED, got, strict=True))

    def build(self, ctx: RequestContext, u: str, password: str | None = None,
              cast: bool = False) -> None:
        req = BuildAndRun(instance=self.spec(u), node_id=self.node_id, admin_password=password,
                          request_spec=RequestSpec(instance_uuids=[u], project_id="p1",
                                                   flavor=FLAVOR, image=IMAGE))
        if cast:
            self.client.cast(ctx, "build_and_run_instance", req, server=HOST)
        else:
            self.client.call(ctx, "build_and_run_instance", req, server=HOST)

    def act(self, ctx: RequestContext, u: str, action: str) -> bool:
        """Start ``action`` as the API does (state check + task in one UPDATE), then run it."""
        a = sm.ACTIONS[action]
        with self.db.write() as conn:
            started = inst_db.transition(conn, u, {"task_state": a.task_state},
                                         expected_vm=a.vm_states, expected_task=a.task_states)
            if started:
                inst_db.start_action(conn, u, a.record, ctx)
        if started:
            self.client.call(ctx, "run_instance_action",
                             InstanceOp(instance_uuid=u, action=action), server=HOST)
        return started

    def delete(self, ctx: RequestContext, u: str) -> None:
        with self.db.write() as conn:
            inst_db.transition(conn, u, {"task_state": s.DELETING})
            inst_db.start_action(conn, u, "delete", ctx)
        self.client.call(ctx, "terminate_instance",
                         InstanceOp(instance_uuid=u, action="delete"), server=HOST)

    def events(self, u: str) -> list[tuple[str, str | None]]:
        q = (sa.select(inst_db.EVENT.c.event, inst_db.EVENT.c.result)
             .join(inst_db.ACTION, inst_db.ACTION.c.id == inst_db.EVENT.c.action_id)
             .where(inst_db.ACTION.c.instance_uuid == u).order_by(inst_db.EVENT.c.id))
        with self.db.read() as conn:
            return [(r.event, r.result) for r in conn.execute(q)]

    def fault(self, u: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            got = inst_db.latest_faults(conn, [u]).get(u)
        return None if got is None else dict(got)


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**fake_driver: Any) -> Harness:
        harness = Harness(tmp_path, fake_driver)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def compute(make_harness: Callable[..., Harness]) -> Harness:
    harness = make_harness()
    harness.start()
    return harness


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(user_id="u1", project_id="p1", roles=("member",))


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def states(h: Harness, u: str) -> tuple[str, str | None, int]:
    r = h.row(u)
    return r["vm_state"], r["task_state"], r["power_state"]


# ---- start-up ------------------------------------------------------------------------------

def test_start_registers_the_service_and_reports_the_node(compute: Harness) -> None:
    with compute.db.read() as conn:
        (svc,) = svc_db.list_services(conn, host=HOST, binary="nova-compute")
        (node,) = svc_db.nodes_with_services(conn)
    assert svc["topic"] == "compute" and not svc["disabled"]
    assert (node["host"], node["hypervisor_hostname"], node["vcpus"], node["memory_mb"],
            node["local_gb"], node["hypervisor_type"]) == (HOST, HOST, 8, 8192, 100, "fake")
    assert node["ram_allocation_ratio"] == 1.0
    assert node["stats"]["driver"] == "fake"
    assert compute.used() == dict.fromkeys(USED, 0)
    assert compute.recorder.wait_for("refresh_host") == RefreshHost(host=HOST)


def test_update_resources_keeps_used_figures_owned_by_claims(compute: Harness,
                                                             ctx: RequestContext) -> None:
    compute.new_instance(ctx)
    before = compute.used()
    compute.manager.update_resources()
    assert compute.used() == before == {"vcpus_used": 1, "memory_mb_used": 512,
                                        "local_gb_used": 2, "running_vms": 1}


# ---- build ---------------------------------------------------------------------------------

def test_build_spawns_and_goes_active(compute: Harness, ctx: RequestContext) -> None:
    u = compute.new_instance(ctx)
    compute.build(ctx, u, password="pw")
    row = compute.row(u)
    assert states(compute, u) == (s.ACTIVE, None, PowerState.RUNNING)
    assert row["launched_at"] is not None and row["claim_node_id"] == compute.node_id
    assert compute.driver.list_instances() == [u]
    assert compute.driver.get_info(compute.spec(u)).power_state == PowerState.RUNNING
    assert compute.events(u) == [("compute__do_build_and_run_instance", "Success")]
    assert compute.recorder.named("reschedule") == []


def test_failed_spawn_cleans_up_and_asks_the_conductor_to_reschedule(
        make_harness: Callable[..., Harness], ctx: RequestContext) -> None:
    h = make_harness(spawn_fail_hosts=[HOST])
    h.start()
    u = h.new_instance(ctx)
    h.build(ctx, u, password="secret")
    req = h.recorder.wait_for("reschedule")
    assert (req.instance_uuid, req.failed_host, req.admin_password) == (u, HOST, "secret")
    assert "injected failure" in req.reason
    assert req.request_spec.instance_uuids == [u]
    row = h.row(u)
    # Back to the scheduler: nothing held here, the failed host remembered.
    assert (row["vm_state"], row["task_state"], row["host"], row["node"],
            row["claim_node_id"]) == (s.BUILDING, s.SCHEDULING, None, None, None)
    assert row["attempts"] == [HOST]
    assert h.used() == dict.fromkeys(USED, 0)
    assert h.driver.list_instances() == []
    assert h.events(u) == [("compute__do_build_and_run_instance", "Error")]


@pytest.mark.parametrize("change", [
    {"task_state": s.DELETING},
    {"vm_state": s.DELETED, "task_state": None, "deleted": True},
])
def test_build_of_an_instance_deleted_meanwhile_does_nothing(
        compute: Harness, ctx: RequestContext, change: dict[str, Any]) -> None:
    u = compute.new_instance(ctx)
    spec_req = compute.spec(u)
    with compute.db.write() as conn:
        inst_db.transition(conn, u, change)
    compute.client.call(ctx, "build_and_run_instance", BuildAndRun(
        instance=spec_req, node_id=compute.node_id,
        request_spec=RequestSpec(instance_uuids=[u], project_id="p1", flavor=FLAVOR)),
        server=HOST)
    assert compute.driver.list_instances() == []
    assert compute.row(u)["vm_state"] == change.get("vm_state", s.BUILDING)
    assert compute.events(u) == []


def test_delete_during_spawn_wins(make_harness: Callable[..., Harness],
                                  ctx: RequestContext) -> None:
    """The API sets deleting while the guest spawns: the build must not overwrite it."""
    h = make_harness(spawn_delay=0.3)
    h.start()
    u = h.new_instance(ctx)
    h.build(ctx, u, cast=True)
    wait_until(lambda: h.row(u)["task_state"] == s.SPAWNING)
    with h.db.write() as conn:
        assert inst_db.transition(conn, u, {"task_state": s.DELETING},
                                  expected_task=[s.SPAWNING])
        inst_db.start_action(conn, u, "delete", ctx)
    # terminate waits for the build's per-instance lock, then deletes.
    h.client.call(ctx, "terminate_instance", InstanceOp(instance_uuid=u, action="delete"),
                  server=HOST)
    row = h.row(u)
    assert (row["vm_state"], row["deleted"], row["claim_node_id"]) == (s.DELETED, True, None)
    assert h.driver.list_instances() == []
    assert h.used() == dict.fromkeys(USED, 0)


# ---- power actions -------------------------------------------------------------------------

@pytest.fixture
def active(compute: Harness, ctx: RequestContext) -> str:
    u = compute.new_instance(ctx)
    compute.build(ctx, u)
    return u


def test_every_action_reaches_its_done_state(compute: Harness, active: str,
                                             ctx: RequestContext) -> None:
    sequence = ["stop", "start", "pause", "unpause", "suspend", "resume", "reboot_soft",
                "stop", "reboot_hard", "pause", "reboot_hard"]
    for name in sequence:
        action = sm.ACTIONS[name]
        assert compute.act(ctx, active, name), name
        assert states(compute, active) == (action.done_vm_state, None,
                                           action.done_power_state), name
        info = compute.driver.get_info(compute.spec(active))
        assert info.power_state == action.done_power_state, name
    results = [r for _, r in compute.events(active)]
    assert results == ["Success"] * (len(sequence) + 1)
    assert [e for e, _ in compute.events(active)][1:] == [
        sm.ACTIONS[n].event for n in sequence]


def test_action_not_valid_in_the_current_state_is_refused(compute: Harness, active: str,
                                                          ctx: RequestContext) -> None:
    assert not compute.act(ctx, active, "start")
    assert not compute.act(ctx, active, "unpause")
    assert not compute.act(ctx, active, "resume")
    assert states(compute, active) == (s.ACTIVE, None, PowerState.RUNNING)


def test_superseded_action_does_nothing(compute: Harness, active: str,
                                        ctx: RequestContext) -> None:
    """The message arrives after another operation replaced the task state."""
    with compute.db.write() as conn:
        inst_db.transition(conn, active, {"task_state": s.DELETING})
    compute.client.call(ctx, "run_instance_action",
                        InstanceOp(instance_uuid=active, action="stop"), server=HOST)
    assert states(compute, active) == (s.ACTIVE, s.DELETING, PowerState.RUNNING)
    assert compute.driver.get_info(compute.spec(active)).power_state == PowerState.RUNNING


def test_failed_action_keeps_the_vm_state_and_records_the_real_power(
        compute: Harness, active: str, ctx: RequestContext) -> None:
    # The DB believes the guest is suspended; the hypervisor has it paused.
    compute.driver.pause(compute.spec(active))
    with compute.db.write() as conn:
        inst_db.transition(conn, active, {"vm_state": s.SUSPENDED,
                                          "power_state": PowerState.SUSPENDED})
    assert compute.act(ctx, active, "resume")
    assert states(compute, active) == (s.SUSPENDED, None, PowerState.PAUSED)
    fault = compute.fault(active)
    assert fault is not None and fault["code"] == 409 and fault["host"] == HOST
    assert compute.events(active)[-1] == ("compute_resume_instance", "Error")


def test_failed_reboot_leaves_error(compute: Harness, active: str,
                                    ctx: RequestContext) -> None:
    compute.driver.destroy(compute.spec(active))  # the guest vanished behind our back
    assert compute.act(ctx, active, "reboot_soft")
    vm, task, power = states(compute, active)
    assert (vm, task, power) == (s.ERROR, None, PowerState.RUNNING)
    fault = compute.fault(active)
    assert fault is not None and fault["code"] == 404
    # Hard reboot is allowed from ERROR, but the guest is still gone.
    assert compute.act(ctx, active, "reboot_hard")
    assert states(compute, active)[:2] == (s.ERROR, None)


# ---- delete --------------------------------------------------------------------------------

def test_terminate_destroys_releases_and_marks_deleted(compute: Harness, active: str,
                                                       ctx: RequestContext) -> None:
    keep = compute.new_instance(ctx)
    compute.build(ctx, keep)
    compute.delete(ctx, active)
    row = compute.row(active)
    assert (row["vm_state"], row["task_state"], row["power_state"], row["deleted"],
            row["claim_node_id"]) == (s.DELETED, None, PowerState.NOSTATE, True, None)
    assert row["deleted_at"] is not None and row["terminated_at"] is not None
    assert compute.driver.list_instances() == [keep]
    assert compute.used() == {"vcpus_used": 1, "memory_mb_used": 512, "local_gb_used": 2,
                              "running_vms": 1}
    assert compute.events(active)[-1] == ("compute_terminate_instance", "Success")
    # A repeated terminate (a retried message) changes nothing.
    compute.client.call(ctx, "terminate_instance",
                        InstanceOp(instance_uuid=active, action="delete"), server=HOST)
    assert compute.used()["running_vms"] == 1


def test_terminate_of_a_building_instance_releases_its_claim(compute: Harness,
                                                             ctx: RequestContext) -> None:
    u = compute.new_instance(ctx)
    compute.delete(ctx, u)
    assert compute.row(u)["deleted"] is True
    assert compute.used() == dict.fromkeys(USED, 0)


def test_failed_destroy_leaves_error_with_a_fault(compute: Harness, active: str,
                                                  ctx: RequestContext) -> None:
    compute.driver.cleanup_host()  # the hypervisor connection is gone
    try:
        compute.delete(ctx, active)
    finally:
        compute.driver.init_host()
    row = compute.row(active)
    assert (row["vm_state"], row["task_state"], row["deleted"]) == (s.ERROR, None, False)
    assert row["claim_node_id"] == compute.node_id  # still holds its resources
    fault = compute.fault(active)
    assert fault is not None and "not connected" in fault["message"]
    assert compute.events(active)[-1] == ("compute_terminate_instance", "Error")


# ---- console -------------------------------------------------------------------------------

def test_console_output_tail(compute: Harness, active: str, ctx: RequestContext) -> None:
    compute.act(ctx, active, "reboot_soft")
    full = compute.client.call(ctx, "get_console_output",
                               ConsoleOutput(instance_uuid=active), server=HOST).output
    assert full.splitlines() == ["fake console: booted 1 times", "fake console: soft reboot",
                                 "fake console: booted 2 times"]
    last = compute.client.call(ctx, "get_console_output",
                               ConsoleOutput(instance_uuid=active, length=1), server=HOST)
    assert last.output == "fake console: booted 2 times"
    none = compute.client.call(ctx, "get_console_output",
                               ConsoleOutput(instance_uuid=active, length=0), server=HOST)
    assert none.output == ""


def test_console_output_of_a_missing_instance_is_not_found(compute: Harness,
                                                           ctx: RequestContext) -> None:
    with pytest.raises(exceptions.InstanceNotFound):
        compute.client.call(ctx, "get_console_output",
                            ConsoleOutput(instance_uuid=str(uuid.uuid4())), server=HOST)


# ---- reconcile -----------------------------------------------------------------------------

def _orphan(uuid_: str) -> InstanceSpec:
    return InstanceSpec(uuid=uuid_, id=999, name="instance-000003e7", display_name="orphan",
                        hostname="orphan", project_id="p1", user_id="u1", flavor=FLAVOR)


def test_reconcile_at_startup(make_harness: Callable[..., Harness],
                              ctx: RequestContext) -> None:
    h = make_harness()
    h.prepare()
    driver = h.driver
    # Left mid-build by the crash (the guest half made).
    spawning = h.new_instance(ctx, task_state=s.SPAWNING)
    driver.spawn(h.spec(spawning), None)
    # Never reached us before the crash.
    scheduling = h.new_instance(ctx)
    # Mid-delete.
    deleting = h.new_instance(ctx, vm_state=s.ACTIVE, task_state=s.DELETING,
                              power_state=PowerState.RUNNING)
    driver.spawn(h.spec(deleting), None)
    # Active, but the guest shut itself down while we were away.
    shut = h.new_instance(ctx, vm_state=s.ACTIVE, task_state=None,
                          power_state=PowerState.RUNNING)
    driver.spawn(h.spec(shut), None)
    driver.power_off(h.spec(shut))
    # Mid-stop: the driver finished it, we did not record it.
    stopping = h.new_instance(ctx, vm_state=s.ACTIVE, task_state=s.POWERING_OFF,
                              power_state=PowerState.RUNNING)
    driver.spawn(h.spec(stopping), None)
    driver.power_off(h.spec(stopping))
    # Healthy.
    fine = h.new_instance(ctx, vm_state=s.ACTIVE, task_state=None,
                          power_state=PowerState.RUNNING)
    driver.spawn(h.spec(fine), None)
    # Another host's building instance is none of our business.
    elsewhere = h.new_instance(ctx, claim=False, host="c2", task_state=s.SPAWNING)
    # On the hypervisor with no instance row here.
    orphan = str(uuid.uuid4())
    driver.spawn(_orphan(orphan), None)

    h.start()

    assert states(h, spawning)[:2] == (s.ERROR, None)
    fault = h.fault(spawning)
    assert fault is not None and "restarted while building" in fault["message"]
    assert fault["host"] == HOST
    assert states(h, spawning)[2] == PowerState.NOSTATE
    assert h.row(spawning)["claim_node_id"] is None  # its claim is given back
    # Its build message may still be queued for us (RabbitMQ keeps the queue), else
    # the conductor's build watchdog sends it again: it keeps waiting, claim and all.
    assert states(h, scheduling)[:2] == (s.BUILDING, s.SCHEDULING)
    assert h.row(scheduling)["claim_node_id"] == h.node_id and h.fault(scheduling) is None
    row = h.row(deleting)
    assert (row["vm_state"], row["deleted"], row["claim_node_id"]) == (s.DELETED, True, None)
    assert states(h, shut) == (s.STOPPED, None, PowerState.SHUTDOWN)
    assert states(h, stopping) == (s.STOPPED, None, PowerState.SHUTDOWN)
    assert states(h, fine) == (s.ACTIVE, None, PowerState.RUNNING)
    assert states(h, elsewhere)[:2] == (s.BUILDING, s.SPAWNING)
    assert h.fault(elsewhere) is None
    assert sorted(driver.list_instances()) == sorted([shut, stopping, fine])
    # Released: the deleted one and the errored build. Still held: the build waiting
    # for its message and the live guests.
    assert h.used()["running_vms"] == 4


def test_reconcile_keeps_going_when_a_destroy_fails(make_harness: Callable[..., Harness],
                                                    ctx: RequestContext,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    h = make_harness()
    h.prepare()
    deleting = h.new_instance(ctx, vm_state=s.ACTIVE, task_state=s.DELETING)
    spawning = h.new_instance(ctx, task_state=s.SPAWNING)

    def broken(instance: InstanceSpec, destroy_disks: bool = True) -> None:
        raise exceptions.ServiceUnavailable("hypervisor hiccup")

    monkeypatch.setattr(h.driver, "destroy", broken)
    reconcile.at_startup(h.manager.deps)
    assert h.row(deleting)["deleted"] is True
    assert states(h, spawning)[:2] == (s.ERROR, None)


def test_power_sync(make_harness: Callable[..., Harness], ctx: RequestContext) -> None:
    # The periodic sync alone: the driver's reports are not applied at once here
    # (that path is tests/unit/compute/test_power_sync.py).
    compute = make_harness()
    compute.manager.deps.config = dataclasses.replace(compute.manager.deps.config,
                                                      handle_virt_lifecycle_events=False)
    compute.start()
    uuids = {}
    for name in ("shutdown", "crashed", "paused", "busy", "stopped_running"):
        u = compute.new_instance(ctx)
        compute.build(ctx, u)
        uuids[name] = u
    d = compute.driver
    d.simulate_power_change(uuids["shutdown"], PowerState.SHUTDOWN)
    d.simulate_power_change(uuids["crashed"], PowerState.CRASHED)
    d.simulate_power_change(uuids["paused"], PowerState.PAUSED)
    d.simulate_power_change(uuids["busy"], PowerState.SHUTDOWN)
    with compute.db.write() as conn:
        inst_db.transition(conn, uuids["busy"], {"task_state": s.REBOOTING})
    assert compute.act(ctx, uuids["stopped_running"], "stop")
    d.power_on(compute.spec(uuids["stopped_running"]))  # someone started it out of band

    reconcile.sync_power_states(compute.manager.deps)

    assert states(compute, uuids["shutdown"]) == (s.STOPPED, None, PowerState.SHUTDOWN)
    assert states(compute, uuids["crashed"]) == (s.STOPPED, None, PowerState.CRASHED)
    # Only the power state is recorded where no stop is implied.
    assert states(compute, uuids["paused"]) == (s.ACTIVE, None, PowerState.PAUSED)
    # A guest running against a STOPPED instance is powered off, as Nova does.
    assert states(compute, uuids["stopped_running"]) == (s.STOPPED, None, PowerState.SHUTDOWN)
    assert d.get_info(compute.spec(uuids["stopped_running"])).power_state == PowerState.SHUTDOWN
    # An instance with an operation in flight is left to that operation.
    assert states(compute, uuids["busy"]) == (s.ACTIVE, s.REBOOTING, PowerState.RUNNING)


# ---- regressions ---------------------------------------------------------------------------

def test_failed_spawn_while_deleting_is_not_rescheduled(make_harness: Callable[..., Harness],
                                                        ctx: RequestContext) -> None:
    """A delete that lands during a spawn that then fails: the claim stays for the
    terminate to release, and the instance is not handed back to the scheduler."""
    h = make_harness(spawn_fail_hosts=[HOST], spawn_delay=0.3)
    h.start()
    u = h.new_instance(ctx)
    h.build(ctx, u, cast=True)
    wait_until(lambda: h.row(u)["task_state"] == s.SPAWNING)
    with h.db.write() as conn:
        assert inst_db.transition(conn, u, {"task_state": s.DELETING},
                                  expected_task=[s.SPAWNING])
        inst_db.start_action(conn, u, "delete", RequestContext())  # its own request id
    wait_until(lambda: ("compute__do_build_and_run_instance", "Error") in h.events(u))
    assert h.recorder.named("reschedule") == []
    row = h.row(u)
    assert (row["host"], row["task_state"]) == (HOST, s.DELETING)
    assert row["claim_node_id"] == h.node_id
    h.client.call(ctx, "terminate_instance", InstanceOp(instance_uuid=u, action="delete"),
                  server=HOST)
    assert h.row(u)["deleted"] is True
    assert h.used() == dict.fromkeys(USED, 0)


def test_power_sync_leaves_an_active_instance_the_driver_lost(compute: Harness,
                                                              ctx: RequestContext) -> None:
    u = compute.new_instance(ctx)
    compute.build(ctx, u)
    compute.driver.destroy(compute.spec(u))
    reconcile.sync_power_states(compute.manager.deps)
    assert states(compute, u) == (s.ACTIVE, None, PowerState.NOSTATE)


def test_hard_reboot_may_interrupt_a_pause(compute: Harness, ctx: RequestContext) -> None:
    u = compute.new_instance(ctx)
    compute.build(ctx, u)
    with compute.db.write() as conn:
        inst_db.transition(conn, u, {"task_state": s.PAUSING})
    assert compute.act(ctx, u, "reboot_hard")
    assert states(compute, u) == (s.ACTIVE, None, PowerState.RUNNING)


def test_start_up_audit_recomputes_used_figures(make_harness: Callable[..., Harness],
                                                ctx: RequestContext) -> None:
    h = make_harness()
    h.prepare()
    u = h.new_instance(ctx)
    with h.db.write() as conn:  # figures drifted while the service was down
        conn.execute(sa.update(CN).where(CN.c.id == h.node_id)
                     .values(vcpus_used=99, memory_mb_used=99999, local_gb_used=999))
    h.start()
    assert h.used() == {"vcpus_used": FLAVOR.vcpus, "memory_mb_used": FLAVOR.memory_mb,
                        "local_gb_used": claims.disk_gb(FLAVOR), "running_vms": 1}
    assert h.row(u)["claim_node_id"] == h.node_id


# ---- build messages that arrive twice, late, or for an instance that moved (issue 6) ------

def test_a_duplicate_build_message_builds_once(compute: Harness, ctx: RequestContext) -> None:
    """Casts can arrive twice (a redelivery, the conductor's watchdog re-sending)."""
    u = compute.new_instance(ctx)
    compute.build(ctx, u)
    compute.build(ctx, u)
    assert compute.driver.list_instances() == [u]
    assert compute.row(u)["vm_state"] == s.ACTIVE
    assert compute.events(u) == [("compute__do_build_and_run_instance", "Success")]


def test_a_build_for_an_instance_now_claimed_elsewhere_builds_nothing(
        compute: Harness, ctx: RequestContext) -> None:
    """A late message: meanwhile the instance was rescheduled to another host."""
    u = compute.new_instance(ctx, host="c2")
    compute.build(ctx, u)
    assert compute.driver.list_instances() == []
    assert (compute.row(u)["task_state"], compute.row(u)["host"]) == (s.SCHEDULING, "c2")
    assert compute.events(u) == []


def test_an_instance_moved_away_while_spawning_is_destroyed_here(
        make_harness: Callable[..., Harness], ctx: RequestContext) -> None:
    """The watchdog thought this host dead and rescheduled the build elsewhere: the
    guest this host finishes anyway must not stay behind."""
    h = make_harness(spawn_delay=0.3)
    h.start()
    u = h.new_instance(ctx)
    h.build(ctx, u, cast=True)
    wait_until(lambda: h.row(u)["task_state"] == s.SPAWNING)
    with h.db.write() as conn:  # what the watchdog does, then the other host claims it
        assert inst_db.transition(conn, u, {"task_state": s.SCHEDULING},
                                  expected_task=[s.SPAWNING])
        claims.release(conn, u, clear_host=True)
        inst_db.transition(conn, u, {"host": "c2"})
    wait_until(lambda: h.driver.list_instances() == [] and not h.driver._building)
    assert (h.row(u)["task_state"], h.row(u)["host"]) == (s.SCHEDULING, "c2")
    assert h.used() == dict.fromkeys(USED, 0)
