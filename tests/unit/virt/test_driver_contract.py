"""The life-cycle suite every compute driver must pass.

Each driver is one ``DriverCase`` in ``CASES``: its config overrides, an image to
boot if it needs one, and a check that says why it cannot run here (no daemon,
no permission), in which case its tests are skipped with that reason. The fake
driver always runs; add libvirt, docker, ... by appending a case.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fixtures.dockerd import docker_engine  # noqa: F401 - a fixture the docker case needs
from novalith import exceptions
from novalith.conf import make_conf
from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec, instance_name
from novalith.objects.states import PowerState
from novalith.virt.driver import (
    ComputeCallbacks,
    ComputeDriver,
    ConsoleSupport,
    DriverCapabilities,
    HostResources,
    InstanceInfo,
    PauseSupport,
    SnapshotSupport,
    SuspendSupport,
    require,
)
from novalith.virt.images import qcow2
from novalith.virt.loader import load_driver

HOST = "contract-host"


@dataclasses.dataclass(frozen=True)
class DriverCase:
    name: str
    overrides: dict[str, dict[str, object]]
    image: ImageMeta | None = None
    #: Returns why the driver cannot run on this machine, or None when it can.
    unavailable: Callable[[], str | None] = lambda: None
    #: Session fixtures the driver needs (e.g. one that starts its daemon).
    needs: tuple[str, ...] = ()


def _libvirt_unavailable() -> str | None:
    try:
        import libvirt
    except ImportError:
        return "libvirt-python is not installed (pip install libvirt-python)"
    # Without libvirt-python, `import libvirt` finds tests/unit/virt/libvirt/ (a
    # namespace package, as this directory is on sys.path).
    if not hasattr(libvirt, "open"):
        return "libvirt-python is not installed (pip install libvirt-python)"
    return None


#: Image files the callbacks serve, by image id (the docker case boots a real image).
IMAGE_FILES: dict[str, str] = {}
# Unique per test session: sessions sharing one Docker engine never share names or tags.
_DOCKER_RUN = uuid.uuid4().hex[:8]
_DOCKER_IMAGE = ImageMeta(id=f"contract-busybox-{_DOCKER_RUN}", container_format="docker",
                          disk_format="raw")


def _docker_unavailable() -> str | None:
    from fixtures.dockerd import docker_unavailable

    reason = docker_unavailable()
    if reason is None and _DOCKER_IMAGE.id not in IMAGE_FILES:
        from novalith.virt.docker import busybox_image

        try:
            IMAGE_FILES[_DOCKER_IMAGE.id] = str(busybox_image.build().saved)
        except Exception as err:  # no apt lists, no Debian mirror
            return f"cannot build the busybox image: {err}"
    return reason


CASES = [
    DriverCase("fake", {"fake_driver": {"vcpus": 64, "memory_mb": 65536, "local_gb": 2000}}),
    # libvirt's in-memory test driver: real libvirt calls, no daemon, no guest code.
    DriverCase("libvirt", {"libvirt": {"connection_uri": "test:///default",
                                       "virt_type": "qemu"}},
               unavailable=_libvirt_unavailable),
    # A real Docker engine (started by the session if it is not running) and the busybox
    # image; containers of this session carry its own name prefix.
    DriverCase("docker", {"docker": {"container_name_template": f"ct{_DOCKER_RUN}-%08x"}},
               image=_DOCKER_IMAGE, unavailable=_docker_unavailable,
               needs=("docker_engine",)),
]


class RecordingCallbacks:
    def __init__(self) -> None:
        self.power_changes: list[tuple[str, int]] = []

    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        self.power_changes.append((uuid, power_state))

    def fetch_image(self, image_id: str, dest: str) -> None:
        import shutil

        if image_id not in IMAGE_FILES:
            raise exceptions.ImageNotFound(image_id=image_id)
        shutil.copyfile(IMAGE_FILES[image_id], dest + ".part")
        os.replace(dest + ".part", dest)


_ids = itertools.count(1)
FLAVOR = FlavorSpec(flavorid="c1", name="contract.tiny", memory_mb=128, vcpus=1, root_gb=1)


def make_instance(image: ImageMeta | None = None, flavor: FlavorSpec = FLAVOR) -> InstanceSpec:
    iid = next(_ids)
    return InstanceSpec(uuid=str(uuid.uuid4()), id=iid, name=instance_name(iid),
                        display_name=f"contract-{iid}", hostname=f"contract-{iid}",
                        project_id="p-contract", user_id="u-contract", flavor=flavor,
                        image=image)


@pytest.fixture(params=CASES, ids=lambda case: case.name)
def case(request: pytest.FixtureRequest) -> DriverCase:
    case: DriverCase = request.param
    reason = case.unavailable()
    if reason:
        pytest.skip(f"{case.name} driver cannot run here: {reason}")
    for name in case.needs:
        request.getfixturevalue(name)
    return case


@pytest.fixture(scope="module", autouse=True)
def _drop_docker_image() -> Iterator[None]:
    """The docker case's cached image tag is this session's alone: remove it at the end."""
    yield
    if _DOCKER_IMAGE.id in IMAGE_FILES:
        from fixtures.dockerd import answers, remove_image_tag

        if answers():
            remove_image_tag(HOST, _DOCKER_IMAGE.id)


@pytest.fixture
def driver(case: DriverCase, tmp_path: Path) -> Iterator[ComputeDriver]:
    overrides = {**case.overrides,
                 "DEFAULT": {"compute_driver": case.name, "instances_path": str(tmp_path),
                             **case.overrides.get("DEFAULT", {})}}
    conf = make_conf(overrides=overrides)
    drv = load_driver(conf.compute_driver, conf, HOST, RecordingCallbacks())
    drv.init_host()
    yield drv
    drv.cleanup_host()


@pytest.fixture
def new_instance(case: DriverCase, driver: ComputeDriver
                 ) -> Iterator[Callable[[], InstanceSpec]]:
    """Makes instance specs; whatever was made is destroyed after the test."""
    made: list[InstanceSpec] = []

    def make() -> InstanceSpec:
        made.append(make_instance(case.image))
        return made[-1]

    yield make
    for spec in made:
        driver.destroy(spec)


@pytest.fixture
def running(driver: ComputeDriver, new_instance: Callable[[], InstanceSpec]) -> InstanceSpec:
    spec = new_instance()
    driver.spawn(spec, admin_password="secret")
    return spec


def power(driver: ComputeDriver, spec: InstanceSpec) -> str:
    return PowerState.NAMES[driver.get_info(spec).power_state]


def require_or_skip(driver: ComputeDriver, interface: type[Any]) -> Any:
    if not isinstance(driver, interface):
        pytest.skip(f"{driver.name} driver lacks {interface.__name__}")
    return require(driver, interface, interface.__name__)


# -- core ---------------------------------------------------------------------


def test_loaded_by_name(case: DriverCase, driver: ComputeDriver) -> None:
    assert isinstance(driver, ComputeDriver)
    assert driver.name == case.name
    assert driver.host == HOST
    assert isinstance(driver.capabilities, DriverCapabilities)


def test_spawn_runs_and_lists(driver: ComputeDriver, running: InstanceSpec) -> None:
    info = driver.get_info(running)
    assert isinstance(info, InstanceInfo)
    assert info.power_state == PowerState.RUNNING
    assert running.uuid in driver.list_instances()


def test_spawn_same_uuid_again_is_rejected(driver: ComputeDriver, running: InstanceSpec) -> None:
    with pytest.raises(exceptions.Duplicate):
        driver.spawn(running, admin_password=None)
    assert power(driver, running) == "RUNNING"
    assert driver.list_instances().count(running.uuid) == 1


@pytest.mark.parametrize("reboot_type", ["SOFT", "HARD"])
def test_reboot(driver: ComputeDriver, running: InstanceSpec, reboot_type: str) -> None:
    driver.reboot(running, reboot_type)
    assert power(driver, running) == "RUNNING"


@pytest.mark.parametrize("reboot_type", ["SOFT", "HARD"])
def test_reboot_starts_a_stopped_instance(driver: ComputeDriver, running: InstanceSpec,
                                          reboot_type: str) -> None:
    driver.power_off(running)
    driver.reboot(running, reboot_type)
    assert power(driver, running) == "RUNNING"


def test_reboot_rejects_unknown_type(driver: ComputeDriver, running: InstanceSpec) -> None:
    with pytest.raises(exceptions.Invalid):
        driver.reboot(running, "GENTLE")


@pytest.mark.parametrize("timeout", [0, 5])
def test_power_off_and_on_are_idempotent(driver: ComputeDriver, running: InstanceSpec,
                                         timeout: int) -> None:
    driver.power_off(running, timeout=timeout)
    assert power(driver, running) == "SHUTDOWN"
    driver.power_off(running, timeout=timeout)
    assert power(driver, running) == "SHUTDOWN"
    assert running.uuid in driver.list_instances()
    driver.power_on(running)
    assert power(driver, running) == "RUNNING"
    driver.power_on(running)
    assert power(driver, running) == "RUNNING"


def test_destroy_is_idempotent(driver: ComputeDriver, running: InstanceSpec) -> None:
    driver.destroy(running)
    assert running.uuid not in driver.list_instances()
    driver.destroy(running)
    with pytest.raises(exceptions.InstanceNotFound):
        driver.get_info(running)


def test_destroy_stopped_instance(driver: ComputeDriver, running: InstanceSpec) -> None:
    driver.power_off(running)
    driver.destroy(running)
    assert running.uuid not in driver.list_instances()


def test_destroy_never_spawned_succeeds(driver: ComputeDriver,
                                        new_instance: Callable[[], InstanceSpec]) -> None:
    driver.destroy(new_instance(), destroy_disks=True)


@pytest.mark.parametrize("call", [
    lambda d, s: d.get_info(s),
    lambda d, s: d.reboot(s, "HARD"),
    lambda d, s: d.power_off(s),
    lambda d, s: d.power_on(s),
], ids=["get_info", "reboot", "power_off", "power_on"])
def test_unknown_instance_is_not_found(driver: ComputeDriver,
                                       new_instance: Callable[[], InstanceSpec],
                                       call: Callable[[ComputeDriver, InstanceSpec], Any]
                                       ) -> None:
    with pytest.raises(exceptions.InstanceNotFound):
        call(driver, new_instance())


def test_available_resource_is_sane(driver: ComputeDriver, running: InstanceSpec) -> None:
    res = driver.get_available_resource()
    assert isinstance(res, HostResources)
    assert res.hypervisor_hostname and res.hypervisor_type
    assert res.vcpus > 0 and res.memory_mb > 0 and res.local_gb >= 0
    assert min(res.vcpus_used, res.memory_mb_used, res.local_gb_used) >= 0
    assert res.running_vms >= 1
    assert res.supported_instances
    assert all(len(triple) == 3 and all(isinstance(x, str) for x in triple)
               for triple in res.supported_instances)
    # It crosses RPC: it must survive a JSON round trip unchanged.
    assert msgspec.json.decode(msgspec.json.encode(res), type=HostResources) == res


def test_concurrent_spawns_of_different_instances(
        driver: ComputeDriver, new_instance: Callable[[], InstanceSpec]) -> None:
    specs = [new_instance() for _ in range(6)]
    barrier = threading.Barrier(len(specs))

    def build(spec: InstanceSpec) -> None:
        barrier.wait()
        driver.spawn(spec, admin_password=None)

    with ThreadPoolExecutor(len(specs)) as pool:
        list(pool.map(build, specs))
    assert {s.uuid for s in specs} <= set(driver.list_instances())
    assert all(power(driver, s) == "RUNNING" for s in specs)
    with ThreadPoolExecutor(len(specs)) as pool:
        list(pool.map(driver.destroy, specs))
    assert not {s.uuid for s in specs} & set(driver.list_instances())


def test_capabilities_follow_interfaces(driver: ComputeDriver) -> None:
    caps = driver.capabilities
    assert caps.supports_pause == isinstance(driver, PauseSupport)
    assert caps.supports_suspend == isinstance(driver, SuspendSupport)
    assert caps.supports_console == isinstance(driver, ConsoleSupport)
    assert caps.supports_snapshot == isinstance(driver, SnapshotSupport)


# -- optional interfaces ------------------------------------------------------


def test_pause_unpause(driver: ComputeDriver, running: InstanceSpec) -> None:
    pauser: PauseSupport = require_or_skip(driver, PauseSupport)
    pauser.pause(running)
    assert power(driver, running) == "PAUSED"
    pauser.pause(running)
    assert power(driver, running) == "PAUSED"
    pauser.unpause(running)
    assert power(driver, running) == "RUNNING"
    pauser.unpause(running)
    assert power(driver, running) == "RUNNING"


def test_pause_stopped_instance_conflicts(driver: ComputeDriver, running: InstanceSpec) -> None:
    pauser: PauseSupport = require_or_skip(driver, PauseSupport)
    driver.power_off(running)
    with pytest.raises(exceptions.Conflict):
        pauser.pause(running)
    assert power(driver, running) == "SHUTDOWN"


def test_suspend_resume(driver: ComputeDriver, running: InstanceSpec) -> None:
    suspender: SuspendSupport = require_or_skip(driver, SuspendSupport)
    suspender.suspend(running)
    assert power(driver, running) == "SUSPENDED"
    suspender.suspend(running)
    assert power(driver, running) == "SUSPENDED"
    assert running.uuid in driver.list_instances()
    suspender.resume(running)
    assert power(driver, running) == "RUNNING"
    suspender.resume(running)
    assert power(driver, running) == "RUNNING"


def test_resume_stopped_instance_conflicts(driver: ComputeDriver,
                                           running: InstanceSpec) -> None:
    suspender: SuspendSupport = require_or_skip(driver, SuspendSupport)
    driver.power_off(running)
    with pytest.raises(exceptions.Conflict):
        suspender.resume(running)
    assert power(driver, running) == "SHUTDOWN"


def test_console_output(driver: ComputeDriver, running: InstanceSpec) -> None:
    console: ConsoleSupport = require_or_skip(driver, ConsoleSupport)
    assert isinstance(console.get_console_output(running), str)
    driver.power_off(running)
    assert isinstance(console.get_console_output(running), str)
    driver.destroy(running)
    with pytest.raises(exceptions.InstanceNotFound):
        console.get_console_output(running)


def test_snapshot_writes_a_self_contained_image(driver: ComputeDriver, running: InstanceSpec,
                                                tmp_path: Path) -> None:
    snapshotter: SnapshotSupport = require_or_skip(driver, SnapshotSupport)
    dest = tmp_path / "snap.img"
    snapshotter.snapshot(running, str(dest))
    formats = (snapshotter.snapshot_disk_format, snapshotter.snapshot_container_format)
    if formats == ("raw", "docker"):  # a docker save tarball of one image
        import json
        import tarfile

        with tarfile.open(dest) as tar:
            manifest = tar.extractfile("manifest.json")
            assert manifest is not None and len(json.loads(manifest.read())) == 1
    else:
        assert formats == ("qcow2", "bare")
        header = qcow2.read_header(str(dest))
        assert header is not None and header.backing_file is None
        assert header.virtual_size >= running.flavor.root_gb << 30
    assert power(driver, running) == "RUNNING"  # the instance keeps its power state
    driver.destroy(running)
    gone = tmp_path / "gone.qcow2"
    with pytest.raises(exceptions.InstanceNotFound):
        snapshotter.snapshot(running, str(gone))
    assert not gone.exists()


# -- the contract module itself (no driver needed) ---------------------------


class MinimalDriver(ComputeDriver):
    """The core and nothing else."""

    name = "minimal"
    declared_capabilities = DriverCapabilities(supports_config_drive=True,
                                               supports_pause=True)  # ignored: derived

    @classmethod
    def from_conf(cls, conf: Any, host: str, callbacks: ComputeCallbacks) -> MinimalDriver:
        return cls(host, callbacks)

    def init_host(self) -> None: ...
    def cleanup_host(self) -> None: ...
    def spawn(self, instance: InstanceSpec, admin_password: str | None,
              network_info: list[Any] | None = None) -> None: ...
    def destroy(self, instance: InstanceSpec, destroy_disks: bool = True) -> None: ...
    def reboot(self, instance: InstanceSpec, reboot_type: str) -> None: ...
    def power_off(self, instance: InstanceSpec, timeout: int = 0) -> None: ...
    def power_on(self, instance: InstanceSpec) -> None: ...

    def get_info(self, instance: InstanceSpec) -> InstanceInfo:
        raise exceptions.InstanceNotFound(instance_id=instance.uuid)

    def list_instances(self) -> list[str]:
        return []

    def get_available_resource(self) -> HostResources:
        return HostResources(hypervisor_hostname=self.host, hypervisor_type="minimal",
                             hypervisor_version=1, vcpus=1, memory_mb=1, local_gb=0,
                             vcpus_used=0, memory_mb_used=0, local_gb_used=0)


@pytest.mark.parametrize("interface,operation", [
    (PauseSupport, "pause"), (SuspendSupport, "suspend"), (ConsoleSupport, "get_console_output"),
    (SnapshotSupport, "createImage"),
])
def test_require_raises_not_supported(interface: type[Any], operation: str) -> None:
    drv = MinimalDriver("h1", RecordingCallbacks())
    with pytest.raises(exceptions.NotSupported) as err:
        require(drv, interface, operation)
    assert err.value.status == 409
    assert isinstance(err.value, exceptions.Conflict)
    assert str(err.value) == (
        f"The {operation} operation is not supported by the minimal driver.")


def test_require_returns_the_driver_when_supported() -> None:
    class PausingDriver(MinimalDriver, PauseSupport):
        def pause(self, instance: InstanceSpec) -> None: ...
        def unpause(self, instance: InstanceSpec) -> None: ...

    drv = PausingDriver("h1", RecordingCallbacks())
    assert require(drv, PauseSupport, "pause") is drv
    assert drv.capabilities.supports_pause


def test_capabilities_combine_interfaces_and_declared_flags() -> None:
    caps = MinimalDriver("h1", RecordingCallbacks()).capabilities
    assert caps == DriverCapabilities(supports_config_drive=True)


def test_abstract_core_cannot_be_skipped() -> None:
    class Incomplete(ComputeDriver):
        name = "incomplete"

    with pytest.raises(TypeError):
        Incomplete("h1", RecordingCallbacks())  # type: ignore[abstract]
