"""Server groups with openstacksdk across three hosts: anti-affinity spreads three
members and refuses a fourth; affinity keeps members together; soft policies weigh."""

from __future__ import annotations

from collections import Counter

import pytest
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from .conftest import (
    HOSTS,
    SDK_WARNINGS,
    Tenant,
    boot,
    expect_usage,
    host_of,
    usage,
    wait_active,
)

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]


def test_anti_affinity_three_members_three_hosts_fourth_fails(
        tenant: Tenant, admin: Connection) -> None:
    conn = tenant.member
    group = conn.compute.create_server_group(name="anti", policies=["anti-affinity"])
    assert group.policies == ["anti-affinity"] and group.member_ids == []
    before = usage(admin)
    servers = [boot(conn, f"anti-{i}", scheduler_hints={"group": group.id})
               for i in range(3)]
    for server in servers:
        assert server.status in (None, "BUILD")
    servers = [wait_active(conn, s) for s in servers]
    hosts = [host_of(admin, s.id) for s in servers]
    assert sorted(hosts) == list(HOSTS)
    expect_usage(admin, before, {h: 1 for h in HOSTS})

    fourth = wait_active(conn, boot(conn, "anti-3", scheduler_hints={"group": group.id}),
                         status="ERROR")
    assert "No valid host was found" in fourth.fault["message"]
    assert admin.compute.get_server(fourth.id).compute_host is None
    expect_usage(admin, before, {h: 1 for h in HOSTS})  # the failure claimed nothing

    shown = conn.compute.get_server_group(group.id)
    assert sorted(shown.member_ids) == sorted([s.id for s in servers] + [fourth.id])
    assert group.id in {g.id for g in conn.compute.server_groups()}
    conn.compute.delete_server_group(group)
    with pytest.raises(sdk_exceptions.NotFoundException):
        conn.compute.get_server_group(group.id)


def test_affinity_puts_every_member_on_one_host(tenant: Tenant, admin: Connection) -> None:
    conn = tenant.member
    group = conn.compute.create_server_group(name="aff", policies=["affinity"])
    before = usage(admin)
    servers = [wait_active(conn, boot(conn, f"aff-{i}", scheduler_hints={"group": group.id}))
               for i in range(3)]
    hosts = {host_of(admin, s.id) for s in servers}
    assert len(hosts) == 1
    expect_usage(admin, before, {hosts.pop(): 3})


def test_soft_policies_prefer_but_do_not_refuse(tenant: Tenant, admin: Connection) -> None:
    conn = tenant.member
    spread = conn.compute.create_server_group(name="soft-anti",
                                              policies=["soft-anti-affinity"])
    servers = [wait_active(conn, boot(conn, f"sa-{i}", scheduler_hints={"group": spread.id}))
               for i in range(4)]
    counts = Counter(host_of(admin, s.id) for s in servers)
    assert set(counts) == set(HOSTS) and sorted(counts.values()) == [1, 1, 2]
    pack = conn.compute.create_server_group(name="soft-aff", policies=["soft-affinity"])
    packed = [wait_active(conn, boot(conn, f"sf-{i}", scheduler_hints={"group": pack.id}))
              for i in range(3)]
    assert len({host_of(admin, s.id) for s in packed}) == 1


def test_other_projects_groups_are_invisible(tenant: Tenant, admin: Connection) -> None:
    group = admin.compute.create_server_group(name="admins", policies=["affinity"])
    try:
        with pytest.raises(sdk_exceptions.NotFoundException):
            tenant.member.compute.get_server_group(group.id)
        assert group.id not in {g.id for g in tenant.member.compute.server_groups(
            all_projects=True)}
        assert group.id in {g.id for g in admin.compute.server_groups(all_projects=True)}
        with pytest.raises(sdk_exceptions.BadRequestException):
            boot(tenant.member, "intruder", scheduler_hints={"group": group.id})
    finally:
        admin.compute.delete_server_group(group)
