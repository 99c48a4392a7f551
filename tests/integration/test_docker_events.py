"""The Docker driver's events thread against a real dockerd: what happens to a container
outside Novalith reaches compute's ``instance_power_changed`` at once.

Containers are spawned through the driver; the test then stops, kills, pauses or
restarts them with docker-py directly (as ``docker stop`` would) and waits (with a
deadline, on a condition) for the callbacks to report the right power state. One
test takes the engine away from a second driver with a socket forwarder in between
(:mod:`fixtures.unix_proxy`), changes a container while it is away, and checks that
the driver reconnects and reports it. Everything made is removed at the end.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.dockerd import (  # noqa: F401 - docker_engine, busybox_docker are fixtures
    SOCKET,
    DockerRun,
    ImageFiles,
    busybox_docker,
    docker_engine,
    make_driver,
    purge,
)
from fixtures.unix_proxy import UnixProxy
from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec
from novalith.objects.states import PowerState as P

pytestmark = pytest.mark.timeout(300)

REPORT_TIMEOUT = 20.0  # a deadline for a failure message, not a speed target
FLAVOR = FlavorSpec(flavorid="e1", name="docker.events", memory_mb=64, vcpus=1, root_gb=1)


class Reports(ImageFiles):
    """Compute callbacks that record the power reports and let a test wait for one."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = threading.Condition()

    def instance_power_changed(self, uuid_: str, power_state: int) -> None:
        with self._changed:
            self.power_changes.append((uuid_, power_state))
            self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self.power_changes)

    def of(self, uuid_: str, since: int = 0) -> list[int]:
        with self._changed:
            return [p for u, p in self.power_changes[since:] if u == uuid_]

    def wait_for(self, uuid_: str, power: int, since: int) -> list[int]:
        """The reports of ``uuid_`` since ``since`` once one of them is ``power``."""
        with self._changed:
            if not self._changed.wait_for(lambda: power in self.of(uuid_, since),
                                          REPORT_TIMEOUT):
                pytest.fail(f"no {P.NAMES[power]} report for {uuid_} within "
                            f"{REPORT_TIMEOUT} s; reports: "
                            f"{[P.NAMES[p] for p in self.of(uuid_, since)]}")
            return self.of(uuid_, since)


@dataclass
class Env:
    api: Any
    image_id: str
    instances: Path
    busybox: Any
    ids: Iterator[int]
    cleanups: list[Callable[[], None]]

    def spec(self, run: DockerRun, command: str | None = None) -> InstanceSpec:
        iid = next(self.ids)
        props = {"os_command_line": command} if command else {}
        return InstanceSpec(
            uuid=f"00000000-0000-4000-8000-{run.tag}{iid:04x}", id=iid,
            name=f"instance-{iid:08x}", display_name=f"docker-ev-{iid}",
            hostname=f"docker-ev-{iid}", project_id="p-docker", user_id="u-docker",
            flavor=FLAVOR, user_data=base64.b64encode(b"events").decode(),
            image=ImageMeta(id=self.image_id, container_format="docker", disk_format="raw",
                            properties=props))

    def container_id(self, spec: InstanceSpec) -> str:
        (found,) = self.api.containers(
            all=True, filters={"label": [f"novalith.instance_uuid={spec.uuid}"]})
        return str(found["Id"])


@dataclass
class Host:
    """One compute host's driver on the engine, and what it reported."""

    run: DockerRun
    driver: Any
    reports: Reports
    env: Env

    def spawn(self, command: str | None = None) -> tuple[InstanceSpec, str]:
        spec = self.env.spec(self.run, command)
        self.driver.spawn(spec, admin_password=None)
        return spec, self.env.container_id(spec)


