"""The libvirt driver end to end: unmodified openstacksdk, the public API, a real libvirtd,
and the tiny guest under TCG.

One cloud and as few boots as possible serve the whole module (TCG boots take
seconds on two shared cores); the tests run in file order and build on each other:
boot -> reboots -> stop/start -> pause -> suspend -> snapshot -> resize -> delete.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
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

pytestmark = [pytest.mark.timeout(900), *SDK_WARNINGS]

USER_DATA = "#!/bin/sh\necho hello from user data\n"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc7qpLhPpcMUwH1uT4DoT+6bCqnwEIkdkPaFNIdM8rK "
              "tiny@novalith")


@pytest.fixture(scope="module")
def lv(libvirtd_daemon: Any, tiny_guest: Any,  # noqa: F811
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[LibvirtCloud]:
    cloud = start_libvirt_cloud(tmp_path_factory.mktemp("lv-cloud"), tiny_guest)
    yield cloud
    close_libvirt_cloud(cloud)


@pytest.fixture(scope="module")
def sdk(lv: LibvirtCloud) -> Any:
    return lv.connect()


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What the ordered tests hand each other."""
    return {}


def console(sdk: Any, server: Any) -> str:
    return str(sdk.compute.get_server_console_output(server)["output"])


def wait_console(sdk: Any, server: Any, pattern: str, timeout: float = BOOT_TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = console(sdk, server)
        if re.search(pattern, text):
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{pattern!r} not on the console after {timeout} s:\n{text}")
        time.sleep(0.5)


def last_boot(text: str) -> int:
    boots = re.findall(r"=== Novalith tiny guest: boot (\d+) ", text)
    return int(boots[-1]) if boots else 0


def wait_status(sdk: Any, server: Any, status: str) -> Any:
    return sdk.compute.wait_for_server(server, status=status, failures=["ERROR"], interval=0.5,
                                       wait=BOOT_TIMEOUT)


def domain(lv: LibvirtCloud, uuid: str) -> Any:
    import libvirt

    return libvirt.open("qemu:///system").lookupByUUIDString(uuid)


def test_boot_with_user_data_and_keypair(lv: LibvirtCloud, sdk: Any,
                                         state: dict[str, Any]) -> None:
    key = sdk.compute.create_keypair(name="lv-key", public_key=PUBLIC_KEY)
    server = sdk.compute.create_server(
        name="lv-one", flavor_id=lv.flavors["small"], image_id=lv.images.image_id,
        networks="none", key_name=key.name, config_drive=True,
        user_data=base64.b64encode(USER_DATA.encode()).decode())
    server = wait_status(sdk, server, "ACTIVE")
    state["server"] = server
    text = wait_console(sdk, server, r"boot 1 finished")
    assert "=== Novalith tiny guest: boot 1 on /dev/vda ===" in text
    assert "hostname: lv-one" in text
    assert "echo hello from user data" in text
    assert "public key: lv-key" in text
    assert f"uuid: {server.id}" in text
    # Nova's layout on the host.
    directory = lv.instances["lv-host"] / server.id
    for name in ("disk", "disk.config", "kernel", "ramdisk", "libvirt.xml", "console.log"):
        assert (directory / name).exists(), name
    # instance-%08x by default; the test cloud's template adds a tag of its own.
    assert re.fullmatch(r"it[0-9a-f]{6}-[0-9a-f]{8}", domain(lv, server.id).name())


@pytest.mark.parametrize("kind", ["SOFT", "HARD"])
def test_reboot_raises_the_boot_counter(lv: LibvirtCloud, sdk: Any, state: dict[str, Any],
                                        kind: str) -> None:
    server = state["server"]
    before = last_boot(console(sdk, server))
    sdk.compute.reboot_server(server, kind)
    wait_status(sdk, server, "ACTIVE")
    text = wait_console(sdk, server, rf"boot {before + 1} finished")
    if kind == "SOFT":
        # The guest went down on the ACPI power button, not by a power cut.
        assert "ACPI power button, shutting down" in text.split(f"boot {before} finished")[-1]
    assert last_boot(text) == before + 1


def test_stop_and_start(lv: LibvirtCloud, sdk: Any, state: dict[str, Any]) -> None:
    import libvirt

    server = state["server"]
    before = last_boot(console(sdk, server))
    sdk.compute.stop_server(server)
    wait_status(sdk, server, "SHUTOFF")
    assert domain(lv, server.id).state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    sdk.compute.start_server(server)
    wait_status(sdk, server, "ACTIVE")
    assert domain(lv, server.id).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    wait_console(sdk, server, rf"boot {before + 1} finished")


def test_pause_and_unpause(lv: LibvirtCloud, sdk: Any, state: dict[str, Any]) -> None:
    import libvirt

    server = state["server"]
    sdk.compute.pause_server(server)
    wait_status(sdk, server, "PAUSED")
    assert domain(lv, server.id).state()[0] == libvirt.VIR_DOMAIN_PAUSED
    sdk.compute.unpause_server(server)
    wait_status(sdk, server, "ACTIVE")
    assert domain(lv, server.id).state()[0] == libvirt.VIR_DOMAIN_RUNNING


def test_suspend_and_resume(lv: LibvirtCloud, sdk: Any, state: dict[str, Any]) -> None:
    import libvirt

    server = state["server"]
    before = last_boot(console(sdk, server))
    sdk.compute.suspend_server(server)
    found = wait_status(sdk, server, "SUSPENDED")
    assert found.power_state == 7
    dom = domain(lv, server.id)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF and dom.hasManagedSaveImage(0)
    sdk.compute.resume_server(server)
    wait_status(sdk, server, "ACTIVE")
    assert domain(lv, server.id).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    # Resumed from memory: no new boot.
    time.sleep(1)
    assert last_boot(console(sdk, server)) == before


def test_snapshot_then_boot_from_it(lv: LibvirtCloud, sdk: Any, state: dict[str, Any]) -> None:
    import libvirt

    server = state["server"]
    boots = last_boot(console(sdk, server))
    image = sdk.compute.create_server_image(server, name="lv-snap", wait=True, timeout=300)
    image = sdk.image.wait_for_status(sdk.image.get_image(image.id), status="active",
                                      failures=["killed", "deleted"], wait=300)
    # The guest keeps running afterwards.
    assert domain(lv, server.id).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert wait_status(sdk, server, "ACTIVE").status == "ACTIVE"
    second = sdk.compute.create_server(name="lv-two", flavor_id=lv.flavors["small"],
                                       image_id=image.id, networks="none")
    second = wait_status(sdk, second, "ACTIVE")
    # The boot counter lives on the root disk: the snapshot carries it on.
    text = wait_console(sdk, second, rf"boot {boots + 1} finished")
    assert "hostname" in text
    sdk.compute.delete_server(second)
    sdk.compute.wait_for_delete(second, wait=120)


def test_resize_to_a_bigger_flavor(lv: LibvirtCloud, sdk: Any, state: dict[str, Any]) -> None:
    from novalith.virt.libvirt import domain_xml

    server = state["server"]
    sdk.compute.resize_server(server, lv.flavors["big"])
    wait_status(sdk, server, "VERIFY_RESIZE")
    sdk.compute.confirm_server_resize(server)
    server = wait_status(sdk, server, "ACTIVE")
    dom = domain(lv, server.id)
    summary = domain_xml.summary(dom.XMLDesc(0))
    assert summary["vcpus"] == 2 and summary["memory_mib"] == 192
    saved = (lv.instances["lv-host"] / server.id / "libvirt.xml").read_text()
    assert domain_xml.summary(saved)["vcpus"] == 2
    assert not (lv.instances["lv-host"] / f"{server.id}_resize").exists()
    wait_console(sdk, server, r"finished; idling")


def test_delete_leaves_nothing_but_the_cached_base(lv: LibvirtCloud, sdk: Any,
                                                   state: dict[str, Any]) -> None:
    import libvirt

    server = state["server"]
    sdk.compute.delete_server(server)
    sdk.compute.wait_for_delete(server, wait=120)
    conn = libvirt.open("qemu:///system")
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByUUIDString(server.id)
    root = lv.instances["lv-host"]
    assert not (root / server.id).exists()
    assert not (root / f"{server.id}_resize").exists()
    # The image cache keeps the base until its manager finds it unused and old enough.
    bases = [p for p in (root / "_base").iterdir() if re.fullmatch(r"[0-9a-f]{40}", p.name)]
    assert bases
    assert lv.driver().list_instances() == []
    # Once unused for longer than the minimum age, the cache manager drops them.
    from novalith.virt.images import manager

    report = manager.run_pass(lv.driver().cache, [], now=time.time() + 3 * 86400)
    assert {p.name for p in bases} <= set(report.removed)
    assert not any(p.exists() for p in bases)


def test_instances_path_holds_only_the_cache(lv: LibvirtCloud) -> None:
    left = sorted(p.name for p in Path(lv.instances["lv-host"]).iterdir())
    assert not [n for n in left if re.fullmatch(r"[0-9a-f-]{36}(_resize)?", n)], left
    assert os.path.isdir(lv.instances["lv-host"] / "_base")
