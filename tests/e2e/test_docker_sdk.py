"""The Docker driver's whole life cycle through unmodified openstacksdk, against a
``novalith up --driver docker`` subprocess and a real dockerd (issue 7).

One cloud serves the module: one compute host on the Docker driver, with a host name
and container names of its own on the shared engine (every container and image tag
it made is purged at the end, failed or not). ``up`` registered the busybox image
``novalith-busybox``; one test registers a Docker image it made itself with
``novalith image register-docker``. What the engine holds is checked with docker-py,
by the driver's labels and container names.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions as sdk_exceptions
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from fixtures.dockerd import (  # noqa: F401 - docker_engine, busybox_docker are fixtures
    DockerEngine,
    DockerRun,
    busybox_docker,
    docker_engine,
    purge,
)
from novalith.cmd.docker_setup import IMAGE_NAME
from novalith.virt.docker import busybox_image

from .conftest import SDK_WARNINGS, NovalithProcess, running_cloud

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), *SDK_WARNINGS]

WAIT = 60
POLL = 0.1
POWER = {"ACTIVE": 1, "PAUSED": 3, "SHUTOFF": 4}
STARTED = "started ==="  # the busybox demo's banner, once per start of the container
STOPPING = "stopping ==="  # what it says when it gets the stop signal
END_OF_USER_DATA = "end of user data"


@dataclass
class DockerCloud:
    running: NovalithProcess
    run: DockerRun
    url: str  # the engine's
    api: Any  # docker.APIClient of the engine

    def containers(self, uuid_: str | None = None) -> list[dict[str, Any]]:
        """Containers of this cloud's compute host (of one instance, given its uuid)."""
        labels = [f"novalith.host={self.run.host}"]
        if uuid_:
            labels.append(f"novalith.instance_uuid={uuid_}")
        return list(self.api.containers(all=True, filters={"label": labels}))

    def named_containers(self) -> list[dict[str, Any]]:
        """Containers whose name has this cloud's container name prefix."""
        prefix = self.run.name_template.split("%", 1)[0]
        return [c for c in self.api.containers(all=True, filters={"name": prefix})
                if any(n.lstrip("/").startswith(prefix) for n in c["Names"])]

    def inspect(self, server: Server) -> dict[str, Any]:
        (found,) = self.containers(server.id)
        return dict(self.api.inspect_container(found["Id"]))


@contextlib.contextmanager
def docker_cloud_up(base: Path, engine: DockerEngine, extra_config: str = ""
                    ) -> Iterator[DockerCloud]:
    """``novalith up --driver docker`` on ``engine``, with a compute host and container
    names of its own; everything it made on the engine is purged at the end."""
    import docker

    run = DockerRun()
    config = (f"{extra_config}[docker]\nurl = {engine.url}\n"
              f"container_name_template = {run.name_template}\n")
    api = docker.APIClient(base_url=engine.url, version="auto")
    try:
        # The last --host wins over the e2e default (click keeps an option's last value).
        with running_cloud(base, fake_hosts=1, extra_config=config,
                           extra_args=("--driver", "docker", "--host", run.host)) as running:
            yield DockerCloud(running=running, run=run, url=engine.url, api=api)
    finally:
        purge(run.host, engine.url)
        api.close()


@pytest.fixture(scope="module")
def docker_cloud(tmp_path_factory: pytest.TempPathFactory, docker_engine: DockerEngine,  # noqa: F811
                 busybox_docker: Any) -> Iterator[DockerCloud]:  # noqa: F811
    with docker_cloud_up(tmp_path_factory.mktemp("novalith-e2e-docker"), docker_engine
                         ) as cloud:
        yield cloud


@pytest.fixture
def conn(docker_cloud: DockerCloud) -> Iterator[Connection]:
    connection = docker_cloud.running.connect()
    yield connection
    connection.close()


@pytest.fixture
def boot(conn: Connection, docker_cloud: DockerCloud) -> Iterator[Callable[..., Server]]:
    """Boots a server and waits until it is ACTIVE; every server booted is deleted after
    the test (and waited for), whatever happened."""
    made: list[Server] = []

    def create(name: str, image_id: str, user_data: str | None = None) -> Server:
        args: dict[str, Any] = {"name": name, "image_id": image_id, "flavor_id": "1",
                                "networks": "none"}
        if user_data is not None:
            args["user_data"] = base64.b64encode(user_data.encode()).decode()
        server = conn.compute.create_server(**args)
        made.append(server)
        return wait_status(conn, server, "ACTIVE")

    yield create
    for server in made:
        with contextlib.suppress(sdk_exceptions.NotFoundException):
            conn.compute.delete_server(server)
    for server in made:
        conn.compute.wait_for_delete(server, wait=WAIT, interval=POLL)


def _name() -> str:
    return f"dk-{uuid.uuid4().hex[:8]}"


