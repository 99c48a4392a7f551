"""Image files: docker save vs root file system, compression, and loading without tags."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from novalith import exceptions
from novalith.virt.docker import busybox_image, image_tar

LAYER = busybox_image.rootfs_tar(b"#!fake busybox\n", ["bin/sh", "bin/sleep", "usr/bin/env"])


def save_tar(path: Path, repo_tags: Any = None, images: int = 1,
             repositories: bool = False) -> Path:
    """A docker save tarball like the engine writes, tags and all."""
    config = busybox_image.image_config(LAYER, arch="amd64", cmd=["/bin/sh"])
    data = busybox_image.save_tarball(LAYER, config)
    with tarfile.open(fileobj=io.BytesIO(data)) as src, \
            tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as out:
        for member in src.getmembers():
            if member.name == "manifest.json":
                src_manifest = src.extractfile(member)
                assert src_manifest is not None
                entry = json.loads(src_manifest.read())[0]
                entry["RepoTags"] = repo_tags
                body = json.dumps([entry] * images).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size = len(body)
                out.addfile(info, io.BytesIO(body))
            else:
                out.addfile(member, src.extractfile(member) if member.isfile() else None)
        if repositories:
            body = b'{"busybox":{"latest":"abc"}}'
            info = tarfile.TarInfo("repositories")
            info.size = len(body)
            out.addfile(info, io.BytesIO(body))
    return path


def test_kind_tells_save_from_rootfs(tmp_path: Path) -> None:
    assert image_tar.kind(str(save_tar(tmp_path / "s.tar"))) == image_tar.SAVE
    rootfs = tmp_path / "r.tar"
    rootfs.write_bytes(LAYER)
    assert image_tar.kind(str(rootfs)) == image_tar.ROOTFS
    gz = tmp_path / "s.tar.gz"
    gz.write_bytes(gzip.compress((tmp_path / "s.tar").read_bytes()))
    assert image_tar.compression(str(gz)) == "gz"
    assert image_tar.kind(str(gz)) == image_tar.SAVE


def test_a_file_that_is_no_tar_is_unacceptable(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"QFI\xfb" + b"\0" * 2000)  # a qcow2 header, say
    with pytest.raises(exceptions.ImageUnacceptable, match="must be a tar archive"):
        image_tar.kind(str(junk))
    zstd = tmp_path / "z"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    with pytest.raises(exceptions.ImageUnacceptable, match="zstd"):
        image_tar.compression(str(zstd))


def test_untagged_stream_drops_tags_and_keeps_every_other_byte(tmp_path: Path) -> None:
    path = save_tar(tmp_path / "s.tar", repo_tags=["busybox:latest"], repositories=True)
    out = b"".join(image_tar.untagged_stream(str(path)))
    with tarfile.open(fileobj=io.BytesIO(out)) as new, tarfile.open(path) as old:
        assert "repositories" not in new.getnames()
        manifest_file = new.extractfile("manifest.json")
        assert manifest_file is not None
        (entry,) = json.loads(manifest_file.read())
        assert entry["RepoTags"] is None
        for member in old.getmembers():
            if member.name in ("manifest.json", "repositories") or not member.isfile():
                continue
            old_file, new_file = old.extractfile(member), new.extractfile(member.name)
            assert old_file is not None and new_file is not None
            assert new_file.read() == old_file.read()
    # The config names the image the engine will report.
    layer_digest = "sha256:" + hashlib.sha256(LAYER).hexdigest()
    config_id = image_tar.config_image_id(entry)
    assert config_id is not None and config_id.startswith("sha256:")
    assert config_id != layer_digest


def test_a_tarball_of_several_images_is_refused(tmp_path: Path) -> None:
    path = save_tar(tmp_path / "two.tar", images=2)
    with pytest.raises(exceptions.ImageUnacceptable, match="holds 2 images"):
        image_tar.untagged_stream(str(path))


def test_decompress_leaves_plain_files_alone(tmp_path: Path) -> None:
    plain = save_tar(tmp_path / "s.tar")
    assert image_tar.decompress(str(plain)) == str(plain)
    gz = tmp_path / "s.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    copy = image_tar.decompress(str(gz))
    assert copy != str(gz) and Path(copy).read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("config,expected", [
    ("a" * 64 + ".json", "sha256:" + "a" * 64),
    ("blobs/sha256/" + "b" * 64, "sha256:" + "b" * 64),
    ("config.json", None),
    (None, None),
])
def test_config_image_id(config: Any, expected: str | None) -> None:
    assert image_tar.config_image_id({"Config": config}) == expected
