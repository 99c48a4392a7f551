"""``novalith up`` with ``compute_driver = docker`` and ``--demo`` against a real dockerd:
the busybox image is registered, the demo container boots with its user data, and a
snapshot of it (raw/docker, inheriting ``hypervisor_type``) boots another container,
all through unmodified openstacksdk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openstack.connection import Connection

from fixtures.dockerd import (  # noqa: F401 - docker_engine, busybox_docker are fixtures
    DockerEngine,
    DockerRun,
    busybox_docker,
    docker_engine,
    purge,
)
from novalith.cmd.docker_setup import CONSOLE_READY, IMAGE_NAME

from .conftest import SDK_WARNINGS, NovalithProcess, running_cloud

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]

DEMO_TIMEOUT = 120.0
#: How cmd/demo.py reports a demo that went wrong.
DEMO_FAILURES = ("server ended", "boot refused", "no image named", "authentication failed",
                 "no admin password")
WAIT = 60


@pytest.fixture
def docker_cloud(tmp_path: Path, docker_engine: DockerEngine,  # noqa: F811
                 busybox_docker: Any) -> Iterator[tuple[NovalithProcess, str]]:  # noqa: F811
    """``novalith up --demo`` whose one compute host runs the Docker driver, by config;
    its own host name and container names on the shared engine, purged afterwards."""
    run = DockerRun()
    config = (f"[DEFAULT]\ncompute_driver = docker\n[docker]\nurl = {docker_engine.url}\n"
              f"container_name_template = {run.name_template}\n")
    try:
        # The last --host wins over the e2e default (click keeps an option's last value).
        with running_cloud(tmp_path, fake_hosts=1, extra_config=config,
                           extra_args=("--demo", "--host", run.host)) as running:
            yield running, run.host
    finally:
        purge(run.host, docker_engine.url)


def wait_for_log(running: NovalithProcess, text: str) -> str:
    deadline = time.monotonic() + DEMO_TIMEOUT
    while True:
        log = running.output()
        if text in log:
            return log
        if any(f"Demo: {failed}" in log for failed in DEMO_FAILURES):
            pytest.fail(f"the demo failed:\n{log}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"no {text!r} in the output within {DEMO_TIMEOUT} s:\n{log}",
                        pytrace=False)
        time.sleep(0.2)


def console_shows(conn: Connection, server: Any, text: str) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        out = conn.compute.get_server_console_output(server)["output"]
        if text in out or time.monotonic() > deadline:
            return str(out)
        time.sleep(0.2)


def test_up_with_the_docker_driver_boots_the_demo_and_its_snapshot(
        docker_cloud: tuple[NovalithProcess, str], docker_engine: DockerEngine,  # noqa: F811
) -> None:
    running, host = docker_cloud
    log = wait_for_log(running, "end of user data")
    assert f"--image {IMAGE_NAME}" in log
    assert f"Demo: server 'demo' is ACTIVE on host {host}" in log
    assert CONSOLE_READY in log and "echo hello from novalith" in log
    conn = running.connect()
    made: list[Any] = []
    try:
        busybox = conn.image.find_image(IMAGE_NAME, ignore_missing=False)
        assert (busybox.container_format, busybox.disk_format) == ("docker", "raw")
        assert busybox.visibility == "public" and busybox.hypervisor_type == "docker"
        demo = conn.compute.find_server("demo", ignore_missing=False)
        made.append(demo)
        made_image = conn.compute.create_server_image(demo, "demo-snap", wait=True,
                                                      timeout=WAIT)
        snap = conn.image.get_image(made_image.id)
        assert (snap.status, snap.container_format, snap.disk_format) == ("active", "docker",
                                                                          "raw")
        assert snap.hypervisor_type == "docker"
        assert snap.properties["base_image_ref"] == busybox.id
        assert conn.compute.get_server(demo).status == "ACTIVE"
        clone = conn.compute.create_server(name="from-snap", image_id=snap.id,
                                           flavor_id="1", networks="none")
        made.append(clone)
        clone = conn.compute.wait_for_server(clone, status="ACTIVE", wait=WAIT)
        assert clone.compute_host == host
        # The snapshot kept the demo's command: the clone runs it under its own name.
        out = console_shows(conn, clone, "hostname: from-snap")
        assert "hostname: from-snap" in out, out
        for server in made:
            conn.compute.delete_server(server)
        for server in made:
            conn.compute.wait_for_delete(server, wait=WAIT)
        made.clear()
        conn.image.delete_image(snap.id)
        assert list(conn.compute.servers()) == []
    finally:
        for server in made:
            conn.compute.delete_server(server, ignore_missing=True)
        conn.close()
    import docker

    client = docker.APIClient(base_url=docker_engine.url)
    try:
        left = client.containers(all=True, filters={"label": [f"novalith.host={host}"]})
    finally:
        client.close()
    assert left == []
