"""The unmodified ``openstack`` CLI and ``novalith image`` against ``novalith up``'s Image
API: create --file, show, set/unset, save, share, protection, delete."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import NovalithProcess
from .image_helpers import make_qcow2, sha256, store_files
from .test_cli import Cli

pytestmark = pytest.mark.e2e


def test_openstack_image_create_save_set_share_delete(novalith: NovalithProcess,
                                                      tmp_path: Path) -> None:
    cli = Cli(novalith)
    name = f"cli-img-{uuid.uuid4().hex[:8]}"
    raw = tmp_path / "disk.raw"
    raw.write_bytes(os.urandom(2 * 1024 * 1024))
    qcow2 = make_qcow2(tmp_path / "disk.qcow2", "32M")
    procs = {
        "raw": cli.start("image", "create", "--file", str(raw), "--disk-format", "raw",
                         "--container-format", "bare", "--property", "os_distro=debian",
                         "--tag", "cli", "-f", "json", name),
        "qcow2": cli.start("image", "create", "--file", str(qcow2), "--disk-format", "qcow2",
                           "--container-format", "bare", "--private", "-f", "json",
                           name + "-q"),
        "project": cli.start("project", "create", "-f", "json", name + "-project"),
    }
    made = Cli.finish_all(procs)
    created, project = made["raw"], made["project"]
    assert created["status"] == "active" and created["disk_format"] == "raw"
    assert made["qcow2"]["status"] == "active" and made["qcow2"]["virtual_size"] == 32 << 20
    try:
        shown = cli.json("image", "show", name)
        assert shown["id"] == created["id"] and shown["size"] == raw.stat().st_size
        assert shown["properties"]["os_distro"] == "debian" and shown["tags"] == ["cli"]

        cli.run("image", "set", "--property", "hw_disk_bus=scsi", "--min-ram", "128", name)
        cli.run("image", "unset", "--property", "os_distro", name)
        shown = cli.json("image", "show", name)
        assert shown["min_ram"] == 128 and shown["properties"]["hw_disk_bus"] == "scsi"
        assert "os_distro" not in shown["properties"]

        saved = tmp_path / "saved.raw"
        saved_q = tmp_path / "saved.qcow2"
        cli.run("image", "save", "--file", str(saved), name)
        cli.run("image", "save", "--file", str(saved_q), name + "-q")
        assert sha256(saved) == sha256(raw) and sha256(saved_q) == sha256(qcow2)

        cli.run("image", "set", "--shared", name)
        member = cli.json("image", "add", "project", name, project["id"])
        assert member["member_id"] == project["id"] and member["status"] == "pending"
        members = cli.json("image", "member", "list", name)
        assert [m["Member ID"] for m in members] == [project["id"]]
        cli.run("image", "remove", "project", name, project["id"])
        assert cli.json("image", "member", "list", name) == []

        cli.run("image", "set", "--protected", name)
        refused = cli.start("image", "delete", name)
        out, err = refused.communicate(timeout=60)
        assert refused.returncode != 0 and "protected" in (out + err)
        cli.run("image", "set", "--unprotected", name)
    finally:
        cli.run("image", "delete", name, name + "-q")
        cli.run("project", "delete", project["id"])
    assert cli.json("image", "list", "--name", name) == []
    assert created["id"] not in store_files(novalith.data_dir)


def test_novalith_image_upload_and_download(novalith: NovalithProcess, tmp_path: Path
                                           ) -> None:
    env = novalith.client_env()
    src = make_qcow2(tmp_path / "upload.qcow2", "16M")
    name = f"novalith-cli-{uuid.uuid4().hex[:8]}"

    def novalith_image(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "novalith", "image", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc.stdout

    out = novalith_image("upload", str(src), "--name", name, "--property", "os_distro=cirros")
    image_id = out.split()[0]
    assert f"{name}  active" in out
    dest = tmp_path / "downloaded.qcow2"
    assert "hashes verified" in novalith_image("download", name, str(dest))
    assert sha256(dest) == sha256(src)
    assert name in novalith_image("list")
    cli = Cli(novalith)
    shown = cli.json("image", "show", image_id)
    assert shown["disk_format"] == "qcow2"  # guessed from the file's header
    assert shown["properties"]["os_distro"] == "cirros"
    cli.run("image", "delete", image_id)
