"""Make a local libvirtd usable for ``novalith up`` (there is no systemd here).

:func:`ensure_local_libvirtd` starts ``virtlogd -d`` then ``libvirtd -d`` when they are
installed and not answering, and gives ``/dev/kvm`` Debian's udev ownership
(root:kvm 0660) when nothing set it: without that, libvirt re-probes QEMU on every
domain start (about a minute each) because the QEMU user cannot open /dev/kvm.
It returns why libvirt cannot be used here, or None when it can.
"""

from __future__ import annotations

import contextlib
import grp
import os
import shutil
import socket
import subprocess
import time

LIBVIRT_SOCKET = "/run/libvirt/libvirt-sock"
VIRTLOGD_SOCKET = "/run/libvirt/virtlogd-sock"


def answers(path: str) -> bool:
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as sock:
        try:
            sock.connect(path)
            return True
        except OSError:
            return False


def fix_kvm_device() -> None:
    if not os.path.exists("/dev/kvm") or os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam("kvm").gr_gid
    except KeyError:
        return
    st = os.stat("/dev/kvm")
    if st.st_gid != gid or (st.st_mode & 0o060) != 0o060:
        os.chown("/dev/kvm", 0, gid)
        os.chmod("/dev/kvm", 0o660)


def _start(binary: str, sock: str) -> str | None:
    if answers(sock):
        return None
    if shutil.which(binary) is None:
        return f"{binary} is not installed (scripts/ensure-libvirt.sh installs it)"
    if os.geteuid() != 0:
        return f"{binary} is not running and only root may start it"
    proc = subprocess.run([binary, "-d"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"{binary} -d failed: {proc.stderr.strip()}"
    deadline = time.monotonic() + 20
    while not answers(sock):
        if time.monotonic() > deadline:
            return f"{binary} started but {sock} does not answer"
        time.sleep(0.1)
    return None


def ensure_local_libvirtd(uri: str = "qemu:///system") -> str | None:
    """None when the hypervisor at ``uri`` can run QEMU guests, else the reason."""
    try:
        import libvirt
    except ImportError:
        return "libvirt-python is not installed (pip install libvirt-python)"
    if uri == "qemu:///system":
        fix_kvm_device()
        for binary, sock in (("virtlogd", VIRTLOGD_SOCKET), ("libvirtd", LIBVIRT_SOCKET)):
            reason = _start(binary, sock)
            if reason:
                return reason
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as err:
        return f"cannot connect to {uri}: {err.get_error_message()}"
    try:
        caps = conn.getCapabilities()
    finally:
        conn.close()
    if "domain type='qemu'" not in caps and "domain type='kvm'" not in caps:
        return f"{uri} offers no QEMU guests"
    return None
