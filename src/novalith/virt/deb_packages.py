"""Fetch and unpack Debian packages for the test guests and images the project builds.

The tiny libvirt guest (:mod:`novalith.virt.libvirt.tiny_image`) and the busybox
container image (:mod:`novalith.virt.docker.busybox_image`) are both made from
packages the machine can reach through apt: ``apt-get download`` fetches a
``.deb`` without installing it, ``dpkg-deb -x`` unpacks it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from novalith import exceptions


def run(cmd: list[str], cwd: Path | None = None) -> str:
    """Run ``cmd``; its stdout, or NovalithError with the tail of its stderr."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise exceptions.NovalithError(f"{cmd[0]} is not installed: {err}") from err
    if proc.returncode != 0:
        raise exceptions.NovalithError(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def download(work: Path, package: str) -> Path:
    """``apt-get download package`` into ``work``; the path of the new ``.deb``."""
    before = set(work.glob("*.deb"))
    try:
        run(["apt-get", "download", package], cwd=work)
    except exceptions.NovalithError as err:
        raise exceptions.NovalithError(
            f"{err} (is the package list current? try 'apt-get update')") from err
    new = sorted(set(work.glob("*.deb")) - before)
    if not new:
        raise exceptions.NovalithError(f"apt-get download {package} produced no .deb")
    return new[0]


def field(deb: Path, name: str) -> str:
    """A control field of the package file ``deb`` (e.g. ``Version``)."""
    return run(["dpkg-deb", "-f", str(deb), name]).strip()


def extract(deb: Path, dest: Path) -> None:
    """Unpack the files of ``deb`` under ``dest``."""
    run(["dpkg-deb", "-x", str(deb), str(dest)])
