"""The libvirt driver's settings: typed, validated when loaded (first check).

The second check, against the host, is :func:`novalith.virt.libvirt.host.check_settings`
at ``init_host``: the connection answers, the virt type is offered by the host's
capabilities, and KVM actually runs guest code (a probe guest prints).
"""

from __future__ import annotations

import os
from typing import Any

import msgspec
from oslo_config import cfg

from novalith import exceptions

VIRT_TYPES = ("auto", "kvm", "qemu", "lxc")
#: URI schemes of hypervisors whose guests are QEMU processes (kvm/qemu virt types).
QEMU_SCHEMES = ("qemu", "qemu+unix", "qemu+ssh", "qemu+tcp", "qemu+tls")
TEST_SCHEMES = ("test",)


class LibvirtSettings(msgspec.Struct, frozen=True, kw_only=True):
    """``[libvirt]`` plus the ``[DEFAULT]`` options the driver uses."""

    connection_uri: str = "qemu:///system"
    virt_type: str = "auto"
    instances_path: str
    domain_name_template: str = "instance-%08x"
    wait_soft_reboot_seconds: int = 120
    kvm_probe_timeout: float = 5.0
    connection_timeout: int = 10
    console_log_max_bytes: int = 102400
    lifecycle_event_delay: float = 15.0
    force_config_drive: bool = False
    shutdown_timeout: int = 60

    def __post_init__(self) -> None:
        problems = []
        scheme = self.connection_uri.split(":", 1)[0]
        if "://" not in self.connection_uri:
            problems.append(f"connection_uri={self.connection_uri!r} is not a libvirt URI "
                            "(e.g. qemu:///system)")
        if self.virt_type not in VIRT_TYPES:
            problems.append(f"virt_type={self.virt_type!r} must be one of "
                            + ", ".join(VIRT_TYPES))
        elif self.virt_type in ("kvm", "qemu") and scheme not in QEMU_SCHEMES + TEST_SCHEMES:
            problems.append(f"virt_type={self.virt_type} needs a qemu:// connection_uri, "
                            f"not {self.connection_uri!r}")
        elif self.virt_type == "lxc" and scheme not in ("lxc", *TEST_SCHEMES):
            problems.append(f"virt_type=lxc needs an lxc:// connection_uri, "
                            f"not {self.connection_uri!r}")
        if not os.path.isabs(self.instances_path):
            problems.append(f"instances_path={self.instances_path!r} must be absolute")
        try:
            name = self.domain_name_template % 1
        except (TypeError, ValueError):
            name = ""
        if not name or name == self.domain_name_template % 2:
            problems.append(f"domain_name_template={self.domain_name_template!r} must "
                            "format the instance id, e.g. instance-%08x")
        if self.wait_soft_reboot_seconds < 1:
            problems.append("wait_soft_reboot_seconds must be >= 1")
        if self.kvm_probe_timeout <= 0:
            problems.append("kvm_probe_timeout must be > 0")
        if self.connection_timeout < 0:
            problems.append("connection_timeout must be >= 0")
        if self.lifecycle_event_delay < 0:
            problems.append("lifecycle_event_delay must be >= 0")
        if problems:
            raise exceptions.Invalid("Invalid [libvirt] settings: " + "; ".join(problems))

    def domain_name(self, instance_id: int) -> str:
        return self.domain_name_template % instance_id

    @property
    def is_test_driver(self) -> bool:
        """libvirt's in-memory test driver: domains never run any guest code."""
        return self.connection_uri.split(":", 1)[0] in TEST_SCHEMES

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> LibvirtSettings:
        group: Any = conf.libvirt
        return cls(connection_uri=group.connection_uri, virt_type=group.virt_type,
                   instances_path=os.path.abspath(conf.instances_path),
                   domain_name_template=group.domain_name_template,
                   wait_soft_reboot_seconds=group.wait_soft_reboot_seconds,
                   kvm_probe_timeout=group.kvm_probe_timeout,
                   connection_timeout=group.connection_timeout,
                   console_log_max_bytes=group.console_log_max_bytes,
                   lifecycle_event_delay=group.lifecycle_event_delay,
                   force_config_drive=conf.force_config_drive,
                   shutdown_timeout=conf.compute.shutdown_timeout)
