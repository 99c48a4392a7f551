"""Containers changed outside Novalith, seen through unmodified openstacksdk at once.

A ``novalith up --driver docker`` subprocess with the periodic power sync switched
off (``sync_power_state_interval = -1``): whatever the API shows after a ``docker
stop`` (made here with docker-py, on the engine directly) can only have come from
the Docker driver's events thread and compute's life-cycle event handling.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openstack.compute.v2.server import Server
from openstack.connection import Connection

from fixtures.dockerd import (  # noqa: F401 - docker_engine, busybox_docker are fixtures
    DockerEngine,
    busybox_docker,
    docker_engine,
)

from .conftest import SDK_WARNINGS
from .test_docker_sdk import (
    POLL,
    STARTED,
    WAIT,
    DockerCloud,
    busybox_id,
    console,
    docker_cloud_up,
    wait_status,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), *SDK_WARNINGS]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, docker_engine: DockerEngine,  # noqa: F811
          busybox_docker: Any) -> Iterator[DockerCloud]:  # noqa: F811
    with docker_cloud_up(tmp_path_factory.mktemp("novalith-e2e-docker-events"),
                         docker_engine, "[DEFAULT]\nsync_power_state_interval = -1\n"
                         ) as running:
        yield running


@pytest.fixture
def conn(cloud: DockerCloud) -> Iterator[Connection]:
    connection = cloud.running.connect()
    yield connection
    connection.close()


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    """``check()`` once it is truthy; fails after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not (found := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT} s: {what}", pytrace=False)
        time.sleep(POLL)
    return found


def power_state(conn: Connection, server: Server, status: str, power: int) -> Server:
    def check() -> Server | None:
        found = conn.compute.get_server(server.id)
        ok = (found.status, found.task_state, found.power_state) == (status, None, power)
        return found if ok else None

    return wait_for(f"{server.name} {status} with power state {power}", check)


def container_status(cloud: DockerCloud, server: Server, status: str) -> None:
    wait_for(f"the container of {server.name} {status}",
             lambda: cloud.inspect(server)["State"]["Status"] == status)


def test_a_container_changed_outside_novalith_shows_in_the_api_at_once(
        conn: Connection, cloud: DockerCloud) -> None:
    server = conn.compute.create_server(name="dk-events", image_id=busybox_id(conn),
                                        flavor_id="1", networks="none")
    try:
        server = wait_status(conn, server, "ACTIVE")
        console(conn, server, STARTED)
        cid = cloud.containers(server.id)[0]["Id"]

        # `docker stop`: the server is SHUTOFF, no periodic sync involved.
        cloud.api.stop(cid, timeout=10)
        wait_status(conn, server, "SHUTOFF")

        # `docker start` of a server that is SHUTOFF: compute stops it again (Nova: the
        # database is right about a stopped server).
        cloud.api.start(cid)
        container_status(cloud, server, "exited")
        wait_status(conn, server, "SHUTOFF")

        # Novalith's own start: its events do not make compute fight it. A later
        # `docker pause` is reported after them, and finds the container running.
        conn.compute.start_server(server)
        wait_status(conn, server, "ACTIVE")
        cloud.api.pause(cid)
        power_state(conn, server, "ACTIVE", 3)  # paused behind Nova's back: ACTIVE, PAUSED
        assert cloud.inspect(server)["State"]["Status"] == "paused"
        cloud.api.unpause(cid)
        power_state(conn, server, "ACTIVE", 1)

        # `docker kill` (the process dies): SHUTOFF too.
        cloud.api.kill(cid)
        wait_status(conn, server, "SHUTOFF")
        assert cloud.inspect(server)["State"]["Status"] == "exited"
    finally:
        conn.compute.delete_server(server, ignore_missing=True)
        conn.compute.wait_for_delete(server, wait=WAIT, interval=POLL)
    assert cloud.containers(server.id) == []
