"""/flavors: list, detail, show, paging, filters, admin create/delete, extra specs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fixtures.cloud import RunningCloud, start_cloud

DEFAULTS = {"1": ("m1.tiny", 512, 1, 1), "2": ("m1.small", 2048, 1, 20),
            "3": ("m1.medium", 4096, 2, 40), "4": ("m1.large", 8192, 4, 80),
            "5": ("m1.xlarge", 16384, 8, 160)}
DETAIL_KEYS = {"id", "name", "links", "ram", "vcpus", "disk", "OS-FLV-EXT-DATA:ephemeral",
               "swap", "rxtx_factor", "os-flavor-access:is_public", "OS-FLV-DISABLED:disabled"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("flavors"),
                          overrides={"identity": {"password_hash_cost": 10}})
    yield running
    running.close()


@pytest.fixture(scope="module")
def member(cloud: RunningCloud) -> str:
    return cloud.add_user("flavor-project", "flavor-member", "member")


def _create(c: Any, **flavor: Any) -> Any:
    return c.post("/flavors", json={"flavor": flavor})


def test_list_detail_and_show_fields(cloud: RunningCloud) -> None:
    with cloud.client() as c:
        summary = c.get("/flavors").json()["flavors"]
        detail = c.get("/flavors/detail").json()["flavors"]
        assert [f["id"] for f in summary] == [f["id"] for f in detail] == list(DEFAULTS)
        for f in summary:
            assert set(f) == {"id", "name", "links"}
            assert f["links"] == [
                {"rel": "self", "href": f"{cloud.compute_url}/flavors/{f['id']}"},
                {"rel": "bookmark", "href": f"{cloud.base_url}/compute/flavors/{f['id']}"}]
        for f in detail:
            assert set(f) == DETAIL_KEYS
            name, ram, vcpus, disk = DEFAULTS[f["id"]]
            assert (f["name"], f["ram"], f["vcpus"], f["disk"]) == (name, ram, vcpus, disk)
            assert f["OS-FLV-EXT-DATA:ephemeral"] == 0
            assert f["swap"] == ""  # Nova shows no swap as "" before 2.75
            assert f["rxtx_factor"] == 1.0
            assert f["os-flavor-access:is_public"] is True
            assert f["OS-FLV-DISABLED:disabled"] is False
        shown = c.get("/flavors/3").json()["flavor"]
        assert shown == next(f for f in detail if f["id"] == "3")
        missing = c.get("/flavors/nope")
        assert missing.status_code == 404
        assert "nope" in missing.json()["itemNotFound"]["message"]


def test_min_ram_and_min_disk(cloud: RunningCloud) -> None:
    with cloud.client() as c:
        def ids(**params: Any) -> list[str]:
            resp = c.get("/flavors", params=params)
            assert resp.status_code == 200, resp.text
            return [f["id"] for f in resp.json()["flavors"]]

        assert ids(minRam=4096) == ["3", "4", "5"]
        assert ids(minRam=4097) == ["4", "5"]
        assert ids(minDisk=80) == ["4", "5"]
        assert ids(minRam=2048, minDisk=40) == ["3", "4", "5"]
        assert ids(minRam=10**6) == []
        assert c.get("/flavors", params={"minRam": "lots"}).status_code == 400


def test_paging(cloud: RunningCloud) -> None:
    with cloud.client() as c:
        first = c.get("/flavors/detail", params={"limit": 2}).json()
        assert [f["id"] for f in first["flavors"]] == ["1", "2"]
        (link,) = first["flavors_links"]
        assert link["rel"] == "next"
        query = parse_qs(urlsplit(link["href"]).query)
        assert urlsplit(link["href"]).path == "/compute/v2.1/flavors/detail"
        assert query == {"limit": ["2"], "marker": ["2"]}
        second = c.get("/flavors/detail", params={"limit": 2, "marker": "2"}).json()
        assert [f["id"] for f in second["flavors"]] == ["3", "4"]
        third = c.get("/flavors", params={"limit": 2, "marker": "4"}).json()
        assert [f["id"] for f in third["flavors"]] == ["5"]
        assert "flavors_links" not in third
        assert c.get("/flavors", params={"marker": "nope"}).status_code == 400
        by_ram = c.get("/flavors", params={"sort_key": "memory_mb", "sort_dir": "desc"})
        assert [f["id"] for f in by_ram.json()["flavors"]] == ["5", "4", "3", "2", "1"]
        assert c.get("/flavors", params={"sort_key": "colour"}).status_code == 400


def test_create_duplicate_and_delete(cloud: RunningCloud, member: str) -> None:
    with cloud.client() as c:
        resp = _create(c, name="custom.small", ram=300, vcpus=2, disk=3, id="custom-1",
                       swap=512, rxtx_factor=2.0, **{"OS-FLV-EXT-DATA:ephemeral": 4})
        assert resp.status_code == 200, resp.text  # Nova answers 200, not 201
        flavor = resp.json()["flavor"]
        assert set(flavor) == DETAIL_KEYS
        assert (flavor["id"], flavor["name"], flavor["ram"], flavor["vcpus"], flavor["disk"],
                flavor["swap"], flavor["OS-FLV-EXT-DATA:ephemeral"],
                flavor["rxtx_factor"]) == ("custom-1", "custom.small", 300, 2, 3, 512, 4, 2.0)
        assert c.get("/flavors/custom-1").json()["flavor"] == flavor

        generated = _create(c, name="auto-id", ram=64, vcpus=1, disk=0)
        assert generated.status_code == 200, generated.text
        auto_id = generated.json()["flavor"]["id"]
        assert len(auto_id) == 36

        for dup in ({"name": "custom.small", "id": "custom-2"},
                    {"name": "other-name", "id": "custom-1"}):
            resp = _create(c, ram=64, vcpus=1, disk=0, **dup)
            assert resp.status_code == 409, resp.text
            assert "already exists" in resp.json()["conflictingRequest"]["message"]
        for bad in ({"name": "x", "ram": 0, "vcpus": 1, "disk": 0},
                    {"name": "x", "ram": 64, "vcpus": 1},
                    {"name": "  ", "ram": 64, "vcpus": 1, "disk": 0},
                    {"name": "x", "ram": 64, "vcpus": 1, "disk": 0, "id": "bad/id"}):
            resp = _create(c, **bad)
            assert resp.status_code == 400, (bad, resp.text)
            assert "badRequest" in resp.json()

        assert c.delete("/flavors/custom-1").status_code == 202
        assert c.get("/flavors/custom-1").status_code == 404
        assert c.delete("/flavors/custom-1").status_code == 404
        assert c.delete(f"/flavors/{auto_id}").status_code == 202
        # The name is free again once the flavor is gone.
        again = _create(c, name="custom.small", ram=64, vcpus=1, disk=0, id="custom-1")
        assert again.status_code == 200, again.text
        assert c.delete("/flavors/custom-1").status_code == 202
    with cloud.client(member) as c:
        assert _create(c, name="mine", ram=64, vcpus=1, disk=0).status_code == 403
        assert c.delete("/flavors/1").status_code == 403


def test_private_flavors(cloud: RunningCloud, member: str) -> None:
    with cloud.client() as c:
        resp = _create(c, name="hidden", ram=64, vcpus=1, disk=0, id="hidden",
                       **{"os-flavor-access:is_public": False})
        assert resp.status_code == 200, resp.text
        assert resp.json()["flavor"]["os-flavor-access:is_public"] is False
        assert "hidden" not in [f["id"] for f in c.get("/flavors").json()["flavors"]]
        assert [f["id"] for f in c.get("/flavors", params={"is_public": "false"}
                                       ).json()["flavors"]] == ["hidden"]
        assert "hidden" in [f["id"] for f in c.get("/flavors/detail", params={
            "is_public": "None"}).json()["flavors"]]
        assert c.get("/flavors/hidden").status_code == 200
    with cloud.client(member, version="2.37") as c:
        for params in ({}, {"is_public": "false"}, {"is_public": "None"}):
            assert "hidden" not in [f["id"] for f in c.get("/flavors", params=params
                                                           ).json()["flavors"]]
        # Without flavor access a project neither sees nor boots a private flavor.
        assert c.get("/flavors/hidden").status_code == 404
        boot = c.post("/servers", json={"server": {"name": "sneaky", "flavorRef": "hidden",
                                                   "imageRef": cloud.image_id,
                                                   "networks": "none"}})
        assert boot.status_code == 400, boot.text
        assert "hidden" in boot.json()["badRequest"]["message"]
    with cloud.client() as c:
        assert c.delete("/flavors/hidden").status_code == 202


def test_extra_specs_crud(cloud: RunningCloud, member: str) -> None:
    with cloud.client() as c:
        assert _create(c, name="specced", ram=64, vcpus=1, disk=0, id="specced"
                       ).status_code == 200
        base = "/flavors/specced/os-extra_specs"
        assert c.get(base).json() == {"extra_specs": {}}
        resp = c.post(base, json={"extra_specs": {"hw:cpu_policy": "shared", "quota:x": "1"}})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"extra_specs": {"hw:cpu_policy": "shared", "quota:x": "1"}}
        resp = c.post(base, json={"extra_specs": {"quota:x": "2"}})  # merges, overwrites
        assert resp.status_code == 200
        assert c.get(base).json() == {"extra_specs": {"hw:cpu_policy": "shared",
                                                      "quota:x": "2"}}
        assert c.get(f"{base}/quota:x").json() == {"quota:x": "2"}
        resp = c.put(f"{base}/quota:x", json={"quota:x": "3"})
        assert resp.status_code == 200 and resp.json() == {"quota:x": "3"}
        assert c.put(f"{base}/quota:x", json={"quota:y": "3"}).status_code == 400
        assert c.put(f"{base}/quota:x", json={"quota:x": "3", "b": "4"}).status_code == 400
        assert c.get(f"{base}/quota:y").status_code == 404
        assert c.delete(f"{base}/quota:x").status_code == 200
        assert c.delete(f"{base}/quota:x").status_code == 404
        assert c.get(base).json() == {"extra_specs": {"hw:cpu_policy": "shared"}}
        assert c.post(base, json={"extra_specs": "nope"}).status_code == 400
        assert c.post("/flavors/nope/os-extra_specs",
                      json={"extra_specs": {"a": "b"}}).status_code == 404
        # Extra specs go with the flavor.
        assert c.delete("/flavors/specced").status_code == 202
        assert _create(c, name="specced", ram=64, vcpus=1, disk=0, id="specced"
                       ).status_code == 200
        assert c.get(base).json() == {"extra_specs": {}}
    with cloud.client(member) as c:
        assert c.post("/flavors/1/os-extra_specs",
                      json={"extra_specs": {"a": "b"}}).status_code == 403
        assert c.put("/flavors/1/os-extra_specs/a", json={"a": "b"}).status_code == 403
        assert c.delete("/flavors/1/os-extra_specs/a").status_code == 403


def test_servers_keep_their_flavor_after_it_is_deleted(cloud: RunningCloud) -> None:
    with cloud.client(version="2.37") as c:
        assert _create(c, name="ephemeral-flavor", ram=128, vcpus=1, disk=1, id="gone-soon"
                       ).status_code == 200
        sid = cloud.boot(c, "keeps-flavor", flavor="gone-soon")
        cloud.wait_status(c, sid, {"ACTIVE"})
        assert c.delete("/flavors/gone-soon").status_code == 202
        server = c.get(f"/servers/{sid}").json()["server"]
        assert server["flavor"]["id"] == "gone-soon"
        with cloud.client(version="2.47") as c47:
            flavor = c47.get(f"/servers/{sid}").json()["server"]["flavor"]
        assert (flavor["original_name"], flavor["ram"], flavor["vcpus"]) == (
            "ephemeral-flavor", 128, 1)
        assert c.delete(f"/servers/{sid}").status_code == 204


def test_flavor_ref_may_be_an_integer(cloud: RunningCloud) -> None:
    # Regression: Nova's schema takes flavorRef as a string or an integer.
    with cloud.client(version="2.37") as c:
        resp = c.post("/servers", json={"server": {"name": "int-flavor", "flavorRef": 2,
                                                   "imageRef": cloud.image_id,
                                                   "networks": "none"}})
        assert resp.status_code == 202, resp.text
        sid = resp.json()["server"]["id"]
        assert cloud.wait_status(c, sid, {"ACTIVE"})["flavor"]["id"] == "2"
        for bad in (True, 2.5, [2]):
            resp = c.post("/servers", json={"server": {"name": "bad-flavor", "flavorRef": bad,
                                                       "imageRef": cloud.image_id,
                                                       "networks": "none"}})
            assert resp.status_code == 400, (bad, resp.text)
            assert "flavorRef" in resp.json()["badRequest"]["message"]
        assert c.delete(f"/servers/{sid}").status_code == 204
