"""[libvirt] settings: validated at load; the power-state table; the KVM probe ROM."""

from __future__ import annotations

import pytest

from novalith import exceptions
from novalith.conf import make_conf
from novalith.objects.states import PowerState
from novalith.virt.libvirt import host
from novalith.virt.libvirt import power_state as ps
from novalith.virt.libvirt.config import LibvirtSettings


def test_defaults_from_conf(tmp_path: object) -> None:
    conf = make_conf(overrides={"DEFAULT": {"instances_path": "/srv/instances"}})
    settings = LibvirtSettings.from_conf(conf)
    assert settings.connection_uri == "qemu:///system"
    assert settings.virt_type == "auto"
    assert settings.domain_name(10) == "instance-0000000a"
    assert settings.force_config_drive is False


@pytest.mark.parametrize("kw, problem", [
    ({"connection_uri": "qemu"}, "not a libvirt URI"),
    ({"virt_type": "xen"}, "must be one of"),
    ({"virt_type": "kvm", "connection_uri": "lxc:///"}, "needs a qemu://"),
    ({"virt_type": "lxc", "connection_uri": "qemu:///system"}, "needs an lxc://"),
    ({"instances_path": "relative/path"}, "must be absolute"),
    ({"domain_name_template": "fixed-name"}, "must format the instance id"),
    ({"domain_name_template": "bad-%q"}, "must format the instance id"),
])
def test_bad_settings_are_refused_at_load(kw: dict[str, object], problem: str) -> None:
    values: dict[str, object] = {"instances_path": "/srv/i", **kw}
    with pytest.raises(exceptions.Invalid, match=problem):
        LibvirtSettings(**values)  # type: ignore[arg-type]


def test_oslo_refuses_unknown_virt_type() -> None:
    with pytest.raises(ValueError):
        make_conf(overrides={"libvirt": {"virt_type": "xen"}})


@pytest.mark.parametrize("libvirt_state, managed, power", [
    (ps.VIR_NOSTATE, False, PowerState.NOSTATE),
    (ps.VIR_RUNNING, False, PowerState.RUNNING),
    (ps.VIR_BLOCKED, False, PowerState.RUNNING),
    (ps.VIR_PAUSED, False, PowerState.PAUSED),
    (ps.VIR_SHUTDOWN, False, PowerState.SHUTDOWN),
    (ps.VIR_SHUTOFF, False, PowerState.SHUTDOWN),
    (ps.VIR_SHUTOFF, True, PowerState.SUSPENDED),
    (ps.VIR_CRASHED, False, PowerState.CRASHED),
    (ps.VIR_PMSUSPENDED, False, PowerState.SUSPENDED),
    (42, False, PowerState.NOSTATE),
])
def test_power_state_mapping(libvirt_state: int, managed: bool, power: int) -> None:
    assert ps.power_state(libvirt_state, managed) == power


def test_probe_rom_jumps_to_a_loop_that_prints() -> None:
    rom = host.probe_rom()
    assert len(rom) == 65536
    assert rom[0xFFF0:0xFFF5] == bytes([0xEA, 0x00, 0x00, 0x00, 0xF0])  # jmp f000:0000
    assert rom[:2] == bytes([0x66, 0xB9])  # mov ecx, imm32
    assert bytes([0xB0, ord("K"), 0xEE]) in rom[:32]  # mov al,'K'; out dx,al


def test_guest_domain_types() -> None:
    caps = """<capabilities><host/>
      <guest><os_type>hvm</os_type><arch name='x86_64'>
        <domain type='qemu'/><domain type='kvm'/></arch></guest>
      <guest><os_type>xen</os_type><arch name='x86_64'><domain type='xen'/></arch></guest>
    </capabilities>"""
    assert host.guest_domain_types(caps) == {"qemu", "kvm"}
