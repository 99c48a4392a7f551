"""How images of the image service are named on the engine, and which ones boot."""

from __future__ import annotations

import pytest

from novalith import exceptions
from novalith.objects.specs import ImageMeta
from novalith.virt.docker import images


def test_reference_is_per_host_and_per_image() -> None:
    image_id = "0b7ab7b9-3b7e-4c9a-9a71-6a2b5d3c2f10"
    assert images.reference("compute-1", image_id) == f"novalith-image/compute-1:{image_id}"
    assert images.reference("compute-2", image_id) != images.reference("compute-1", image_id)


def test_host_names_fold_to_valid_repositories_without_clashing() -> None:
    upper, lower = images.repository("Compute_A"), images.repository("compute-a")
    assert upper != lower
    assert upper.startswith("novalith-image/compute-a-")
    assert images.repository("").startswith("novalith-image/host-")
    for repo in (upper, lower, images.repository("a.b.c")):
        name = repo.split("/", 1)[1]
        assert name == name.lower() and all(c.isalnum() or c == "-" for c in name)


def test_ids_that_are_no_valid_tag_are_hashed() -> None:
    assert images.tag("abc-DEF_1.2") == "abc-DEF_1.2"
    hashed = images.tag("has/slash:and colon")
    assert hashed.startswith("id-") and len(hashed) == 43
    assert images.tag("x" * 200) != images.tag("x" * 201)


@pytest.mark.parametrize("image,problem", [
    (None, "boots only from an image"),
    (ImageMeta(id="i", container_format="bare"), "container_format 'bare'"),
    (ImageMeta(id="i"), "container_format None"),
])
def test_only_docker_images_boot(image: ImageMeta | None, problem: str) -> None:
    with pytest.raises(exceptions.BuildFailed, match=problem):
        images.check_meta(image, "u-1")


def test_docker_images_boot() -> None:
    image = ImageMeta(id="i", container_format="DOCKER")
    assert images.check_meta(image, "u-1") is image


@pytest.mark.parametrize("text,seconds", [
    ("1970-01-01T00:00:10Z", 10.0),
    ("1970-01-01T00:00:10.500000000Z", 10.5),
    ("1970-01-01T01:00:10+01:00", 10.0),
    ("0001-01-01T00:00:00Z", None),
    ("", None),
    ("yesterday", None),
])
def test_engine_timestamps(text: str, seconds: float | None) -> None:
    assert images._parse_time(text) == seconds
