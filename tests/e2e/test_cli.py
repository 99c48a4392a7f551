"""The unmodified ``openstack`` CLI against ``novalith up``, configured by its clouds.yaml."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import NovalithProcess, launch, stop

pytestmark = pytest.mark.e2e

CLI_TIMEOUT = 60


def _openstack_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("openstack")
    if beside_python.exists():
        return [str(beside_python)]
    found = shutil.which("openstack")
    return [found] if found else [sys.executable, "-m", "openstackclient.shell"]


class Cli:
    def __init__(self, novalith: NovalithProcess) -> None:
        self.env = novalith.client_env()
        self.cwd = novalith.data_dir
        self.base = [*_openstack_command(), "--os-cloud", "novalith"]

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.base, *args], env=self.env, cwd=self.cwd, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)

    @staticmethod
    def finish(proc: subprocess.Popen[str]) -> str:
        try:
            out, err = proc.communicate(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        assert proc.returncode == 0, (
            f"{' '.join(map(str, proc.args))} exited {proc.returncode}\n"  # type: ignore[arg-type]
            f"stdout:\n{out}\nstderr:\n{err}")
        return out

    @classmethod
    def finish_all(cls, procs: dict[str, subprocess.Popen[str]]) -> dict[str, Any]:
        """Wait for every command, then check each and parse its JSON output."""
        outputs: dict[str, str] = {}
        failures: list[AssertionError] = []
        for what, proc in procs.items():
            try:
                outputs[what] = cls.finish(proc)
            except AssertionError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        return {what: json.loads(out) for what, out in outputs.items()}

    def run(self, *args: str) -> str:
        return self.finish(self.start(*args))

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json"))


def test_cli_server_life_cycle_and_admin_listings(novalith: NovalithProcess) -> None:
    cli = Cli(novalith)
    name = f"cli-{uuid.uuid4().hex[:8]}"
    # ``--wait`` polls every few seconds; run the read-only listings meanwhile.
    create = cli.start("server", "create", "--flavor", "m1.tiny", "--image", "fake-image",
                       "--no-network", "--wait", "-f", "json", name)
    procs = {what: cli.start(*what.split(), "-f", "json")
             for what in ("flavor list", "hypervisor list", "compute service list")}
    procs["server create"] = create
    results = cli.finish_all(procs)
    created = results["server create"]

    flavors = {f["Name"]: (f["RAM"], f["VCPUs"], f["Disk"]) for f in results["flavor list"]}
    assert flavors["m1.tiny"] == (512, 1, 1)
    assert flavors["m1.xlarge"] == (16384, 8, 160)
    hypervisors = sorted(h["Hypervisor Hostname"] for h in results["hypervisor list"])
    assert hypervisors == ["e2e-host-1", "e2e-host-2"]
    assert {h["State"] for h in results["hypervisor list"]} == {"up"}
    services = {(s["Binary"], s["Host"]) for s in results["compute service list"]}
    assert {("nova-compute", "e2e-host-1"), ("nova-compute", "e2e-host-2")} <= services
    assert {s["State"] for s in results["compute service list"]} == {"up"}

    server_id = created["id"]
    try:
        assert created["name"] == name
        assert created["status"] == "ACTIVE"

        show = cli.start("server", "show", "-f", "json", name)
        listed = {s["ID"]: s for s in cli.json("server", "list", "--name", f"^{name}$")}
        assert list(listed) == [server_id]
        assert listed[server_id]["Status"] == "ACTIVE"
        assert listed[server_id]["Image"] == "fake-image"
        assert listed[server_id]["Flavor"] == "m1.tiny"

        shown = json.loads(cli.finish(show))
        assert shown["id"] == server_id
        assert shown["status"] == "ACTIVE"
        assert shown["OS-EXT-STS:power_state"] in (1, "Running")
        assert shown["OS-EXT-SRV-ATTR:host"] in hypervisors
    finally:
        cli.run("server", "delete", "--wait", server_id)
    assert cli.json("server", "list", "--name", f"^{name}$") == []


def test_up_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc, running = launch(tmp_path)
    returncode = stop(proc, signal.SIGTERM)
    output = running.output()
    assert returncode == 0, f"exit status {returncode}:\n{output}"
    assert f"Novalith is up at {running.endpoint}" in output
    assert "Stopped." in output
    auth = yaml.safe_load(running.clouds_yaml.read_text())["clouds"]["novalith"]["auth"]
    assert auth["auth_url"] == running.auth_url
    assert "password" not in auth  # configured in novalith.conf, so not written out
