"""A mixed deployment: one compute on the fake driver and one on the Docker driver, as
separate processes of one distributed cloud (API, scheduler, conductor, two computes
over RabbitMQ and PostgreSQL), driven with unmodified openstacksdk (issue 7).

The image property ``hypervisor_type`` is what ImagePropertiesFilter matches against
each host's ``supported_instances``: the Docker driver reports ``(x86_64, docker,
exe)``, the fake driver ``(x86_64, fake, hvm)``. So a container image
(``hypervisor_type=docker``) must land on the Docker host and the fake image
(``hypervisor_type=fake``) on the fake host; an image asking for a hypervisor no host
has finds no host at all. The Docker compute gets its own host name and container
names on the shared engine; whatever it made is purged at the end, failed or not.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pytest
from openstack.connection import Connection

from fixtures.cluster import Cluster, rabbit_vhost, require
from fixtures.cluster_checks import (
    BASE,
    SDK_WARNINGS,
    delete_all,
    hypervisors,
    wait_settled,
)
from fixtures.databases import _server_database
from fixtures.dockerd import (  # noqa: F401 - docker_engine, busybox_docker are fixtures
    DockerEngine,
    DockerRun,
    busybox_docker,
    docker_engine,
    purge,
)

pytestmark = [pytest.mark.timeout(300), *SDK_WARNINGS]

FAKE_HOST = "fake-1"
PER_KIND = 3  # servers of each image
WAIT = 60


@dataclass
class Mixed:
    cluster: Cluster
    run: DockerRun
    api: Any  # docker.APIClient of the engine

    @property
    def docker_host(self) -> str:
        return self.run.host

    def containers(self) -> dict[str, str]:
        """instance uuid -> container state, of the Docker compute's containers."""
        found = self.api.containers(
            all=True, filters={"label": [f"novalith.host={self.docker_host}"]})
        return {c["Labels"]["novalith.instance_uuid"]: c["State"] for c in found}


@pytest.fixture(scope="module")
def mixed(servers_up: dict[str, bool], tmp_path_factory: pytest.TempPathFactory,
          docker_engine: DockerEngine, busybox_docker: Any) -> Iterator[Mixed]:  # noqa: F811
    import docker

    require(servers_up, "rabbitmq", "postgresql")
    run = DockerRun()
    api = docker.APIClient(base_url=docker_engine.url, version="auto")
    root = tmp_path_factory.mktemp("mixed-cluster")
    try:
        with _server_database("postgresql") as db_url, rabbit_vhost() as (url, exchange):
            c = Cluster(root=root, db_url=db_url, transport_url=url,
                        control_exchange=exchange, base=BASE)
            c.manage("db", "sync")
            c.manage("bootstrap")
            c.add("api", "api")
            c.add("scheduler-1", "scheduler")
            c.add("conductor-1", "conductor")
            c.add(FAKE_HOST, "compute")  # compute_driver = fake (the default)
            c.add(run.host, "compute", {
                # Nova's default CPU overcommit (BASE has none): the engine has 2 CPUs.
                "DEFAULT": {"compute_driver": "docker", "cpu_allocation_ratio": 16.0},
                "docker": {"url": docker_engine.url,
                           "container_name_template": run.name_template}})
            try:
                c.start()
                yield Mixed(cluster=c, run=run, api=api)
            finally:
                c.stop_all()
    finally:
        purge(run.host, docker_engine.url)
        api.close()


@pytest.fixture
def sdk(mixed: Mixed) -> Iterator[Connection]:
    with closing(mixed.cluster.connect()) as conn:
        yield conn


def wait_hypervisors(sdk: Connection, hosts: set[str]) -> dict[str, dict[str, Any]]:
    """os-hypervisors/detail once every host in ``hosts`` reported its resources."""
    deadline = time.monotonic() + WAIT
    while True:
        found = hypervisors(sdk)
        if hosts <= set(found) and all(found[h]["state"] == "up" for h in hosts):
            return found
        assert time.monotonic() < deadline, f"hypervisors never all up: {found}"
        time.sleep(0.5)


def test_hypervisor_type_sends_container_images_to_the_docker_host(
        mixed: Mixed, sdk: Connection, busybox_docker: Any) -> None:  # noqa: F811
    docker_host = mixed.docker_host
    found = wait_hypervisors(sdk, {FAKE_HOST, docker_host})
    assert {h: found[h]["hypervisor_type"] for h in (FAKE_HOST, docker_host)} == {
        FAKE_HOST: "fake", docker_host: "docker"}

    # The fake image asks for what the fake driver reports in supported_instances.
    fake_image = sdk.image.find_image("fake-image", ignore_missing=False)
    sdk.image.update_image(fake_image.id, hypervisor_type="fake")
    tag = uuid.uuid4().hex[:8]
    container_image = sdk.image.create_image(
        name=f"busybox-{tag}", data=busybox_docker.saved.read_bytes(), disk_format="raw",
        container_format="docker", hypervisor_type="docker")
    nowhere = sdk.image.create_image(name=f"qemu-only-{tag}", data=b"\0" * 4096,
                                     disk_format="raw", container_format="bare",
                                     hypervisor_type="qemu")
    flavor = sdk.compute.find_flavor("m1.tiny", ignore_missing=False)
    wanted = [(f"ctr-{tag}-{i}", container_image.id) for i in range(PER_KIND)]
    wanted += [(f"vm-{tag}-{i}", fake_image.id) for i in range(PER_KIND)]
    wanted.sort(key=lambda item: item[0][-1])  # interleaved: ctr-0, vm-0, ctr-1, ...

    def create(item: tuple[str, str]) -> str:
        with closing(mixed.cluster.connect()) as conn:
            return str(conn.compute.create_server(name=item[0], image_id=item[1],
                                                  flavor_id=flavor.id, networks="none").id)

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(create, wanted))
    lost = str(sdk.compute.create_server(name=f"lost-{tag}", image_id=nowhere.id,
                                         flavor_id=flavor.id, networks="none").id)
    try:
        servers = wait_settled(sdk, ids, timeout=WAIT, final=("ACTIVE", "ERROR"))
        failed = {s.name: s.fault for s in servers.values() if s.status != "ACTIVE"}
        assert not failed, failed
        placed = {s.name: s.compute_host for s in servers.values()}
        assert placed == {name: docker_host if name.startswith("ctr-") else FAKE_HOST
                          for name, _ in wanted}
        containers = mixed.containers()
        ctr_ids = {i for i, s in servers.items() if s.name.startswith("ctr-")}
        assert containers == dict.fromkeys(ctr_ids, "running")
        vm_ids = set(servers) - ctr_ids
        assert mixed.cluster.guests().get(FAKE_HOST, set()) == vm_ids
        # No fake-image build was tried on the Docker host and rescheduled from there.
        docker_log = mixed.cluster.procs[docker_host].output()
        assert not [i for i in vm_ids if i in docker_log], docker_log[-3000:]

        # No host offers qemu: the filter leaves none.
        refused = wait_settled(sdk, [lost], timeout=WAIT, final=("ERROR",))[lost]
        assert "No valid host" in refused.fault["message"], refused.fault

        found = hypervisors(sdk)
        assert (found[docker_host]["running_vms"], found[FAKE_HOST]["running_vms"]) == (
            PER_KIND, PER_KIND)
    finally:
        delete_all(mixed.cluster, sdk, [*ids, lost], timeout=WAIT)
        sdk.image.delete_image(container_image.id, ignore_missing=True)
        sdk.image.delete_image(nowhere.id, ignore_missing=True)
    assert mixed.containers() == {}
    assert not mixed.cluster.guests().get(FAKE_HOST)