def wait_status(conn: Connection, server: Server, status: str) -> Server:
    """``status`` with no task in progress, and the power state that goes with it."""
    deadline = time.monotonic() + WAIT
    while True:
        found = conn.compute.get_server(server.id)
        if found.status == "ERROR":
            pytest.fail(f"{found.name} went to ERROR: {found.fault}", pytrace=False)
        if found.status == status and found.task_state is None:
            assert found.power_state == POWER[status], (found.name, status, found.power_state)
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{found.name} is {found.status} ({found.task_state}) after {WAIT} s, "
                        f"not {status}", pytrace=False)
        time.sleep(POLL)


def console(conn: Connection, server: Server, needle: str, count: int = 1) -> str:
    """The console output once ``needle`` is on it ``count`` times."""
    deadline = time.monotonic() + WAIT
    while True:
        text = str(conn.compute.get_server_console_output(server)["output"])
        if text.count(needle) >= count:
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"{needle!r} x{count} not on the console of {server.name}:\n{text}",
                        pytrace=False)
        time.sleep(POLL)


def busybox_id(conn: Connection) -> str:
    return str(conn.image.find_image(IMAGE_NAME, ignore_missing=False).id)


# ---- the tests ---------------------------------------------------------------------------


def test_up_registered_the_busybox_image_and_a_docker_hypervisor(
        conn: Connection, docker_cloud: DockerCloud) -> None:
    image = conn.image.get_image(busybox_id(conn))
    assert (image.status, image.visibility) == ("active", "public")
    assert (image.disk_format, image.container_format) == ("raw", "docker")
    assert image.hypervisor_type == "docker"
    resp = conn.compute.get("/os-hypervisors/detail", microversion="2.47")
    assert resp.status_code == 200, resp.text
    (hypervisor,) = resp.json()["hypervisors"]
    assert (hypervisor["hypervisor_hostname"], hypervisor["hypervisor_type"]) == (
        docker_cloud.run.host, "docker")


def test_boot_with_user_data_shows_it_on_the_console(
        conn: Connection, docker_cloud: DockerCloud, boot: Callable[..., Server]) -> None:
    name = _name()
    server = boot(name, busybox_id(conn), user_data="hello from user data\nline two")
    assert server.compute_host == docker_cloud.run.host
    text = console(conn, server, END_OF_USER_DATA)
    assert f"hostname: {name}" in text
    assert f"uuid: {server.id}" in text
    assert "user data:\nhello from user data\nline two\n" in text
    details = docker_cloud.inspect(server)
    assert details["State"]["Status"] == "running"
    assert details["Name"].lstrip("/") == docker_cloud.run.name_template % int(
        server.instance_name.rsplit("-", 1)[1], 16)
    assert details["Config"]["Hostname"] == name
    assert details["HostConfig"]["NetworkMode"] == "none"
    assert details["HostConfig"]["Memory"] == 512 << 20  # m1.tiny


def test_reboot_soft_and_hard_restart_the_container(
        conn: Connection, docker_cloud: DockerCloud, boot: Callable[..., Server]) -> None:
    server = boot(_name(), busybox_id(conn))
    console(conn, server, STARTED)
    first = docker_cloud.inspect(server)["State"]["StartedAt"]

    conn.compute.reboot_server(server, "SOFT")
    wait_status(conn, server, "ACTIVE")
    # SOFT: the demo got the stop signal, said so, ended, and started again.
    text = console(conn, server, STARTED, count=2)
    assert text.count(STOPPING) == 1, text
    second = docker_cloud.inspect(server)["State"]["StartedAt"]
    assert second != first

    conn.compute.reboot_server(server, "HARD")
    wait_status(conn, server, "ACTIVE")
    # HARD: killed without being asked, then started a third time.
    text = console(conn, server, STARTED, count=3)
    assert text.count(STOPPING) == 1, text
    assert docker_cloud.inspect(server)["State"]["StartedAt"] not in (first, second)
    assert len(docker_cloud.containers(server.id)) == 1  # restarted, not replaced


def test_stop_and_start(conn: Connection, docker_cloud: DockerCloud,
                        boot: Callable[..., Server]) -> None:
    server = boot(_name(), busybox_id(conn))
    console(conn, server, STARTED)
    conn.compute.stop_server(server)
    wait_status(conn, server, "SHUTOFF")
    assert docker_cloud.inspect(server)["State"]["Status"] == "exited"
    assert STOPPING in console(conn, server, STOPPING)  # asked to stop, not killed
    conn.compute.start_server(server)
    wait_status(conn, server, "ACTIVE")
    assert docker_cloud.inspect(server)["State"]["Status"] == "running"
    console(conn, server, STARTED, count=2)


