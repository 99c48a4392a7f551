"""Server-group facts the scheduler puts into a RequestSpec before filtering.

Filters and weighers stay pure: they read ``spec.group_policy`` and
``spec.group_hosts``. The scheduler fills them from the DB under its selection
lock (so a placement another request just claimed is seen) and extends
``group_hosts`` after each instance of a batch it places.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import Connection

from novalith.db import server_groups as group_db
from novalith.objects.specs import RequestSpec


def group_hint(spec: RequestSpec) -> str | None:
    """The server group uuid named by the ``group`` scheduler hint, if any."""
    hint = spec.scheduler_hints.get("group")
    if isinstance(hint, list):
        hint = hint[0] if hint else None
    return hint if isinstance(hint, str) and hint else None


def with_group(conn: Connection, spec: RequestSpec) -> RequestSpec:
    """``spec`` with its group's policy and the hosts of its other live members."""
    uuid = group_hint(spec)
    if uuid is None:
        return spec
    group = group_db.get(conn, uuid)
    if group is None:
        return spec
    hosts = group_db.member_hosts(conn, group["id"], exclude=spec.instance_uuids)
    return msgspec.structs.replace(spec, group_policy=group["policy"], group_hosts=hosts)


def extend(spec: RequestSpec, host: str) -> RequestSpec:
    """``spec`` after one more member of its group went to ``host``."""
    if spec.group_policy is None:
        return spec
    return msgspec.structs.replace(spec, group_hosts=[*spec.group_hosts, host])
