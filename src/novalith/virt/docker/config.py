"""The Docker driver's settings: typed, validated when loaded (first check).

The second check, against the engine, is at ``init_host``: the engine answers
within ``connection_timeout`` and speaks API 1.25 or later.
"""

from __future__ import annotations

import os
import re
from typing import Any

import msgspec
from oslo_config import cfg

from novalith import exceptions

URL_SCHEMES = ("unix", "tcp", "http", "https", "npipe", "ssh")
_API_VERSION = re.compile(r"^(auto|1\.\d+)$")


class DockerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``[docker]`` plus the ``[DEFAULT]`` and ``[image_cache]`` options the driver uses."""

    url: str = "unix:///var/run/docker.sock"
    api_version: str = "auto"
    api_timeout: int = 120
    connection_timeout: int = 10
    max_connections: int = 32
    instances_path: str
    container_name_template: str = "instance-%08x"
    stop_timeout: int = 30
    pids_limit: int = 1024
    use_init: bool = False
    config_drive_mount: str = "/var/lib/cloud/seed/config_drive"
    console_log_max_bytes: int = 102400
    #: ``[image_cache] remove_unused_base_images``: whether unused images are removed.
    remove_unused_images: bool = True
    #: ``[image_cache] remove_unused_original_minimum_age_seconds``.
    remove_unused_min_age: int = 86400

    def __post_init__(self) -> None:
        problems = []
        scheme = self.url.split("://", 1)[0] if "://" in self.url else ""
        if scheme not in URL_SCHEMES:
            problems.append(f"url={self.url!r} is not an Engine API endpoint "
                            "(e.g. unix:///var/run/docker.sock)")
        if not _API_VERSION.match(self.api_version):
            problems.append(f"api_version={self.api_version!r} must be 'auto' or 1.N")
        if not os.path.isabs(self.instances_path):
            problems.append(f"instances_path={self.instances_path!r} must be absolute")
        try:
            first, second = (self.container_name_template % 1,
                             self.container_name_template % 2)
        except (TypeError, ValueError):
            first = second = ""
        if not first or first == second or not re.fullmatch(
                r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", first):
            problems.append(f"container_name_template={self.container_name_template!r} must "
                            "format the instance id into a container name, e.g. "
                            "instance-%08x")
        if not os.path.isabs(self.config_drive_mount) or self.config_drive_mount == "/":
            problems.append(f"config_drive_mount={self.config_drive_mount!r} must be an "
                            "absolute path below /")
        for name in ("api_timeout", "max_connections", "stop_timeout"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        for name in ("connection_timeout", "pids_limit", "remove_unused_min_age"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if self.console_log_max_bytes < 1024:
            problems.append("console_log_max_bytes must be >= 1024")
        if problems:
            raise exceptions.Invalid("Invalid [docker] settings: " + "; ".join(problems))

    def container_name(self, instance_id: int) -> str:
        return self.container_name_template % instance_id

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> DockerSettings:
        group: Any = conf.docker
        cache: Any = conf.image_cache
        return cls(url=group.url, api_version=group.api_version,
                   api_timeout=group.api_timeout,
                   connection_timeout=group.connection_timeout,
                   max_connections=group.max_connections,
                   instances_path=os.path.abspath(conf.instances_path),
                   container_name_template=group.container_name_template,
                   stop_timeout=group.stop_timeout, pids_limit=group.pids_limit,
                   use_init=group.use_init, config_drive_mount=group.config_drive_mount,
                   console_log_max_bytes=group.console_log_max_bytes,
                   remove_unused_images=cache.remove_unused_base_images,
                   remove_unused_min_age=cache.remove_unused_original_minimum_age_seconds)
