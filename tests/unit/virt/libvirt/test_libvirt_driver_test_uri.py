"""LibvirtDriver against libvirt's in-memory test driver (test:///default): real libvirt
calls without a daemon. Guests there run no code; what is checked is the driver's own
logic: ownership by host, clean-up after a failed spawn, reconnection, host resources."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec, instance_name
from novalith.objects.states import PowerState

libvirt = pytest.importorskip("libvirt")

from novalith.virt.libvirt.driver import LibvirtDriver  # noqa: E402

FLAVOR = FlavorSpec(flavorid="1", name="t", memory_mb=64, vcpus=1, root_gb=1)
_next = iter(range(5000, 10**6))


class Callbacks:
    """Serves one raw image; every other image id is unknown."""

    def __init__(self, images: dict[str, bytes]) -> None:
        self.images = images
        self.power_changes: list[tuple[str, int]] = []

    def instance_power_changed(self, uuid_: str, power_state: int) -> None:
        self.power_changes.append((uuid_, power_state))

    def fetch_image(self, image_id: str, dest: str) -> None:
        if image_id not in self.images:
            raise exceptions.ImageNotFound(image_id=image_id)
        with open(dest, "wb") as fh:
            fh.write(self.images[image_id])


@pytest.fixture
def make_driver(tmp_path: Path) -> Iterator[Callable[..., LibvirtDriver]]:
    made: list[LibvirtDriver] = []

    def make(host: str = "h1", images: dict[str, bytes] | None = None) -> LibvirtDriver:
        conf = make_conf(overrides={
            "DEFAULT": {"instances_path": str(tmp_path / host)},
            "libvirt": {"connection_uri": "test:///default", "virt_type": "qemu"}})
        drv = LibvirtDriver.from_conf(conf, host, Callbacks(images or {}))  # type: ignore[arg-type]
        drv.init_host()
        made.append(drv)
        return drv

    yield make
    for drv in made:
        for uuid_ in drv.list_instances():
            drv.destroy(spec(uuid_=uuid_))
        drv.cleanup_host()


def spec(image: ImageMeta | None = None, uuid_: str | None = None) -> InstanceSpec:
    iid = next(_next)
    return InstanceSpec(uuid=uuid_ or str(uuid.uuid4()), id=iid, name=instance_name(iid),
                        display_name="t", hostname="t", project_id="p", user_id="u",
                        flavor=FLAVOR, image=image)


def test_each_host_sees_only_its_own_domains(make_driver: Callable[..., LibvirtDriver]
                                             ) -> None:
    a, b = make_driver("host-a"), make_driver("host-b")
    one, two = spec(), spec()
    a.spawn(one, None)
    b.spawn(two, None)
    assert one.uuid in a.list_instances() and one.uuid not in b.list_instances()
    assert two.uuid in b.list_instances() and two.uuid not in a.list_instances()
    with pytest.raises(exceptions.InstanceNotFound):
        b.get_info(one)
    b.destroy(one)  # not b's: nothing happens to it
    assert a.get_info(one).power_state == PowerState.RUNNING


def test_spawn_failing_after_the_disk_removes_everything(
        make_driver: Callable[..., LibvirtDriver], tmp_path: Path) -> None:
    drv = make_driver(images={"disk-image": b"\0" * 65536})
    image = ImageMeta(id="disk-image", disk_format="raw",
                      properties={"kernel_id": "missing-kernel"})
    inst = spec(image)
    with pytest.raises(exceptions.ImageNotFound):
        drv.spawn(inst, None)
    assert not os.path.exists(tmp_path / "h1" / inst.uuid)
    assert inst.uuid not in drv.list_instances()
    with pytest.raises(libvirt.libvirtError):
        drv.conn.get().lookupByUUIDString(inst.uuid)
    # The shared base made for the root disk stays for the next instance.
    assert [p for p in os.listdir(tmp_path / "h1" / "_base") if not p.endswith(".info")]


def test_spawn_writes_the_domain_xml_and_config_drive(
        make_driver: Callable[..., LibvirtDriver], tmp_path: Path) -> None:
    pytest.importorskip("pycdlib")
    drv = make_driver()
    inst = msgspec.structs.replace(spec(), config_drive=True)
    drv.spawn(inst, "pw")
    directory = tmp_path / "h1" / inst.uuid
    xml = (directory / "libvirt.xml").read_text()
    assert f"<uuid>{inst.uuid}</uuid>" in xml and "disk.config" in xml
    assert (directory / "disk.config").exists()
    assert drv.get_info(inst).internal_id == inst.name


def test_reconnects_after_the_connection_dies(make_driver: Callable[..., LibvirtDriver]
                                              ) -> None:
    drv = make_driver()
    inst = spec()
    drv.spawn(inst, None)
    drv.conn.get().close()  # as if libvirtd went away under us
    assert drv.get_info(inst).power_state == PowerState.RUNNING
    assert drv.conn.reconnects >= 1


def test_unreachable_hypervisor_is_a_clear_start_up_error(tmp_path: Path) -> None:
    conf = make_conf(overrides={
        "DEFAULT": {"instances_path": str(tmp_path)},
        "libvirt": {"connection_uri": "qemu+unix:///system?socket=/nonexistent/sock",
                    "virt_type": "qemu", "connection_timeout": 0}})
    drv = LibvirtDriver.from_conf(conf, "h", Callbacks({}))  # type: ignore[arg-type]
    with pytest.raises(exceptions.ServiceUnavailable, match="Cannot connect to the hypervisor"):
        drv.init_host()


def test_host_resources(make_driver: Callable[..., LibvirtDriver]) -> None:
    drv = make_driver()
    drv.spawn(spec(), None)
    res = drv.get_available_resource()
    assert res.hypervisor_type == "QEMU" and res.hypervisor_hostname == "h1"
    assert res.vcpus > 0 and res.memory_mb > 0 and res.local_gb > 0
    assert res.running_vms == 1
    assert ("x86_64", "qemu", "hvm") in res.supported_instances or res.supported_instances


def test_capabilities_are_declared_honestly(make_driver: Callable[..., LibvirtDriver]) -> None:
    caps = make_driver().capabilities
    assert caps.supports_pause and caps.supports_suspend and caps.supports_console
    assert caps.supports_snapshot and caps.supports_migration and caps.supports_config_drive
    # One libvirtd per machine here: no second libvirt host to live-migrate to.
    assert not caps.supports_live_migration
