"""The image cache manager: unused bases age out; bases in use never go."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from images_helpers import make_cache, raw_bytes, require_qemu_img, spec

from fixtures.memory_images import MemoryImageClient
from novalith.objects.specs import ImageMeta
from novalith.virt.images import disks
from novalith.virt.images import manager as cache_manager
from novalith.virt.images.cache import ImageCache, base_name

DAY = 86400


@pytest.fixture(autouse=True)
def qemu() -> None:
    require_qemu_img()


def age(path: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def two_images(tmp_path: Path, **overrides: object) -> tuple[ImageCache, str, str]:
    client = MemoryImageClient()
    used = client.add(raw_bytes(marker=b"USED"))
    unused = client.add(raw_bytes(marker=b"UNUSED"))
    cache = make_cache(tmp_path, client, **overrides)
    disks.create(cache, spec(ImageMeta(id=used.id, disk_format="raw"), root_gb=1, swap=16))
    cache.ensure(unused.id)
    return cache, used.id, unused.id


def test_unused_base_ages_out_and_used_one_stays(tmp_path: Path) -> None:
    cache, used, unused = two_images(tmp_path)
    for name in (base_name(used), base_name(unused), "swap_16"):
        age(cache.path_of(name), 2 * DAY)
    report = cache_manager.run_pass(cache, images_in_use=frozenset())
    assert report.removed == [base_name(unused)]
    assert sorted(report.in_use) == sorted([base_name(used), "swap_16"])
    assert not os.path.exists(cache.path_of(base_name(unused)))
    assert not os.path.exists(cache.path_of(base_name(unused)) + ".info")
    assert os.path.exists(cache.path_of(base_name(used)))
    # In use: its age restarts now.
    assert time.time() - os.stat(cache.path_of(base_name(used))).st_mtime < 60


def test_young_unused_base_stays(tmp_path: Path) -> None:
    cache, _used, unused = two_images(tmp_path)
    age(cache.path_of(base_name(unused)), DAY - 60)
    report = cache_manager.run_pass(cache, images_in_use=frozenset())
    assert report.kept == [base_name(unused)]
    assert os.path.exists(cache.path_of(base_name(unused)))


def test_images_compute_reports_in_use_stay_without_a_disk(tmp_path: Path) -> None:
    """An instance still building may not have its overlay yet."""
    cache, _used, unused = two_images(tmp_path)
    age(cache.path_of(base_name(unused)), 2 * DAY)
    report = cache_manager.run_pass(cache, images_in_use=frozenset({unused}))
    assert base_name(unused) in report.in_use and not report.removed


def test_removal_can_be_turned_off(tmp_path: Path) -> None:
    cache, _used, unused = two_images(tmp_path, remove_unused_base_images=False)
    age(cache.path_of(base_name(unused)), 2 * DAY)
    report = cache_manager.run_pass(cache, images_in_use=frozenset())
    assert report.kept == [base_name(unused)] and not report.removed


def test_minimum_age_is_configurable(tmp_path: Path) -> None:
    cache, _used, unused = two_images(
        tmp_path, remove_unused_original_minimum_age_seconds=10)
    age(cache.path_of(base_name(unused)), 11)
    assert cache_manager.run_pass(cache, frozenset()).removed == [base_name(unused)]


def test_a_base_being_used_right_now_is_not_removed(tmp_path: Path) -> None:
    cache, _used, unused = two_images(tmp_path)
    age(cache.path_of(base_name(unused)), 2 * DAY)
    with cache.use(unused):  # an overlay being created on it holds its lock
        report = cache_manager.run_pass(cache, frozenset())
    assert not report.removed
    assert os.path.exists(cache.path_of(base_name(unused)))


def test_deleted_instance_frees_its_base(tmp_path: Path) -> None:
    client = MemoryImageClient()
    image = client.add(raw_bytes())
    cache = make_cache(tmp_path, client)
    instance = spec(ImageMeta(id=image.id, disk_format="raw"))
    disks.create(cache, instance)
    age(cache.path_of(base_name(image.id)), 2 * DAY)
    assert cache_manager.run_pass(cache, frozenset()).in_use == [base_name(image.id)]
    disks.remove(cache.settings.instances_path, instance.uuid)
    age(cache.path_of(base_name(image.id)), 2 * DAY)
    assert cache_manager.run_pass(cache, frozenset()).removed == [base_name(image.id)]


def test_leftovers_of_a_crash_are_cleaned(tmp_path: Path) -> None:
    cache, _used, unused = two_images(tmp_path)
    part = cache.path_of(base_name(unused)) + ".part-deadbeef"
    fresh = cache.path_of("0" * 40) + ".part-cafe"
    orphan_info = cache.path_of("1" * 40) + ".info"
    for path in (part, fresh, orphan_info):
        Path(path).write_bytes(b"x")
    age(part, 2 * cache_manager.STALE_PART_SECONDS)
    cache_manager.run_pass(cache, frozenset())
    assert not os.path.exists(part)
    assert os.path.exists(fresh)  # may be a download in progress in another process
    assert not os.path.exists(orphan_info)


def test_unknown_files_are_left_alone(tmp_path: Path) -> None:
    cache, _used, _unused = two_images(tmp_path)
    other = Path(cache.base_dir) / "README"
    other.write_text("mine")
    age(str(other), 10 * DAY)
    cache_manager.run_pass(cache, frozenset())
    assert other.exists()


def test_no_cache_directory_yet(tmp_path: Path) -> None:
    cache = make_cache(tmp_path, MemoryImageClient())
    assert cache_manager.run_pass(cache, frozenset()) == cache_manager.PassReport()
