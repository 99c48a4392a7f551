"""``novalith up --driver docker`` registers the busybox container image once per build
(cmd/docker_setup.py). The build itself is tests of virt/docker/busybox_image; here a
small stand-in tarball made by the same module's writers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fixtures.cloud import RunningCloud
from novalith.cloud import FirstStart
from novalith.cmd.docker_setup import IMAGE_NAME, register_busybox
from novalith.identity.bootstrap import bootstrap
from novalith.objects.context import RequestContext
from novalith.virt.docker import busybox_image

ADMIN = RequestContext(roles=("admin", "member", "reader"))


def stand_in(directory: Path, payload: bytes) -> busybox_image.BusyboxImage:
    rootfs = busybox_image.rootfs_tar(payload, [])
    saved = directory / "image.tar"
    saved.write_bytes(busybox_image.save_tarball(
        rootfs, busybox_image.image_config(rootfs, cmd=["/bin/busybox", "true"])))
    return busybox_image.BusyboxImage(directory=directory, rootfs=directory / "rootfs.tar",
                                      saved=saved, busybox_version="0",
                                      build_id=hashlib.sha256(saved.read_bytes()).hexdigest()[:16])


def test_busybox_is_registered_once_per_build(cloud: RunningCloud, tmp_path: Path) -> None:
    first = FirstStart(admin=bootstrap(cloud.cloud.identity, "ignored-pw"), flavors_created=0,
                       image_id=None)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    built = stand_in(tmp_path / "a", b"busybox one")
    assert register_busybox(cloud.cloud, first, built) == IMAGE_NAME
    assert register_busybox(cloud.cloud, first, built) == IMAGE_NAME  # reused
    client = cloud.cloud.image_client
    [image] = client.list(ADMIN, name=IMAGE_NAME)
    assert (image.status, image.visibility) == ("active", "public")
    assert (image.disk_format, image.container_format) == ("raw", "docker")
    assert image.properties["hypervisor_type"] == "docker"
    assert image.checksum == hashlib.md5(built.saved.read_bytes()).hexdigest()
    assert image.owner == first.admin.project_id
    newer = stand_in(tmp_path / "b", b"busybox two")  # a new build: a new image
    register_busybox(cloud.cloud, first, newer)
    assert len(client.list(ADMIN, name=IMAGE_NAME)) == 2
