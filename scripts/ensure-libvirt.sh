#!/usr/bin/env bash
# Install what the libvirt driver and its tests need, if missing and allowed (root):
# QEMU, libvirt (daemons, headers for libvirt-python), the tools the tiny guest build
# and instance disks use, and the Python bindings. Starts no daemon: `novalith up`
# (make run) and the integration test harness start virtlogd/libvirtd themselves.
# Never fails: what cannot be installed makes the libvirt tests skip with the reason.
set -u
PYTHON=${PYTHON:-python3}

need_apt=()
command -v qemu-system-x86_64 >/dev/null || need_apt+=(qemu-system-x86)
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
command -v libvirtd >/dev/null || need_apt+=(libvirt-daemon-system)
command -v virsh >/dev/null || need_apt+=(libvirt-clients)
pkg-config --exists libvirt 2>/dev/null || need_apt+=(libvirt-dev pkg-config)
command -v gcc >/dev/null || need_apt+=(gcc)
[ -f /usr/include/python3.11/Python.h ] || "$PYTHON" -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")))' \
  || need_apt+=(python3-dev)
command -v mkfs.ext4 >/dev/null || need_apt+=(e2fsprogs)
command -v dpkg-deb >/dev/null || need_apt+=(dpkg)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "ensure-libvirt: installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${need_apt[@]}" >/dev/null \
      || echo "ensure-libvirt: apt-get install failed; libvirt tests will skip"
  else
    echo "ensure-libvirt: not root; cannot install ${need_apt[*]}"
  fi
elif [ "$(id -u)" = 0 ] && [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ]; then
  # The tiny guest build downloads Debian packages with apt-get download.
  apt-get update -qq || true
fi
if ! "$PYTHON" -c 'import libvirt, pycdlib' 2>/dev/null; then
  echo "ensure-libvirt: pip install libvirt-python pycdlib"
  "$PYTHON" -m pip install -q libvirt-python pycdlib \
    || echo "ensure-libvirt: pip install failed; libvirt tests will skip"
fi
exit 0
