"""Availability zones and host aggregates with openstacksdk: a zone made of one host,
booting into it, aggregate metadata matched by flavor extra specs."""

from __future__ import annotations

import uuid

import pytest
from openstack import exceptions as sdk_exceptions
from openstack.connection import Connection

from .conftest import (
    SDK_WARNINGS,
    Tenant,
    boot,
    delete_project_servers,
    expect_usage,
    host_of,
    usage,
    wait_active,
)

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]
ZONE_HOST = "e2e-host-2"


def test_zone_aggregate_and_boot_into_it(tenant: Tenant, admin: Connection) -> None:
    conn = tenant.member
    zone = f"zone-{uuid.uuid4().hex[:6]}"
    agg = admin.compute.create_aggregate(name=f"agg-{zone}", availability_zone=zone)
    try:
        assert agg.availability_zone == zone
        agg = admin.compute.add_host_to_aggregate(agg, ZONE_HOST)
        assert agg.hosts == [ZONE_HOST] and agg.metadata == {"availability_zone": zone}
        zones = {z.name: z for z in conn.compute.availability_zones()}
        assert zones[zone].state == {"available": True} and zones[zone].hosts is None
        assert "nova" in zones and "internal" not in zones
        detail = {z.name: z for z in admin.compute.availability_zones(details=True)}
        assert set(detail[zone].hosts) == {ZONE_HOST}
        assert ZONE_HOST not in detail["nova"].hosts
        assert "nova-conductor" in detail["internal"].hosts["e2e-host"]
        with pytest.raises(sdk_exceptions.ForbiddenException):
            list(conn.compute.availability_zones(details=True))

        before = usage(admin)
        servers = [wait_active(conn, boot(conn, f"zoned-{i}", availability_zone=zone))
                   for i in range(2)]
        assert {host_of(admin, s.id) for s in servers} == {ZONE_HOST}
        assert {s.availability_zone for s in servers} == {zone}
        expect_usage(admin, before, {ZONE_HOST: 2})
        others = wait_active(conn, boot(conn, "elsewhere", availability_zone="nova"))
        assert host_of(admin, others.id) != ZONE_HOST

        renamed = admin.compute.update_aggregate(agg, name=f"renamed-{zone}")
        assert renamed.name == f"renamed-{zone}"
        delete_project_servers(admin, tenant.project_id)
        agg = admin.compute.remove_host_from_aggregate(agg, ZONE_HOST)
        assert agg.hosts == []
        assert zone not in {z.name for z in conn.compute.availability_zones()}
    finally:
        agg = admin.compute.get_aggregate(agg.id)
        for host in agg.hosts:
            admin.compute.remove_host_from_aggregate(agg, host)
        admin.compute.delete_aggregate(agg)
    with pytest.raises(sdk_exceptions.NotFoundException):
        admin.compute.get_aggregate(agg.id)


def test_aggregate_metadata_and_flavor_extra_specs(tenant: Tenant, admin: Connection) -> None:
    conn = tenant.member
    name = f"ssd-{uuid.uuid4().hex[:6]}"
    agg = admin.compute.create_aggregate(name=name)
    flavor = admin.compute.create_flavor(name=name, ram=256, vcpus=1, disk=1, is_public=True)
    try:
        admin.compute.add_host_to_aggregate(agg, "e2e-host-3")
        agg = admin.compute.set_aggregate_metadata(agg, ssd="true", gen="4")
        assert agg.metadata == {"ssd": "true", "gen": "4"}
        admin.compute.create_flavor_extra_specs(flavor, {
            "aggregate_instance_extra_specs:ssd": "true",
            "aggregate_instance_extra_specs:gen": ">= 3"})
        before = usage(admin)
        servers = [wait_active(conn, boot(conn, f"ssd-{i}", flavor=name)) for i in range(3)]
        assert {host_of(admin, s.id) for s in servers} == {"e2e-host-3"}
        expect_usage(admin, before, {"e2e-host-3": 3}, flavor=(1, 256))
        # Without the metadata the flavor fits nowhere.
        admin.compute.set_aggregate_metadata(agg, ssd=None)
        failed = wait_active(conn, boot(conn, "ssd-none", flavor=name), status="ERROR")
        assert "AggregateInstanceExtraSpecsFilter" in failed.fault["message"]
    finally:
        delete_project_servers(admin, tenant.project_id)
        admin.compute.remove_host_from_aggregate(agg, "e2e-host-3")
        admin.compute.delete_aggregate(agg)
        admin.compute.delete_flavor(flavor)


def test_aggregates_are_admin_only(tenant: Tenant) -> None:
    with pytest.raises(sdk_exceptions.ForbiddenException):
        list(tenant.member.compute.aggregates())
    with pytest.raises(sdk_exceptions.ForbiddenException):
        tenant.member.compute.create_aggregate(name="mine")
