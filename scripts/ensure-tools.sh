#!/usr/bin/env bash
# Install the host tools the tests drive for real, where missing (Debian packages):
#   qemu-img (qemu-utils)  instance disks, the image cache, snapshots
#   mkfs.ext4 (e2fsprogs), mkswap (util-linux)  ephemeral and swap disks
# Tests that need a tool that still cannot be installed skip with the reason.
set -u

need_apt=()
command -v qemu-img >/dev/null || need_apt+=(qemu-utils)
command -v mkfs.ext4 >/dev/null || [ -x /usr/sbin/mkfs.ext4 ] || need_apt+=(e2fsprogs)
command -v mkswap >/dev/null || [ -x /usr/sbin/mkswap ] || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "ensure-tools: installing ${need_apt[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${need_apt[@]}"; } >/dev/null \
      || echo "ensure-tools: apt-get install failed; dependent tests will skip"
  else
    echo "ensure-tools: not root; cannot install ${need_apt[*]}; dependent tests will skip"
  fi
fi
if command -v qemu-img >/dev/null; then
  echo "ensure-tools: $(qemu-img --version | head -1)"
else
  echo "ensure-tools: qemu-img not available"
fi
exit 0
