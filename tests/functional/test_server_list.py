"""GET /servers and /servers/detail: filters, paging, sorting, summary vs detail bodies."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from fixtures.cloud import RunningCloud, start_cloud
from novalith.db import images as image_db


@dataclass
class World:
    cloud: RunningCloud
    ids: dict[str, str]          # admin project: name -> id
    theirs: str                  # a server of another project
    member_token: str            # member of that other project
    image_b: str
    reservation_id: str


def _create(c: Any, cloud: RunningCloud, name: str, **extra: Any) -> Any:
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": cloud.image_id,
                       "networks": "none", **extra}}
    resp = c.post("/servers", json=body)
    assert resp.status_code == 202, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cloud = start_cloud(tmp_path_factory.mktemp("server-list"),
                        overrides={"identity": {"password_hash_cost": 10}})
    try:
        image_b = str(uuid.uuid4())
        with cloud.cloud.db.write() as conn:
            image_db.create(conn, {
                "id": image_b, "name": "image-b", "status": "active", "disk_format": "raw",
                "container_format": "bare", "size": 0, "visibility": "public",
                "protected": False, "owner": None, "min_disk": 0, "min_ram": 0,
                "properties": {}})
        ids: dict[str, str] = {}
        with cloud.client(version="2.37") as c:
            for name in ("alpha-1", "alpha-2", "beta"):
                ids[name] = _create(c, cloud, name)["server"]["id"]
            ids["gamma"] = _create(c, cloud, "gamma", flavorRef="2",
                                   imageRef=image_b)["server"]["id"]
            reservation_id = _create(c, cloud, "multi", min_count=2, max_count=2,
                                     return_reservation_id=True)["reservation_id"]
            multi = c.get("/servers", params={"name": "^multi-"}).json()["servers"]
            ids.update({s["name"]: s["id"] for s in multi})
            for sid in ids.values():
                cloud.wait_status(c, sid, {"ACTIVE"})
            assert c.post(f"/servers/{ids['beta']}/action",
                          json={"os-stop": None}).status_code == 202
            cloud.wait_status(c, ids["beta"], {"SHUTOFF"})
        member = cloud.add_user("list-other", "list-member", "member")
        with cloud.client(member, version="2.37") as c:
            theirs = _create(c, cloud, "alpha-theirs")["server"]["id"]
            cloud.wait_status(c, theirs, {"ACTIVE"})
        yield World(cloud, ids, theirs, member, image_b, reservation_id)
    finally:
        cloud.close()


def _names(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [s["name"] for s in resp.json()["servers"]]


def test_summary_and_detail_bodies(world: World) -> None:
    with world.cloud.client() as c:
        summary = c.get("/servers").json()["servers"]
        detail = c.get("/servers/detail").json()["servers"]
    assert len(summary) == len(detail) == len(world.ids)
    for s in summary:
        assert set(s) == {"id", "name", "links"}
        assert [link["rel"] for link in s["links"]] == ["self", "bookmark"]
        assert s["links"][0]["href"].endswith(f"/compute/v2.1/servers/{s['id']}")
    for s in detail:
        for key in ("id", "name", "links", "status", "tenant_id", "user_id", "metadata",
                    "hostId", "image", "flavor", "created", "updated", "addresses",
                    "accessIPv4", "accessIPv6", "progress", "OS-EXT-STS:vm_state",
                    "OS-EXT-STS:task_state", "OS-EXT-STS:power_state",
                    "OS-EXT-AZ:availability_zone", "OS-SRV-USG:launched_at",
                    "OS-EXT-SRV-ATTR:host", "key_name", "config_drive"):
            assert key in s, key
    # Same servers in the same (default: newest first) order.
    assert [s["id"] for s in summary] == [s["id"] for s in detail]
    created = [s["created"] for s in detail]
    assert created == sorted(created, reverse=True)


def test_name_is_a_regular_expression(world: World) -> None:
    with world.cloud.client() as c:
        assert sorted(_names(c.get("/servers", params={"name": "^alpha"}))) == [
            "alpha-1", "alpha-2"]
        assert sorted(_names(c.get("/servers", params={"name": "lph"}))) == [
            "alpha-1", "alpha-2"]
        assert sorted(_names(c.get("/servers/detail", params={"name": "a-[12]$"}))) == [
            "alpha-1", "alpha-2"]
        assert _names(c.get("/servers", params={"name": "^nothing$"})) == []
        bad = c.get("/servers", params={"name": "(unclosed"})
        assert bad.status_code == 400 and "badRequest" in bad.json()


def test_status_filter(world: World) -> None:
    with world.cloud.client() as c:
        assert _names(c.get("/servers", params={"status": "SHUTOFF"})) == ["beta"]
        active = _names(c.get("/servers/detail", params={"status": "ACTIVE"}))
        assert sorted(active) == sorted(n for n in world.ids if n != "beta")
        assert _names(c.get("/servers", params={"status": "ERROR"})) == []
        # An unknown status matches nothing before 2.38 and is a 400 from 2.38 on.
        assert _names(c.get("/servers", params={"status": "SLEEPY"})) == []
    with world.cloud.client(version="2.38") as c:
        resp = c.get("/servers", params={"status": "SLEEPY"})
        assert resp.status_code == 400 and "SLEEPY" in resp.json()["badRequest"]["message"]


def test_flavor_image_and_reservation_filters(world: World) -> None:
    with world.cloud.client() as c:
        assert _names(c.get("/servers", params={"flavor": "2"})) == ["gamma"]
        assert len(_names(c.get("/servers", params={"flavor": "1"}))) == len(world.ids) - 1
        assert _names(c.get("/servers", params={"image": world.image_b})) == ["gamma"]
        assert "gamma" not in _names(c.get("/servers", params={"image": world.cloud.image_id}))
        assert sorted(_names(c.get("/servers", params={
            "reservation_id": world.reservation_id}))) == ["multi-1", "multi-2"]
        assert _names(c.get("/servers", params={"reservation_id": "r-nope"})) == []


def test_all_tenants_for_admin_only(world: World) -> None:
    with world.cloud.client() as admin:
        mine = set(_names(admin.get("/servers")))
        assert "alpha-theirs" not in mine
        everyone = _names(admin.get("/servers/detail", params={"all_tenants": "1"}))
        assert set(everyone) == mine | {"alpha-theirs"}
        assert "alpha-theirs" in _names(admin.get("/servers", params={"all_tenants": ""}))
        assert "alpha-theirs" not in _names(admin.get("/servers", params={"all_tenants": "0"}))
    with world.cloud.client(world.member_token) as member:
        for params in ({}, {"all_tenants": "1"}, {"all_tenants": "true"}):
            assert _names(member.get("/servers", params=params)) == ["alpha-theirs"]
            assert _names(member.get("/servers/detail", params=params)) == ["alpha-theirs"]


def _next(body: dict[str, Any], key: str) -> dict[str, list[str]] | None:
    links = body.get(f"{key}_links")
    if not links:
        return None
    assert [link["rel"] for link in links] == ["next"]
    return parse_qs(urlsplit(links[0]["href"]).query)


@pytest.mark.parametrize("path", ["/servers", "/servers/detail"])
def test_limit_and_marker_paging(world: World, path: str) -> None:
    with world.cloud.client() as c:
        everything = [s["id"] for s in c.get(path).json()["servers"]]
        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            resp = c.get(path, params=params)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            pages.append([s["id"] for s in body["servers"]])
            query = _next(body, "servers")
            if query is None:
                break
            assert len(body["servers"]) == 2
            assert query["limit"] == ["2"] and query["marker"] == [pages[-1][-1]]
            assert urlsplit(body["servers_links"][0]["href"]).path.endswith(
                "/compute/v2.1" + path)
            params = {"limit": 2, "marker": query["marker"][0]}
        assert [sid for page in pages for sid in page] == everything
        assert all(len(page) <= 2 for page in pages)
        assert "servers_links" not in c.get(path, params={"limit": 100}).json()
        bad = c.get(path, params={"marker": str(uuid.uuid4())})
        assert bad.status_code == 400 and "marker" in bad.json()["badRequest"]["message"]
        assert c.get(path, params={"limit": "-1"}).status_code == 400
        assert c.get(path, params={"limit": "many"}).status_code == 400


def test_sorting(world: World) -> None:
    with world.cloud.client() as c:
        names = _names(c.get("/servers/detail", params={"sort_key": "display_name",
                                                        "sort_dir": "asc"}))
        assert names == sorted(world.ids)
        names = _names(c.get("/servers", params={"sort_key": "display_name",
                                                 "sort_dir": "desc"}))
        assert names == sorted(world.ids, reverse=True)
        # Two keys: vm_state first (active < stopped), then name.
        names = _names(c.get("/servers", params=[("sort_key", "vm_state"), ("sort_dir", "asc"),
                                                 ("sort_key", "display_name"),
                                                 ("sort_dir", "asc")]))
        assert names == sorted(n for n in world.ids if n != "beta") + ["beta"]
        # Paging follows the sort order.
        first = c.get("/servers", params={"sort_key": "display_name", "sort_dir": "asc",
                                          "limit": 3}).json()
        assert [s["name"] for s in first["servers"]] == sorted(world.ids)[:3]
        query = _next(first, "servers")
        assert query is not None and query["sort_key"] == ["display_name"]
        rest = _names(c.get("/servers", params={k: v[0] for k, v in query.items()}))
        assert rest == sorted(world.ids)[3:6]
        for params in ({"sort_key": "colour"}, {"sort_key": "display_name",
                                                "sort_dir": "sideways"}):
            resp = c.get("/servers", params=params)
            assert resp.status_code == 400, resp.text
            assert "sort_" in resp.json()["badRequest"]["message"]
    with world.cloud.client(world.member_token) as member:
        # host is an admin-only sort key
        assert member.get("/servers", params={"sort_key": "host"}).status_code == 403


def test_changes_since(world: World) -> None:
    cloud = world.cloud
    with cloud.client(version="2.37") as c:
        renamed = _create(c, cloud, "delta")["server"]["id"]
        doomed = _create(c, cloud, "epsilon")["server"]["id"]
        for sid in (renamed, doomed):
            cloud.wait_status(c, sid, {"ACTIVE"})
        time.sleep(0.05)
        since = dt.datetime.now(dt.UTC).isoformat()
        assert c.get("/servers", params={"changes-since": since}).json()["servers"] == []
        assert c.put(f"/servers/{renamed}", json={"server": {"name": "delta-2"}}
                     ).status_code == 200
        assert c.delete(f"/servers/{doomed}").status_code == 204
        deadline = time.monotonic() + 10
        while c.get(f"/servers/{doomed}").status_code != 404:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        changed = c.get("/servers/detail", params={"changes-since": since}).json()["servers"]
        # Deleted servers show up in a changes-since list, as DELETED.
        assert {s["id"]: s["status"] for s in changed} == {renamed: "ACTIVE",
                                                           doomed: "DELETED"}
        assert c.get("/servers", params={"changes-since": "yesterday"}).status_code == 400
        old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
        assert renamed in {s["id"] for s in c.get("/servers", params={
            "changes-since": old}).json()["servers"]}
