"""GET /servers query building: the status filter, other filters, sorting, marker paging.

The status filter and the paging are checked against every vm_state x task_state
pair (and against NULLs and ties in sort keys) on SQLite, and also on PostgreSQL
and MariaDB when a server answers on 127.0.0.1 (those cases skip otherwise).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from starlette.datastructures import QueryParams

from fixtures.databases import BACKENDS, open_database
from novalith import exceptions
from novalith.api.compute import server_query
from novalith.api.deps import ApiServices, Call
from novalith.api.microversion import APIVersion
from novalith.db import migration
from novalith.db.api import Database
from novalith.db.engine import sqlite_url
from novalith.db.models import Instance
from novalith.objects import states as s
from novalith.objects.context import RequestContext
from novalith.objects.states import _STATUS, status_from_state

INST = Instance.__table__

VM_STATES = [*_STATUS, "unknown_vm_state"]
TASK_STATES: list[str | None] = [None, "unknown_task", *sorted(
    {v for k, v in vars(s).items() if k.isupper() and isinstance(v, str)} - set(_STATUS)
    | {"update_password"})]
ALL_STATUSES = sorted({st for by in _STATUS.values() for st in by.values()})


@pytest.fixture(scope="module", params=BACKENDS)
def any_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Database]:
    with open_database(request.param, tmp_path_factory.mktemp("q")) as database:
        yield database


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
        "vcpus": 1, "memory_mb": 512, "root_gb": 1, "vm_state": s.ACTIVE,
        "task_state": None, "reservation_id": "r-1", "deleted": False,
        "created_at": dt.datetime(2024, 1, 1), "updated_at": dt.datetime(2024, 1, 1),
    }
    values.update(overrides)
    return values


def insert(db: Database, rows: list[dict[str, Any]]) -> None:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for r in rows:  # an executemany needs the same keys in every row
        groups.setdefault(frozenset(r), []).append(r)
    with db.write() as conn:
        for group in groups.values():
            conn.execute(sa.insert(INST), group)


def call(project: str = "p1", admin: bool = False, version: str = "2.47") -> Call:
    roles = ("admin", "member") if admin else ("member",)
    ctx = RequestContext(user_id="u1", project_id=project, roles=roles)
    return Call(ctx=ctx, version=APIVersion.parse(version), root="http://api",
                services=cast(ApiServices, None))


def listed(db: Database, query: str, c: Call | None = None) -> list[str]:
    """Names of the rows the query selects, in its order."""
    stmt, sort = server_query.build(c or call(), QueryParams(query))
    with db.read() as conn:
        rows = conn.execute(stmt.order_by(*server_query.order_by(sort, db.backend))).mappings()
        return [r["display_name"] for r in rows]


# ---- the status filter, exhaustively -------------------------------------------------------

@pytest.fixture(scope="module")
def every_state_pair(any_db: Database) -> dict[str, str]:
    """One row per (vm_state, task_state) pair in its own project; uuid -> status."""
    project = "p-" + uuid.uuid4().hex[:8]
    rows = [row(project_id=project, vm_state=vm, task_state=task)
            for vm, task in itertools.product(VM_STATES, TASK_STATES)]
    insert(any_db, rows)
    return {r["uuid"]: status_from_state(r["vm_state"], r["task_state"]) for r in rows} | {
        "__project__": project}


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_status_condition_selects_exactly_the_rows_with_that_status(
        any_db: Database, every_state_pair: dict[str, str], status: str) -> None:
    statuses = dict(every_state_pair)
    project = statuses.pop("__project__")
    with any_db.read() as conn:
        got = set(conn.execute(sa.select(INST.c.uuid).where(
            INST.c.project_id == project, server_query.status_condition(status))).scalars())
    assert got == {u for u, st in statuses.items() if st == status}
    assert got  # every status of the table is reachable


def test_every_pair_has_exactly_one_status(every_state_pair: dict[str, str],
                                           any_db: Database) -> None:
    statuses = dict(every_state_pair)
    project = statuses.pop("__project__")
    seen: dict[str, int] = {}
    with any_db.read() as conn:
        for status in ALL_STATUSES:
            for u in conn.execute(sa.select(INST.c.uuid).where(
                    INST.c.project_id == project,
                    server_query.status_condition(status))).scalars():
                seen[u] = seen.get(u, 0) + 1
    # Rows of an unknown vm_state show UNKNOWN, which no filter value selects.
    assert seen == {u: 1 for u, st in statuses.items() if st != "UNKNOWN"}


def test_status_filter_through_build(db: Database) -> None:
    insert(db, [row(display_name="a", vm_state=s.ACTIVE),
                row(display_name="b", vm_state=s.ACTIVE, task_state=s.REBOOTING),
                row(display_name="c", vm_state=s.STOPPED),
                row(display_name="d", vm_state=s.ACTIVE, task_state=s.POWERING_OFF)])
    assert sorted(listed(db, "status=active")) == ["a", "d"]
    assert sorted(listed(db, "status=REBOOT")) == ["b"]
    assert sorted(listed(db, "status=SHUTOFF")) == ["c"]


def test_unknown_status_is_empty_before_2_38_and_invalid_from_it(db: Database) -> None:
    insert(db, [row()])
    assert listed(db, "status=BOGUS", call(version="2.37")) == []
    with pytest.raises(exceptions.Invalid, match="BOGUS"):
        listed(db, "status=BOGUS", call(version="2.38"))


def test_deleted_status_only_for_admins(db: Database) -> None:
    insert(db, [row(display_name="gone", vm_state=s.DELETED, deleted=True)])
    assert listed(db, "status=DELETED&deleted=true") == []
    assert listed(db, "status=DELETED&deleted=true", call(admin=True)) == ["gone"]


# ---- other filters -------------------------------------------------------------------------

def test_non_admins_see_only_their_project(db: Database) -> None:
    insert(db, [row(display_name="mine"), row(display_name="theirs", project_id="p2")])
    assert listed(db, "") == ["mine"]
    assert listed(db, "all_tenants=1") == ["mine"]
    assert listed(db, "project_id=p2") == ["mine"]
    admin = call(admin=True)
    assert listed(db, "", admin) == ["mine"]
    assert sorted(listed(db, "all_tenants=1", admin)) == ["mine", "theirs"]
    assert sorted(listed(db, "all_tenants", admin)) == ["mine", "theirs"]
    assert listed(db, "all_tenants=0", admin) == ["mine"]
    assert listed(db, "project_id=p2", admin) == ["theirs"]
    assert listed(db, "tenant_id=p2", admin) == ["theirs"]
    with pytest.raises(exceptions.Invalid):
        listed(db, "all_tenants=maybe", admin)


def test_deleted_rows_are_hidden_unless_asked_or_changes_since(db: Database) -> None:
    insert(db, [row(display_name="live"),
                row(display_name="gone", deleted=True, vm_state=s.DELETED,
                    updated_at=dt.datetime(2024, 3, 1))])
    assert listed(db, "") == ["live"]
    assert listed(db, "deleted=true") == ["live"]  # not for non-admins
    assert listed(db, "deleted=true", call(admin=True)) == ["gone"]
    assert listed(db, "changes-since=2024-02-01T00:00:00Z") == ["gone"]
    assert sorted(listed(db, "changes-since=2023-12-31T00:00:00Z")) == ["gone", "live"]
    assert listed(db, "changes-before=2024-02-01T00:00:00") == ["live"]
    assert listed(db, "changes-since=2024-01-01T01:00:00%2B01:00&"
                      "changes-before=2024-01-01T00:00:00Z") == ["live"]


@pytest.mark.parametrize("query", ["changes-since=yesterday", "changes-before=2024-13-01",
                                   "changes-since=2024-02-01&changes-before=2024-01-01"])
def test_bad_time_filters_are_invalid(db: Database, query: str) -> None:
    with pytest.raises(exceptions.Invalid):
        listed(db, query)


def test_name_is_a_regular_expression(db: Database) -> None:
    insert(db, [row(display_name="web-1"), row(display_name="web-2"),
                row(display_name="db-1")])
    assert sorted(listed(db, "name=web")) == ["web-1", "web-2"]
    assert sorted(listed(db, "name=^.*-1$")) == ["db-1", "web-1"]
    with pytest.raises(exceptions.Invalid):
        listed(db, "name=web[")


def test_simple_filters_and_admin_only_ones(db: Database) -> None:
    insert(db, [row(display_name="a", image_ref="img-1", host="h1", key_name="k1",
                    availability_zone="az1", reservation_id="r-9", vm_state=s.ERROR),
                row(display_name="b", image_ref="img-2", host="h2")])
    assert listed(db, "image=img-1") == ["a"]
    assert listed(db, "image=http://img/v2/images/img-2") == ["b"]
    assert listed(db, "key_name=k1") == ["a"]
    assert listed(db, "availability_zone=az1") == ["a"]
    assert listed(db, "reservation_id=r-9") == ["a"]
    assert listed(db, "user_id=nobody") == []
    assert sorted(listed(db, "host=h1")) == ["a", "b"]  # ignored for non-admins
    assert listed(db, "host=h1", call(admin=True)) == ["a"]
    assert listed(db, "vm_state=error", call(admin=True)) == ["a"]


def test_flavor_filter_reads_the_embedded_flavor(db: Database) -> None:
    small = {"flavorid": "2", "name": "m1.small", "memory_mb": 2048, "vcpus": 1,
             "root_gb": 20}
    insert(db, [row(display_name="tiny"), row(display_name="small", flavor=small)])
    assert listed(db, "flavor=2") == ["small"]
    assert listed(db, "flavor=http://api/compute/v2.1/flavors/1") == ["tiny"]


# ---- sorting and marker paging -------------------------------------------------------------

def test_default_sort_is_newest_first_then_id() -> None:
    _, sort = server_query.build(call(), QueryParams(""))
    assert sort == [(INST.c.created_at, False), (INST.c.id, False)]


def test_a_direction_alone_applies_to_the_default_key() -> None:
    _, sort = server_query.build(call(), QueryParams("sort_dir=asc"))
    assert sort == [(INST.c.created_at, True), (INST.c.id, True)]


def test_missing_sort_dirs_take_the_first_one_and_ties_end_the_order() -> None:
    """As Nova's process_sort_params: created_at and id follow, in the first direction."""
    _, sort = server_query.build(call(), QueryParams(
        "sort_key=display_name&sort_dir=asc&sort_key=launched_at"))
    assert sort == [(INST.c.display_name, True), (INST.c.launched_at, True),
                    (INST.c.created_at, True), (INST.c.id, True)]
    _, sort = server_query.build(call(), QueryParams("sort_key=display_name"))
    assert sort == [(INST.c.display_name, False), (INST.c.created_at, False),
                    (INST.c.id, False)]
    _, sort = server_query.build(call(), QueryParams(
        "sort_key=created_at&sort_dir=asc&sort_key=uuid&sort_dir=desc"))
    assert sort == [(INST.c.created_at, True), (INST.c.uuid, False), (INST.c.id, True)]


