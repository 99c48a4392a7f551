"""[libvirt] options of the libvirt compute driver, and ``[DEFAULT] force_config_drive``.

Names and meanings follow nova.conf. The driver reads them once into
:class:`novalith.virt.libvirt.config.LibvirtSettings` (validated there) and checks
them against the host when the compute service starts.
"""

from __future__ import annotations

from oslo_config import cfg

DEFAULT_OPTS: list[cfg.Opt] = [
    cfg.BoolOpt("force_config_drive", default=False,
                help="Give every instance a config drive, whether or not its request "
                     "asked for one."),
]

OPTS: list[cfg.Opt] = [
    cfg.StrOpt("connection_uri", default="qemu:///system",
               help="libvirt connection URI of the hypervisor this compute host drives. "
                    "test:///default (libvirt's in-memory test driver) needs no daemon."),
    cfg.StrOpt("virt_type", default="auto", choices=["auto", "kvm", "qemu", "lxc"],
               help="Domain type: kvm (hardware acceleration), qemu (TCG emulation) or "
                    "lxc. 'auto' boots a probe guest under KVM at start-up and uses kvm "
                    "if the probe prints, else qemu: the presence of /dev/kvm proves "
                    "nothing (nested KVM may create VMs that never run). kvm is also "
                    "probed when set explicitly, and refused if the probe fails."),
    cfg.StrOpt("domain_name_template", default="instance-%08x",
               help="Domain names, from the instance's integer id (Nova's "
                    "instance_name_template). Clouds that share one libvirtd (test "
                    "runs) give each a distinct template so their names never clash."),
    cfg.IntOpt("wait_soft_reboot_seconds", default=120, min=1,
               help="Seconds a soft reboot waits for the guest to shut down on the ACPI "
                    "power button before it reboots the instance hard."),
    cfg.FloatOpt("kvm_probe_timeout", default=5.0, min=0.5,
                 help="Seconds the KVM probe guest gets to print its first byte."),
    cfg.IntOpt("connection_timeout", default=10, min=0,
               help="Seconds the compute service keeps trying to reach libvirtd at "
                    "start-up before it refuses to start."),
    cfg.FloatOpt("lifecycle_event_delay", default=15.0, min=0,
                 help="Seconds a domain's stopped/shutdown life-cycle event is held "
                      "before compute hears of it; dropped if the domain starts or "
                      "resumes meanwhile (a reboot, a quick stop and start), so such "
                      "a guest is not marked SHUTOFF. 0 reports it at once."),
    cfg.IntOpt("console_log_max_bytes", default=102400, min=1024,
               help="At most this many bytes from the end of console.log are returned "
                    "as console output."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    return [(None, DEFAULT_OPTS), ("libvirt", OPTS)]
