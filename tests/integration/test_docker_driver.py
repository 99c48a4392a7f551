"""The Docker driver against a real dockerd: containers, limits, life cycle, images.

The driver is called directly (no cloud around it); its only seam, the compute
callbacks, serves the busybox image's files from disk and counts the downloads.
Every container and image tag the module makes is removed at its end, failed or not.
"""

from __future__ import annotations

import base64
import itertools
import json
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.dockerd import (  # noqa: F401 - docker_engine, busybox_docker are fixtures
    DockerRun,
    ImageFiles,
    busybox_docker,
    docker_engine,
    make_driver,
    purge,
)
from novalith import exceptions
from novalith.compute.reconcile import _orphan_spec
from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec
from novalith.objects.states import PowerState
from novalith.virt.docker import busybox_image, images, resources

pytestmark = pytest.mark.timeout(300)

CONSOLE_TIMEOUT = 30.0
FLAVOR = FlavorSpec(flavorid="d1", name="docker.small", memory_mb=96, vcpus=2, root_gb=1)
MARKER_COMMAND = ("/bin/sh -c 'if [ -e /marker ]; then echo marker present; "
                  "else echo marker missing; fi; echo x > /marker; echo booted from rootfs; "
                  "exec sleep 2147483647'")


@dataclass
class Env:
    driver: Any
    run: DockerRun
    callbacks: ImageFiles
    instances: Path
    saved_id: str
    rootfs_id: str
    api: Any
    busybox: Any
    ids: Iterator[int]

    def image(self, image_id: str, **properties: Any) -> ImageMeta:
        return ImageMeta(id=image_id, container_format="docker", disk_format="raw",
                         properties=properties)

    def spec(self, image: ImageMeta | None = None, user_data: str | None = None,
             flavor: FlavorSpec = FLAVOR) -> InstanceSpec:
        iid = next(self.ids)
        return InstanceSpec(
            uuid=f"00000000-0000-4000-8000-{self.run.tag}{iid:04x}", id=iid,
            name=f"instance-{iid:08x}", display_name=f"docker-it-{iid}",
            hostname=f"docker-it-{iid}", project_id="p-docker", user_id="u-docker",
            flavor=flavor, image=image or self.image(self.saved_id),
            user_data=base64.b64encode(user_data.encode()).decode() if user_data else None)

    def containers(self, uuid: str) -> list[dict[str, Any]]:
        return list(self.api.containers(
            all=True, filters={"label": [f"novalith.instance_uuid={uuid}"]}))

    def inspect(self, spec: InstanceSpec) -> dict[str, Any]:
        (found,) = self.containers(spec.uuid)
        return dict(self.api.inspect_container(found["Id"]))


@pytest.fixture(scope="module")
def env(docker_engine: Any, busybox_docker: Any,  # noqa: F811
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    import docker

    run = DockerRun()
    callbacks = ImageFiles()
    instances = tmp_path_factory.mktemp("docker-instances")
    api = docker.APIClient(base_url=docker_engine.url, version="auto")
    driver = None
    try:
        driver = make_driver(instances, run.host, callbacks,
                             container_name_template=run.name_template, stop_timeout=20)
        yield Env(driver=driver, run=run, callbacks=callbacks, instances=instances,
                  saved_id=callbacks.add(busybox_docker.saved),
                  rootfs_id=callbacks.add(busybox_docker.rootfs), api=api,
                  busybox=busybox_docker, ids=itertools.count(1))
    finally:
        if driver is not None:
            driver.cleanup_host()
        purge(run.host, docker_engine.url)
        api.close()


@pytest.fixture
def made(env: Env) -> Iterator[Callable[..., InstanceSpec]]:
    """Spawns instances; whatever was spawned is destroyed after the test."""
    specs: list[InstanceSpec] = []

    def spawn(*args: Any, **kwargs: Any) -> InstanceSpec:
        spec = env.spec(*args, **kwargs)
        specs.append(spec)
        env.driver.spawn(spec, admin_password="s3cret")
        return spec

    yield spawn
    for spec in specs:
        env.driver.destroy(spec)


def power(env: Env, spec: InstanceSpec) -> str:
    return PowerState.NAMES[env.driver.get_info(spec).power_state]


def wait_console(env: Env, spec: InstanceSpec, needle: str, count: int = 1) -> str:
    """The console once ``needle`` appears ``count`` times in it."""
    deadline = time.monotonic() + CONSOLE_TIMEOUT
    while True:
        text = str(env.driver.get_console_output(spec))
        if text.count(needle) >= count:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} x{count} not on the console:\n{text}")
        time.sleep(0.05)


