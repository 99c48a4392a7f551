"""Version discovery, microversion negotiation headers, and server bodies per microversion."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud
from novalith.api.microversion import MAX_VERSION

MAX = str(MAX_VERSION)
V247 = "2.47"  # flavor embedded in the server body


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("microversions"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def server_id(cloud: RunningCloud) -> str:
    with cloud.client(version="2.19") as c:
        resp = c.post("/servers", json={"server": {
            "name": "versioned", "flavorRef": "2", "imageRef": cloud.image_id,
            "description": "described", "metadata": {"k": "v"}}})
        assert resp.status_code == 202, resp.text
        sid = str(resp.json()["server"]["id"])
        cloud.wait_status(c, sid, {"ACTIVE"})
    return sid


def test_version_discovery(cloud: RunningCloud) -> None:
    for path in ("/compute/", "/compute"):
        resp = httpx.get(cloud.base_url + path)  # no token needed
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-openstack-request-id"].startswith("req-")
        (v21,) = [v for v in resp.json()["versions"] if v["id"] == "v2.1"]
        assert v21 == {"id": "v2.1", "status": "CURRENT", "version": MAX,
                       "min_version": "2.1", "updated": v21["updated"],
                       "links": [{"rel": "self", "href": f"{cloud.compute_url}/"}]}
        assert v21["updated"].endswith("Z")
    for path in ("/compute/v2.1/", "/compute/v2.1"):
        resp = httpx.get(cloud.base_url + path)
        assert resp.status_code == 200, resp.text
        doc = resp.json()["version"]
        assert (doc["id"], doc["status"], doc["version"], doc["min_version"]) == (
            "v2.1", "CURRENT", MAX, "2.1")
        assert {"rel": "self", "href": f"{cloud.compute_url}/"} in doc["links"]
        assert "describedby" in {link["rel"] for link in doc["links"]}
        assert doc["media-types"] == [{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1"}]


def _negotiated(resp: httpx.Response) -> str:
    version = resp.headers["x-openstack-nova-api-version"]
    assert resp.headers["openstack-api-version"] == f"compute {version}"
    vary = {v.strip().lower() for v in resp.headers["vary"].split(",")}
    assert {"openstack-api-version", "x-openstack-nova-api-version"} <= vary
    return version


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "2.1"),
    ({"OpenStack-API-Version": "compute 2.25"}, "2.25"),
    ({"OpenStack-API-Version": "compute latest"}, MAX),
    ({"OpenStack-API-Version": "compute LATEST"}, MAX),
    ({"OpenStack-API-Version": f"compute {MAX}"}, MAX),
    ({"OpenStack-API-Version": "compute 2.1"}, "2.1"),
    ({"X-OpenStack-Nova-API-Version": "2.9"}, "2.9"),
    ({"X-OpenStack-Nova-API-Version": "latest"}, MAX),
    ({"OpenStack-API-Version": "compute 2.12", "X-OpenStack-Nova-API-Version": "2.9"}, "2.12"),
    ({"OpenStack-API-Version": "volume 3.5"}, "2.1"),
    ({"OpenStack-API-Version": "volume 3.5, compute 2.10"}, "2.10"),
], ids=["none", "2.25", "latest", "LATEST", "max", "min", "legacy", "legacy-latest",
        "new-header-wins", "other-service", "several-services"])
def test_negotiation_headers(cloud: RunningCloud, headers: dict[str, str], expected: str
                             ) -> None:
    with cloud.client() as c:
        resp = c.get("/servers", headers=headers)
        assert resp.status_code == 200, resp.text
        assert _negotiated(resp) == expected
        # Errors after negotiation carry the headers too.
        missing = c.get("/servers/no-such-server", headers=headers)
        assert missing.status_code == 404
        assert _negotiated(missing) == expected


def test_server_body_by_microversion(cloud: RunningCloud, server_id: str) -> None:
    bodies = {}
    for version in ("2.1", "2.3", "2.9", "2.16", "2.19", "2.26", V247):
        with cloud.client(version=version) as c:
            resp = c.get(f"/servers/{server_id}")
            assert resp.status_code == 200, resp.text
            assert _negotiated(resp) == version
            bodies[version] = resp.json()["server"]

    v21 = bodies["2.1"]
    assert v21["flavor"] == {"id": "2", "links": [
        {"rel": "bookmark", "href": f"{cloud.base_url}/compute/flavors/2"}]}
    for key in ("locked", "description", "tags", "host_status",
                "OS-EXT-SRV-ATTR:reservation_id", "OS-EXT-SRV-ATTR:hostname"):
        assert key not in v21, key
    assert "OS-EXT-SRV-ATTR:host" in v21  # admin extended attributes from 2.1

    assert bodies["2.3"]["OS-EXT-SRV-ATTR:reservation_id"].startswith("r-")
    assert bodies["2.3"]["OS-EXT-SRV-ATTR:hostname"] == "versioned"
    assert "locked" not in bodies["2.3"]

    assert bodies["2.9"]["locked"] is False
    assert "description" not in bodies["2.9"]
    assert bodies["2.16"]["host_status"] == "UP"

    assert bodies["2.19"]["description"] == "described"
    assert "tags" not in bodies["2.19"]

    assert bodies["2.26"]["tags"] == []
    assert bodies["2.26"]["flavor"] == v21["flavor"]

    latest = bodies[V247]
    assert latest["flavor"] == {"vcpus": 1, "ram": 2048, "disk": 20, "ephemeral": 0,
                                "swap": 0, "original_name": "m1.small", "extra_specs": {}}
    assert (latest["locked"], latest["description"], latest["tags"]) == (False, "described",
                                                                         [])
    # Everything else is the same server.
    common = set(v21) - {"flavor", "updated"}
    assert {k: latest[k] for k in common} == {k: v21[k] for k in common}


def test_list_bodies_follow_the_microversion(cloud: RunningCloud, server_id: str) -> None:
    with cloud.client(version="2.1") as c:
        (old,) = [s for s in c.get("/servers/detail").json()["servers"] if s["id"] == server_id]
    with cloud.client(version="latest") as c:
        (new,) = [s for s in c.get("/servers/detail").json()["servers"] if s["id"] == server_id]
    assert "id" in old["flavor"] and "original_name" not in old["flavor"]
    assert "id" not in new["flavor"] and new["flavor"]["original_name"] == "m1.small"
    assert "description" not in old and new["description"] == "described"


def test_request_fields_gated_by_microversion(cloud: RunningCloud, server_id: str) -> None:
    with cloud.client(version="2.18") as c:
        resp = c.put(f"/servers/{server_id}", json={"server": {"description": "new"}})
        assert resp.status_code == 400, resp.text
        assert "description" in resp.json()["badRequest"]["message"]
        resp = c.post("/servers", json={"server": {
            "name": "early", "flavorRef": "1", "imageRef": cloud.image_id,
            "description": "too early"}})
        assert resp.status_code == 400 and "description" in resp.text
    with cloud.client(version="2.19") as c:
        resp = c.put(f"/servers/{server_id}", json={"server": {"description": "new"}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["server"]["description"] == "new"
        resp = c.put(f"/servers/{server_id}", json={"server": {"description": None}})
        assert resp.json()["server"]["description"] is None
    # networks is required from 2.37 on
    with cloud.client(version="2.37") as c:
        resp = c.post("/servers", json={"server": {
            "name": "no-net", "flavorRef": "1", "imageRef": cloud.image_id}})
        assert resp.status_code == 400 and "networks" in resp.text
