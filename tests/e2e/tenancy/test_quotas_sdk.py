"""Quotas with openstacksdk: quota sets (show, defaults, detail, update, revert), limits,
a refused boot, and 20 concurrent boots against a quota of 10."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from .conftest import (
    SDK_WARNINGS,
    Tenant,
    boot,
    delete_project_servers,
    until,
    usage,
    wait_active,
)

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]


def _total(admin: Connection) -> dict[str, int]:
    figures = usage(admin).values()
    return {k: sum(f[k] for f in figures) for k in ("running_vms", "vcpus_used",
                                                     "memory_used")}


def test_quota_sets_and_limits(tenant: Tenant, admin: Connection) -> None:
    conn, project = tenant.member, tenant.project_id
    quota = conn.compute.get_quota_set(project)
    assert (quota.instances, quota.cores, quota.ram) == (10, 20, 51200)
    assert (quota.key_pairs, quota.server_groups, quota.server_group_members) == (100, 10, 10)
    defaults = conn.compute.get_quota_set_defaults(project)
    assert defaults.instances == 10
    with pytest.raises(sdk_exceptions.ForbiddenException):
        conn.compute.update_quota_set(project, instances=50)

    updated = admin.compute.update_quota_set(project, instances=2, cores=8)
    assert (updated.instances, updated.cores) == (2, 8)
    servers = [wait_active(conn, boot(conn, f"q-{i}")) for i in range(2)]
    with pytest.raises(sdk_exceptions.ForbiddenException,
                       match="Quota exceeded for instances: Requested 1, but already used 2 "
                             "of 2 instances"):
        boot(conn, "q-over")
    assert sorted(s.name for s in conn.compute.servers()) == ["q-0", "q-1"]
    detail = conn.compute.get_quota_set(project, usage=True)
    assert detail.usage["instances"] == 2 and detail.usage["cores"] == 2
    assert detail.usage["ram"] == 1024 and detail.instances == 2
    limits = conn.compute.get_limits().absolute
    assert (limits.instances, limits.instances_used) == (2, 2)
    assert (limits.total_cores, limits.total_cores_used) == (8, 2)
    assert limits.total_ram_used == 1024 and limits.server_groups == 10

    admin.compute.revert_quota_set(project)
    assert conn.compute.get_quota_set(project).instances == 10
    assert wait_active(conn, boot(conn, "q-2")).status == "ACTIVE"
    assert len(servers) == 2


def test_twenty_concurrent_boots_against_a_quota_of_ten(tenant: Tenant,
                                                        admin: Connection) -> None:
    project = tenant.project_id
    assert tenant.member.compute.get_quota_set(project).instances == 10
    before = _total(admin)
    conns = [tenant.member_login() for _ in range(20)]

    def attempt(i: int) -> str:
        try:
            boot(conns[i], f"burst-{i}")
        except sdk_exceptions.ForbiddenException as exc:
            assert "Quota exceeded for instances" in str(exc)
            return "quota"
        return "ok"

    with ThreadPoolExecutor(20) as pool:
        outcomes = Counter(pool.map(attempt, range(20)))
    assert outcomes == {"ok": 10, "quota": 10}
    servers = list(tenant.member.compute.servers())
    assert len(servers) == 10
    for server in servers:
        wait_active(tenant.member, server)
    after = _total(admin)
    assert after["running_vms"] - before["running_vms"] == 10
    assert after["memory_used"] - before["memory_used"] == 10 * 512
    detail = tenant.member.compute.get_quota_set(project, usage=True)
    assert detail.usage["instances"] == 10
    # Nothing leaked: deleting them frees the whole quota.
    delete_project_servers(admin, project)
    until(lambda: tenant.member.compute.get_quota_set(project, usage=True)
          .usage["instances"] == 0, "usage back to 0")
    assert _total(admin) == before
