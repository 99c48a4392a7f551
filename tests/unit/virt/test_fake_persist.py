"""[fake_driver] state_dir: fake guests outlive the compute process, half-built ones too,
so a restarted compute's reconcile has them to clean up (issue 6)."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

from novalith.conf import make_conf
from novalith.objects.specs import FlavorSpec, InstanceSpec, instance_name
from novalith.objects.states import PowerState
from novalith.virt.fake import FakeDriver
from novalith.virt.fake.persist import GuestFiles
from novalith.virt.loader import load_driver

FLAVOR = FlavorSpec(flavorid="f", name="f", vcpus=1, memory_mb=512, root_gb=1)


class Callbacks:
    def instance_power_changed(self, uuid: str, power_state: int) -> None:
        pass

    def fetch_image(self, image_id: str, dest: str) -> None:
        raise AssertionError("no image is fetched here")


def spec() -> InstanceSpec:
    iid = random.randrange(1, 1 << 30)
    return InstanceSpec(uuid=str(uuid.uuid4()), id=iid, name=instance_name(iid),
                        display_name="vm", hostname="vm", project_id="p", user_id="u",
                        flavor=FLAVOR)


def driver(host: str = "h1", **fake_driver: Any) -> FakeDriver:
    drv = load_driver("fake", make_conf(overrides={"fake_driver": fake_driver}), host,
                      Callbacks())  # type: ignore[arg-type]
    assert isinstance(drv, FakeDriver)
    drv.init_host()
    return drv


def test_guests_survive_a_new_driver_process(tmp_path: Path) -> None:
    first = driver(state_dir=str(tmp_path))
    built, gone = spec(), spec()
    first.spawn(built, None)
    first.spawn(gone, None)
    first.destroy(gone)
    # A crash mid-build: the spawn started (file written) but never finished.
    GuestFiles(str(tmp_path), "h1").save(half := spec(), built=False)

    again = driver(state_dir=str(tmp_path))  # the restarted compute process
    assert sorted(again.list_instances()) == sorted([built.uuid, half.uuid])
    assert again.get_info(built).power_state == PowerState.RUNNING
    assert again.get_info(half).power_state == PowerState.NOSTATE
    again.destroy(half)
    assert {p.name for p in (tmp_path / "h1").iterdir()} == {f"{built.uuid}.json"}
    # Hosts keep their guests apart.
    assert driver("h2", state_dir=str(tmp_path)).list_instances() == []


def test_without_state_dir_nothing_is_written(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    drv = driver()
    drv.spawn(spec(), None)
    assert list(tmp_path.iterdir()) == []
    assert driver().list_instances() == []
