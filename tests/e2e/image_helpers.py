"""Shared pieces of the image end-to-end tests: test files, qemu-img, a cut-off upload."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]


def require_qemu_img() -> str:
    """qemu-img's path, installing qemu-utils (scripts/ensure-tools.sh) if it is missing;
    skips, saying why, only if it cannot be installed."""
    found = shutil.which("qemu-img")
    if found is None:
        subprocess.run(["bash", str(REPO / "scripts" / "ensure-tools.sh")], check=False,
                       capture_output=True, timeout=600)
        found = shutil.which("qemu-img")
    if found is None:
        pytest.skip("qemu-img is missing and qemu-utils could not be installed")
    return found


def make_qcow2(path: Path, virtual_size: str = "64M") -> Path:
    subprocess.run([require_qemu_img(), "create", "-q", "-f", "qcow2", str(path),
                    virtual_size], check=True, timeout=60)
    return path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cut_off_upload(endpoint: str, token: str, image_id: str, sent: int, claimed: int) -> None:
    """PUT image data with a Content-Length larger than what is sent, then close."""
    url = urlparse(endpoint)
    assert url.hostname is not None and url.port is not None
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall((f"PUT /image/v2/images/{image_id}/file HTTP/1.1\r\n"
                      f"Host: {url.netloc}\r\nX-Auth-Token: {token}\r\n"
                      "Content-Type: application/octet-stream\r\n"
                      f"Content-Length: {claimed}\r\n\r\n").encode())
        chunk = b"\xa5" * 65536
        for _ in range(sent // len(chunk)):
            sock.sendall(chunk)


def store_files(data_dir: Path) -> list[str]:
    store = data_dir / "images"
    return sorted(p.name for p in store.iterdir()) if store.exists() else []
