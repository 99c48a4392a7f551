"""What the engine is asked to create for one instance: a pure function of its spec.

* Identity: labels ``novalith.instance_uuid`` and ``novalith.host`` (how the driver
  finds its containers; the name, ``[docker] container_name_template`` of the
  instance id, is only for people), plus the image id and the flavor's vcpus and
  memory (the host resource report sums them without inspecting each container).
* Limits from the flavor: memory (``memory_mb`` MiB; memory + swap = that plus the
  flavor's swap, where the kernel accounts swap), CPU time as a CFS quota of
  ``vcpus`` CPUs per 100 ms period, CPU shares 1024 per vcpu (relative weight under
  contention), and ``[docker] pids_limit`` processes. The flavor's root disk is not
  enforced (overlay2 sizes need xfs with project quotas).
* Hostname: the instance's hostname. Network: ``none`` (no network service yet).
* Metadata: the instance directory's ``config_drive/`` read-only at
  ``[docker] config_drive_mount``; environment ``NOVALITH_INSTANCE_UUID``,
  ``NOVALITH_INSTANCE_NAME`` (the display name) and ``NOVALITH_CONFIG_DRIVE``.
* Command: the image property ``os_command_line`` when set (split like a shell
  would, replacing the image's CMD as ``docker run IMAGE COMMAND`` does; the
  ENTRYPOINT stays); else the image's own CMD/ENTRYPOINT. An image with neither (a
  root file system from ``docker import``) cannot boot: BuildFailed says to set
  ``os_command_line``.
* Logs: the ``json-file`` log driver (console output reads it) capped at 2 x 10 MB.
"""

from __future__ import annotations

import shlex
from typing import Any

import msgspec

from novalith import exceptions
from novalith.objects.specs import InstanceSpec
from novalith.virt.docker.config import DockerSettings

LABEL_UUID = "novalith.instance_uuid"
LABEL_HOST = "novalith.host"
LABEL_IMAGE = "novalith.image_id"
LABEL_VCPUS = "novalith.vcpus"
LABEL_MEMORY = "novalith.memory_mb"
#: Labels a snapshot blanks, so a container made from it by hand is nobody's instance.
IDENTITY_LABELS = (LABEL_UUID, LABEL_HOST, LABEL_IMAGE, LABEL_VCPUS, LABEL_MEMORY)
ENV_UUID = "NOVALITH_INSTANCE_UUID"
ENV_NAME = "NOVALITH_INSTANCE_NAME"
ENV_CONFIG_DRIVE = "NOVALITH_CONFIG_DRIVE"
ENV_NAMES = (ENV_UUID, ENV_NAME, ENV_CONFIG_DRIVE)
COMMAND_PROPERTY = "os_command_line"
CPU_PERIOD = 100_000  # microseconds: the CFS period the quota is a multiple of
CPU_SHARES_PER_VCPU = 1024
MIB = 1 << 20
LOG_CONFIG = {"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}}


class ContainerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Arguments of ``APIClient.create_container`` and ``create_host_config``."""

    name: str
    image: str
    command: list[str] | None
    hostname: str
    labels: dict[str, str]
    environment: dict[str, str]
    stop_timeout: int
    host_config: dict[str, Any]


def labels(instance: InstanceSpec, host: str, image_id: str) -> dict[str, str]:
    return {LABEL_UUID: instance.uuid, LABEL_HOST: host, LABEL_IMAGE: image_id,
            LABEL_VCPUS: str(instance.flavor.vcpus),
            LABEL_MEMORY: str(instance.flavor.memory_mb)}


def command(instance: InstanceSpec, image_config: dict[str, Any]) -> list[str] | None:
    """The command to run (None: the image's own); BuildFailed when there is none."""
    props = instance.image.properties if instance.image is not None else {}
    line = str(props.get(COMMAND_PROPERTY) or "").strip()
    if line:
        try:
            argv = shlex.split(line)
        except ValueError as err:
            raise exceptions.BuildFailed(
                instance_uuid=instance.uuid,
                reason=f"the image property {COMMAND_PROPERTY}={line!r} does not parse: "
                       f"{err}") from err
        if argv:
            return argv
    if image_config.get("Cmd") or image_config.get("Entrypoint"):
        return None
    image_id = instance.image.id if instance.image is not None else "(none)"
    raise exceptions.BuildFailed(
        instance_uuid=instance.uuid,
        reason=f"image {image_id} has no command (no CMD or ENTRYPOINT, e.g. a root file "
               f"system from docker import); set its {COMMAND_PROPERTY} property to the "
               "command to run")


def host_config(instance: InstanceSpec, settings: DockerSettings, config_dir: str
                ) -> dict[str, Any]:
    """Keyword arguments of ``create_host_config`` for ``instance``."""
    flavor = instance.flavor
    vcpus = max(flavor.vcpus, 1)
    memory = flavor.memory_mb * MIB
    args: dict[str, Any] = {
        "network_mode": "none",
        "mem_limit": memory,
        "memswap_limit": memory + max(flavor.swap, 0) * MIB,
        "cpu_period": CPU_PERIOD,
        "cpu_quota": vcpus * CPU_PERIOD,
        "cpu_shares": vcpus * CPU_SHARES_PER_VCPU,
        "init": settings.use_init,
        "binds": {config_dir: {"bind": settings.config_drive_mount, "mode": "ro"}},
        "log_config": LOG_CONFIG,
    }
    if settings.pids_limit > 0:
        args["pids_limit"] = settings.pids_limit
    return args


def build(instance: InstanceSpec, settings: DockerSettings, host: str, image_ref: str,
          image_id: str, image_config: dict[str, Any], config_dir: str) -> ContainerSpec:
    """The container of ``instance``, from image ``image_ref`` (tagged ``image_id``)."""
    return ContainerSpec(
        name=settings.container_name(instance.id),
        image=image_ref,
        command=command(instance, image_config),
        hostname=instance.hostname or settings.container_name(instance.id),
        labels=labels(instance, host, image_id),
        environment={ENV_UUID: instance.uuid, ENV_NAME: instance.display_name,
                     ENV_CONFIG_DRIVE: settings.config_drive_mount},
        stop_timeout=settings.stop_timeout,
        host_config=host_config(instance, settings, config_dir),
    )
