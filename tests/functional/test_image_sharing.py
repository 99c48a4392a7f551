"""Image visibility across projects, through the Image API and the Compute API's imageRef."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("image-sharing"),
                          overrides={"identity": {"password_hash_cost": 10}})
    yield running
    running.close()


class Project:
    def __init__(self, cloud: RunningCloud, name: str) -> None:
        self.cloud = cloud
        self.token = cloud.add_user(name, f"{name}-user", "member")
        self.id = cloud.cloud.identity.find_project(name).id
        self.image = httpx.Client(base_url=cloud.base_url + "/image/v2", timeout=30,
                                  headers={"X-Auth-Token": self.token})
        self.compute = cloud.client(self.token)

    def boot(self, image_id: str, flavor: str = "1") -> httpx.Response:
        return self.compute.post("/servers", headers={"OpenStack-API-Version": "compute 2.37"},
                                 json={"server": {"name": "from-image", "flavorRef": flavor,
                                                  "imageRef": image_id, "networks": "none"}})

    def names(self, query: str = "") -> set[str]:
        return {i["name"] for i in self.image.get("/images" + query).json()["images"]}


@pytest.fixture(scope="module")
def projects(cloud: RunningCloud) -> Iterator[dict[str, Project]]:
    made = {n: Project(cloud, n) for n in ("owner", "guest", "stranger")}
    yield made
    for p in made.values():
        p.image.close()
        p.compute.close()


def _image(p: Project, name: str, visibility: str, **extra: Any) -> str:
    resp = p.image.post("/images", json={"name": name, "visibility": visibility,
                                         "disk_format": "raw", "container_format": "bare",
                                         **extra})
    assert resp.status_code == 201, resp.text
    image_id = str(resp.json()["id"])
    resp = p.image.put(f"/images/{image_id}/file", content=b"\0" * 4096,
                       headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    return image_id


def test_sharing_with_another_project(cloud: RunningCloud, projects: dict[str, Project]
                                      ) -> None:
    owner, guest, stranger = projects["owner"], projects["guest"], projects["stranger"]
    shared = _image(owner, "shared-img", "shared")
    assert guest.image.get(f"/images/{shared}").status_code == 404
    assert "Image" in guest.boot(shared).json()["badRequest"]["message"]

    resp = owner.image.post(f"/images/{shared}/members", json={"member": guest.id})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "pending" and resp.json()["member_id"] == guest.id
    # Pending: usable (show, boot) but not listed by default, as in Glance.
    assert guest.image.get(f"/images/{shared}").status_code == 200
    assert "shared-img" not in guest.names()
    assert "shared-img" in guest.names("?member_status=pending")
    server = guest.boot(shared)
    assert server.status_code == 202, server.text
    detail = cloud.wait_status(guest.compute, server.json()["server"]["id"], {"ACTIVE"})
    assert detail["image"]["id"] == shared

    assert owner.image.put(f"/images/{shared}/members/{guest.id}",
                           json={"status": "accepted"}).status_code == 403
    resp = guest.image.put(f"/images/{shared}/members/{guest.id}", json={"status": "accepted"})
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    assert "shared-img" in guest.names()
    members = guest.image.get(f"/images/{shared}/members").json()
    assert [m["member_id"] for m in members["members"]] == [guest.id]
    assert members["schema"] == "/v2/schemas/members"
    listed = guest.compute.get("/images", headers={"OpenStack-API-Version": "compute 2.35"})
    assert shared in {i["id"] for i in listed.json()["images"]}

    assert stranger.image.get(f"/images/{shared}").status_code == 404
    assert stranger.boot(shared).status_code == 400
    assert stranger.image.get(f"/images/{shared}/members").status_code == 404

    owner.image.patch(f"/images/{shared}", headers=PATCH,
                      json=[{"op": "replace", "path": "/visibility", "value": "private"}])
    assert guest.image.get(f"/images/{shared}").status_code == 404
    assert guest.boot(shared).status_code == 400


def test_community_images_are_usable_by_all_but_listed_only_on_request(
        projects: dict[str, Project]) -> None:
    stranger, guest = projects["stranger"], projects["guest"]
    community = _image(stranger, "community-img", "community")
    assert "community-img" not in guest.names()
    assert "community-img" in guest.names("?visibility=community")
    assert guest.boot(community).status_code == 202
    private = _image(stranger, "private-img", "private")
    assert guest.boot(private).status_code == 400


def test_compute_checks_min_ram_min_disk_and_status(projects: dict[str, Project]) -> None:
    owner = projects["owner"]
    image = _image(owner, "demanding", "private", min_ram=1_000_000)
    msg = owner.boot(image).json()["badRequest"]["message"]
    assert "memory is too small" in msg
    owner.image.patch(f"/images/{image}", headers=PATCH,
                      json=[{"op": "replace", "path": "/min_ram", "value": 0},
                            {"op": "replace", "path": "/min_disk", "value": 1000}])
    assert "disk is too small" in owner.boot(image).json()["badRequest"]["message"]
    owner.image.patch(f"/images/{image}", headers=PATCH,
                      json=[{"op": "replace", "path": "/min_disk", "value": 0}])
    assert owner.image.post(f"/images/{image}/actions/deactivate").status_code == 204
    assert "not active" in owner.boot(image).json()["badRequest"]["message"]
    assert owner.image.post(f"/images/{image}/actions/reactivate").status_code == 204
    assert owner.boot(image).status_code == 202
