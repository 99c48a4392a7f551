"""A tiny busybox container image, built from Debian's busybox-static without a registry.

:func:`build` makes two files, cached under one directory and rebuilt only when one
is missing or the format changed:

* ``rootfs.tar``: a root file system holding ``/bin/busybox``, a symlink for each of
  its applets, the usual empty directories and the demo script
  ``/usr/local/bin/novalith-demo``. It has no image config, so no command: booted as
  a ``container_format=docker`` image through ``docker import`` it needs the image
  property ``os_command_line``.
* ``image.tar``: the same file system as a ``docker save`` tarball (one layer, an
  image config with ``CMD ["/usr/local/bin/novalith-demo"]``, ``manifest.json``
  without repository tags), written by this module in the format ``docker load``
  reads, so building it needs no Docker engine.

Both are byte-for-byte reproducible from the same busybox package.

The demo script prints its hostname and the user data from the metadata directory
the Docker driver mounts (``$NOVALITH_CONFIG_DRIVE``), then idles. It runs as PID 1
when the engine adds no init process, and PID 1 ignores signals it has no handler
for, so a plain ``sleep`` would make every ``docker stop`` wait for its timeout and
then kill. The script therefore traps TERM/INT, sleeps in the background and
``wait``\\ s, which a trapped signal interrupts: a stop (soft reboot, power off) takes
milliseconds, and the console says ``stopping``. (The other way, an init process as
PID 1 that forwards the signal, is ``[docker] use_init``; it is off by default.)
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import platform
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from novalith import exceptions
from novalith.virt import deb_packages

LOG = logging.getLogger(__name__)

BUSYBOX_PACKAGE = "busybox-static"
#: Bumped whenever the file system or the image config changes, so caches rebuild.
FORMAT_VERSION = "1"
DEMO_PATH = "/usr/local/bin/novalith-demo"
BANNER = "=== Novalith busybox container"
#: Where the demo looks for the metadata when the driver sets no NOVALITH_CONFIG_DRIVE.
DEFAULT_CONFIG_DRIVE = "/var/lib/cloud/seed/config_drive"
#: Files get this mtime (2024-01-01), so the same package gives the same bytes.
MTIME = 1704067200
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEMO_SCRIPT = r"""#!/bin/sh
# The Novalith busybox demo container: who am I, what user data did I get; then idle.
md="${NOVALITH_CONFIG_DRIVE:-@CONFIG_DRIVE@}/openstack/latest"
echo "@BANNER@: $(hostname) started ==="
echo "hostname: $(hostname)"
echo "uuid: ${NOVALITH_INSTANCE_UUID:-(unknown)}"
if [ -f "$md/user_data" ]; then
  echo "user data:"
  cat "$md/user_data"
  echo
  echo "end of user data"
else
  echo "user data: (none)"
fi
# PID 1 ignores untrapped signals: trap TERM/INT, sleep in the background and wait,
# so a stop ends the container at once instead of after the engine's stop timeout.
trap 'echo "@BANNER@: $(hostname) stopping ==="; exit 0' TERM INT
sleep 2147483647 &
wait
""".replace("@CONFIG_DRIVE@", DEFAULT_CONFIG_DRIVE).replace("@BANNER@", BANNER)

_DIRECTORIES = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/local", "usr/local/bin",
                "etc", "dev", "proc", "sys", "root", "home", "var", "var/lib", "var/log",
                "run", "mnt")
_ETC_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}


@dataclass(frozen=True)
class BusyboxImage:
    """The two files of a build and the build's identity."""

    directory: Path
    rootfs: Path
    saved: Path
    busybox_version: str
    build_id: str


def default_cache_dir() -> Path:
    base = os.environ.get("NOVALITH_DOCKER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "novalith",
        "docker")
    return Path(base)


def cached(cache_dir: Path | None = None) -> BusyboxImage | None:
    """The build in ``cache_dir`` if it is complete and current, else None."""
    directory = (cache_dir or default_cache_dir()).resolve()
    try:
        data = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if data.get("format") != FORMAT_VERSION:
        return None
    image = BusyboxImage(directory=directory, rootfs=directory / "rootfs.tar",
                         saved=directory / "image.tar",
                         busybox_version=data["busybox_version"], build_id=data["build_id"])
    if image.rootfs.is_file() and image.saved.is_file():
        return image
    return None


