"""GET /v2/images: Glance's filters, sorting and marker paging, as one SQL query.

Nullable sort columns are sorted through ``COALESCE`` so every backend orders NULLs
the same way and a marker always finds its place (keyset paging on the sort keys
plus ``created_at`` and ``id`` as tie-breakers).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, and_, false, func, or_
from sqlalchemy import select as sa_select

from novalith import exceptions
from novalith.db import images as image_db
from novalith.db.images import IMG, TAG
from novalith.image.records import MEMBER_STATUSES, VISIBILITIES
from novalith.objects.context import RequestContext

#: Sort key -> (column expression, value a NULL sorts as).
SORT_KEYS: dict[str, tuple[Any, Any]] = {
    "name": (IMG.c.name, ""), "status": (IMG.c.status, None),
    "container_format": (IMG.c.container_format, ""),
    "disk_format": (IMG.c.disk_format, ""), "size": (IMG.c.size, -1),
    "virtual_size": (IMG.c.virtual_size, -1), "id": (IMG.c.id, None),
    "created_at": (IMG.c.created_at, None), "updated_at": (IMG.c.updated_at, None),
    "min_disk": (IMG.c.min_disk, None), "min_ram": (IMG.c.min_ram, None),
    "visibility": (IMG.c.visibility, None), "owner": (IMG.c.owner, ""),
}
#: Query parameters that are not property filters.
_RESERVED = {"limit", "marker", "sort_key", "sort_dir", "sort", "visibility", "member_status",
             "name", "status", "id", "disk_format", "container_format", "owner", "tag",
             "size_min", "size_max", "protected", "os_hidden", "created_at", "updated_at",
             "checksum", "os_hash_value"}
_FILTERABLE = re.compile(r'^[^"\\\x00-\x1f\x7f]{1,255}$')
_IN_FILTERS = ("name", "status", "id", "disk_format", "container_format", "owner")
_TIME_OPS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__",
             "neq": "__ne__"}


@dataclass(frozen=True)
class ListRequest:
    conditions: list[ColumnElement[bool]]
    sort: list[tuple[str, str]]
    limit: int
    marker: str | None


def _sort_keys(params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    sort = [v for k, v in params if k == "sort"]
    out: list[tuple[str, str]] = []
    if sort:
        if keys or dirs:
            raise exceptions.Invalid("The 'sort' parameter cannot be combined with 'sort_key' "
                                     "or 'sort_dir'.")
        for item in ",".join(sort).split(","):
            key, _, direction = item.strip().partition(":")
            out.append((key, direction or "desc"))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise exceptions.Invalid("Number of sort dirs does not match the number of sort "
                                     "keys")
        for i, key in enumerate(keys or ["created_at"]):
            out.append((key, dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc")))
    for key, direction in out:
        if key not in SORT_KEYS:
            raise exceptions.Invalid(f"Invalid sort key: {key}. It should be one of the "
                                     f"following: {', '.join(SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise exceptions.Invalid(f"Invalid sort direction: {direction}")
    first_dir = out[0][1]
    for tie in ("created_at", "id"):
        if tie not in [k for k, _ in out]:
            out.append((tie, first_dir))
    return out


def _limit(params: dict[str, str], default: int, maximum: int) -> int:
    raw = params.get("limit")
    if raw is None:
        return min(default, maximum)
    try:
        limit = int(raw)
    except ValueError:
        raise exceptions.Invalid("limit param must be an integer") from None
    if limit < 0:
        raise exceptions.Invalid("limit param must be positive")
    return min(limit, maximum)


def _bool(name: str, raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise exceptions.Invalid(f"Invalid value '{raw}' for '{name}' filter. Valid values are "
                                 "'true' and 'false'.")
    return raw.lower() == "true"


def _values(raw: str) -> list[str]:
    """``in:a,"b,c"`` -> ["a", "b,c"]; anything else is one value."""
    if not raw.startswith("in:"):
        return [raw]
    return next(csv.reader([raw[3:]], skipinitialspace=True), [])


def _time(name: str, raw: str) -> ColumnElement[bool]:
    op, sep, value = raw.partition(":")
    if not sep or op not in _TIME_OPS:
        op, value = "eq", raw
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise exceptions.Invalid(f"Invalid timestamp for {name} filter: {value}") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    result: ColumnElement[bool] = getattr(IMG.c[name], _TIME_OPS[op])(when)
    return result


def _visibility(ctx: RequestContext, params: dict[str, str]) -> list[ColumnElement[bool]]:
    vis = params.get("visibility")
    if vis is not None and vis not in (*VISIBILITIES, "all"):
        raise exceptions.Invalid(f"Invalid visibility value: {vis}")
    member_status = params.get("member_status", "accepted")
    if member_status not in (*MEMBER_STATUSES, "all"):
        raise exceptions.Invalid(f"Invalid status value: {member_status}")
    if ctx.is_admin:
        return [IMG.c.visibility == vis] if vis not in (None, "all") else []
    me = ctx.project_id
    statuses = None if member_status == "all" else [member_status]
    if vis is None:
        return [image_db.listed_condition(me, statuses)]
    if vis == "all":
        return [or_(image_db.listed_condition(me, statuses), IMG.c.visibility == "community")]
    if vis == "private":
        return [IMG.c.visibility == "private", IMG.c.owner == me]
    if vis == "shared":
        return [IMG.c.visibility == "shared",
                or_(IMG.c.owner == me, image_db.member_exists(me, statuses))]
    return [IMG.c.visibility == vis]


def parse(ctx: RequestContext, params: Sequence[tuple[str, str]], default_limit: int,
          max_limit: int) -> ListRequest:
    """The list request a query string asks for; 400 for anything malformed."""
    single = dict(params)
    conds = _visibility(ctx, single)
    for key in _IN_FILTERS:
        if key in single:
            values = _values(single[key])
            conds.append(IMG.c[key].in_(values) if len(values) != 1 else
                         IMG.c[key] == values[0])
    for key in ("checksum", "os_hash_value"):
        if key in single:
            conds.append(IMG.c[key] == single[key])
    for key, op in (("size_min", "__ge__"), ("size_max", "__le__")):
        if key in single:
            try:
                conds.append(getattr(IMG.c.size, op)(int(single[key])))
            except ValueError:
                raise exceptions.Invalid(f"Invalid value for {key}: it must be an integer"
                                         ) from None
    if "protected" in single:
        conds.append(IMG.c.protected == _bool("protected", single["protected"]))
    conds.append(IMG.c.os_hidden == _bool("os_hidden", single.get("os_hidden", "false")))
    for key in ("created_at", "updated_at"):
        if key in single:
            conds.append(_time(key, single[key]))
    for tag in {v for k, v in params if k == "tag"}:
        conds.append(sa_select(TAG.c.image_id).where(TAG.c.image_id == IMG.c.id,
                                                     TAG.c.value == tag).exists())
    for key, value in params:
        if key not in _RESERVED:
            if not _FILTERABLE.match(key):  # not expressible in every backend's JSON path
                raise exceptions.Invalid(f"Cannot filter on property {key!r}: names with "
                                         "'\"', '\\' or control characters are not "
                                         "filterable.")
            conds.append(IMG.c.properties[key].as_string() == value)
    return ListRequest(conditions=conds, sort=_sort_keys(params),
                       limit=_limit(single, default_limit, max_limit),
                       marker=single.get("marker"))


def _sort_expr(key: str) -> Any:
    column, null_as = SORT_KEYS[key]
    return column if null_as is None else func.coalesce(column, null_as)


def _after_marker(sort: list[tuple[str, str]], marker: RowMapping) -> ColumnElement[bool]:
    """Rows strictly after ``marker`` in the sort order (keyset paging)."""
    alternatives: list[ColumnElement[bool]] = []
    for i, (key, direction) in enumerate(sort):
        equal = [_sort_expr(k) == _marker_value(k, marker) for k, _ in sort[:i]]
        expr, value = _sort_expr(key), _marker_value(key, marker)
        step = expr > value if direction == "asc" else expr < value
        alternatives.append(and_(*equal, step))
    return or_(*alternatives) if alternatives else false()


def _marker_value(key: str, marker: RowMapping) -> Any:
    column, null_as = SORT_KEYS[key]
    value = marker[column.name]
    return null_as if value is None else value


def statement(req: ListRequest, conn: Connection, marker_visible: ColumnElement[bool] | None
              ) -> Select[Any]:
    """The SELECT of one page; ``marker_visible`` limits which images may be markers."""
    stmt = sa_select(IMG).where(*req.conditions)
    if req.marker is not None:
        q = sa_select(IMG).where(IMG.c.id == req.marker)
        if marker_visible is not None:
            q = q.where(marker_visible)
        marker = conn.execute(q).mappings().first()
        if marker is None:
            raise exceptions.Invalid(f"Invalid marker. Image {req.marker} could not be found.")
        stmt = stmt.where(_after_marker(req.sort, marker))
    order = [_sort_expr(k).asc() if d == "asc" else _sort_expr(k).desc() for k, d in req.sort]
    return stmt.order_by(*order).limit(req.limit)
