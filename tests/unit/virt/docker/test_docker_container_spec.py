"""What the driver asks the engine to create: labels, flavor limits, command, metadata."""

from __future__ import annotations

from typing import Any

import pytest

from novalith import exceptions
from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec
from novalith.virt.docker import container_spec as cs
from novalith.virt.docker.config import DockerSettings

SETTINGS = DockerSettings(instances_path="/srv/instances", container_name_template="c-%08x")
FLAVOR = FlavorSpec(flavorid="f", name="f", memory_mb=256, vcpus=3, root_gb=1, swap=64)


def instance(properties: dict[str, Any] | None = None, flavor: FlavorSpec = FLAVOR
             ) -> InstanceSpec:
    return InstanceSpec(uuid="u-1", id=26, name="instance-0000001a", display_name="web one",
                        hostname="web-one", project_id="p", user_id="u", flavor=flavor,
                        image=ImageMeta(id="img-1", container_format="docker",
                                        properties=properties or {}))


def build(spec: InstanceSpec, image_config: dict[str, Any] | None = None,
          settings: DockerSettings = SETTINGS) -> cs.ContainerSpec:
    return cs.build(spec, settings, "host-a", "novalith-image/host-a:img-1", "img-1",
                    image_config if image_config is not None else {"Cmd": ["/bin/app"]},
                    "/srv/instances/u-1/config_drive")


def test_identity_name_hostname_and_environment() -> None:
    spec = build(instance())
    assert spec.name == "c-0000001a"
    assert spec.image == "novalith-image/host-a:img-1"
    assert spec.hostname == "web-one"
    assert spec.labels == {"novalith.instance_uuid": "u-1", "novalith.host": "host-a",
                           "novalith.image_id": "img-1", "novalith.vcpus": "3",
                           "novalith.memory_mb": "256"}
    assert spec.environment == {"NOVALITH_INSTANCE_UUID": "u-1",
                                "NOVALITH_INSTANCE_NAME": "web one",
                                "NOVALITH_CONFIG_DRIVE": "/var/lib/cloud/seed/config_drive"}
    assert spec.stop_timeout == 30


def test_flavor_limits_and_isolation() -> None:
    host = build(instance()).host_config
    assert host["mem_limit"] == 256 << 20
    assert host["memswap_limit"] == (256 + 64) << 20
    assert (host["cpu_period"], host["cpu_quota"], host["cpu_shares"]) == (100_000, 300_000,
                                                                          3072)
    assert host["pids_limit"] == 1024
    assert host["network_mode"] == "none"
    assert host["init"] is False
    assert host["binds"] == {"/srv/instances/u-1/config_drive": {
        "bind": "/var/lib/cloud/seed/config_drive", "mode": "ro"}}
    assert host["log_config"]["type"] == "json-file"


def test_no_pids_limit_when_zero_and_init_when_asked() -> None:
    settings = DockerSettings(instances_path="/srv/i", pids_limit=0, use_init=True)
    host = build(instance(), settings=settings).host_config
    assert "pids_limit" not in host
    assert host["init"] is True


def test_the_image_command_runs_by_default() -> None:
    assert build(instance(), {"Cmd": ["/bin/app"]}).command is None
    assert build(instance(), {"Entrypoint": ["/init"], "Cmd": None}).command is None


def test_os_command_line_is_split_like_a_shell_would() -> None:
    spec = build(instance({"os_command_line": "/bin/sh -c 'echo hi; sleep 1'"}), {})
    assert spec.command == ["/bin/sh", "-c", "echo hi; sleep 1"]
    # It replaces the image's CMD too, as `docker run IMAGE COMMAND` does.
    assert build(instance({"os_command_line": "top"}), {"Cmd": ["/bin/app"]}).command == [
        "top"]


def test_an_image_without_a_command_cannot_boot() -> None:
    with pytest.raises(exceptions.BuildFailed,
                       match="image img-1 has no command.*os_command_line"):
        build(instance(), {"Cmd": None, "Entrypoint": None})
    with pytest.raises(exceptions.BuildFailed, match="has no command"):
        build(instance({"os_command_line": "   "}), {})


def test_an_unparsable_command_line_fails_the_build() -> None:
    with pytest.raises(exceptions.BuildFailed, match="does not parse"):
        build(instance({"os_command_line": "sh -c 'unclosed"}), {})
