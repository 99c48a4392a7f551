"""/os-aggregates (admin): host aggregates, their hosts and metadata.

The ``availability_zone`` metadata key makes an aggregate an availability zone:
its hosts leave the default zone for it. A host is never in two zones: adding it,
or setting a zone, is refused (409 / 400) when another aggregate of the host names
a different zone, and a zone change is refused while the hosts run servers (their
servers would silently change zone). 2.41 shows each aggregate's uuid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from novalith import exceptions
from novalith.api.compute.host_refresh import refresh_hosts
from novalith.api.compute.server_views import iso_usec
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import aggregates as agg_db
from novalith.db import services as svc_db
from novalith.db.instances import INST

router = APIRouter(prefix="/compute/v2.1", tags=["aggregates"])
CallDep = Annotated[Call, Depends(compute_call)]
_RULE = "os_compute_api:os-aggregates:"
Name = Annotated[str, Field(min_length=1, max_length=255)]
AggregateId = Annotated[int, Path(ge=0, le=2**31 - 1, description="Aggregate id")]


class AggregateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    availability_zone: Name | None = None


class AggregateCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aggregate: AggregateCreate


class AggregateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    availability_zone: Name | None = None

    @model_validator(mode="after")
    def _something(self) -> AggregateUpdate:
        if not self.model_fields_set:
            raise ValueError("name or availability_zone is required")
        return self


class AggregateUpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aggregate: AggregateUpdate


class HostRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: Name


class MetadataSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metadata: dict[Annotated[str, Field(min_length=1, max_length=255)],
                   Annotated[str, Field(max_length=255)] | None]


class AggregateAction(BaseModel):
    """Exactly one of add_host, remove_host, set_metadata."""

    model_config = ConfigDict(extra="forbid")
    add_host: HostRef | None = None
    remove_host: HostRef | None = None
    set_metadata: MetadataSet | None = None

    @model_validator(mode="after")
    def _one(self) -> AggregateAction:
        if len(self.model_fields_set) != 1:
            raise ValueError("exactly one action is expected")
        return self


def _view(call: Call, conn: Connection, row: Mapping[Any, Any], full: bool = True
          ) -> dict[str, Any]:
    meta = agg_db.metadata(conn, [row["id"]])[row["id"]]
    body: dict[str, Any] = {
        "id": row["id"], "name": row["name"],
        "availability_zone": meta.get(agg_db.AZ_KEY),
        "created_at": iso_usec(row["created_at"]), "updated_at": iso_usec(row["updated_at"]),
        "deleted": False, "deleted_at": None}
    if full:
        body["hosts"] = agg_db.hosts(conn, [row["id"]])[row["id"]]
        body["metadata"] = meta
    if call.version.at_least("2.41"):
        body["uuid"] = row["uuid"]
    return body


def _get(conn: Connection, aggregate_id: int) -> Mapping[Any, Any]:
    row = agg_db.get(conn, aggregate_id)
    if row is None:
        raise exceptions.NotFound(f"Aggregate {aggregate_id} could not be found.")
    return row


def _check_zone_name(call: Call, zone: str) -> None:
    if zone == call.services.config.internal_availability_zone:
        raise exceptions.Invalid(f"Aggregates cannot use the internal availability zone "
                                 f"'{zone}'.")
    if ":" in zone or not zone.strip():
        raise exceptions.Invalid(f"Invalid availability zone name '{zone}': it must not be "
                                 "blank nor contain ':'.")


def _hosts_with_servers(conn: Connection, hosts: Iterable[str]) -> list[str]:
    names = list(hosts)
    if not names:
        return []
    rows = conn.execute(select(INST.c.host, func.count()).where(
        INST.c.host.in_(names), INST.c.deleted == False)  # noqa: E712
        .group_by(INST.c.host))
    return sorted(r[0] for r in rows if r[1])


def _check_zone_change(call: Call, conn: Connection, aggregate_id: int, zone: str | None,
                       action: str) -> None:
    """A new zone for an aggregate: no host of it may sit in another zone or run servers."""
    current = agg_db.metadata(conn, [aggregate_id])[aggregate_id].get(agg_db.AZ_KEY)
    if zone == current:
        return
    if zone is not None:
        _check_zone_name(call, zone)
    hosts = agg_db.hosts(conn, [aggregate_id])[aggregate_id]
    for host in hosts:
        others = agg_db.zones_of_host(conn, host, skip_aggregate=aggregate_id)
        if zone is not None and others - {zone}:
            raise exceptions.Invalid(
                f"Cannot {action} aggregate {aggregate_id}. Reason: One or more hosts "
                f"already in availability zone(s) {sorted(others)}.")
    busy = _hosts_with_servers(conn, hosts)
    if busy:
        raise exceptions.Invalid(
            f"Cannot {action} aggregate {aggregate_id}. Reason: One or more hosts contain "
            f"instances in this zone: {', '.join(busy)}.")


@router.get("/os-aggregates")
def list_aggregates(call: CallDep) -> JSON:
    call.authorize(_RULE + "index")
    with call.db.read() as conn:
        return JSON({"aggregates": [_view(call, conn, r) for r in agg_db.list_all(conn)]})


@router.post("/os-aggregates")
def create_aggregate(call: CallDep, body: AggregateCreateBody) -> JSON:
    call.authorize(_RULE + "create")
    agg = body.aggregate
    name = agg.name.strip()
    if not name:
        raise exceptions.ValidationError(field="name", detail="The name must not be blank.")
    if agg.availability_zone is not None:
        _check_zone_name(call, agg.availability_zone)
    try:
        with call.db.write() as conn:
            if agg_db.by_name(conn, name) is not None:
                raise exceptions.Conflict(f"Aggregate {name} already exists.")
            agg_id = agg_db.create(conn, name)
            if agg.availability_zone is not None:
                agg_db.set_metadata(conn, agg_id, {agg_db.AZ_KEY: agg.availability_zone})
            return JSON({"aggregate": _view(call, conn, _get(conn, agg_id), full=False)})
    except IntegrityError:
        raise exceptions.Conflict(f"Aggregate {name} already exists.") from None


@router.get("/os-aggregates/{aggregate_id}")
def show_aggregate(call: CallDep, aggregate_id: AggregateId) -> JSON:
    call.authorize(_RULE + "show")
    with call.db.read() as conn:
        return JSON({"aggregate": _view(call, conn, _get(conn, aggregate_id))})


@router.put("/os-aggregates/{aggregate_id}")
def update_aggregate(call: CallDep, aggregate_id: AggregateId, body: AggregateUpdateBody) -> JSON:
    call.authorize(_RULE + "update")
    upd = body.aggregate
    try:
        with call.db.write() as conn:
            _get(conn, aggregate_id)
            values: dict[str, Any] = {}
            if upd.name is not None:
                name = upd.name.strip()
                other = agg_db.by_name(conn, name)
                if not name or (other is not None and other["id"] != aggregate_id):
                    raise exceptions.Conflict(f"Aggregate {name} already exists.")
                values["name"] = name
            if "availability_zone" in upd.model_fields_set:
                _check_zone_change(call, conn, aggregate_id, upd.availability_zone, "update")
                agg_db.set_metadata(conn, aggregate_id,
                                    {agg_db.AZ_KEY: upd.availability_zone})
            agg_db.touch(conn, aggregate_id, **values)
            out = _view(call, conn, _get(conn, aggregate_id))
    except IntegrityError:
        raise exceptions.Conflict(f"Aggregate {upd.name} already exists.") from None
    refresh_hosts(call, out["hosts"])
    return JSON({"aggregate": out})


@router.delete("/os-aggregates/{aggregate_id}")
def delete_aggregate(call: CallDep, aggregate_id: AggregateId) -> Response:
    call.authorize(_RULE + "delete")
    with call.db.write() as conn:
        _get(conn, aggregate_id)
        if agg_db.hosts(conn, [aggregate_id])[aggregate_id]:
            raise exceptions.Invalid(f"Cannot remove aggregate {aggregate_id}. Reason: Host "
                                     "aggregate is not empty.")
        agg_db.remove(conn, aggregate_id)
    return Response(status_code=200)


def _add_host(call: Call, conn: Connection, aggregate_id: int, host: str) -> None:
    if not svc_db.list_services(conn, host=host, binary="nova-compute"):
        raise exceptions.ComputeHostNotFound(host=host)
    if host in agg_db.hosts(conn, [aggregate_id])[aggregate_id]:
        raise exceptions.Conflict(f"Aggregate {aggregate_id} already has host {host}.")
    zone = agg_db.metadata(conn, [aggregate_id])[aggregate_id].get(agg_db.AZ_KEY)
    if zone is not None:
        others = agg_db.zones_of_host(conn, host)
        if others - {zone}:
            raise exceptions.Conflict(
                f"Cannot add host to aggregate {aggregate_id}. Reason: One or more hosts "
                f"already in availability zone(s) {sorted(others)}.")
        if not others and _hosts_with_servers(conn, [host]):
            raise exceptions.Conflict(
                f"Cannot add host to aggregate {aggregate_id}. Reason: Host {host} has "
                f"instances in another availability zone.")
    agg_db.add_host(conn, aggregate_id, host)


def _remove_host(call: Call, conn: Connection, aggregate_id: int, host: str) -> None:
    if not agg_db.remove_host(conn, aggregate_id, host):
        raise exceptions.NotFound(f"Aggregate {aggregate_id} has no host {host}.")


def _set_metadata(call: Call, conn: Connection, aggregate_id: int,
                  metadata: Mapping[str, str | None]) -> None:
    if agg_db.AZ_KEY in metadata:
        _check_zone_change(call, conn, aggregate_id, metadata[agg_db.AZ_KEY], "update")
    agg_db.set_metadata(conn, aggregate_id, metadata)


@router.post("/os-aggregates/{aggregate_id}/action")
def aggregate_action(call: CallDep, aggregate_id: AggregateId, body: AggregateAction) -> JSON:
    name = next(iter(body.model_fields_set))
    call.authorize(_RULE + name)  # before looking the aggregate up: 403, never 404
    refresh: set[str] = set()
    with call.db.write() as conn:
        _get(conn, aggregate_id)
        if body.add_host is not None:
            _add_host(call, conn, aggregate_id, body.add_host.host)
            refresh.add(body.add_host.host)
        elif body.remove_host is not None:
            _remove_host(call, conn, aggregate_id, body.remove_host.host)
            refresh.add(body.remove_host.host)
        elif body.set_metadata is not None:
            _set_metadata(call, conn, aggregate_id, body.set_metadata.metadata)
            refresh.update(agg_db.hosts(conn, [aggregate_id])[aggregate_id])
        agg_db.touch(conn, aggregate_id)
        out = _view(call, conn, _get(conn, aggregate_id))
    refresh_hosts(call, refresh)
    return JSON({"aggregate": out})
