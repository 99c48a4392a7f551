"""The busybox image's tarballs, built from a stand-in binary (no apt, no engine)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from novalith.virt.docker import busybox_image

APPLETS = ["bin/sh", "bin/sleep", "bin/hostname", "usr/bin/env", "sbin/init", "bin/busybox"]


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_rootfs_has_busybox_applet_links_and_the_demo() -> None:
    data = busybox_image.rootfs_tar(b"BUSYBOX", APPLETS)
    found = members(data)
    assert found["bin/busybox"].isfile() and found["bin/busybox"].mode == 0o755
    for applet in ("bin/sh", "bin/sleep", "usr/bin/env", "sbin/init"):
        assert found[applet].issym() and found[applet].linkname == "/bin/busybox"
    assert found["tmp"].isdir() and found["tmp"].mode == 0o1777
    demo = found[busybox_image.DEMO_PATH.lstrip("/")]
    assert demo.isfile() and demo.mode == 0o755
    assert all(m.uid == 0 and m.mtime == busybox_image.MTIME for m in found.values())
    # Reproducible: the same input gives the same bytes.
    assert busybox_image.rootfs_tar(b"BUSYBOX", APPLETS) == data


def test_demo_script_traps_the_stop_signal_and_reads_the_user_data() -> None:
    script = busybox_image.DEMO_SCRIPT
    assert "trap " in script and "TERM" in script and "wait" in script
    assert "/var/lib/cloud/seed/config_drive" in script
    assert "openstack/latest" in script and "user_data" in script


def test_save_tarball_is_what_docker_load_reads() -> None:
    layer = busybox_image.rootfs_tar(b"BUSYBOX", APPLETS)
    config = busybox_image.image_config(layer, arch="x86_64", cmd=[busybox_image.DEMO_PATH])
    data = busybox_image.save_tarball(layer, config)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest_file = tar.extractfile("manifest.json")
        assert manifest_file is not None
        (entry,) = json.loads(manifest_file.read())
        assert entry["RepoTags"] is None
        config_file = tar.extractfile(entry["Config"])
        assert config_file is not None
        config_bytes = config_file.read()
        layer_file = tar.extractfile(entry["Layers"][0])
        assert layer_file is not None and layer_file.read() == layer
    # The engine checks both digests.
    assert entry["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    loaded = json.loads(config_bytes)
    assert loaded["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert loaded["config"]["Cmd"] == [busybox_image.DEMO_PATH]
    assert (loaded["architecture"], loaded["os"]) == ("amd64", "linux")


def test_cached_build_needs_both_files(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    assert busybox_image.cached(directory) is None
    (directory / "manifest.json").write_text(json.dumps(
        {"format": busybox_image.FORMAT_VERSION, "busybox_version": "1", "build_id": "x"}))
    (directory / "rootfs.tar").write_bytes(b"r")
    assert busybox_image.cached(directory) is None
    (directory / "image.tar").write_bytes(b"i")
    found = busybox_image.cached(directory)
    assert found is not None and found.saved == directory / "image.tar"
    (directory / "manifest.json").write_text(json.dumps({"format": "0"}))
    assert busybox_image.cached(directory) is None
