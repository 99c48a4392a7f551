"""The libvirt driver when things go wrong: a spawn that fails half-way leaves nothing,
and a libvirtd restart under running guests is survived (the compute service
reconnects and reports the right power states)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.libvirtd import (  # noqa: F401 - libvirtd_daemon, tiny_guest are fixtures
    BOOT_TIMEOUT,
    SDK_WARNINGS,
    LibvirtCloud,
    PrivateLibvirtd,
    close_libvirt_cloud,
    libvirtd_daemon,
    private_libvirtd,
    start_libvirt_cloud,
    tiny_guest,
)

pytestmark = [pytest.mark.timeout(600), *SDK_WARNINGS]


@pytest.fixture(scope="module")
def lv(private_libvirtd: PrivateLibvirtd, tiny_guest: Any,  # noqa: F811
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[LibvirtCloud]:
    cloud = start_libvirt_cloud(tmp_path_factory.mktemp("lv-recovery"), tiny_guest,
                                hosts=("lv-rec",),
                                extra={"libvirt": {"connection_uri": private_libvirtd.uri}})
    yield cloud
    close_libvirt_cloud(cloud)


def _admin(lv: LibvirtCloud) -> Any:
    from novalith.objects.context import RequestContext

    return RequestContext(roles=("admin", "member", "reader"))


def wait_status(sdk: Any, server: Any, status: str) -> Any:
    return sdk.compute.wait_for_server(server, status=status, failures=["ERROR"], interval=0.5,
                                       wait=BOOT_TIMEOUT)


def test_spawn_failing_after_the_disk_leaves_nothing(lv: LibvirtCloud) -> None:
    """An image whose kernel image does not exist: the root disk is made first, then the
    kernel fetch fails; the instance ends in ERROR with a fault, and neither a domain
    nor an instance directory is left."""
    import libvirt

    client = lv.cloud.image_client
    ctx = _admin(lv)
    record = client.create(ctx, name="lv-no-kernel", disk_format="raw",
                           container_format="bare", visibility="public",
                           properties={"kernel_id": "00000000-0000-4000-8000-00000000dead",
                                       "os_command_line": "console=ttyS0"})
    client.upload(ctx, record.id, _tiny_disk())
    sdk = lv.connect()
    server = sdk.compute.create_server(name="lv-broken", flavor_id=lv.flavors["small"],
                                       image_id=record.id, networks="none")
    server = sdk.compute.wait_for_server(server, status="ERROR", interval=0.5,
                                         wait=BOOT_TIMEOUT)
    assert server.fault and server.fault.get("message"), server
    root = lv.instances["lv-rec"]
    assert not (root / server.id).exists()
    with pytest.raises(libvirt.libvirtError):
        libvirt.open(lv.driver().settings.connection_uri).lookupByUUIDString(server.id)
    # The root disk was made (from the cached base) before the kernel fetch failed.
    assert any(p.name != "locks" for p in (root / "_base").iterdir())
    sdk.compute.delete_server(server)
    sdk.compute.wait_for_delete(server, wait=120)


def _tiny_disk() -> str:
    from novalith.virt.libvirt import tiny_image

    found = tiny_image.cached()
    assert found is not None
    return str(found.disk)


def test_libvirtd_restart_is_survived(lv: LibvirtCloud,
                                      private_libvirtd: PrivateLibvirtd) -> None:  # noqa: F811
    import libvirt

    from novalith import exceptions
    from novalith.compute import reconcile
    from novalith.compute.instance_spec import from_row
    from novalith.db import instances as inst_db

    sdk = lv.connect()
    one = sdk.compute.create_server(name="lv-r1", flavor_id=lv.flavors["small"],
                                    image_id=lv.images.image_id, networks="none")
    two = sdk.compute.create_server(name="lv-r2", flavor_id=lv.flavors["small"],
                                    image_id=lv.images.image_id, networks="none")
    one, two = wait_status(sdk, one, "ACTIVE"), wait_status(sdk, two, "ACTIVE")
    sdk.compute.pause_server(two)
    wait_status(sdk, two, "PAUSED")
    compute = lv.cloud.computes[0]
    driver = compute.deps.driver
    with compute.deps.db.read() as conn:
        spec_one = from_row(inst_db.get(conn, one.id))
        spec_two = from_row(inst_db.get(conn, two.id))

    private_libvirtd.kill()
    try:
        with pytest.raises(exceptions.ServiceUnavailable):
            driver.get_info(spec_one)
    finally:
        private_libvirtd.start()

    # The same driver object reconnects by itself and sees the guests as they were.
    assert driver.get_info(spec_one).power_state == 1
    assert driver.get_info(spec_two).power_state == 3
    assert driver.conn.reconnects >= 1
    assert set(driver.list_instances()) >= {one.id, two.id}
    # A guest stopped behind compute's back while it reconnects: the power sync
    # records it, and the API shows it.
    dom = libvirt.open(private_libvirtd.uri).lookupByUUIDString(one.id)
    try:
        dom.destroy()
    except libvirt.libvirtError as err:
        # A destroy that races libvirtd's re-attach to the guest ends the guest all
        # the same, but reports "domain is not running".
        assert err.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID, err
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    reconcile.sync_power_states(compute.deps)
    assert wait_status(sdk, one, "SHUTOFF").power_state == 4
    # And operations work again through the API.
    sdk.compute.unpause_server(two)
    wait_status(sdk, two, "ACTIVE")
    sdk.compute.start_server(one)
    wait_status(sdk, one, "ACTIVE")
    for server in (one, two):
        sdk.compute.delete_server(server)
    for server in (one, two):
        sdk.compute.wait_for_delete(server, wait=120)
    deadline = time.monotonic() + 10
    while any((lv.instances["lv-rec"] / s.id).exists() for s in (one, two)):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert not os.path.exists(lv.instances["lv-rec"] / one.id)


def test_startup_reconcile_destroys_domains_without_an_instance(lv: LibvirtCloud) -> None:
    """A domain of this host whose instance the cloud does not have (deleted while compute
    was down) is destroyed, with its files, when compute reconciles at start-up."""
    import uuid

    from novalith.compute import reconcile
    from novalith.objects.specs import FlavorSpec, InstanceSpec

    compute = lv.cloud.computes[0]
    driver = compute.deps.driver
    orphan = InstanceSpec(uuid=str(uuid.uuid4()), id=999_999, name="orphan",
                          display_name="orphan", hostname="orphan", project_id="p",
                          user_id="u", flavor=FlavorSpec(flavorid="x", name="x", memory_mb=64,
                                                         vcpus=1, root_gb=1))
    driver.spawn(orphan, None)  # no image: a blank root disk; the guest needs no OS here
    assert orphan.uuid in driver.list_instances()
    reconcile.at_startup(compute.deps)
    assert orphan.uuid not in driver.list_instances()
    assert not (lv.instances["lv-rec"] / orphan.uuid).exists()