def test_ties_on_the_sort_key_are_broken_by_created_at(db: Database) -> None:
    """Regression: ties were ordered by id only, not created_at then id as in Nova."""
    base = dt.datetime(2024, 1, 1)
    insert(db, [row(display_name="same", hostname="older", created_at=base),
                row(display_name="same", hostname="newer",
                    created_at=base + dt.timedelta(hours=1)),
                row(display_name="same", hostname="oldest",
                    created_at=base - dt.timedelta(hours=1))])
    stmt, sort = server_query.build(call(), QueryParams("sort_key=display_name&sort_dir=asc"))
    with db.read() as conn:
        rows = conn.execute(stmt.order_by(*server_query.order_by(sort, db.backend))).mappings()
        assert [r["hostname"] for r in rows] == ["oldest", "older", "newer"]


@pytest.mark.parametrize(("query", "error"), [
    ("sort_key=bogus", exceptions.Invalid),
    ("sort_key=display_name&sort_dir=sideways", exceptions.Invalid),
    ("sort_key=host", exceptions.Forbidden),
    ("sort_key=id", exceptions.Invalid),
    ("sort_dir=asc&sort_dir=desc", exceptions.Invalid),
    ("sort_key=uuid&sort_dir=asc&sort_dir=desc", exceptions.Invalid),
])
def test_bad_sorts(query: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        server_query.build(call(), QueryParams(query))


def test_admins_may_sort_by_host() -> None:
    _, sort = server_query.build(call(admin=True), QueryParams("sort_key=host&sort_dir=asc"))
    assert sort[0] == (INST.c.host, True)


SORTS = [
    "",
    "sort_key=display_name&sort_dir=asc",
    "sort_key=display_name&sort_dir=desc",
    "sort_key=task_state&sort_dir=asc",
    "sort_key=task_state&sort_dir=desc",
    "sort_key=launched_at&sort_dir=asc&sort_key=display_name&sort_dir=desc",
    "sort_key=launched_at&sort_dir=desc&sort_key=task_state&sort_dir=asc",
    "sort_key=key_name&sort_key=created_at&sort_dir=asc",
    "sort_key=power_state&sort_dir=desc&sort_key=uuid&sort_dir=asc",
]


@pytest.fixture(scope="module")
def paging_rows(any_db: Database) -> str:
    """Rows full of ties and NULLs in the sort keys, in their own project."""
    rng = random.Random(7)
    project = "paging-" + uuid.uuid4().hex[:8]
    base = dt.datetime(2024, 1, 1)
    rows = [row(project_id=project, display_name=rng.choice(["a", "b", "c"]),
                task_state=rng.choice([None, None, s.REBOOTING, s.PAUSING]),
                launched_at=rng.choice([None, base, base + dt.timedelta(hours=1)]),
                key_name=rng.choice([None, "k1", "k2"]), power_state=rng.choice([0, 1, 4]),
                created_at=base + dt.timedelta(minutes=rng.choice([0, 1, 2])))
            for _ in range(40)]
    insert(any_db, rows)
    return project


def _python_order(rows: list[dict[str, Any]], sort: list[tuple[Any, bool]]
                  ) -> list[int]:
    """The order the API promises: NULL smallest, each key in its direction."""
    def key_for(r: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for col, asc in sort:
            v = r[col.key]
            item = (0, 0) if v is None else (1, v)
            out.append(_Rev(item) if not asc else item)
        return out
    return [r["id"] for r in sorted(rows, key=key_for)]


class _Rev:
    """Reverses comparison, for descending keys in a Python sort."""

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Rev) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Rev) and bool(self.v == other.v)

    __hash__ = None  # type: ignore[assignment]


@pytest.mark.parametrize("query", SORTS)
def test_marker_paging_visits_every_row_once_in_order(any_db: Database, paging_rows: str,
                                                      query: str) -> None:
    c = call(project=paging_rows)
    stmt, sort = server_query.build(c, QueryParams(query))
    order = server_query.order_by(sort, any_db.backend)
    with any_db.read() as conn:
        full = [dict(r) for r in conn.execute(stmt.order_by(*order)).mappings()]
        assert [r["id"] for r in full] == _python_order(full, sort)
        paged: list[int] = []
        marker: dict[str, Any] | None = None
        while True:
            page_stmt = stmt if marker is None else server_query.after_marker(stmt, sort,
                                                                              marker)
            page = [dict(r) for r in conn.execute(page_stmt.order_by(*order).limit(3))
                    .mappings()]
            if not page:
                break
            paged += [r["id"] for r in page]
            marker = page[-1]
            assert len(paged) <= len(full)
    assert paged == [r["id"] for r in full]
    assert len(full) == 40
