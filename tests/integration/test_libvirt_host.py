"""The host checks of the libvirt driver against a real libvirtd: the KVM probe guest
decides between kvm and qemu, and an explicit kvm is refused where the probe fails."""

from __future__ import annotations

import shutil
import time
from typing import Any

import pytest

from fixtures.libvirtd import (  # noqa: F401 - libvirtd_daemon is a fixture
    URI,
    instances_root,
    libvirtd_daemon,
)

pytestmark = pytest.mark.timeout(120)


def test_auto_uses_kvm_only_if_a_probe_guest_runs(libvirtd_daemon: Any) -> None:  # noqa: F811
    import libvirt

    from novalith import exceptions
    from novalith.virt.libvirt import host
    from novalith.virt.libvirt.config import LibvirtSettings

    path = instances_root()
    conn = libvirt.open(URI)
    try:
        auto = LibvirtSettings(connection_uri=URI, virt_type="auto", instances_path=str(path),
                               kvm_probe_timeout=3.0)
        started = time.monotonic()
        chosen = host.choose_virt_type(auto, conn, "probe-host")
        assert chosen in ("kvm", "qemu")
        assert time.monotonic() - started < 30
        kvm = LibvirtSettings(connection_uri=URI, virt_type="kvm", instances_path=str(path),
                              kvm_probe_timeout=3.0)
        if chosen == "kvm":
            assert host.choose_virt_type(kvm, conn, "probe-host") == "kvm"
        else:
            with pytest.raises(exceptions.Invalid, match="virt_type=kvm cannot work here"):
                host.choose_virt_type(kvm, conn, "probe-host")
        # The probe guests are transient and gone.
        assert not [d for d in conn.listAllDomains(0)
                    if d.name().startswith("novalith-kvm-probe-")]
    finally:
        conn.close()
        shutil.rmtree(path, ignore_errors=True)
