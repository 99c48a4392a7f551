"""Who sees and who may use which image: Glance's rules, on every database backend."""

from __future__ import annotations

from typing import Any

import pytest
from image_service_helpers import ADMIN, project

from novalith import exceptions
from novalith.db import images as image_db
from novalith.image.service import ImageService

OWNER, MEMBER, OTHER, ACCEPTOR = (project("p-owner"), project("p-member"), project("p-other"),
                                  project("p-acceptor"))


def _create(service: ImageService, name: str, visibility: str, ctx: Any = OWNER) -> str:
    body = {"name": name, "visibility": visibility, "disk_format": "raw",
            "container_format": "bare"}
    return str(service.create(ADMIN if visibility == "public" else ctx,
                              {**body, "owner": ctx.project_id})["id"])


@pytest.fixture
def images(service: ImageService) -> dict[str, str]:
    ids = {v: _create(service, v, v) for v in ("public", "private", "shared", "community")}
    service.add_member(OWNER, ids["shared"], MEMBER.project_id)
    service.add_member(OWNER, ids["shared"], ACCEPTOR.project_id)
    service.update_member(ACCEPTOR, ids["shared"], ACCEPTOR.project_id, {"status": "accepted"})
    return ids


def names(service: ImageService, ctx: Any, *params: tuple[str, str]) -> set[str]:
    return {i["name"] for i in service.list_images(ctx, list(params))[0]}


def test_default_lists(service: ImageService, images: dict[str, str]) -> None:
    assert names(service, OWNER) == {"public", "private", "shared", "community"}
    assert names(service, MEMBER) == {"public"}  # pending: not listed
    assert names(service, ACCEPTOR) == {"public", "shared"}
    assert names(service, OTHER) == {"public"}
    assert names(service, ADMIN) == {"public", "private", "shared", "community"}


def test_visibility_and_member_status_filters(service: ImageService,
                                              images: dict[str, str]) -> None:
    assert names(service, OTHER, ("visibility", "community")) == {"community"}
    assert names(service, OTHER, ("visibility", "all")) == {"public", "community"}
    assert names(service, MEMBER, ("member_status", "pending")) == {"public", "shared"}
    assert names(service, MEMBER, ("visibility", "shared"), ("member_status", "all")) == {
        "shared"}
    assert names(service, MEMBER, ("visibility", "shared")) == set()
    assert names(service, OTHER, ("visibility", "private")) == set()
    assert names(service, OWNER, ("visibility", "private")) == {"private"}
    assert names(service, ADMIN, ("visibility", "shared")) == {"shared"}
    for bad in (("visibility", "everyone"), ("member_status", "maybe")):
        with pytest.raises(exceptions.Invalid):
            service.list_images(OWNER, [bad])


def test_show_and_compute_use_follow_the_same_rule(service: ImageService,
                                                   images: dict[str, str]) -> None:
    for who, usable in ((MEMBER, {"public", "shared", "community"}),
                        (ACCEPTOR, {"public", "shared", "community"}),
                        (OTHER, {"public", "community"}),
                        (OWNER, {"public", "private", "shared", "community"})):
        for name, image_id in images.items():
            with service.db.read() as conn:
                row = image_db.visible(conn, image_id, who.project_id, False)
            assert (row is not None) == (name in usable), (who.project_id, name)
            if name in usable:
                assert service.show(who, image_id)["name"] == name
            else:
                with pytest.raises(exceptions.ImageNotFound):
                    service.show(who, image_id)


def test_rejected_member_still_may_use_but_does_not_list(service: ImageService,
                                                         images: dict[str, str]) -> None:
    service.update_member(MEMBER, images["shared"], MEMBER.project_id, {"status": "rejected"})
    assert "shared" not in names(service, MEMBER)
    assert service.show(MEMBER, images["shared"])["id"] == images["shared"]


def test_making_a_shared_image_private_hides_it_from_members(
        service: ImageService, images: dict[str, str]) -> None:
    service.update(OWNER, images["shared"], [{"op": "replace", "path": "/visibility",
                                              "value": "private"}],
                   "application/openstack-images-v2.1-json-patch")
    with pytest.raises(exceptions.ImageNotFound):
        service.show(ACCEPTOR, images["shared"])


def test_members_rules(service: ImageService, images: dict[str, str]) -> None:
    shared = images["shared"]
    owner_view = service.list_members(OWNER, shared)
    assert {(m["member_id"], m["status"]) for m in owner_view} == {
        ("p-member", "pending"), ("p-acceptor", "accepted")}
    assert [m["member_id"] for m in service.list_members(MEMBER, shared)] == ["p-member"]
    assert service.show_member(MEMBER, shared, "p-member")["status"] == "pending"
    with pytest.raises(exceptions.NotFound):
        service.show_member(MEMBER, shared, "p-acceptor")
    with pytest.raises(exceptions.ImageNotFound):
        service.list_members(OTHER, shared)
    with pytest.raises(exceptions.Forbidden, match="modify 'status'"):
        service.update_member(OWNER, shared, "p-member", {"status": "accepted"})
    with pytest.raises(exceptions.Invalid):
        service.update_member(MEMBER, shared, "p-member", {"status": "maybe"})
    with pytest.raises(exceptions.Forbidden):
        service.add_member(MEMBER, shared, "p-other")
    with pytest.raises(exceptions.Forbidden):
        service.delete_member(MEMBER, shared, "p-member")
    with pytest.raises(exceptions.Conflict, match="already associated"):
        service.add_member(OWNER, shared, "p-member")
    with pytest.raises(exceptions.Forbidden, match="Only shared images have members"):
        service.add_member(OWNER, images["private"], "p-member")
    service.delete_member(OWNER, shared, "p-member")
    with pytest.raises(exceptions.ImageNotFound):
        service.show(MEMBER, shared)
    with pytest.raises(exceptions.NotFound):
        service.delete_member(OWNER, shared, "p-member")
