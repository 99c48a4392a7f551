"""Image list filters, sorting and marker paging, on every database backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from image_service_helpers import ADMIN, make_service, project

from fixtures.databases import BACKENDS, open_database
from novalith import exceptions
from novalith.image.service import ImageService

ME = project("p-me")
SPECS: list[dict[str, Any]] = [
    {"name": "b", "disk_format": "qcow2", "tags": ["x", "y"], "os_distro": "debian"},
    {"name": "a", "disk_format": "raw", "tags": ["x"], "os_distro": "ubuntu"},
    {"name": None, "disk_format": "raw", "protected": True},
    {"name": "b", "disk_format": "iso", "os_distro": "debian", "dotted.key": "v"},
    {"name": "c", "disk_format": None, "os_hidden": True},
    {"name": "a", "disk_format": "qcow2", "min_ram": 512},
    {"name": None, "disk_format": "vmdk"},
]


@pytest.fixture(scope="module", params=BACKENDS)
def listed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ImageService]:
    """The SPECS images, made once per backend (the tests only read them)."""
    tmp = tmp_path_factory.mktemp("listed")
    with open_database(request.param, tmp) as db:
        service = make_service(db, tmp)
        for i, spec in enumerate(SPECS):
            body = {"container_format": "bare" if spec.get("disk_format") else None, **spec}
            created = service.create(ME, body)
            if i in (0, 3):  # two with data, so size filters and sorting have values
                up = service.begin_upload(ME, created["id"])
                up.write(b"z" * (100 * (i + 1)))
                up.commit()
        yield service


def ids(service: ImageService, *params: tuple[str, str], ctx: Any = ME) -> list[str]:
    return [i["id"] for i in service.list_images(ctx, list(params))[0]]


def names(service: ImageService, *params: tuple[str, str]) -> list[str | None]:
    return [i["name"] for i in service.list_images(ME, list(params))[0]]


def all_pages(service: ImageService, limit: int, *params: tuple[str, str]) -> list[str]:
    out: list[str] = []
    marker: list[tuple[str, str]] = []
    while True:
        page, applied = service.list_images(ME, [*params, ("limit", str(limit)), *marker])
        out += [i["id"] for i in page]
        if len(page) < applied:
            return out
        marker = [("marker", page[-1]["id"])]


def test_filters(listed: ImageService) -> None:
    s = listed
    assert sorted(names(s, ("name", "b"))) == ["b", "b"]
    assert sorted(names(s, ("name", "in:a,c"))) == ["a", "a"]  # c is hidden
    assert names(s, ("os_hidden", "true")) == ["c"]
    assert sorted(names(s, ("disk_format", "qcow2"))) == ["a", "b"]
    assert names(s, ("tag", "x"), ("tag", "y")) == ["b"]
    assert sorted(names(s, ("tag", "x"))) == ["a", "b"]
    assert sorted(names(s, ("os_distro", "debian"))) == ["b", "b"]
    assert names(s, ("dotted.key", "v")) == ["b"]
    assert names(s, ("protected", "true")) == [None]
    assert names(s, ("size_min", "150")) == ["b"]  # 400 bytes
    assert names(s, ("size_max", "150")) == ["b"]  # 100 bytes
    assert len(names(s, ("status", "queued"))) == 4
    assert len(names(s, ("created_at", "gte:2000-01-01T00:00:00Z"))) == 6
    assert names(s, ("created_at", "lt:2000-01-01T00:00:00Z")) == []
    assert names(s, ("owner", "someone-else")) == []


@pytest.mark.parametrize("params", [
    [("limit", "x")], [("limit", "-1")], [("sort_key", "nope")], [("sort_dir", "up")],
    [("sort", "name:sideways")], [("sort", "name"), ("sort_key", "size")],
    [("marker", "00000000-0000-0000-0000-000000000000")], [("size_min", "big")],
    [("protected", "maybe")], [("created_at", "gte:yesterday")], [("a\x00b", "x")],
    [('quoted"name', "x")], [("back\\slash", "x")],
    [("sort_key", "name"), ("sort_dir", "asc"), ("sort_dir", "desc"), ("sort_key", "size"),
     ("sort_dir", "asc")],
])
def test_bad_parameters_are_400(sqlite_service: ImageService,
                                params: list[tuple[str, str]]) -> None:
    with pytest.raises(exceptions.Invalid):
        sqlite_service.list_images(ME, params)


def test_sorting_and_paging_agree_whatever_the_keys(listed: ImageService) -> None:
    """Every sort (with NULL names and sizes) pages to exactly the one-page order."""
    for params in ([], [("sort", "name:asc,size:desc")], [("sort_key", "name")],
                   [("sort_key", "size"), ("sort_dir", "asc")],
                   [("sort_key", "disk_format"), ("sort_key", "name"), ("sort_dir", "asc"),
                    ("sort_dir", "desc")],
                   [("sort", "min_ram:desc,created_at:asc")]):
        whole = ids(listed, *params, ("limit", "100"))
        assert len(whole) == 6, params
        for limit in (1, 2, 4):
            assert all_pages(listed, limit, *params) == whole, (params, limit)
    by_name = names(listed, ("sort", "name:asc"))
    assert by_name[:2] == [None, None] and by_name[2:] == ["a", "a", "b", "b"]
    assert names(listed, ("sort", "name:desc"))[:2] == ["b", "b"]


def test_limits_are_capped(listed: ImageService) -> None:
    assert len(ids(listed, ("limit", "0"))) == 0
    assert len(ids(listed)) == 6  # default 25
    page, limit = listed.list_images(ADMIN, [("limit", "100000")])
    assert limit == 1000


def test_list_records_returns_every_page(listed: ImageService) -> None:
    records = listed.list_records(ME, [("disk_format", "raw")])
    assert sorted(r.name or "" for r in records) == ["", "a"]
