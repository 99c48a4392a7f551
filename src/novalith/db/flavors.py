"""Flavor rows and their extra specs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, Table, delete, insert, select

from novalith.db.base import utcnow
from novalith.db.models import Flavor, FlavorExtraSpec
from novalith.objects.specs import FlavorSpec

FL: Table = Flavor.__table__  # type: ignore[assignment]
SPEC: Table = FlavorExtraSpec.__table__  # type: ignore[assignment]

# Nova's default flavors: (flavorid, name, memory_mb, vcpus, root_gb)
DEFAULT_FLAVORS = (
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
)


def create(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(FL).values(created_at=utcnow(), **values))
                .inserted_primary_key[0])  # type: ignore[index]


def ensure_defaults(conn: Connection) -> int:
    """Create Nova's default flavors where no flavor exists yet; returns how many."""
    if conn.execute(select(FL.c.id).limit(1)).first() is not None:
        return 0
    for flavorid, name, ram, vcpus, disk in DEFAULT_FLAVORS:
        create(conn, {"flavorid": flavorid, "name": name, "memory_mb": ram, "vcpus": vcpus,
                      "root_gb": disk, "ephemeral_gb": 0, "swap": 0, "rxtx_factor": 1.0,
                      "is_public": True, "disabled": False})
    return len(DEFAULT_FLAVORS)


def get(conn: Connection, flavorid: str) -> RowMapping | None:
    return conn.execute(select(FL).where(FL.c.flavorid == flavorid)).mappings().first()


def extra_specs(conn: Connection, flavor_pk: int) -> dict[str, str]:
    rows = conn.execute(select(SPEC.c.key, SPEC.c.value).where(SPEC.c.flavor_id == flavor_pk))
    return {r.key: r.value for r in rows}


def set_extra_specs(conn: Connection, flavor_pk: int, specs: dict[str, str]) -> None:
    conn.execute(delete(SPEC).where(SPEC.c.flavor_id == flavor_pk,
                                    SPEC.c.key.in_(list(specs))))
    if specs:
        conn.execute(insert(SPEC), [{"flavor_id": flavor_pk, "key": k, "value": v}
                                    for k, v in specs.items()])


def delete_extra_spec(conn: Connection, flavor_pk: int, key: str) -> bool:
    return conn.execute(delete(SPEC).where(SPEC.c.flavor_id == flavor_pk,
                                           SPEC.c.key == key)).rowcount == 1


def to_spec(row: RowMapping, specs: dict[str, str]) -> FlavorSpec:
    return FlavorSpec(flavorid=row["flavorid"], name=row["name"], memory_mb=row["memory_mb"],
                      vcpus=row["vcpus"], root_gb=row["root_gb"],
                      ephemeral_gb=row["ephemeral_gb"], swap=row["swap"], extra_specs=specs)
