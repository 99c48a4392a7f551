"""Instance rows: conditional transitions, faults, actions and their events."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from novalith import exceptions
from novalith.db import instances as inst_db
from novalith.db import migration
from novalith.db.api import Database
from novalith.db.engine import sqlite_url
from novalith.objects import states as s
from novalith.objects.context import RequestContext

CTX = RequestContext(request_id="req-create", user_id="u1", project_id="p1",
                     roles=("member",))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(sqlite_url(str(tmp_path)))
    migration.sync(database)
    yield database
    database.dispose()


def row(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "uuid": str(uuid.uuid4()), "display_name": "vm", "hostname": "vm", "user_id": "u1",
        "project_id": "p1", "flavor_id": 1,
        "flavor": {"flavorid": "1", "name": "m1.tiny", "memory_mb": 512, "vcpus": 1,
                   "root_gb": 1},
        "vcpus": 1, "memory_mb": 512, "root_gb": 1, "vm_state": s.BUILDING,
        "task_state": s.SCHEDULING, "reservation_id": "r-1", "deleted": False,
    }
    values.update(overrides)
    return values


def create(db: Database, *rows: dict[str, Any]) -> list[str]:
    with db.write() as conn:
        inst_db.create(conn, list(rows), CTX)
    return [r["uuid"] for r in rows]


def states_of(db: Database, uuid_: str) -> tuple[str, str | None]:
    with db.read() as conn:
        got = inst_db.get(conn, uuid_, read_deleted=True)
    assert got is not None
    return got["vm_state"], got["task_state"]


def test_create_writes_rows_and_a_create_action(db: Database) -> None:
    a, b = create(db, row(), row())
    with db.read() as conn:
        assert {r["uuid"] for r in inst_db.get_many(conn, [a, b, "missing"])} == {a, b}
        actions = conn.execute(select(inst_db.ACTION)).mappings().all()
    assert {(x["instance_uuid"], x["action"], x["request_id"], x["user_id"],
             x["project_id"]) for x in actions} == {
        (a, "create", "req-create", "u1", "p1"), (b, "create", "req-create", "u1", "p1")}


def test_get_filters_by_project_and_hides_deleted(db: Database) -> None:
    live, gone = create(db, row(), row(deleted=True, vm_state=s.DELETED))
    with db.read() as conn:
        assert inst_db.get(conn, live) is not None
        assert inst_db.get(conn, live, project_id="p1") is not None
        assert inst_db.get(conn, live, project_id="other") is None
        assert inst_db.get(conn, gone) is None
        assert inst_db.get(conn, gone, read_deleted=True) is not None
        assert inst_db.get(conn, "no-such-uuid") is None


def test_on_host_lists_live_instances_of_that_host(db: Database) -> None:
    here, _, _ = create(db, row(host="h1"), row(host="h2"),
                        row(host="h1", deleted=True, vm_state=s.DELETED))
    with db.read() as conn:
        assert [r["uuid"] for r in inst_db.on_host(conn, "h1")] == [here]
        assert inst_db.on_host(conn, "h3") == []


def test_transition_checks_the_expected_vm_and_task_states(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        assert not inst_db.transition(conn, u, {"task_state": s.SPAWNING},
                                      expected_vm=[s.ACTIVE])
        assert not inst_db.transition(conn, u, {"task_state": s.SPAWNING},
                                      expected_task=[s.DELETING])
        assert not inst_db.transition(conn, u, {"task_state": s.SPAWNING},
                                      expected_task=[None])
        assert inst_db.transition(conn, u, {"task_state": s.SPAWNING},
                                  expected_vm=[s.BUILDING, s.ACTIVE],
                                  expected_task=[s.SCHEDULING, None])
    assert states_of(db, u) == (s.BUILDING, s.SPAWNING)


def test_transition_expected_task_none_means_no_task(db: Database) -> None:
    (u,) = create(db, row(vm_state=s.ACTIVE, task_state=None))
    with db.write() as conn:
        assert not inst_db.transition(conn, u, {"task_state": s.POWERING_OFF},
                                      expected_task=[s.POWERING_ON])
        assert inst_db.transition(conn, u, {"task_state": s.POWERING_OFF},
                                  expected_task=[None])
        # Only the first of two racing requests wins.
        assert not inst_db.transition(conn, u, {"task_state": s.PAUSING},
                                      expected_task=[None])
    assert states_of(db, u) == (s.ACTIVE, s.POWERING_OFF)


def test_transition_with_an_empty_expectation_never_matches(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        assert not inst_db.transition(conn, u, {"task_state": None}, expected_task=[])
        assert not inst_db.transition(conn, u, {"task_state": None}, expected_vm=[])
    assert states_of(db, u) == (s.BUILDING, s.SCHEDULING)


def test_transition_without_expectations_always_applies(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        assert inst_db.transition(conn, u, {"vm_state": s.ERROR, "task_state": None})
        assert not inst_db.transition(conn, "no-such-uuid", {"vm_state": s.ERROR})
    assert states_of(db, u) == (s.ERROR, None)


def test_transition_skips_deleted_rows_unless_allowed(db: Database) -> None:
    (u,) = create(db, row(deleted=True, vm_state=s.DELETED, task_state=None))
    with db.write() as conn:
        assert not inst_db.transition(conn, u, {"task_state": s.DELETING})
        assert inst_db.transition(conn, u, {"task_state": s.DELETING}, allow_deleted=True)


def test_transition_stamps_updated_at(db: Database) -> None:
    old = dt.datetime(2000, 1, 1)
    (u,) = create(db, row(updated_at=old))
    with db.write() as conn:
        inst_db.transition(conn, u, {"task_state": s.SPAWNING})
    with db.read() as conn:
        got = inst_db.get(conn, u)
    assert got is not None and got["updated_at"] > old


def _raise(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_add_fault_keeps_message_code_host_and_traceback(db: Database) -> None:
    (u,) = create(db, row())
    exc = _raise(exceptions.BuildFailed(instance_uuid=u, reason="disk on fire"))
    with db.write() as conn:
        inst_db.add_fault(conn, u, exc, code=500, host="h1")
    with db.read() as conn:
        fault = inst_db.latest_faults(conn, [u])[u]
    assert fault["message"] == f"Build of instance {u} failed: disk on fire"
    assert fault["code"] == 500 and fault["host"] == "h1"
    assert "Traceback" in fault["details"] and "BuildFailed" in fault["details"]


def test_add_fault_without_exception_and_long_messages(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        inst_db.add_fault(conn, u, None)
    with db.read() as conn:
        fault = inst_db.latest_faults(conn, [u])[u]
    assert (fault["message"], fault["details"], fault["code"]) == ("Unknown error", None, 500)
    with db.write() as conn:
        inst_db.add_fault(conn, u, None, code=409, message="x" * 1000)
    with db.read() as conn:
        fault = inst_db.latest_faults(conn, [u])[u]
    assert fault["message"] == "x" * 255 and fault["code"] == 409


def test_latest_faults_gives_the_newest_fault_per_instance(db: Database) -> None:
    a, b, c = create(db, row(), row(), row())
    with db.write() as conn:
        for i in range(3):
            inst_db.add_fault(conn, a, None, message=f"a{i}")
        inst_db.add_fault(conn, b, None, message="b0")
    with db.read() as conn:
        faults = inst_db.latest_faults(conn, [a, b, c])
        assert inst_db.latest_faults(conn, []) == {}
    assert {k: v["message"] for k, v in faults.items()} == {a: "a2", b: "b0"}


def _action(db: Database, u: str, request_id: str) -> dict[str, Any]:
    with db.read() as conn:
        got = conn.execute(select(inst_db.ACTION).where(
            inst_db.ACTION.c.instance_uuid == u,
            inst_db.ACTION.c.request_id == request_id)).mappings().one()
    return dict(got)


def _events(db: Database, action_id: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(inst_db.EVENT).where(inst_db.EVENT.c.action_id == action_id)
                            .order_by(inst_db.EVENT.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_event_success_closes_the_event_and_the_action(db: Database) -> None:
    (u,) = create(db, row())
    ctx = RequestContext(request_id="req-stop", user_id="u1", project_id="p1")
    with db.write() as conn:
        inst_db.start_action(conn, u, "stop", ctx)
        inst_db.start_event(conn, u, "req-stop", "compute_stop_instance", "h1")
    action = _action(db, u, "req-stop")
    assert action["action"] == "stop" and action["finish_time"] is None
    (event,) = _events(db, action["id"])
    assert (event["event"], event["host"], event["finish_time"]) == (
        "compute_stop_instance", "h1", None)
    with db.write() as conn:
        inst_db.finish_event(conn, u, "req-stop", "compute_stop_instance")
    action = _action(db, u, "req-stop")
    (event,) = _events(db, action["id"])
    assert event["result"] == "Success" and event["traceback"] is None
    assert event["finish_time"] is not None
    assert action["finish_time"] is not None and action["message"] is None


def test_event_error_records_the_traceback_and_marks_the_action(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        inst_db.start_event(conn, u, "req-create", "compute__do_build_and_run_instance", "h1")
        inst_db.finish_event(conn, u, "req-create", "compute__do_build_and_run_instance",
                             exc=_raise(RuntimeError("spawn failed")), finish_action=False)
    action = _action(db, u, "req-create")
    (event,) = _events(db, action["id"])
    assert event["result"] == "Error" and "spawn failed" in event["traceback"]
    # An error finishes the action even when asked not to: the operation is over.
    assert action["message"] == "Error" and action["finish_time"] is not None


def test_finish_event_can_leave_the_action_open(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        inst_db.start_event(conn, u, "req-create", "ev", "h1")
        inst_db.finish_event(conn, u, "req-create", "ev", finish_action=False)
    assert _action(db, u, "req-create")["finish_time"] is None


def test_finish_event_closes_only_the_open_event_of_that_name(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        inst_db.start_event(conn, u, "req-create", "ev", "h1")
        inst_db.finish_event(conn, u, "req-create", "ev", finish_action=False)
        first_finish = _events_in(conn, u)[0]["finish_time"]
        conn.execute(update(inst_db.EVENT).values(finish_time=dt.datetime(2000, 1, 1)))
        inst_db.start_event(conn, u, "req-create", "ev", "h2")
        inst_db.start_event(conn, u, "req-create", "other", "h2")
        inst_db.finish_event(conn, u, "req-create", "ev", exc=_raise(ValueError("x")))
        events = _events_in(conn, u)
    assert first_finish is not None
    assert [(e["event"], e["host"], e["result"]) for e in events] == [
        ("ev", "h1", "Success"), ("ev", "h2", "Error"), ("other", "h2", None)]
    assert events[0]["finish_time"] == dt.datetime(2000, 1, 1)


def _events_in(conn: Any, u: str) -> list[dict[str, Any]]:
    q = (select(inst_db.EVENT).join(inst_db.ACTION,
                                    inst_db.ACTION.c.id == inst_db.EVENT.c.action_id)
         .where(inst_db.ACTION.c.instance_uuid == u).order_by(inst_db.EVENT.c.id))
    return [dict(r) for r in conn.execute(q).mappings()]


def test_events_attach_to_the_newest_action_of_the_request(db: Database) -> None:
    (u,) = create(db, row())
    ctx = RequestContext(request_id="req-x")
    with db.write() as conn:
        inst_db.start_action(conn, u, "reboot", ctx)
        inst_db.start_action(conn, u, "reboot", ctx)
        inst_db.start_event(conn, u, "req-x", "ev", "h1")
        ids = [r.id for r in conn.execute(
            select(inst_db.ACTION.c.id).where(inst_db.ACTION.c.request_id == "req-x")
            .order_by(inst_db.ACTION.c.id))]
    assert [e["action_id"] for e in _events(db, ids[-1])] == [ids[-1]]
    assert _events(db, ids[0]) == []


def test_events_without_an_action_are_ignored(db: Database) -> None:
    (u,) = create(db, row())
    with db.write() as conn:
        inst_db.start_event(conn, u, "req-unknown", "ev", "h1")
        inst_db.finish_event(conn, u, "req-unknown", "ev", exc=_raise(ValueError("x")))
        assert _events_in(conn, u) == []