def build(cache_dir: Path | None = None, *, force: bool = False) -> BusyboxImage:
    """Build both tarballs into ``cache_dir`` unless a current build is there.

    Downloads ``busybox-static`` with ``apt-get download`` and unpacks it with
    ``dpkg-deb -x``; raises :class:`~novalith.exceptions.NovalithError` naming the
    failing step. Leaves no partial build.
    """
    directory = (cache_dir or default_cache_dir()).resolve()
    if not force and (done := cached(directory)) is not None:
        return done
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="busybox-build-", dir=directory) as tmp:
        work = Path(tmp)
        deb = deb_packages.download(work, BUSYBOX_PACKAGE)
        version = deb_packages.field(deb, "Version")
        arch = deb_packages.field(deb, "Architecture")
        deb_packages.extract(deb, work / "pkg")
        busybox = (work / "pkg" / "bin" / "busybox").read_bytes()
        applets = _applets(work / "pkg" / "bin" / "busybox")
        rootfs = rootfs_tar(busybox, applets)
        saved = save_tarball(rootfs, image_config(rootfs, arch=arch, cmd=[DEMO_PATH]))
        (work / "rootfs.tar").write_bytes(rootfs)
        (work / "image.tar").write_bytes(saved)
        build_id = hashlib.sha256(saved).hexdigest()[:16]
        os.replace(work / "rootfs.tar", directory / "rootfs.tar")
        os.replace(work / "image.tar", directory / "image.tar")
        manifest = {"format": FORMAT_VERSION, "busybox_version": version,
                    "build_id": build_id, "applets": len(applets)}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        os.replace(work / "manifest.json", directory / "manifest.json")
    done = cached(directory)
    assert done is not None
    LOG.info("Built the busybox container image (busybox %s) in %s", version, directory)
    return done


def saved_tarball(cache_dir: Path | None = None) -> Path:
    """The path of the ``docker save`` tarball of the busybox image (built if needed)."""
    return build(cache_dir).saved


def _applets(busybox: Path) -> list[str]:
    """Paths (relative to /) of busybox's applets, from ``busybox --list-full``."""
    try:
        out = deb_packages.run([str(busybox), "--list-full"])
    except exceptions.NovalithError as err:  # e.g. a foreign-architecture binary
        LOG.warning("Cannot ask busybox for its applets (%s); linking a basic set", err)
        return [f"bin/{name}" for name in ("sh", "cat", "echo", "sleep", "hostname", "ls",
                                           "ps", "env", "true", "false", "mkdir", "rm")]
    return sorted({line.strip().lstrip("/") for line in out.splitlines() if line.strip()})


def _tarinfo(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def rootfs_tar(busybox: bytes, applets: list[str]) -> bytes:
    """The root file system as an uncompressed tar (what ``docker import`` takes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        made: set[str] = set()
        directories = set(_DIRECTORIES) | {os.path.dirname(a) for a in applets}
        for directory in sorted(d for d in directories if d):
            tar.addfile(_tarinfo(directory, tarfile.DIRTYPE, 0o755))
            made.add(directory)
        tar.addfile(_tarinfo("tmp", tarfile.DIRTYPE, 0o1777))
        tar.addfile(_tarinfo("bin/busybox", tarfile.REGTYPE, 0o755, len(busybox)),
                    io.BytesIO(busybox))
        for applet in applets:
            if applet == "bin/busybox" or applet in made:
                continue
            tar.addfile(_tarinfo(applet, tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
        files = {**_ETC_FILES, DEMO_PATH.lstrip("/"): DEMO_SCRIPT}
        for name, text in sorted(files.items()):
            data = text.encode()
            mode = 0o755 if name == DEMO_PATH.lstrip("/") else 0o644
            tar.addfile(_tarinfo(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
    return buf.getvalue()


def go_arch(arch: str | None = None) -> str:
    """The Go/OCI name of a Debian or kernel architecture name (amd64, arm64...)."""
    value = (arch or platform.machine()).lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "i686": "386", "i386": "386",
            "armhf": "arm", "armv7l": "arm"}.get(value, value)


def image_config(layer: bytes, *, arch: str | None = None, cmd: list[str]) -> dict[str, object]:
    """The image config (Docker image spec v1.2) of a one-layer image running ``cmd``."""
    created = "2024-01-01T00:00:00Z"
    return {
        "architecture": go_arch(arch),
        "os": "linux",
        "created": created,
        "config": {"Env": [PATH_ENV], "Cmd": list(cmd), "WorkingDir": "/"},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        "history": [{"created": created, "created_by": "novalith busybox_image"}],
    }


def save_tarball(layer: bytes, config: dict[str, object]) -> bytes:
    """A ``docker save`` tarball of one image: ``manifest.json``, the config, the layer.

    ``RepoTags`` is null: loading it tags nothing on the engine.
    """
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_dir = hashlib.sha256(layer).hexdigest()
    manifest = json.dumps([{"Config": config_name, "RepoTags": None,
                            "Layers": [f"{layer_dir}/layer.tar"]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_tarinfo(layer_dir, tarfile.DIRTYPE, 0o755))
        tar.addfile(_tarinfo(f"{layer_dir}/VERSION", tarfile.REGTYPE, 0o644, 3),
                    io.BytesIO(b"1.0"))
        tar.addfile(_tarinfo(f"{layer_dir}/layer.tar", tarfile.REGTYPE, 0o644, len(layer)),
                    io.BytesIO(layer))
        tar.addfile(_tarinfo(config_name, tarfile.REGTYPE, 0o644, len(config_bytes)),
                    io.BytesIO(config_bytes))
        tar.addfile(_tarinfo("manifest.json", tarfile.REGTYPE, 0o644, len(manifest)),
                    io.BytesIO(manifest))
    return buf.getvalue()
