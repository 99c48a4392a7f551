"""``novalith up`` as a subprocess, for tests that drive it with unmodified clients.

One cloud serves the whole e2e session (start-up costs a few seconds). Tests keep
to resources they create themselves, named with a per-test prefix, so they do not
see each other's servers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack.connection import Connection

from fixtures.sdk_warnings import SDK_WARNINGS  # noqa: F401 - re-exported for the tests

ADMIN_PASSWORD = "e2e-admin-pw-4b1d"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class NovalithProcess:
    """Where a running ``novalith up`` can be reached, and how to log in as admin."""

    endpoint: str
    data_dir: Path
    clouds_yaml: Path
    log: Path
    password: str = ADMIN_PASSWORD

    @property
    def auth_url(self) -> str:
        return self.endpoint + "/identity"

    def connect(self, **overrides: Any) -> Connection:
        """An openstacksdk connection as admin, built from explicit arguments."""
        args: dict[str, Any] = {
            "auth_url": self.auth_url, "username": "admin", "password": self.password,
            "project_name": "admin", "user_domain_name": "Default",
            "project_domain_name": "Default", "region_name": "RegionOne",
            "load_yaml_config": False, "load_envvars": False,
        }
        args.update(overrides)
        return openstack.connect(**args)

    def client_env(self) -> dict[str, str]:
        """The environment for the ``openstack`` CLI: our clouds.yaml, no stray OS_* vars.

        ``novalith up`` leaves a configured admin password out of clouds.yaml (only a
        generated one is written), so the password comes from OS_PASSWORD.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml),
                    "OS_PASSWORD": self.password})
        return env

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "<no output>"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_endpoint(proc: subprocess.Popen[bytes], endpoint: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"novalith up exited with {proc.returncode} during start-up:\n"
                        f"{log.read_text(errors='replace')}", pytrace=False)
        try:
            if httpx.get(endpoint + "/identity/v3", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"novalith up did not answer at {endpoint} within {START_TIMEOUT}s:\n"
                        f"{log.read_text(errors='replace')}", pytrace=False)
        time.sleep(0.1)


def launch(root: Path, fake_hosts: int = 2, extra_config: str = "",
           extra_args: Sequence[str] = ()) -> tuple[subprocess.Popen[bytes], NovalithProcess]:
    """Start ``novalith up`` with its data and config under ``root``; wait until it answers.

    ``extra_config`` is appended to the generated novalith.conf (more sections);
    ``extra_args`` go to the command line (``--driver docker``, say).
    """
    data_dir = root / "data"
    config = root / "novalith.conf"
    config.write_text(f"[bootstrap]\nadmin_password = {ADMIN_PASSWORD}\n{extra_config}")
    log = root / "novalith-up.log"
    port = free_loopback_port()
    endpoint = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "novalith", "up", "--config-file", str(config),
           "--data-dir", str(data_dir), "--listen", "127.0.0.1", "--port", str(port),
           "--host", "e2e-host", "--fake-hosts", str(fake_hosts), *extra_args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        _wait_for_endpoint(proc, endpoint, log)
    except BaseException:
        stop(proc, signal.SIGKILL)
        raise
    running = NovalithProcess(endpoint=endpoint, data_dir=data_dir,
                              clouds_yaml=data_dir / "clouds.yaml", log=log)
    return proc, running


def stop(proc: subprocess.Popen[bytes], sig: signal.Signals) -> int | None:
    """Send ``sig`` to the process we started (by its PID) and wait for it to exit.

    Returns its exit status, or None if it had to be killed after STOP_TIMEOUT.
    """
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        return proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)
        return None


@contextlib.contextmanager
def running_cloud(root: Path, **launch_args: Any) -> Iterator[NovalithProcess]:
    r"""A :func:`launch`\ ed cloud for the ``with`` block; then SIGINT must stop it with
    status 0 (else the test fails, with the cloud's log)."""
    proc, running = launch(root, **launch_args)
    try:
        yield running
    finally:
        returncode = stop(proc, signal.SIGINT)
    if returncode != 0:
        pytest.fail(f"novalith up did not stop cleanly (exit status {returncode}):\n"
                    f"{running.output()}", pytrace=False)


@pytest.fixture(scope="session")
def novalith(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NovalithProcess]:
    """One ``novalith up`` for the session; on teardown SIGINT must stop it with status 0."""
    proc, running = launch(tmp_path_factory.mktemp("novalith-e2e"))
    try:
        assert running.clouds_yaml.exists(), running.output()
        yield running
    finally:
        returncode = stop(proc, signal.SIGINT)
    if returncode != 0:
        pytest.fail(f"novalith up did not stop cleanly on SIGINT (exit status {returncode}):\n"
                    f"{running.output()}", pytrace=False)
