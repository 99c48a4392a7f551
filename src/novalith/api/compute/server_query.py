"""GET /servers filters, sorting and marker paging, as Nova applies them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Select, Table, and_, false, not_, or_, select
from starlette.datastructures import QueryParams

from novalith import exceptions
from novalith.api.compute import params
from novalith.api.deps import Call
from novalith.db import tags as tag_db
from novalith.db.models import Instance
from novalith.objects.states import _STATUS  # the one status table

INST: Table = Instance.__table__  # type: ignore[assignment]

_SORT_KEYS = {"created_at": INST.c.created_at, "updated_at": INST.c.updated_at,
              "display_name": INST.c.display_name, "uuid": INST.c.uuid,
              "vm_state": INST.c.vm_state, "task_state": INST.c.task_state,
              "power_state": INST.c.power_state, "launched_at": INST.c.launched_at,
              "terminated_at": INST.c.terminated_at, "hostname": INST.c.hostname,
              "key_name": INST.c.key_name, "image_ref": INST.c.image_ref,
              "instance_type_id": INST.c.flavor_id, "availability_zone": INST.c.availability_zone,
              "locked": INST.c.locked, "project_id": INST.c.project_id,
              "user_id": INST.c.user_id, "display_description": INST.c.display_description,
              "launch_index": INST.c.launch_index, "root_device_name": INST.c.root_device_name,
              "config_drive": INST.c.config_drive, "kernel_id": INST.c.kernel_id,
              "ramdisk_id": INST.c.ramdisk_id, "progress": INST.c.progress,
              "access_ip_v4": INST.c.access_ip_v4, "access_ip_v6": INST.c.access_ip_v6}
_ADMIN_SORT_KEYS = {"host": INST.c.host, "node": INST.c.node}


def status_condition(status: str) -> Any:
    """Rows whose derived status is ``status`` (see objects.states)."""
    parts = []
    for vm, by_task in _STATUS.items():
        named = [t for t, st in by_task.items() if t is not None and st == status]
        others = [t for t, st in by_task.items() if t is not None and st != status]
        if by_task[None] == status:
            cond = INST.c.vm_state == vm
            if others:
                cond = and_(cond, or_(INST.c.task_state.is_(None),
                                      not_(INST.c.task_state.in_(others))))
            parts.append(cond)
        elif named:
            parts.append(and_(INST.c.vm_state == vm, INST.c.task_state.in_(named)))
    return or_(*parts) if parts else false()


def _time(raw: str, name: str) -> dt.datetime:
    try:
        ts = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise exceptions.Invalid(f"Invalid input for query parameters {name}. "
                                 f"Value: {raw}. It must be an ISO 8601 date-time.") from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(dt.UTC).replace(tzinfo=None)
    return ts


# Columns a list never shows: big or internal ones stay in the DB.
_HIDDEN = {"system_metadata", "key_data", "attempts", "requested_az", "requested_host",
           "requested_node", "claim_node_id", "launched_on", "locked_by"}
DETAIL_COLUMNS = [c for c in INST.c if c.key not in _HIDDEN]
SUMMARY_COLUMNS = [INST.c.id, INST.c.uuid, INST.c.display_name]


def columns(call: Call, detail: bool) -> list[Any]:
    """What a list reads: the summary needs three columns, the detail view all it shows
    (user_data only for admins at 2.3+, where it is shown)."""
    if not detail:
        return SUMMARY_COLUMNS
    if call.ctx.is_admin and call.version.at_least("2.3"):
        return DETAIL_COLUMNS
    return [c for c in DETAIL_COLUMNS if c.key != "user_data"]


def build(call: Call, q: QueryParams, detail: bool = True
          ) -> tuple[Select[Any], list[tuple[Any, bool]]]:
    """The filtered select and its sort columns as (column, ascending)."""
    admin = call.ctx.is_admin
    stmt = select(*columns(call, detail))
    all_tenants = admin and "all_tenants" in q and (
        q["all_tenants"] == "" or params.boolean(q["all_tenants"], "all_tenants"))
    project = q.get("project_id") or q.get("tenant_id")
    if admin and project:
        stmt = stmt.where(INST.c.project_id == project)
    elif not all_tenants:
        stmt = stmt.where(INST.c.project_id == call.ctx.project_id)
    changes_since = _time(q["changes-since"], "changes-since") if "changes-since" in q else None
    changes_before = (_time(q["changes-before"], "changes-before")
                      if "changes-before" in q else None)
    if changes_since and changes_before and changes_since > changes_before:
        raise exceptions.Invalid("The value of changes-since must be less than or equal to "
                                 "changes-before.")
    deleted = admin and "deleted" in q and params.boolean(q["deleted"], "deleted")
    if changes_since is not None:
        stmt = stmt.where(INST.c.updated_at >= changes_since)
    if changes_before is not None:
        stmt = stmt.where(INST.c.updated_at <= changes_before)
    if deleted:
        stmt = stmt.where(INST.c.deleted == True)  # noqa: E712
    elif changes_since is None and changes_before is None:
        stmt = stmt.where(INST.c.deleted == False)  # noqa: E712
    if "status" in q:
        status = q["status"].upper()
        if status == "DELETED" and not admin:
            stmt = stmt.where(false())
        elif status not in {st for by in _STATUS.values() for st in by.values()}:
            if call.version.at_least("2.38"):
                raise exceptions.Invalid(f"Invalid status value: {q['status']}")
            stmt = stmt.where(false())
        else:
            stmt = stmt.where(status_condition(status))
    if "name" in q:
        try:
            re.compile(q["name"])
        except re.error:
            raise exceptions.Invalid(f"Invalid name filter {q['name']!r}") from None
        # Nova matches names as a regular expression (SQLite's REGEXP is registered
        # by SQLAlchemy's pysqlite dialect; PostgreSQL and MariaDB have their own).
        stmt = stmt.where(INST.c.display_name.regexp_match(q["name"]))
    simple = {"image": INST.c.image_ref, "reservation_id": INST.c.reservation_id,
              "availability_zone": INST.c.availability_zone, "key_name": INST.c.key_name,
              "user_id": INST.c.user_id}
    if admin:
        simple.update({"host": INST.c.host, "node": INST.c.node, "vm_state": INST.c.vm_state,
                       "task_state": INST.c.task_state, "hostname": INST.c.hostname})
    for key, col in simple.items():
        if key in q:
            stmt = stmt.where(col == q[key].rsplit("/", 1)[-1] if key == "image" else
                              col == q[key])
    if "flavor" in q:
        stmt = stmt.where(INST.c.flavor["flavorid"].as_string() == q["flavor"].rsplit("/", 1)[-1])
    if "locked" in q and call.version.at_least("2.73"):
        stmt = stmt.where(INST.c.locked == params.boolean(q["locked"], "locked"))
    if call.version.at_least("2.26"):
        stmt = _tag_filters(stmt, q)
    return stmt, _sort(call, q)


def _tag_filters(stmt: Select[Any], q: QueryParams) -> Select[Any]:
    """tags (all of), tags-any, not-tags (not all of), not-tags-any: comma lists (2.26)."""
    lists = {key: [t for t in q[key].split(",") if t]
             for key in ("tags", "tags-any", "not-tags", "not-tags-any") if key in q}
    if not lists:
        return stmt
    return stmt.where(tag_db.filter_condition(
        INST.c.uuid, tags=lists.get("tags", []), tags_any=lists.get("tags-any", []),
        not_tags=lists.get("not-tags", []), not_tags_any=lists.get("not-tags-any", [])))


def _sort(call: Call, q: QueryParams) -> list[tuple[Any, bool]]:
    # As Nova: no key means created_at, no direction desc; a key without a direction
    # takes the first direction; created_at and id always end the order as ties.
    keys = q.getlist("sort_key") or ["created_at"]
    dirs = q.getlist("sort_dir") or ["desc"]
    if len(dirs) > len(keys):
        raise exceptions.Invalid("Sort direction size exceeds sort key size")
    allowed = dict(_SORT_KEYS)
    if call.ctx.is_admin:
        allowed.update(_ADMIN_SORT_KEYS)
    out: list[tuple[Any, bool]] = []
    for i, key in enumerate(keys):
        if key not in allowed:
            if key in _ADMIN_SORT_KEYS:
                raise exceptions.Forbidden(action=f"sort by {key}")
            raise exceptions.Invalid(f"Invalid input for query parameters sort_key. "
                                     f"Value: {key}.")
        direction = dirs[i] if i < len(dirs) else dirs[0]
        if direction not in ("asc", "desc"):
            raise exceptions.Invalid(f"Invalid input for query parameters sort_dir. "
                                     f"Value: {direction}.")
        out.append((allowed[key], direction == "asc"))
    for tie in (INST.c.created_at, INST.c.id):
        if all(col is not tie for col, _ in out):
            out.append((tie, dirs[0] == "asc"))
    return out


def after_marker(stmt: Select[Any], sort: list[tuple[Any, bool]], marker: Any) -> Select[Any]:
    """Keyset condition: rows strictly after the marker row in the sort order."""
    ors = []
    for i, (col, asc) in enumerate(sort):
        eqs = [c == marker[c.key] if marker[c.key] is not None else c.is_(None)
               for c, _ in sort[:i]]
        value = marker[col.key]
        if value is None:
            # NULL is the smallest value (see order_by)
            cmp = col.isnot(None) if asc else false()
        else:
            cmp = col > value if asc else or_(col < value, col.is_(None))
        ors.append(and_(*eqs, cmp))
    return stmt.where(or_(*ors))


def order_by(sort: list[tuple[Any, bool]], backend: str) -> list[Any]:
    """NULL sorts as the smallest value everywhere (SQLite and MariaDB do so natively;
    MariaDB also rejects NULLS FIRST), which after_marker relies on."""
    if backend != "postgresql":
        return [col.asc() if asc else col.desc() for col, asc in sort]
    return [(col.asc().nulls_first() if asc else col.desc().nulls_last()) for col, asc in sort]
