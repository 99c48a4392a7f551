"""The late server-group check at the start of a build (compute.group_policy).

The decision itself is a pure function; the rest runs the real compute service on
one host (``c1``) against SQLite, with a fake conductor recording reschedules.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from test_compute_manager import (
    FLAVOR,
    HOST,
    USED,
    Harness,
    make_harness,  # noqa: F401 (fixture)
    wait_until,
)

from novalith.compute import group_policy
from novalith.compute.config import ComputeConfig
from novalith.compute.rpcapi import BuildAndRun
from novalith.conf import make_conf
from novalith.db import instances as inst_db
from novalith.db import server_groups as group_db
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.specs import RequestSpec

ANTI = group_policy.VIOLATED["anti-affinity"]
AFF = group_policy.VIOLATED["affinity"]
EVENT = "compute__do_build_and_run_instance"
CTX = RequestContext(user_id="u1", project_id="p1", roles=("member",))


# ---- the decision ------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "others", "expected"), [
    ("anti-affinity", set(), None),
    ("anti-affinity", {"c2", "c3"}, None),
    ("anti-affinity", {"c1"}, ANTI),
    ("anti-affinity", {"c2", "c1"}, ANTI),
    ("affinity", set(), None),  # the first member goes anywhere
    ("affinity", {"c1"}, None),
    ("affinity", {"c2"}, AFF),
    ("affinity", {"c1", "c2"}, None),  # as the filter: joining any member's host passes
    ("soft-anti-affinity", {"c1"}, None),  # soft policies only weigh
    ("soft-affinity", {"c2"}, None),
])
def test_violation(policy: str, others: set[str], expected: str | None) -> None:
    assert group_policy.violation(policy, "c1", others) == expected


def test_nova_wording() -> None:
    assert ANTI == "Anti-affinity instance group policy was violated."
    assert AFF == "Affinity instance group policy was violated."


def test_the_workaround_option_is_read_and_off_by_default() -> None:
    assert ComputeConfig.from_conf(make_conf()).disable_group_policy_check_upcall is False
    conf = make_conf([], {"workarounds": {"disable_group_policy_check_upcall": True}})
    assert ComputeConfig.from_conf(conf).disable_group_policy_check_upcall is True


# ---- on a compute host -------------------------------------------------------------------

@pytest.fixture
def compute(make_harness: Callable[..., Harness]) -> Harness:  # noqa: F811
    harness = make_harness()
    harness.start()
    return harness


def _group(h: Harness, policy: str) -> tuple[int, str]:
    with h.db.write() as conn:
        uuid = group_db.create(conn, {"name": "g", "policy": policy, "project_id": "p1",
                                      "user_id": "u1"})
        row = group_db.get(conn, uuid)
    assert row is not None
    return int(row["id"]), uuid


def _member(h: Harness, group_id: int, **kwargs: Any) -> str:
    u = h.new_instance(CTX, **kwargs)
    with h.db.write() as conn:
        group_db.add_members(conn, group_id, [u])
    return u


def _placed(h: Harness, group_id: int, host: str | None = HOST,
            **changes: Any) -> str:
    """A member some host has taken on (ACTIVE there), without a claim on c1."""
    values: dict[str, Any] = {"vm_state": s.ACTIVE, "task_state": None, **changes}
    return _member(h, group_id, claim=False, host=host, **values)


def _request(h: Harness, u: str, group_uuid: str | None) -> BuildAndRun:
    hints = {"group": group_uuid} if group_uuid else {}
    return BuildAndRun(instance=h.spec(u), node_id=h.node_id, request_spec=RequestSpec(
        instance_uuids=[u], project_id="p1", flavor=FLAVOR, scheduler_hints=hints))


def _build(h: Harness, u: str, group_uuid: str | None) -> None:
    h.client.call(CTX, "build_and_run_instance", _request(h, u, group_uuid), server=HOST)


def _assert_refused(h: Harness, u: str, reason: str) -> None:
    # The reschedule is a cast: it reaches the (fake) conductor on its own thread.
    wait_until(lambda: any(r.instance_uuid == u for r in h.recorder.named("reschedule")))
    req = next(r for r in h.recorder.named("reschedule") if r.instance_uuid == u)
    assert req.failed_host == HOST
    assert req.reason == reason
    row = h.row(u)
    # Back to the scheduler with nothing held here and this host remembered as tried.
    assert (row["vm_state"], row["task_state"], row["host"], row["node"],
            row["claim_node_id"]) == (s.BUILDING, s.SCHEDULING, None, None, None)
    assert row["attempts"] == [HOST]
    assert u not in h.driver.list_instances()
    assert h.events(u) == [(EVENT, "Error")]
    assert h.fault(u) is None  # a reschedule, not a failure (the conductor writes that)


def test_anti_affinity_member_already_here_refuses_the_build(compute: Harness) -> None:
    gid, guuid = _group(compute, "anti-affinity")
    _placed(compute, gid)
    u = _member(compute, gid)
    _build(compute, u, guuid)
    _assert_refused(compute, u, ANTI)
    assert compute.used() == dict.fromkeys(USED, 0)  # the claim went back
    with compute.db.read() as conn:
        traceback = conn.execute(
            sa.select(inst_db.EVENT.c.traceback)
            .join(inst_db.ACTION, inst_db.ACTION.c.id == inst_db.EVENT.c.action_id)
            .where(inst_db.ACTION.c.instance_uuid == u)).scalar_one()
    assert f"Rescheduled: Build of instance {u} was re-scheduled: {ANTI}" in traceback


def test_anti_affinity_members_elsewhere_or_gone_do_not_count(compute: Harness) -> None:
    gid, guuid = _group(compute, "anti-affinity")
    _placed(compute, gid, host="c2")
    _placed(compute, gid, vm_state=s.DELETED, deleted=True)
    _placed(compute, gid, host=None, vm_state=s.ERROR)  # never placed anywhere
    u = _member(compute, gid)
    _build(compute, u, guuid)
    assert compute.row(u)["vm_state"] == s.ACTIVE
    assert compute.driver.list_instances() == [u]
    assert compute.recorder.named("reschedule") == []


def test_a_member_waiting_for_its_own_build_is_checked_then(compute: Harness) -> None:
    """Two members claimed on one host (two schedulers that did not see each other):
    the first build to start wins, the other is refused when its build starts."""
    gid, guuid = _group(compute, "anti-affinity")
    first, second = _member(compute, gid), _member(compute, gid)
    _build(compute, second, guuid)
    assert compute.row(second)["vm_state"] == s.ACTIVE
    _build(compute, first, guuid)
    _assert_refused(compute, first, ANTI)
    assert compute.driver.list_instances() == [second]


def test_concurrent_builds_of_one_group_on_one_host(compute: Harness) -> None:
    gid, guuid = _group(compute, "anti-affinity")
    members = [_member(compute, gid) for _ in range(4)]
    requests = [_request(compute, u, guuid) for u in members]
    gate = threading.Barrier(len(members))

    def build(req: BuildAndRun) -> None:
        gate.wait()
        compute.client.call(CTX, "build_and_run_instance", req, server=HOST)

    threads = [threading.Thread(target=build, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    active = [u for u in members if compute.row(u)["vm_state"] == s.ACTIVE]
    assert len(active) == 1 and compute.driver.list_instances() == active
    for u in set(members) - set(active):
        _assert_refused(compute, u, ANTI)


def test_affinity_member_on_another_host_refuses_the_build(compute: Harness) -> None:
    gid, guuid = _group(compute, "affinity")
    _placed(compute, gid, host="c2")
    u = _member(compute, gid)
    _build(compute, u, guuid)
    _assert_refused(compute, u, AFF)


def test_affinity_member_here_lets_the_build_go_on(compute: Harness) -> None:
    gid, guuid = _group(compute, "affinity")
    _placed(compute, gid)
    first = _member(compute, gid)
    _build(compute, first, guuid)  # the member here is the host to join
    # a member still waiting for its build on another host does not count yet
    _member(compute, gid, claim=False, host="c2")
    second = _member(compute, gid)
    _build(compute, second, guuid)
    assert [compute.row(u)["vm_state"] for u in (first, second)] == [s.ACTIVE] * 2


@pytest.mark.parametrize("policy", ["soft-anti-affinity", "soft-affinity"])
def test_soft_policies_are_not_checked(compute: Harness, policy: str) -> None:
    gid, guuid = _group(compute, policy)
    _placed(compute, gid)
    _placed(compute, gid, host="c2")
    u = _member(compute, gid)
    _build(compute, u, guuid)
    assert compute.row(u)["vm_state"] == s.ACTIVE


@pytest.mark.parametrize("how", ["workaround", "no hint"])
def test_check_skipped(make_harness: Callable[..., Harness], how: str) -> None:  # noqa: F811
    h = make_harness()
    if how == "workaround":
        h.manager.deps.config = dataclasses.replace(h.manager.deps.config,
                                                    disable_group_policy_check_upcall=True)
    h.start()
    gid, guuid = _group(h, "anti-affinity")
    _placed(h, gid)
    u = _member(h, gid)
    _build(h, u, None if how == "no hint" else guuid)
    assert h.row(u)["vm_state"] == s.ACTIVE
    assert h.recorder.named("reschedule") == []


def test_a_deleted_group_has_no_policy_left(compute: Harness) -> None:
    gid, guuid = _group(compute, "anti-affinity")
    _placed(compute, gid)
    u = _member(compute, gid)
    with compute.db.read() as conn:
        group = group_db.group_of(conn, u)
    assert group is not None
    with compute.db.write() as conn:
        group_db.remove(conn, gid)
        assert group_policy.check(conn, group, u, HOST) is None


# ---- moves: the destination is named, the moving instance left out ---------------------

@pytest.mark.parametrize(("policy", "others", "dest", "expected"), [
    ("anti-affinity", ["c2"], "c2", ANTI),
    ("anti-affinity", ["c2"], "c3", None),
    ("affinity", ["c2"], "c3", AFF),
    ("affinity", ["c2"], "c2", None),
    ("affinity", [], "c3", None),  # alone in its group: the mover itself does not count
    ("soft-anti-affinity", ["c2"], "c2", None),
])
def test_refuse_move(compute: Harness, policy: str, others: list[str], dest: str,
                     expected: str | None) -> None:
    gid, _ = _group(compute, policy)
    for host in others:
        _placed(compute, gid, host=host)
    mover = _placed(compute, gid, host="c1")
    assert group_policy.refuse_move(compute.manager.deps, mover, dest) == expected
    if policy == "anti-affinity":  # a resize on its own host: the mover is left out
        assert group_policy.refuse_move(compute.manager.deps, mover, "c1") is None


def test_refuse_move_respects_the_workaround(make_harness: Callable[..., Harness]  # noqa: F811
                                             ) -> None:
    h = make_harness()
    h.manager.deps.config = dataclasses.replace(h.manager.deps.config,
                                                disable_group_policy_check_upcall=True)
    h.start()
    gid, _ = _group(h, "anti-affinity")
    _placed(h, gid, host="c2")
    mover = _placed(h, gid, host="c1")
    assert group_policy.refuse_move(h.manager.deps, mover, "c2") is None
