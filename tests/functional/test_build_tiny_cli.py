"""``novalith image build-tiny`` registers the tiny guest through the Image API."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fixtures.cloud import ADMIN_PASSWORD, RunningCloud
from novalith.cmd.main import cli


def test_build_tiny_registers_kernel_ramdisk_and_disk(cloud: RunningCloud,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from novalith.virt.libvirt import tiny_image

    try:
        built = tiny_image.build()
    except Exception as err:  # no apt lists / Debian mirror here
        pytest.skip(f"cannot build the tiny guest here: {err}")
    for key in ("OS_CLIENT_CONFIG_FILE", "OS_CLOUD", "OS_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(built.directory)  # no clouds.yaml here: credentials from OS_*
    env = {"OS_AUTH_URL": cloud.base_url + "/identity", "OS_USERNAME": "admin",
           "OS_PASSWORD": ADMIN_PASSWORD, "OS_PROJECT_NAME": "admin"}
    runner = CliRunner()
    first = runner.invoke(cli, ["image", "build-tiny"], env=env)
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["image", "build-tiny"], env=env)
    assert again.exit_code == 0, again.output
    with cloud.client() as client:
        images = {i["name"]: i for i in client.get("/images/detail").json()["images"]}
    disk = images[tiny_image.IMAGE_NAME]
    assert disk["metadata"]["kernel_id"] == images[tiny_image.KERNEL_IMAGE_NAME]["id"]
    assert disk["metadata"]["ramdisk_id"] == images[tiny_image.RAMDISK_IMAGE_NAME]["id"]
    # Built and registered once: the second run reused both.
    assert sum(1 for n in images if n.startswith("novalith-tiny")) == 3
    assert disk["id"] in again.output
