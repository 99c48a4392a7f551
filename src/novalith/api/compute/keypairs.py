"""/os-keypairs: create (generated key, returned once) or import, list, show, delete.

Keypairs belong to a user. Microversions: 2.2 adds ``type`` (ssh, x509) and answers
create with 201 and delete with 204; 2.10 lets an administrator name another
user (``user_id`` in the body, or the query); 2.35 pages the list (limit, marker).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from novalith import exceptions
from novalith.api.compute import keypair_crypto
from novalith.api.compute.links import next_link
from novalith.api.compute.server_views import iso_usec
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import keypairs as keypair_db
from novalith.db import quotas as quota_db

router = APIRouter(prefix="/compute/v2.1", tags=["keypairs"])
CallDep = Annotated[Call, Depends(compute_call)]
_SAFE = set(string.ascii_letters + string.digits + "_- ")
_RULE = "os_compute_api:os-keypairs:"


class KeypairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    public_key: str | None = Field(default=None, max_length=65535)
    type: Literal["ssh", "x509"] | None = None
    user_id: str | None = Field(default=None, min_length=1, max_length=255)


class KeypairCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keypair: KeypairCreate


UserQuery = Annotated[str | None, Query(description="Owner of the keypairs (admin, 2.10)")]


def _owner(call: Call, user_id: str | None) -> str:
    """Whose keypairs: another user's only from 2.10 (and the policy decides who may)."""
    if user_id is not None and call.version.at_least("2.10"):
        return user_id
    return call.ctx.user_id or ""


def _target(call: Call, user_id: str) -> Mapping[Any, Any]:
    return {"user_id": user_id, "project_id": call.ctx.project_id}


def _view(call: Call, row: Mapping[Any, Any], *, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"name": row["name"], "public_key": row["public_key"],
                            "fingerprint": row["fingerprint"]}
    if call.version.at_least("2.2"):
        body["type"] = row["type"]
    if full:
        body.update({"user_id": row["user_id"], "created_at": iso_usec(row["created_at"]),
                     "updated_at": iso_usec(row["updated_at"]), "deleted": False,
                     "deleted_at": None, "id": row["id"]})
    return body


def _not_found(name: str, user_id: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Keypair {name} not found for user {user_id}")


def _check_name(name: str) -> None:
    if not name.strip() or not set(name) <= _SAFE:
        raise exceptions.Invalid("Keypair data is invalid: Keypair name contains unsafe "
                                 "characters")


@router.post("/os-keypairs", status_code=200)
def create_keypair(call: CallDep, body: KeypairCreateBody) -> JSON:
    kp = body.keypair
    if kp.type is not None and not call.version.at_least("2.2"):
        raise exceptions.ValidationError(field="type",
                                         detail="Additional properties are not allowed.")
    if kp.user_id is not None and not call.version.at_least("2.10"):
        raise exceptions.ValidationError(field="user_id",
                                         detail="Additional properties are not allowed.")
    owner = _owner(call, kp.user_id)
    call.authorize(_RULE + "create", _target(call, owner))
    _check_name(kp.name)
    key_type = kp.type or keypair_crypto.SSH
    if kp.public_key is None:
        material = keypair_crypto.generate(key_type, owner)
    else:
        material = keypair_crypto.KeyMaterial(
            public_key=kp.public_key, private_key=None,
            fingerprint=keypair_crypto.fingerprint(key_type, kp.public_key))
    try:
        with call.db.write() as conn:
            # key_pairs is a per-user count against the project's limit (as in Nova).
            cap = quota_db.limits(conn, call.ctx.project_id or "",
                                  call.services.config.quota.defaults)["key_pairs"]
            if cap != quota_db.UNLIMITED:
                quota_db.lock(conn, [f"user:{owner}"])
                if quota_db.user_keypairs(conn, owner) >= cap:
                    raise exceptions.QuotaExceeded("Quota exceeded, too many key pairs.")
            if keypair_db.get(conn, owner, kp.name) is not None:
                raise exceptions.Conflict(f"Key pair '{kp.name}' already exists.")
            keypair_db.create(conn, {"name": kp.name, "user_id": owner, "type": key_type,
                                     "public_key": material.public_key,
                                     "fingerprint": material.fingerprint})
            row = keypair_db.get(conn, owner, kp.name)
    except IntegrityError:
        raise exceptions.Conflict(f"Key pair '{kp.name}' already exists.") from None
    assert row is not None
    out = _view(call, row, full=False)
    out["user_id"] = owner
    if material.private_key is not None:
        out["private_key"] = material.private_key
    return JSON({"keypair": out}, status_code=201 if call.version.at_least("2.2") else 200)


@router.get("/os-keypairs")
def list_keypairs(call: CallDep, user_id: UserQuery = None,
                  limit: Annotated[int | None,
                                   Query(ge=0, le=2**31 - 1, description="2.35")] = None,
                  marker: Annotated[str | None, Query(description="2.35")] = None) -> JSON:
    owner = _owner(call, user_id)
    call.authorize(_RULE + "index", _target(call, owner))
    paged = call.version.at_least("2.35")
    page = None
    if paged:
        page = min(limit if limit is not None else call.services.config.max_limit,
                   call.services.config.max_limit)
    with call.db.read() as conn:
        after = None
        if paged and marker is not None:
            mrow = keypair_db.get(conn, owner, marker)
            if mrow is None:
                raise exceptions.Invalid(f"marker [{marker}] not found")
            after = mrow["id"]
        rows = keypair_db.list_for_user(conn, owner, page, after)
    out: dict[str, Any] = {"keypairs": [{"keypair": _view(call, r, full=False)} for r in rows]}
    if paged and rows and page is not None and len(rows) == page:
        params = [("limit", str(page))]
        if user_id is not None:
            params.append(("user_id", user_id))
        out["keypairs_links"] = next_link(call, "os-keypairs", params, rows[-1]["name"])
    return JSON(out)


@router.get("/os-keypairs/{keypair_name}")
def show_keypair(call: CallDep, keypair_name: str, user_id: UserQuery = None) -> JSON:
    owner = _owner(call, user_id)
    call.authorize(_RULE + "show", _target(call, owner))
    with call.db.read() as conn:
        row = keypair_db.get(conn, owner, keypair_name)
    if row is None:
        raise _not_found(keypair_name, owner)
    return JSON({"keypair": _view(call, row, full=True)})


@router.delete("/os-keypairs/{keypair_name}", status_code=202)
def delete_keypair(call: CallDep, keypair_name: str, user_id: UserQuery = None) -> Response:
    owner = _owner(call, user_id)
    call.authorize(_RULE + "delete", _target(call, owner))
    with call.db.write() as conn:
        if not keypair_db.remove(conn, owner, keypair_name):
            raise _not_found(keypair_name, owner)
    return Response(status_code=204 if call.version.at_least("2.2") else 202)
