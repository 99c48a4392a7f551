#!/usr/bin/env bash
# Install what the docker driver and its tests need, if missing and allowed (root): the
# Docker engine (Debian's docker.io: dockerd, containerd, runc, docker-init), dpkg-deb and
# apt lists for the busybox image build, and docker-py. Starts no daemon: the test harness
# (tests/fixtures/dockerd.py) uses a running dockerd or starts its own.
# Never fails: what cannot be installed makes the docker tests skip with the reason.
set -u
PYTHON=${PYTHON:-python3}

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v dpkg-deb >/dev/null || need_apt+=(dpkg)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "ensure-docker: installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${need_apt[@]}" >/dev/null \
      || echo "ensure-docker: apt-get install failed; docker tests will skip"
  else
    echo "ensure-docker: not root; cannot install ${need_apt[*]}"
  fi
elif [ "$(id -u)" = 0 ] && [ -z "$(ls /var/lib/apt/lists/ 2>/dev/null | grep -v -e lock -e partial)" ]; then
  # The busybox image build downloads busybox-static with apt-get download.
  apt-get update -qq || true
fi
if ! "$PYTHON" -c 'import docker' 2>/dev/null; then
  echo "ensure-docker: pip install docker"
  "$PYTHON" -m pip install -q 'docker>=7.0' \
    || echo "ensure-docker: pip install failed; docker tests will skip"
fi
exit 0
