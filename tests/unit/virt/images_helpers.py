"""Shared pieces of the image cache tests: real qemu-img, image bytes, specs."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from novalith.objects.context import RequestContext
from novalith.objects.specs import FlavorSpec, ImageMeta, InstanceSpec
from novalith.virt.images import qemu_img
from novalith.virt.images.cache import CacheSettings, ImageCache

MiB = 1 << 20
GiB = 1 << 30
CTX = RequestContext(roles=("admin",))


def require_qemu_img() -> None:
    if not qemu_img.available():
        pytest.skip("qemu-img is not installed and could not be installed "
                    "(scripts/ensure-tools.sh installs qemu-utils)")


def raw_bytes(size: int = MiB, marker: bytes = b"NOVALITH-RAW") -> bytes:
    return marker + b"\0" * (size - len(marker))


def qcow2_bytes(tmp: Path, raw: bytes, virtual_size: int | None = None) -> bytes:
    """A qcow2 image of ``raw`` (grown to ``virtual_size`` if given), made by qemu-img."""
    src, dest = tmp / f"src-{uuid.uuid4().hex}.raw", tmp / f"q-{uuid.uuid4().hex}.qcow2"
    src.write_bytes(raw)
    qemu_img.convert(str(src), str(dest), src_format="raw", out_format="qcow2")
    if virtual_size is not None:
        qemu_img.resize(str(dest), "qcow2", virtual_size)
    data = dest.read_bytes()
    src.unlink()
    dest.unlink()
    return data


def qemu_info(path: str | Path) -> dict[str, Any]:
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)],
                         capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def settings(tmp: Path, **overrides: Any) -> CacheSettings:
    values: dict[str, Any] = {"instances_path": str(tmp / "instances")}
    values.update(overrides)
    return CacheSettings(**values)


def make_cache(tmp: Path, client: Any, **overrides: Any) -> ImageCache:
    return ImageCache(settings(tmp, **overrides),
                      lambda image_id, dest: client.download(CTX, image_id, dest))


def spec(image: ImageMeta | None, root_gb: int = 1, ephemeral_gb: int = 0, swap: int = 0,
         uuid_: str | None = None) -> InstanceSpec:
    flavor = FlavorSpec(flavorid="f", name="f", memory_mb=64, vcpus=1, root_gb=root_gb,
                        ephemeral_gb=ephemeral_gb, swap=swap)
    return InstanceSpec(uuid=uuid_ or str(uuid.uuid4()), id=1, name="instance-00000001",
                        display_name="vm", hostname="vm", project_id="p", user_id="u",
                        flavor=flavor, image=image)