@pytest.fixture(scope="module")
def env(docker_engine: Any, busybox_docker: Any,  # noqa: F811
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    import docker

    api = docker.APIClient(base_url=docker_engine.url, version="auto")
    made = Env(api=api, image_id="", instances=tmp_path_factory.mktemp("docker-events"),
               busybox=busybox_docker, ids=itertools.count(1), cleanups=[])
    try:
        yield made
    finally:
        for cleanup in reversed(made.cleanups):
            cleanup()
        api.close()


def _host(env: Env, url: str | None = None) -> Host:
    run = DockerRun()
    reports = Reports()
    env.image_id = reports.add(env.busybox.saved, env.image_id or None)
    opts: dict[str, Any] = {"container_name_template": run.name_template, "stop_timeout": 5}
    if url:
        opts["url"] = url
    driver = make_driver(env.instances, run.host, reports, **opts)

    def cleanup() -> None:
        driver.cleanup_host()
        purge(run.host)

    env.cleanups.append(cleanup)
    return Host(run=run, driver=driver, reports=reports, env=env)


@pytest.fixture(scope="module")
def host(env: Env) -> Host:
    return _host(env)


# ---- out-of-band changes, reported at once ---------------------------------------------------


def test_docker_stop_is_reported_as_shutdown(env: Env, host: Host) -> None:
    spec, cid = host.spawn()
    mark = host.reports.mark()
    env.api.stop(cid, timeout=5)
    assert host.reports.wait_for(spec.uuid, P.SHUTDOWN, mark)[-1] == P.SHUTDOWN
    # ... and a start outside Novalith as RUNNING.
    mark = host.reports.mark()
    env.api.start(cid)
    host.reports.wait_for(spec.uuid, P.RUNNING, mark)


def test_docker_kill_is_reported_as_shutdown(env: Env, host: Host) -> None:
    spec, cid = host.spawn()
    mark = host.reports.mark()
    env.api.kill(cid)
    host.reports.wait_for(spec.uuid, P.SHUTDOWN, mark)
    assert env.api.inspect_container(cid)["State"]["Status"] == "exited"


def test_docker_pause_and_unpause_are_reported(env: Env, host: Host) -> None:
    spec, cid = host.spawn()
    mark = host.reports.mark()
    env.api.pause(cid)
    host.reports.wait_for(spec.uuid, P.PAUSED, mark)
    mark = host.reports.mark()
    env.api.unpause(cid)
    host.reports.wait_for(spec.uuid, P.RUNNING, mark)


def test_a_process_that_exits_is_reported(env: Env, host: Host) -> None:
    # Its only process ends by itself, no docker command involved: the die event tells.
    mark = host.reports.mark()
    spec, cid = host.spawn(command="/bin/sh -c 'sleep 1; exit 3'")
    host.reports.wait_for(spec.uuid, P.SHUTDOWN, mark)
    assert env.api.inspect_container(cid)["State"]["ExitCode"] == 3


def test_an_oom_killed_container_is_reported_as_crashed(env: Env, host: Host) -> None:
    # tail keeps the current line in memory; /dev/zero has no line end: it grows until
    # the kernel's OOM killer ends it (the flavor's 64 MiB, no swap). The sleep lets
    # spawn see it running first.
    mark = host.reports.mark()
    spec, cid = host.spawn(command="/bin/sh -c 'sleep 1; exec tail /dev/zero'")
    host.reports.wait_for(spec.uuid, P.CRASHED, mark)
    assert env.api.inspect_container(cid)["State"]["OOMKilled"] is True


def test_docker_restart_is_reported_once_as_running(env: Env, host: Host) -> None:
    spec, cid = host.spawn()
    mark = host.reports.mark()
    env.api.restart(cid, timeout=5)  # kill, die, stop, start, restart
    reports = host.reports.wait_for(spec.uuid, P.RUNNING, mark)
    assert P.SHUTDOWN not in reports, [P.NAMES[p] for p in reports]


def test_docker_rm_is_reported_as_nostate(env: Env, host: Host) -> None:
    spec, cid = host.spawn()
    mark = host.reports.mark()
    env.api.remove_container(cid, force=True)
    host.reports.wait_for(spec.uuid, P.NOSTATE, mark)


def test_other_hosts_containers_are_not_reported(env: Env, host: Host) -> None:
    other = _host(env)
    theirs, their_cid = other.spawn()
    mine, my_cid = host.spawn()
    mark, their_mark = host.reports.mark(), other.reports.mark()
    env.api.pause(their_cid)
    env.api.pause(my_cid)
    other.reports.wait_for(theirs.uuid, P.PAUSED, their_mark)
    host.reports.wait_for(mine.uuid, P.PAUSED, mark)
    assert host.reports.of(theirs.uuid) == []
    assert other.reports.of(mine.uuid) == []


# ---- the engine goes away and comes back -------------------------------------------------------


def test_reconnects_after_the_engine_went_away_and_reports_what_changed(
        env: Env, tmp_path: Path) -> None:
    proxy = UnixProxy(tmp_path / "docker.sock", SOCKET)
    proxy.serve()
    env.cleanups.append(proxy.cut)
    away = _host(env, url=proxy.url)
    watcher = away.driver._events
    stopped, stopped_cid = away.spawn()
    untouched, _ = away.spawn()
    assert watcher.following.is_set()

    proxy.cut()  # the engine "stops": the stream breaks, nobody answers
    deadline = time.monotonic() + REPORT_TIMEOUT
    while watcher.following.is_set():
        assert time.monotonic() < deadline, "the driver did not notice the engine left"
        time.sleep(0.02)
    mark = away.reports.mark()
    env.api.stop(stopped_cid, timeout=5)  # changed while the driver cannot see it
    proxy.serve()

    away.reports.wait_for(stopped.uuid, P.SHUTDOWN, mark)
    # The full pass after reconnecting reports every container, changed or not.
    away.reports.wait_for(untouched.uuid, P.RUNNING, mark)
    assert watcher.full_passes == 1
    assert watcher.following.is_set()

    # cleanup_host ends both threads (closing the stream ends the blocked read).
    threads = list(watcher._threads)
    away.driver.cleanup_host()
    assert threads and not any(t.is_alive() for t in threads)
