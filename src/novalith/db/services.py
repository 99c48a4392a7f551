"""Service registration, heartbeats and compute node records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, insert, select, update

from novalith.db.base import new_uuid, utcnow
from novalith.db.models import ComputeNode, Service

SVC: Table = Service.__table__  # type: ignore[assignment]
CN: Table = ComputeNode.__table__  # type: ignore[assignment]


def is_up(row: RowMapping | dict[str, Any], down_time: int, now: dt.datetime | None = None
          ) -> bool:
    """A service is up when not forced down and its last heartbeat is recent."""
    if row["forced_down"]:
        return False
    seen = row["last_seen_up"] or row["updated_at"] or row["created_at"]
    return seen is not None and ((now or utcnow()) - seen).total_seconds() <= down_time


def register(conn: Connection, host: str, binary: str, topic: str,
             availability_zone: str | None, version: int) -> int:
    """Create or refresh the service row for (host, binary); returns its id."""
    now = utcnow()
    row = conn.execute(select(SVC.c.id).where(SVC.c.host == host, SVC.c.binary == binary)).first()
    if row is not None:
        conn.execute(update(SVC).where(SVC.c.id == row.id).values(
            topic=topic, version=version, last_seen_up=now, updated_at=now))
        return int(row.id)
    return int(conn.execute(insert(SVC).values(
        uuid=new_uuid(), host=host, binary=binary, topic=topic,
        availability_zone=availability_zone, version=version, last_seen_up=now,
        created_at=now, updated_at=now, disabled=False, forced_down=False, report_count=0,
    )).inserted_primary_key[0])  # type: ignore[index]


def heartbeat(conn: Connection, service_id: int) -> None:
    now = utcnow()
    conn.execute(update(SVC).where(SVC.c.id == service_id).values(
        report_count=SVC.c.report_count + 1, last_seen_up=now, updated_at=now))


def list_services(conn: Connection, host: str | None = None, binary: str | None = None
                  ) -> list[RowMapping]:
    q = select(SVC).order_by(SVC.c.id)
    if host is not None:
        q = q.where(SVC.c.host == host)
    if binary is not None:
        q = q.where(SVC.c.binary == binary)
    return list(conn.execute(q).mappings())


def upsert_node(conn: Connection, service_id: int, host: str, values: dict[str, Any]) -> int:
    """Create or update the compute node of ``values['hypervisor_hostname']``.

    ``values`` holds totals and hypervisor facts; used figures are never written
    here (claims own them), only on creation they start at zero.
    """
    now = utcnow()
    name = values["hypervisor_hostname"]
    row = conn.execute(select(CN.c.id).where(CN.c.hypervisor_hostname == name)).first()
    if row is not None:
        conn.execute(update(CN).where(CN.c.id == row.id)
                     .values(service_id=service_id, host=host, updated_at=now, **values))
        return int(row.id)
    return int(conn.execute(insert(CN).values(
        uuid=new_uuid(), service_id=service_id, host=host, created_at=now, updated_at=now,
        vcpus_used=0, memory_mb_used=0, local_gb_used=0, running_vms=0, **values,
    )).inserted_primary_key[0])  # type: ignore[index]


def nodes_with_services(conn: Connection) -> list[RowMapping]:
    """Every compute node joined with its service's liveness and enablement."""
    q = (select(CN, SVC.c.disabled.label("service_disabled"),
                SVC.c.disabled_reason.label("service_disabled_reason"),
                SVC.c.forced_down, SVC.c.last_seen_up, SVC.c.availability_zone,
                SVC.c.id.label("svc_id"), SVC.c.created_at.label("service_created_at"),
                SVC.c.updated_at.label("service_updated_at"))
         .select_from(CN.join(SVC, CN.c.service_id == SVC.c.id))
         .order_by(CN.c.id))
    return list(conn.execute(q).mappings())
