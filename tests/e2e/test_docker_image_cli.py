"""``novalith image register-docker`` against a real Docker engine and ``novalith up``:
a tiny image made with ``docker import`` is saved, uploaded and checked through the
unmodified openstacksdk."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from novalith.cmd.docker_image import DEFAULT_DOCKER_URL

from .conftest import SDK_WARNINGS, NovalithProcess

pytestmark = [pytest.mark.e2e, *SDK_WARNINGS]


@pytest.fixture
def engine() -> Iterator[Any]:
    """A docker-py client of the local engine (skips, saying why, if there is none)."""
    docker = pytest.importorskip("docker", reason="docker-py is not installed "
                                                  "(pip install 'novalith[docker]')")
    try:
        client = docker.DockerClient(base_url=DEFAULT_DOCKER_URL, timeout=60)
        client.ping()
    except Exception as err:
        pytest.skip(f"no Docker engine answers at {DEFAULT_DOCKER_URL}: {err}")
    yield client
    client.close()


@pytest.fixture
def tiny_docker_image(engine: Any, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """``docker import`` of a tar holding one text file; removed afterwards."""
    rootfs = tmp_path / "rootfs.tar"
    data = b"hello from a tiny image\n"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    ref = f"novalith-e2e-{uuid.uuid4().hex[:8]}:1"
    repository, tag = ref.split(":")
    engine.api.import_image_from_file(str(rootfs), repository=repository, tag=tag)
    image = engine.images.get(ref)
    try:
        yield ref, image
    finally:
        engine.images.remove(image.id, force=True)


def novalith_image(novalith: NovalithProcess, cwd: Path, *args: str
                   ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "novalith", "image", *args],
                          env=novalith.client_env(), cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_register_docker_image(novalith: NovalithProcess, tmp_path: Path,
                               tiny_docker_image: tuple[str, Any]) -> None:
    ref, docker_image = tiny_docker_image
    saved = b"".join(docker_image.save(named=False))  # what the command uploads
    name = f"docker-{uuid.uuid4().hex[:8]}"
    proc = novalith_image(novalith, tmp_path, "register-docker", ref, "--name", name,
                          "--public", "--property", "os_distro=scratch")
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    image_id = proc.stdout.split()[0]
    conn = novalith.connect()
    try:
        image = conn.image.get_image(image_id)
        assert (image.name, image.status, image.visibility) == (name, "active", "public")
        assert (image.disk_format, image.container_format) == ("raw", "docker")
        assert (image.hypervisor_type, image.os_distro) == ("docker", "scratch")
        assert image.checksum == hashlib.md5(saved).hexdigest()
        assert image.size == len(saved)
        # The data is the docker save tarball of that image, by id (no repository tags).
        downloaded = conn.image.download_image(image).content
        with tarfile.open(fileobj=io.BytesIO(downloaded)) as tar:
            member = tar.extractfile("manifest.json")
            assert member is not None
            manifest = json.loads(member.read())
        assert manifest[0]["Config"] == docker_image.id.split(":")[1] + ".json"
        assert manifest[0]["RepoTags"] is None
    finally:
        conn.image.delete_image(image_id)
        conn.close()


def test_register_docker_refuses_an_unknown_image(novalith: NovalithProcess, tmp_path: Path,
                                                  engine: Any) -> None:
    name = f"docker-missing-{uuid.uuid4().hex[:8]}"
    proc = novalith_image(novalith, tmp_path, "register-docker", f"{name}:nope", "--name", name)
    assert proc.returncode != 0
    assert f"no image '{name}:nope'" in proc.stderr
    conn = novalith.connect()
    try:
        assert list(conn.image.images(name=name)) == []
    finally:
        conn.close()
