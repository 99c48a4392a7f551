"""/flavors: list, detail, show, create and delete (admin), extra specs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, delete, select
from sqlalchemy.exc import IntegrityError

from novalith import exceptions
from novalith.api.compute import flavor_views, params
from novalith.api.compute.links import next_link
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import flavors as flavor_db
from novalith.db.base import new_uuid
from novalith.db.models import Flavor

router = APIRouter(prefix="/compute/v2.1", tags=["flavors"])
CallDep = Annotated[Call, Depends(compute_call)]
FL: Table = Flavor.__table__  # type: ignore[assignment]
_SORT_KEYS = {"flavorid": FL.c.flavorid, "name": FL.c.name, "memory_mb": FL.c.memory_mb,
              "vcpus": FL.c.vcpus, "root_gb": FL.c.root_gb, "swap": FL.c.swap,
              "ephemeral_gb": FL.c.ephemeral_gb, "rxtx_factor": FL.c.rxtx_factor,
              "id": FL.c.id, "created_at": FL.c.created_at}


# Nova's bounds: what the DB's integer columns hold (larger is a 400, not a 500).
_DB_INT = 2**31 - 1


class FlavorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=255)
    ram: int = Field(ge=1, le=_DB_INT)
    vcpus: int = Field(ge=1, le=_DB_INT)
    disk: int = Field(ge=0, le=_DB_INT)
    id: str | None = Field(default=None, max_length=255,
                           pattern=r"^[a-zA-Z0-9._-]([a-zA-Z0-9. _-]*[a-zA-Z0-9._-])?$")
    ephemeral: int = Field(default=0, ge=0, le=_DB_INT, alias="OS-FLV-EXT-DATA:ephemeral")
    swap: int = Field(default=0, ge=0, le=_DB_INT)
    rxtx_factor: float = Field(default=1.0, gt=0, le=3.40282e38)
    is_public: bool = Field(default=True, alias="os-flavor-access:is_public")
    description: str | None = Field(default=None, max_length=65535)


class FlavorCreateBody(BaseModel):
    flavor: FlavorCreate


class ExtraSpecsBody(BaseModel):
    extra_specs: dict[str, str]


def _get(call: Call, flavorid: str) -> Any:
    with call.db.read() as conn:
        row = flavor_db.get(conn, flavorid)
    # There are no flavor access lists: a private flavor is the admins' alone, as in Nova
    # for a project without access.
    if row is None or not (row["is_public"] or call.ctx.is_admin):
        raise exceptions.FlavorNotFound(flavor_id=flavorid)
    return row


def _list(call: Call, request: Request, detail: bool) -> JSON:
    q = request.query_params
    stmt = select(FL).where(FL.c.disabled == False)  # noqa: E712
    is_public = q.get("is_public")
    if call.ctx.is_admin and is_public is not None:
        if is_public.lower() != "none":
            stmt = stmt.where(FL.c.is_public == params.boolean(is_public, "is_public"))
    else:
        stmt = stmt.where(FL.c.is_public == True)  # noqa: E712
    for key, col in (("minRam", FL.c.memory_mb), ("minDisk", FL.c.root_gb)):
        if key in q:
            try:
                stmt = stmt.where(col >= int(q[key]))
            except ValueError:
                raise exceptions.Invalid(f"Invalid {key} filter [{q[key]}]") from None
    sort_key = q.get("sort_key", "flavorid")
    sort_dir = q.get("sort_dir", "asc")
    if sort_key not in _SORT_KEYS or sort_dir not in ("asc", "desc"):
        raise exceptions.Invalid(f"Invalid sort key or direction: {sort_key} {sort_dir}")
    col = _SORT_KEYS[sort_key]
    limit = params.limit(request, call.services.config.max_limit)
    with call.db.read() as conn:
        marker = q.get("marker")
        if marker is not None:
            mrow = flavor_db.get(conn, marker)
            if mrow is None:
                raise exceptions.Invalid(f"marker [{marker}] not found")
            mval = mrow[col.key]
            stmt = stmt.where((col > mval) | ((col == mval) & (FL.c.id > mrow["id"]))
                              if sort_dir == "asc" else
                              (col < mval) | ((col == mval) & (FL.c.id > mrow["id"])))
        order = col.asc() if sort_dir == "asc" else col.desc()
        rows = list(conn.execute(stmt.order_by(order, FL.c.id.asc()).limit(limit)).mappings())
        specs = ({r["id"]: flavor_db.extra_specs(conn, r["id"]) for r in rows}
                 if detail and call.version.at_least("2.61") else {})
    if detail:
        flavors = [flavor_views.detail(call, r, specs.get(r["id"])) for r in rows]
    else:
        flavors = [flavor_views.summary(call, r) for r in rows]
    body: dict[str, Any] = {"flavors": flavors}
    if rows and len(rows) == limit:
        path = "flavors/detail" if detail else "flavors"
        body["flavors_links"] = next_link(call, path, list(q.multi_items()),
                                          rows[-1]["flavorid"])
    return JSON(body)


@router.get("/flavors")
def list_flavors(call: CallDep, request: Request) -> JSON:
    return _list(call, request, detail=False)


@router.get("/flavors/detail")
def list_flavors_detail(call: CallDep, request: Request) -> JSON:
    return _list(call, request, detail=True)


@router.get("/flavors/{flavor_id}")
def show_flavor(call: CallDep, flavor_id: str) -> JSON:
    row = _get(call, flavor_id)
    with call.db.read() as conn:
        specs = flavor_db.extra_specs(conn, row["id"])
    return JSON({"flavor": flavor_views.detail(call, row, specs)})


@router.post("/flavors")
def create_flavor(call: CallDep, body: FlavorCreateBody) -> JSON:
    call.require_admin("os_compute_api:os-flavor-manage:create")
    f = body.flavor
    if f.description is not None and not call.version.at_least("2.55"):
        raise exceptions.ValidationError(field="description",
                                         detail="Additional properties are not allowed.")
    flavorid = f.id if f.id not in (None, "auto") else new_uuid()
    assert flavorid is not None
    name = f.name.strip()
    if not name:
        raise exceptions.ValidationError(field="name", detail="The name must not be blank.")
    try:
        with call.db.write() as conn:
            if conn.execute(select(FL.c.id).where(FL.c.name == name)).first():
                raise exceptions.Conflict(f"Flavor with name {name} already exists.")
            if flavor_db.get(conn, flavorid) is not None:
                raise exceptions.Conflict(f"Flavor with ID {flavorid} already exists.")
            flavor_db.create(conn, {
                "flavorid": flavorid, "name": name, "memory_mb": f.ram, "vcpus": f.vcpus,
                "root_gb": f.disk, "ephemeral_gb": f.ephemeral, "swap": f.swap,
                "rxtx_factor": f.rxtx_factor, "is_public": f.is_public, "disabled": False,
                "description": f.description})
    except IntegrityError:
        raise exceptions.Conflict(f"Flavor with name {name} already exists.") from None
    return JSON({"flavor": flavor_views.detail(call, _get(call, flavorid), {})})


@router.delete("/flavors/{flavor_id}", status_code=202)
def delete_flavor(call: CallDep, flavor_id: str) -> Response:
    call.require_admin("os_compute_api:os-flavor-manage:delete")
    row = _get(call, flavor_id)
    with call.db.write() as conn:
        conn.execute(delete(FL).where(FL.c.id == row["id"]))
    return Response(status_code=202)


@router.get("/flavors/{flavor_id}/os-extra_specs")
def list_extra_specs(call: CallDep, flavor_id: str) -> JSON:
    row = _get(call, flavor_id)
    with call.db.read() as conn:
        return JSON({"extra_specs": flavor_db.extra_specs(conn, row["id"])})


@router.post("/flavors/{flavor_id}/os-extra_specs")
def create_extra_specs(call: CallDep, flavor_id: str, body: ExtraSpecsBody) -> JSON:
    call.require_admin("os_compute_api:os-flavor-extra-specs:create")
    row = _get(call, flavor_id)
    with call.db.write() as conn:
        flavor_db.set_extra_specs(conn, row["id"], body.extra_specs)
    return JSON({"extra_specs": body.extra_specs})


@router.get("/flavors/{flavor_id}/os-extra_specs/{key}")
def show_extra_spec(call: CallDep, flavor_id: str, key: str) -> JSON:
    row = _get(call, flavor_id)
    with call.db.read() as conn:
        specs = flavor_db.extra_specs(conn, row["id"])
    if key not in specs:
        raise exceptions.NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return JSON({key: specs[key]})


@router.put("/flavors/{flavor_id}/os-extra_specs/{key}")
def update_extra_spec(call: CallDep, flavor_id: str, key: str,
                      body: dict[str, str]) -> JSON:
    call.require_admin("os_compute_api:os-flavor-extra-specs:update")
    if list(body) != [key]:
        raise exceptions.Invalid("Request body and URI mismatch")
    row = _get(call, flavor_id)
    with call.db.write() as conn:
        flavor_db.set_extra_specs(conn, row["id"], body)
    return JSON(body)


@router.delete("/flavors/{flavor_id}/os-extra_specs/{key}")
def delete_extra_spec(call: CallDep, flavor_id: str, key: str) -> Response:
    call.require_admin("os_compute_api:os-flavor-extra-specs:delete")
    row = _get(call, flavor_id)
    with call.db.write() as conn:
        if not flavor_db.delete_extra_spec(conn, row["id"], key):
            raise exceptions.NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
    return Response(status_code=200)