def started_at(env: Env, spec: InstanceSpec) -> str:
    return str(env.inspect(spec)["State"]["StartedAt"])


# -- spawn ------------------------------------------------------------------------------


def test_spawn_runs_the_image_with_user_data_limits_and_labels(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    spec = made(user_data="hello from user data")
    info = env.driver.get_info(spec)
    assert info.power_state == PowerState.RUNNING
    assert info.internal_id == env.run.name_template % spec.id
    text = wait_console(env, spec, "end of user data")
    assert "hello from user data" in text
    assert f"hostname: {spec.hostname}" in text
    assert f"uuid: {spec.uuid}" in text
    assert spec.uuid in env.driver.list_instances()

    details = env.inspect(spec)
    host = details["HostConfig"]
    assert host["Memory"] == 96 << 20
    assert (host["CpuPeriod"], host["CpuQuota"], host["CpuShares"]) == (100_000, 200_000, 2048)
    assert host["PidsLimit"] == 1024
    assert host["NetworkMode"] == "none"
    assert list(details["NetworkSettings"]["Networks"]) == ["none"]
    assert not host.get("Init")  # [docker] use_init is off by default
    config = details["Config"]
    assert config["Hostname"] == spec.hostname
    assert config["Labels"]["novalith.instance_uuid"] == spec.uuid
    assert config["Labels"]["novalith.host"] == env.run.host
    assert f"NOVALITH_INSTANCE_UUID={spec.uuid}" in config["Env"]
    (mount,) = [m for m in details["Mounts"]
                if m["Destination"] == "/var/lib/cloud/seed/config_drive"]
    assert mount["RW"] is False
    latest = env.instances / spec.uuid / "config_drive" / "openstack" / "latest"
    assert Path(mount["Source"]) == env.instances / spec.uuid / "config_drive"
    meta = json.loads((latest / "meta_data.json").read_text())
    assert (meta["uuid"], meta["hostname"], meta["admin_pass"]) == (
        spec.uuid, spec.hostname, "s3cret")
    assert (latest / "user_data").read_text() == "hello from user data"


# -- power --------------------------------------------------------------------------------


def test_reboot_soft_and_hard_restart_the_container(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    spec = made()
    wait_console(env, spec, "user data: (none)")
    first = started_at(env, spec)
    env.driver.reboot(spec, "SOFT")
    assert power(env, spec) == "RUNNING"
    second = started_at(env, spec)
    assert second != first
    # SOFT: the command got the stop signal and ended by itself, then ran again.
    text = wait_console(env, spec, "started ===", count=2)
    assert text.count("stopping ===") == 1
    env.driver.reboot(spec, "HARD")
    assert power(env, spec) == "RUNNING"
    assert started_at(env, spec) not in (first, second)
    text = wait_console(env, spec, "started ===", count=3)
    assert text.count("stopping ===") == 1  # HARD: killed, never asked


def test_power_off_and_on(env: Env, made: Callable[..., InstanceSpec]) -> None:
    spec = made()
    wait_console(env, spec, "started ===")
    env.driver.power_off(spec, timeout=20)
    assert power(env, spec) == "SHUTDOWN"
    assert env.inspect(spec)["State"]["Status"] == "exited"
    assert wait_console(env, spec, "stopping ===").count("stopping ===") == 1
    env.driver.power_off(spec, timeout=20)  # idempotent
    env.driver.power_on(spec)
    assert power(env, spec) == "RUNNING"
    env.driver.power_on(spec)  # idempotent
    wait_console(env, spec, "started ===", count=2)
    env.driver.power_off(spec)  # no timeout: killed at once
    assert power(env, spec) == "SHUTDOWN"
    assert env.driver.get_console_output(spec).count("stopping ===") == 1
    assert spec.uuid in env.driver.list_instances()


def test_pause_and_unpause_freeze_the_container(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    spec = made()
    env.driver.pause(spec)
    assert power(env, spec) == "PAUSED"
    assert env.inspect(spec)["State"]["Paused"] is True
    env.driver.pause(spec)  # idempotent
    with pytest.raises(exceptions.InstanceInvalidState):
        env.driver.power_on(spec)
    env.driver.unpause(spec)
    assert power(env, spec) == "RUNNING"
    env.driver.pause(spec)
    env.driver.reboot(spec, "SOFT")  # a paused guest cannot comply: rebooted hard
    assert power(env, spec) == "RUNNING"
    env.driver.power_off(spec)
    with pytest.raises(exceptions.InstanceInvalidState):
        env.driver.pause(spec)


# -- snapshot ----------------------------------------------------------------------------


def _manifest(path: Path) -> list[dict[str, Any]]:
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return list(json.loads(member.read()))


def test_snapshot_of_a_rootfs_instance_boots_without_os_command_line(
        env: Env, made: Callable[..., InstanceSpec], tmp_path: Path) -> None:
    spec = made(env.image(env.rootfs_id, os_command_line=MARKER_COMMAND))
    assert "marker missing" in wait_console(env, spec, "booted from rootfs")
    env.driver.pause(spec)
    dest = tmp_path / "snap.tar"
    env.driver.snapshot(spec, str(dest))
    assert power(env, spec) == "PAUSED"  # the instance keeps its power state
    (entry,) = _manifest(dest)
    assert not entry["RepoTags"]
    env.driver.unpause(spec)

    # The snapshot as a new image, with no properties at all: its CMD came along.
    snap_id = env.callbacks.add(dest)
    second = made(env.image(snap_id))
    assert "marker present" in wait_console(env, second, "booted from rootfs")
    labels = env.inspect(second)["Config"]["Labels"]
    assert labels["novalith.instance_uuid"] == second.uuid
    assert env.callbacks.fetches[snap_id] == 1
    assert power(env, spec) == "RUNNING"


def test_snapshot_of_a_running_instance_keeps_it_running(
        env: Env, made: Callable[..., InstanceSpec], tmp_path: Path) -> None:
    spec = made(user_data="first")
    wait_console(env, spec, "end of user data")
    dest = tmp_path / "snap.tar"
    env.driver.snapshot(spec, str(dest))
    assert power(env, spec) == "RUNNING"
    second = made(env.image(env.callbacks.add(dest)), user_data="second")
    text = wait_console(env, second, "end of user data")
    assert "second" in text and f"hostname: {second.hostname}" in text
    # The temporary image of the commit is gone (the loaded copy is tagged, not dangling).
    comment = f"novalith snapshot of {spec.uuid}"
    assert not [i for i in env.api.images(filters={"dangling": True})
                if env.api.inspect_image(i["Id"]).get("Comment") == comment]


def test_snapshot_of_a_missing_instance_writes_nothing(env: Env, tmp_path: Path) -> None:
    dest = tmp_path / "never.tar"
    with pytest.raises(exceptions.InstanceNotFound):
        env.driver.snapshot(env.spec(), str(dest))
    assert not dest.exists()


# -- images ------------------------------------------------------------------------------


def test_concurrent_spawns_of_one_image_load_it_once(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    fresh = env.callbacks.add(env.busybox.saved)  # a new image id: not cached yet
    env.callbacks.fetch_delay = 0.5
    barrier = threading.Barrier(3)

    def boot(_: int) -> InstanceSpec:
        barrier.wait()
        return made(env.image(fresh))

    try:
        with ThreadPoolExecutor(3) as pool:
            specs = list(pool.map(boot, range(3)))
    finally:
        env.callbacks.fetch_delay = 0.0
    assert env.callbacks.fetches[fresh] == 1
    assert all(power(env, s) == "RUNNING" for s in specs)
    assert not list((env.instances / images.TEMP_DIR).iterdir())  # the tar is gone


def test_manage_image_cache_removes_only_unused_images(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    fresh = env.callbacks.add(env.busybox.saved)
    ref = images.reference(env.run.host, fresh)
    spec = made(env.image(fresh))
    env.driver.manage_image_cache(frozenset())  # a container uses it: the engine refuses
    assert env.api.inspect_image(ref)
    env.driver.destroy(spec)
    env.driver.manage_image_cache(frozenset({fresh}))  # compute says it is in use
    assert env.api.inspect_image(ref)
    assert env.driver.images.prune(frozenset(), min_age=3600) == []  # used too recently
    env.driver.manage_image_cache(frozenset())
    assert ref not in {t for i in env.api.images() for t in i.get("RepoTags") or ()}
    made(env.image(fresh))  # fetched again
    assert env.callbacks.fetches[fresh] == 2


# -- failures ----------------------------------------------------------------------------


def _foreign_container(env: Env, name: str) -> str:
    ref = images.reference(env.run.host, env.saved_id)
    created = env.api.create_container(ref, name=name, labels={"novalith.host": env.run.host,
                                                               "purpose": "foreign"},
                                       host_config=env.api.create_host_config(
                                           network_mode="none"))
    return str(created["Id"])


@pytest.mark.parametrize("case", ["no command", "bad command", "not a docker image",
                                  "name taken", "bad user data"])
def test_failed_spawn_leaves_nothing(env: Env, made: Callable[..., InstanceSpec],
                                     case: str) -> None:
    spec = env.spec()
    expected: type[exceptions.NovalithError] = exceptions.BuildFailed
    match = ""
    foreign = None
    if case == "no command":
        spec = env.spec(env.image(env.rootfs_id))
        match = "has no command.*os_command_line"
    elif case == "bad command":
        spec = env.spec(env.image(env.rootfs_id, os_command_line="/bin/no-such-program"))
        match = "no-such-program"
    elif case == "not a docker image":
        spec = env.spec(ImageMeta(id=env.saved_id, container_format="bare",
                                  disk_format="qcow2"))
        match = "container_format"
    elif case == "name taken":
        made()  # the busybox image is cached, so a foreign container can use it
        foreign = _foreign_container(env, env.run.name_template % spec.id)
        match = "already in use"
    else:
        import msgspec

        spec = msgspec.structs.replace(spec, user_data="%%% not base 64")
        expected = exceptions.Invalid
        match = "not valid base 64"
    try:
        with pytest.raises(expected, match=match):
            env.driver.spawn(spec, admin_password=None)
        assert env.containers(spec.uuid) == []
        assert not (env.instances / spec.uuid).exists()
        assert spec.uuid not in env.driver.list_instances()
        if foreign is not None:  # someone else's container is left alone
            assert env.api.inspect_container(foreign)["Config"]["Labels"]["purpose"]
    finally:
        if foreign is not None:
            env.api.remove_container(foreign, force=True)


def test_destroy_removes_container_and_files_and_keeps_the_image(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    spec = made()
    assert (env.instances / spec.uuid).is_dir()
    env.driver.destroy(spec)
    assert env.containers(spec.uuid) == []
    assert not (env.instances / spec.uuid).exists()
    assert spec.uuid not in env.driver.list_instances()
    with pytest.raises(exceptions.InstanceNotFound):
        env.driver.get_info(spec)
    with pytest.raises(exceptions.InstanceNotFound):
        env.driver.get_console_output(spec)
    env.driver.destroy(spec)  # idempotent
    assert env.api.inspect_image(images.reference(env.run.host, env.saved_id))


# -- hosts sharing an engine, reconciliation, resources -------------------------------------


def test_hosts_sharing_the_engine_see_only_their_own_containers(
        env: Env, made: Callable[..., InstanceSpec], tmp_path: Path) -> None:
    spec = made()
    other_run = DockerRun()
    other = make_driver(tmp_path, other_run.host, env.callbacks,
                        container_name_template=other_run.name_template)
    try:
        assert spec.uuid not in other.list_instances()
        other.destroy(spec)  # not its instance: nothing happens
        with pytest.raises(exceptions.InstanceNotFound):
            other.get_info(spec)
        assert power(env, spec) == "RUNNING"
    finally:
        other.cleanup_host()
        purge(other_run.host)


def test_orphan_container_is_destroyed_by_uuid_alone(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    spec = made()
    assert spec.uuid in env.driver.list_instances()
    # What start-up reconciliation does with a container whose instance it lacks.
    env.driver.destroy(_orphan_spec(None, spec.uuid), destroy_disks=True)
    assert spec.uuid not in env.driver.list_instances()
    assert env.containers(spec.uuid) == []
    assert not (env.instances / spec.uuid).exists()


def test_available_resource_comes_from_the_engine(
        env: Env, made: Callable[..., InstanceSpec]) -> None:
    spec = made()
    res = env.driver.get_available_resource()
    info, version = env.api.info(), env.api.version()
    assert (res.vcpus, res.memory_mb) == (info["NCPU"], info["MemTotal"] >> 20)
    assert res.hypervisor_type == "docker"
    assert res.hypervisor_version == resources.version_number(version["Version"]) > 0
    arch = resources.normalise_arch(info["Architecture"])
    assert res.supported_instances == [(arch, "docker", "exe")]
    assert res.vcpus_used >= spec.flavor.vcpus
    assert res.memory_mb_used >= spec.flavor.memory_mb
    assert res.running_vms == len(env.driver.list_instances()) >= 1
    assert res.local_gb > 0 and 0 <= res.local_gb_used <= res.local_gb


def test_busybox_image_loads_as_built(env: Env, made: Callable[..., InstanceSpec]) -> None:
    """The demo image is what the other tests rely on: its CMD and architecture."""
    made()
    details = env.api.inspect_image(images.reference(env.run.host, env.saved_id))
    assert details["Config"]["Cmd"] == [busybox_image.DEMO_PATH]
    assert details["Architecture"] == busybox_image.go_arch()
