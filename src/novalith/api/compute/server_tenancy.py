"""What POST /servers checks against tenancy: keypair, server group, zones, quotas.

``reserve`` runs inside the write transaction that inserts the instance rows: it
locks the project's quota scope, counts usage and decides how many instances
(between min_count and max_count) may be created, so concurrent boots never go
over a quota (see :mod:`novalith.db.quotas`).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, select

from novalith import exceptions
from novalith.api.deps import Call
from novalith.db import aggregates as agg_db
from novalith.db import keypairs as keypair_db
from novalith.db import quotas as quota_db
from novalith.db import server_groups as group_db
from novalith.db.models import Service

SVC: Table = Service.__table__  # type: ignore[assignment]


def keypair(conn: Connection, call: Call, key_name: str | None
            ) -> tuple[str | None, str | None]:
    """(key_name, public key) of the caller's keypair named ``key_name``."""
    if key_name is None:
        return None, None
    row = keypair_db.get(conn, call.ctx.user_id or "", key_name)
    if row is None:
        raise exceptions.Invalid("Invalid key_name provided.")
    return row["name"], row["public_key"]


def server_group(conn: Connection, call: Call, hints: Mapping[str, Any]) -> RowMapping | None:
    """The server group named by the ``group`` hint, if the caller may use it."""
    hint = hints.get("group")
    if isinstance(hint, list) and len(hint) == 1:
        hint = hint[0]
    if hint is None:
        return None
    if not isinstance(hint, str):
        raise exceptions.Invalid("Server group scheduler hint must be a UUID.")
    try:
        uuidlib.UUID(hint)
    except ValueError:
        raise exceptions.Invalid("Server group scheduler hint must be a UUID.") from None
    row = group_db.get(conn, hint, project_id=None if call.ctx.is_admin
                       else call.ctx.project_id)
    if row is None:
        raise exceptions.Invalid(f"Instance group {hint} could not be found.")
    return row


def zones(conn: Connection, call: Call) -> set[str]:
    """Availability zones with at least one enabled compute service."""
    default = call.services.config.default_availability_zone
    by_host = agg_db.host_zones(conn)
    rows = conn.execute(select(SVC.c.host, SVC.c.availability_zone).where(
        SVC.c.binary == "nova-compute", SVC.c.disabled == False))  # noqa: E712
    return {by_host.get(r.host) or r.availability_zone or default for r in rows}


def reserve(conn: Connection, call: Call, rows: list[dict[str, Any]], min_count: int,
            group: RowMapping | None) -> list[dict[str, Any]]:
    """The rows (a prefix of ``rows``) the quotas allow, or QuotaExceeded (403).

    Call inside the write transaction that then inserts them; joins them to
    ``group`` there too.
    """
    project_id = call.ctx.project_id or ""
    limit = quota_db.limits(conn, project_id, call.services.config.quota.defaults)
    metadata = rows[0]["metadata"] if rows else {}
    cap = limit["metadata_items"]
    if cap != quota_db.UNLIMITED and len(metadata) > cap:
        raise exceptions.QuotaExceeded(f"Quota exceeded for metadata_items: Requested "
                                       f"{len(metadata)}, but the limit is {cap}.")
    group_cap = quota_db.UNLIMITED
    if group is not None:
        group_cap = quota_db.limits(conn, group["project_id"],
                                    call.services.config.quota.defaults)["server_group_members"]
    # Lock only what will be counted: with unlimited quotas, concurrent creates in one
    # project need not queue behind each other.
    scopes = set()
    if any(limit.get(r, quota_db.UNLIMITED) != quota_db.UNLIMITED
           for r in ("instances", "cores", "ram")):
        scopes.add(f"project:{project_id}")
    if group is not None and group_cap != quota_db.UNLIMITED:
        scopes.add(f"project:{group['project_id']}")
    quota_db.lock(conn, scopes)
    first = rows[0]
    allowed = quota_db.check_instances(
        conn, project_id, limit, {"cores": first["vcpus"], "ram": first["memory_mb"]},
        min_count, len(rows))
    if group is not None and group_cap != quota_db.UNLIMITED:
        room = group_cap - quota_db.group_members(conn, group["id"])
        if room < min_count:
            raise exceptions.QuotaExceeded("Quota exceeded, too many servers in group")
        allowed = min(allowed, room)
    return rows[:allowed]


def join_group(conn: Connection, group: RowMapping | None, rows: list[dict[str, Any]]) -> None:
    if group is not None:
        group_db.add_members(conn, group["id"], [r["uuid"] for r in rows])
