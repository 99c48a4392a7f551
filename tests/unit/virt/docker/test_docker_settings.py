"""[docker] settings: defaults from the config, and every check of the first validation."""

from __future__ import annotations

from typing import Any

import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.virt.docker.config import DockerSettings


def test_defaults_from_the_config(tmp_path: Any) -> None:
    conf = make_conf(overrides={"DEFAULT": {"instances_path": str(tmp_path)}})
    settings = DockerSettings.from_conf(conf)
    assert settings.url == "unix:///var/run/docker.sock"
    assert settings.api_version == "auto"
    assert settings.instances_path == str(tmp_path)
    assert settings.container_name(0x2a) == "instance-0000002a"
    assert (settings.stop_timeout, settings.pids_limit, settings.use_init) == (30, 1024, False)
    assert settings.config_drive_mount == "/var/lib/cloud/seed/config_drive"
    # The image cache options of [image_cache], as the other drivers read them.
    assert (settings.remove_unused_images, settings.remove_unused_min_age) == (True, 86400)


def test_overrides_reach_the_settings(tmp_path: Any) -> None:
    conf = make_conf(overrides={
        "DEFAULT": {"instances_path": str(tmp_path)},
        "docker": {"url": "tcp://127.0.0.1:2375", "container_name_template": "ct-%d",
                   "pids_limit": 0, "use_init": True},
        "image_cache": {"remove_unused_base_images": False}})
    settings = DockerSettings.from_conf(conf)
    assert settings.url == "tcp://127.0.0.1:2375"
    assert settings.container_name(7) == "ct-7"
    assert settings.pids_limit == 0 and settings.use_init
    assert settings.remove_unused_images is False


@pytest.mark.parametrize("field,value,problem", [
    ("url", "/var/run/docker.sock", "not an Engine API endpoint"),
    ("url", "ftp://host", "not an Engine API endpoint"),
    ("api_version", "2.0", "must be 'auto' or 1.N"),
    ("instances_path", "relative/path", "must be absolute"),
    ("container_name_template", "fixed-name", "must format the instance id"),
    ("container_name_template", "bad-%q", "must format the instance id"),
    ("container_name_template", "has space %d", "must format the instance id"),
    ("config_drive_mount", "relative", "absolute path below /"),
    ("config_drive_mount", "/", "absolute path below /"),
    ("stop_timeout", 0, "stop_timeout must be >= 1"),
    ("pids_limit", -1, "pids_limit must be >= 0"),
    ("console_log_max_bytes", 10, "console_log_max_bytes must be >= 1024"),
])
def test_bad_settings_are_refused(field: str, value: Any, problem: str) -> None:
    values: dict[str, Any] = {"instances_path": "/var/lib/novalith/instances", field: value}
    with pytest.raises(exceptions.Invalid, match=problem) as err:
        DockerSettings(**values)
    assert str(err.value).startswith("Invalid [docker] settings: ")