def test_pause_unpause_and_suspend_is_refused(
        conn: Connection, docker_cloud: DockerCloud, boot: Callable[..., Server]) -> None:
    server = boot(_name(), busybox_id(conn))
    conn.compute.pause_server(server)
    wait_status(conn, server, "PAUSED")
    state = docker_cloud.inspect(server)["State"]
    assert (state["Status"], state["Paused"]) == ("paused", True)
    conn.compute.unpause_server(server)
    wait_status(conn, server, "ACTIVE")
    assert docker_cloud.inspect(server)["State"]["Paused"] is False

    with pytest.raises(sdk_exceptions.ConflictException) as refused:
        conn.compute.suspend_server(server)
    assert refused.value.status_code == 409
    assert "The suspend operation is not supported by the docker driver." in str(
        refused.value)
    # A refused action changes nothing.
    after = wait_status(conn, server, "ACTIVE")
    assert after.vm_state == "active"
    assert docker_cloud.inspect(server)["State"]["Status"] == "running"


def test_snapshot_boots_a_second_server(
        conn: Connection, docker_cloud: DockerCloud, boot: Callable[..., Server]) -> None:
    source_image = busybox_id(conn)
    server = boot(_name(), source_image, user_data="first server")
    console(conn, server, END_OF_USER_DATA)
    snap_id = None
    try:
        snap_id = conn.compute.create_server_image(server, f"{server.name}-snap", wait=True,
                                                   timeout=WAIT).id
        snap = conn.image.get_image(snap_id)
        assert snap.status == "active"
        assert (snap.disk_format, snap.container_format) == ("raw", "docker")
        assert snap.hypervisor_type == "docker"  # inherited: it goes to Docker hosts
        assert snap.properties["base_image_ref"] == source_image
        assert snap.size and snap.size > 0
        wait_status(conn, server, "ACTIVE")  # the source kept running
        assert docker_cloud.inspect(server)["State"]["Status"] == "running"

        clone_name = _name()
        clone = boot(clone_name, snap_id, user_data="second server")
        assert clone.image.id == snap_id
        # The snapshot kept the demo's command; the clone reads its own metadata.
        text = console(conn, clone, END_OF_USER_DATA)
        assert f"hostname: {clone_name}" in text
        assert "user data:\nsecond server\n" in text
        assert "first server" not in text
        assert docker_cloud.inspect(clone)["State"]["Status"] == "running"
    finally:
        if snap_id is not None:  # (the servers go when the test ends)
            conn.image.delete_image(snap_id, ignore_missing=True)


def test_delete_leaves_no_container(conn: Connection, docker_cloud: DockerCloud,
                                    boot: Callable[..., Server]) -> None:
    servers = [boot(_name(), busybox_id(conn)) for _ in range(2)]
    conn.compute.pause_server(servers[1])  # a frozen container is removed too
    wait_status(conn, servers[1], "PAUSED")
    assert {c["Labels"]["novalith.instance_uuid"] for c in docker_cloud.containers()} >= {
        s.id for s in servers}
    for server in servers:
        conn.compute.delete_server(server)
    for server in servers:
        conn.compute.wait_for_delete(server, wait=WAIT, interval=POLL)
        assert docker_cloud.containers(server.id) == []
    # Nothing of this cloud's is left on the engine, by label or by name (the other
    # tests' servers were deleted when they ended).
    assert docker_cloud.containers() == []
    assert docker_cloud.named_containers() == []


@pytest.fixture
def own_docker_image(docker_cloud: DockerCloud, busybox_docker: Any,  # noqa: F811
                     ) -> Iterator[str]:
    """A Docker image this test makes: the busybox root file system imported with a
    command of its own that announces itself, then runs the demo; its tag is removed
    afterwards."""
    ref = f"novalith-e2e-own-{uuid.uuid4().hex[:8]}:1"
    repository, tag = ref.split(":")
    command = f'["/bin/sh", "-c", "echo own image {tag} booted; exec {busybox_image.DEMO_PATH}"]'
    docker_cloud.api.import_image_from_file(str(busybox_docker.rootfs), repository=repository,
                                            tag=tag, changes=[f"CMD {command}"])
    try:
        yield ref
    finally:
        with contextlib.suppress(Exception):
            docker_cloud.api.remove_image(ref)


def test_image_registered_with_the_cli_boots(
        conn: Connection, docker_cloud: DockerCloud, boot: Callable[..., Server],
        own_docker_image: str, tmp_path: Path) -> None:
    name = f"own-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [sys.executable, "-m", "novalith", "image", "register-docker", own_docker_image,
         "--name", name, "--docker-url", docker_cloud.url],
        env=docker_cloud.running.client_env(), cwd=tmp_path, capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    image_id = proc.stdout.split()[0]
    try:
        image = conn.image.get_image(image_id)
        assert (image.name, image.status) == (name, "active")
        assert (image.disk_format, image.container_format) == ("raw", "docker")
        assert image.hypervisor_type == "docker"
        server = boot(_name(), image_id, user_data="data for my own image")
        text = console(conn, server, END_OF_USER_DATA)
        assert f"own image {own_docker_image.split(':')[1]} booted" in text
        assert "user data:\ndata for my own image\n" in text
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=WAIT, interval=POLL)
        assert docker_cloud.containers(server.id) == []
    finally:
        conn.image.delete_image(image_id, ignore_missing=True)
