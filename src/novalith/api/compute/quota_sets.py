"""/os-quota-sets/{project}: show, defaults, detail (with usage), update and revert
(admin); and /limits, the caller's absolute limits with usage.

Limits are the ``[quota]`` defaults overridden per project; usage is counted from
the rows themselves (:mod:`novalith.db.quotas`). Below 2.36 the network quotas of
the nova-network days are shown with Nova's fixed defaults (there is no network
service to enforce them); 2.36 drops them and 2.39 drops ``maxImageMeta``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from novalith import exceptions
from novalith.api.deps import Call, compute_call
from novalith.api.responses import JSON
from novalith.db import quotas as quota_db

router = APIRouter(prefix="/compute/v2.1", tags=["quotas"])
CallDep = Annotated[Call, Depends(compute_call)]
_RULE = "os_compute_api:os-quota-sets:"
# Shown below 2.36 only: the network quotas (never enforced here).
NETWORK_QUOTAS = {"fixed_ips": -1, "floating_ips": 10, "security_group_rules": 20,
                  "security_groups": 10}
Limit = Annotated[int, Field(ge=-1, le=2**31 - 1)]


class QuotaSetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instances: Limit | None = None
    cores: Limit | None = None
    ram: Limit | None = None
    metadata_items: Limit | None = None
    injected_files: Limit | None = None
    injected_file_content_bytes: Limit | None = None
    injected_file_path_bytes: Limit | None = None
    key_pairs: Limit | None = None
    server_groups: Limit | None = None
    server_group_members: Limit | None = None
    fixed_ips: Limit | None = None
    floating_ips: Limit | None = None
    security_group_rules: Limit | None = None
    security_groups: Limit | None = None
    networks: Limit | None = None
    force: bool = False


class QuotaSetUpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quota_set: QuotaSetUpdate


UserQuery = Annotated[str | None, Query(description="Per-user quotas are not kept; the "
                                                    "project's are shown")]


def _target(project_id: str) -> dict[str, Any]:
    return {"project_id": project_id}


def _shape(call: Call, values: dict[str, Any], detail: bool = False) -> dict[str, Any]:
    """``values`` plus, below 2.36, the network quotas."""
    out = dict(values)
    if not call.version.at_least("2.36"):
        for key, default in NETWORK_QUOTAS.items():
            out[key] = {"in_use": 0, "limit": default, "reserved": 0} if detail else default
    return out


def _usage(call: Call, project_id: str, user_id: str | None) -> dict[str, int]:
    with call.db.read() as conn:
        used = quota_db.project_usage(conn, project_id)
        used["key_pairs"] = quota_db.user_keypairs(conn, user_id or call.ctx.user_id or "")
    return used


@router.get("/os-quota-sets/{project_id}")
def show_quota_set(call: CallDep, project_id: str, user_id: UserQuery = None) -> JSON:
    call.authorize(_RULE + "show", _target(project_id))
    with call.db.read() as conn:
        limits = quota_db.limits(conn, project_id, call.services.config.quota.defaults)
    return JSON({"quota_set": {"id": project_id, **_shape(call, limits)}})


@router.get("/os-quota-sets/{project_id}/defaults")
def show_quota_defaults(call: CallDep, project_id: str) -> JSON:
    call.authorize(_RULE + "defaults", _target(project_id))
    defaults = dict(call.services.config.quota.defaults)
    return JSON({"quota_set": {"id": project_id, **_shape(call, defaults)}})


@router.get("/os-quota-sets/{project_id}/detail")
def show_quota_detail(call: CallDep, project_id: str, user_id: UserQuery = None) -> JSON:
    call.authorize(_RULE + "detail", _target(project_id))
    with call.db.read() as conn:
        limits = quota_db.limits(conn, project_id, call.services.config.quota.defaults)
    used = _usage(call, project_id, user_id)
    detail = {r: {"in_use": used.get(r, 0), "limit": limits[r], "reserved": 0}
              for r in quota_db.RESOURCES}
    return JSON({"quota_set": {"id": project_id, **_shape(call, detail, detail=True)}})


@router.put("/os-quota-sets/{project_id}")
def update_quota_set(call: CallDep, project_id: str, body: QuotaSetUpdateBody,
                     user_id: UserQuery = None) -> JSON:
    call.authorize(_RULE + "update", _target(project_id))
    if user_id is not None:
        raise exceptions.Invalid("Per-user quotas are not supported; update the project's.")
    req = body.quota_set
    values = {k: getattr(req, k) for k in req.model_fields_set
              if k != "force" and getattr(req, k) is not None}
    network = set(values) & (set(NETWORK_QUOTAS) | {"networks"})
    if network and call.version.at_least("2.36"):
        raise exceptions.ValidationError(field=sorted(network)[0],
                                         detail="Additional properties are not allowed.")
    values = {k: v for k, v in values.items() if k in quota_db.RESOURCES}
    _check_project(call, project_id)
    with call.db.write() as conn:
        if not req.force:
            quota_db.lock(conn, [f"project:{project_id}"])
            used = quota_db.project_usage(conn, project_id)
            for resource, value in values.items():
                in_use = used.get(resource, 0)
                if value != quota_db.UNLIMITED and value < in_use:
                    raise exceptions.Invalid(
                        f"Quota limit {value} for {resource} must be greater than or equal "
                        f"to already used and reserved {in_use}.")
        quota_db.set_limits(conn, project_id, values)
        limits = quota_db.limits(conn, project_id, call.services.config.quota.defaults)
    return JSON({"quota_set": _shape(call, limits)})


@router.delete("/os-quota-sets/{project_id}", status_code=202)
def revert_quota_set(call: CallDep, project_id: str, user_id: UserQuery = None) -> Response:
    call.authorize(_RULE + "delete", _target(project_id))
    if user_id is not None:
        raise exceptions.Invalid("Per-user quotas are not supported; revert the project's.")
    with call.db.write() as conn:
        quota_db.delete_limits(conn, project_id)
    return Response(status_code=202)


def _check_project(call: Call, project_id: str) -> None:
    """Quotas are set only for projects the identity service knows."""
    try:
        call.services.identity.get_project(project_id)
    except exceptions.NotFound:
        raise exceptions.Invalid(f"Project ID {project_id} is not a valid project.") from None


@router.get("/limits")
def show_limits(call: CallDep,
                tenant_id: Annotated[str | None, Query(description="admin: another "
                                                                   "project")] = None) -> JSON:
    call.authorize("os_compute_api:limits")
    project_id = call.ctx.project_id or ""
    if tenant_id is not None and tenant_id != project_id:
        call.authorize("os_compute_api:limits:other_project", _target(tenant_id))
        project_id = tenant_id
    with call.db.read() as conn:
        limit = quota_db.limits(conn, project_id, call.services.config.quota.defaults)
    used = _usage(call, project_id, None)
    absolute: dict[str, int] = {
        "maxImageMeta": limit["metadata_items"],
        "maxPersonality": limit["injected_files"],
        "maxPersonalitySize": limit["injected_file_content_bytes"],
        "maxSecurityGroupRules": NETWORK_QUOTAS["security_group_rules"],
        "maxSecurityGroups": NETWORK_QUOTAS["security_groups"],
        "maxServerMeta": limit["metadata_items"],
        "maxTotalCores": limit["cores"],
        "maxTotalFloatingIps": NETWORK_QUOTAS["floating_ips"],
        "maxTotalInstances": limit["instances"],
        "maxTotalKeypairs": limit["key_pairs"],
        "maxTotalRAMSize": limit["ram"],
        "maxServerGroups": limit["server_groups"],
        "maxServerGroupMembers": limit["server_group_members"],
        "totalCoresUsed": used["cores"],
        "totalInstancesUsed": used["instances"],
        "totalRAMUsed": used["ram"],
        "totalSecurityGroupsUsed": 0,
        "totalFloatingIpsUsed": 0,
        "totalServerGroupsUsed": used["server_groups"],
    }
    if call.version.at_least("2.36"):
        for key in ("maxSecurityGroupRules", "maxSecurityGroups", "maxTotalFloatingIps",
                    "totalSecurityGroupsUsed", "totalFloatingIpsUsed"):
            del absolute[key]
    if call.version.at_least("2.39"):
        del absolute["maxImageMeta"]
    return JSON({"limits": {"rate": [], "absolute": absolute}})
