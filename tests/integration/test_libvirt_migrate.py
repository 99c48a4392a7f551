"""Cold migration between two libvirt compute hosts that share nothing but libvirtd:
each has its own instances_path, so the disk is copied (flattened) to the
destination and the source keeps its copy until the move is confirmed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.libvirtd import (  # noqa: F401 - libvirtd_daemon, tiny_guest are fixtures
    BOOT_TIMEOUT,
    SDK_WARNINGS,
    LibvirtCloud,
    close_libvirt_cloud,
    libvirtd_daemon,
    start_libvirt_cloud,
    tiny_guest,
)

pytestmark = [pytest.mark.timeout(600), *SDK_WARNINGS]


@pytest.fixture(scope="module")
def lv(libvirtd_daemon: Any, tiny_guest: Any,  # noqa: F811
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[LibvirtCloud]:
    cloud = start_libvirt_cloud(tmp_path_factory.mktemp("lv-migrate"), tiny_guest,
                                hosts=("lv-a", "lv-b"))
    yield cloud
    close_libvirt_cloud(cloud)


def console(sdk: Any, server: Any) -> str:
    return str(sdk.compute.get_server_console_output(server)["output"])


def wait_status(sdk: Any, server: Any, status: str) -> Any:
    return sdk.compute.wait_for_server(server, status=status, failures=["ERROR"], interval=0.5,
                                       wait=BOOT_TIMEOUT)


def test_cold_migrate_copies_the_disk_to_the_other_host(lv: LibvirtCloud) -> None:
    import libvirt

    from novalith.virt.libvirt import domain_xml

    sdk = lv.connect()
    server = sdk.compute.create_server(name="lv-mover", flavor_id=lv.flavors["small"],
                                       image_id=lv.images.image_id, networks="none")
    server = wait_status(sdk, server, "ACTIVE")
    source = server.compute_host
    # Booted to its idle loop (acpid listening), so the power-off is a clean ACPI one.
    deadline = time.monotonic() + BOOT_TIMEOUT
    while "boot 1 finished" not in (text := console(sdk, server)):
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
    dest = "lv-b" if source == "lv-a" else "lv-a"
    sdk.compute.migrate_server(server)
    server = wait_status(sdk, server, "VERIFY_RESIZE")
    assert server.compute_host == dest
    # The source keeps its copy until confirm; the destination has its own disk.
    assert (lv.instances[source] / f"{server.id}_resize" / "disk").exists()
    dest_dir = lv.instances[dest] / server.id
    assert (dest_dir / "disk").exists() and (dest_dir / "libvirt.xml").exists()
    sdk.compute.confirm_server_resize(server)
    server = wait_status(sdk, server, "ACTIVE")
    assert not (lv.instances[source] / f"{server.id}_resize").exists()
    assert not (lv.instances[source] / server.id).exists()
    assert server.id in lv.driver(dest).list_instances()
    assert server.id not in lv.driver(source).list_instances()
    dom = libvirt.open("qemu:///system").lookupByUUIDString(server.id)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    # Share nothing: the destination's disk has no backing file on the source.
    disks = domain_xml.summary(dom.XMLDesc(0))["disks"]
    assert all(str(d).startswith(str(lv.instances[dest])) for d in disks), disks
    # The boot counter lives on the root disk: the copy carried it over.
    deadline = time.monotonic() + BOOT_TIMEOUT
    while "boot 2 finished" not in (text := console(sdk, server)):
        assert time.monotonic() < deadline, text
        time.sleep(0.5)
    sdk.compute.delete_server(server)
    sdk.compute.wait_for_delete(server, wait=120)
    assert not (lv.instances[dest] / server.id).exists()
