"""Two projects, each with a member and a reader: every endpoint of this API family is
tried across the project boundary and with the wrong role.

Another project's server, group or keypair is a 404 exactly like a missing one (its
existence never leaks); an action the caller's role does not allow is a 403, which
comes before any lookup, so it leaks nothing either. Nothing is changed by a refusal.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud

PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJgsYmHPWGnkVRiPBDVGjYNLkVLJzgCeRVwu4DD5mg5 "
              "tenant@example")


@dataclass
class Project:
    id: str
    member: str  # tokens
    reader: str
    server: str = ""
    group: str = ""
    keypair: str = ""


@dataclass
class World:
    cloud: RunningCloud
    a: Project
    b: Project
    aggregate: int
    hypervisor: int
    service: int


def _project(cloud: RunningCloud, name: str) -> Project:
    member = cloud.add_user(name, f"{name}-member", "member")
    reader = cloud.add_user(name, f"{name}-reader", "reader")
    return Project(id=cloud.cloud.identity.find_project(name).id, member=member, reader=reader)


def _populate(cloud: RunningCloud, p: Project, tag: str) -> None:
    with cloud.client(p.member, version="2.47") as c:
        p.keypair = f"key-{tag}"
        assert c.post("/os-keypairs", json={"keypair": {
            "name": p.keypair, "public_key": PUBLIC_KEY}}).status_code == 201
        p.group = c.post("/os-server-groups", json={"server_group": {
            "name": f"g-{tag}", "policies": ["affinity"]}}).json()["server_group"]["id"]
        p.server = cloud.boot(c, f"vm-{tag}")
        cloud.wait_status(c, p.server, {"ACTIVE"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cloud = start_cloud(tmp_path_factory.mktemp("tenants"), fake_hosts=2)
    try:
        a, b = _project(cloud, "tenant-a"), _project(cloud, "tenant-b")
        _populate(cloud, a, "a")
        _populate(cloud, b, "b")
        with cloud.client(version="2.47") as admin:
            aggregate = admin.post("/os-aggregates", json={"aggregate": {"name": "agg"}}
                                   ).json()["aggregate"]["id"]
            hypervisor = admin.get("/os-hypervisors").json()["hypervisors"][0]["id"]
            service = admin.get("/os-services").json()["services"][0]["id"]
        yield World(cloud, a, b, aggregate, hypervisor, service)
    finally:
        cloud.close()


def _call(world: World, token: str, method: str, path: str, body: Any = None,
          version: str = "2.47", params: dict[str, str] | None = None) -> httpx.Response:
    with world.cloud.client(token, version=version) as c:
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["json"] = body
        return c.request(method, path, **kwargs)


def _server_requests(server: str) -> list[tuple[str, str, Any]]:
    """Every request on one server, as (method, path, body)."""
    s = f"/servers/{server}"
    return [
        ("GET", s, None),
        ("PUT", s, {"server": {"name": "renamed"}}),
        ("DELETE", s, None),
        ("POST", f"{s}/action", {"reboot": {"type": "SOFT"}}),
        ("POST", f"{s}/action", {"os-stop": None}),
        ("POST", f"{s}/action", {"os-getConsoleOutput": {}}),
        ("POST", f"{s}/action", {"lock": None}),
        ("POST", f"{s}/action", {"migrate": None}),
        ("POST", f"{s}/action", {"os-migrateLive": {"host": None, "block_migration": "auto"}}),
        ("POST", f"{s}/action", {"evacuate": {}}),
        ("POST", f"{s}/action", {"forceDelete": None}),
        ("GET", f"{s}/os-instance-actions", None),
        ("GET", f"{s}/metadata", None),
        ("POST", f"{s}/metadata", {"metadata": {"k": "v"}}),
        ("GET", f"{s}/tags", None),
    ]


def _shape(resp: httpx.Response, *ids: str) -> tuple[int, str]:
    """Status and message with the ids blanked: what a caller learns from an answer."""
    text = resp.text
    for ident in ids:
        text = text.replace(ident, "<id>")
    return resp.status_code, text


def test_other_projects_servers_are_not_found(world: World) -> None:
    missing = str(uuid.uuid4())
    for token in (world.b.member, world.b.reader):
        for (method, path, body), (_, gone_path, _) in zip(
                _server_requests(world.a.server), _server_requests(missing), strict=True):
            resp = _call(world, token, method, path, body)
            assert resp.status_code in (403, 404), (method, path, resp.text)
            gone = _call(world, token, method, gone_path, body)
            # Exactly the answer a server that does not exist gets.
            assert _shape(resp, world.a.server) == _shape(gone, missing), (method, path)
        listed = _call(world, token, "GET", "/servers", params={"all_tenants": "1"}).json()
        assert [s["id"] for s in listed["servers"]] == [world.b.server]
        listed = _call(world, token, "GET", "/servers/detail",
                       params={"project_id": world.a.id}).json()
        assert [s["id"] for s in listed["servers"]] == [world.b.server]


def test_reader_reads_and_is_refused_every_write(world: World) -> None:
    a = world.a
    assert _call(world, a.reader, "GET", f"/servers/{a.server}").status_code == 200
    assert [s["id"] for s in _call(world, a.reader, "GET", "/servers").json()["servers"]] == [
        a.server]
    for method, path, body in _server_requests(a.server):
        resp = _call(world, a.reader, method, path, body)
        if method == "GET":
            assert resp.status_code == 200, (path, resp.text)
        else:
            assert resp.status_code == 403, (method, path, body, resp.text)
    writes = [
        ("POST", "/servers", {"server": {"name": "r", "flavorRef": "1", "networks": "none",
                                         "imageRef": world.cloud.image_id}}),
        ("POST", "/os-keypairs", {"keypair": {"name": "r-key"}}),
        ("DELETE", f"/os-keypairs/{a.keypair}", None),
        ("POST", "/os-server-groups", {"server_group": {"name": "r",
                                                        "policies": ["affinity"]}}),
        ("DELETE", f"/os-server-groups/{a.group}", None),
        ("PUT", f"/os-quota-sets/{a.id}", {"quota_set": {"instances": 100}}),
    ]
    for method, path, body in writes:
        resp = _call(world, a.reader, method, path, body)
        assert resp.status_code == 403, (method, path, resp.text)
        assert "forbidden" in resp.json()
    reads = [f"/os-server-groups/{a.group}", "/os-server-groups", f"/os-quota-sets/{a.id}",
             f"/os-quota-sets/{a.id}/detail", "/limits", "/os-availability-zone",
             f"/servers/{a.server}/os-instance-actions"]
    for path in reads:
        assert _call(world, a.reader, "GET", path).status_code == 200, path
    # The reader's own (empty) keypair list; the member's key is the member's.
    assert _call(world, a.reader, "GET", "/os-keypairs").json()["keypairs"] == []


def test_groups_keypairs_quotas_across_projects(world: World) -> None:
    a, b = world.a, world.b
    missing = str(uuid.uuid4())
    for method in ("GET", "DELETE"):
        resp = _call(world, b.member, method, f"/os-server-groups/{a.group}")
        gone = _call(world, b.member, method, f"/os-server-groups/{missing}")
        assert resp.status_code == 404 and _shape(resp, a.group) == _shape(gone, missing)
    groups = _call(world, b.member, "GET", "/os-server-groups",
                   params={"all_projects": "True"}).json()["server_groups"]
    assert [g["id"] for g in groups] == [b.group]
    # Keypairs belong to users: B's member cannot see A's, nor name A's user (2.10+).
    assert _call(world, b.member, "GET", f"/os-keypairs/{a.keypair}").status_code == 404
    a_user = _call(world, a.member, "GET", f"/os-keypairs/{a.keypair}").json()["keypair"][
        "user_id"]
    for method, path in (("GET", "/os-keypairs"), ("GET", f"/os-keypairs/{a.keypair}"),
                         ("DELETE", f"/os-keypairs/{a.keypair}")):
        resp = _call(world, b.member, method, path, params={"user_id": a_user})
        assert resp.status_code == 403, (method, path)
    # Booting into A's group or with A's key: as if they did not exist.
    base = {"name": "x", "flavorRef": "1", "imageRef": world.cloud.image_id,
            "networks": "none"}
    resp = _call(world, b.member, "POST", "/servers",
                 {"server": base, "os:scheduler_hints": {"group": a.group}})
    assert resp.status_code == 400 and "could not be found" in resp.text
    resp = _call(world, b.member, "POST", "/servers", {"server": {**base,
                                                                  "key_name": a.keypair}})
    assert resp.status_code == 400 and resp.json()["badRequest"]["message"] == (
        "Invalid key_name provided.")
    # Quotas of another project: 403 for show, detail, update; limits likewise.
    for method, path, body in (("GET", f"/os-quota-sets/{a.id}", None),
                               ("GET", f"/os-quota-sets/{a.id}/detail", None),
                               ("PUT", f"/os-quota-sets/{a.id}",
                                {"quota_set": {"instances": 1}}),
                               ("DELETE", f"/os-quota-sets/{a.id}", None)):
        assert _call(world, b.member, method, path, body).status_code == 403, (method, path)
    assert _call(world, b.member, "GET", "/limits",
                 params={"tenant_id": a.id}).status_code == 403


def test_admin_only_apis_refuse_members_and_readers(world: World) -> None:
    a = world.a
    agg, hyp, svc = world.aggregate, world.hypervisor, world.service
    requests: list[tuple[str, str, Any]] = [
        ("GET", "/os-hypervisors", None), ("GET", "/os-hypervisors/detail", None),
        ("GET", "/os-hypervisors/statistics", None), ("GET", f"/os-hypervisors/{hyp}", None),
        ("GET", "/os-hypervisors/99999", None),
        ("GET", "/os-services", None),
        ("PUT", "/os-services/disable", {"host": "host-1", "binary": "nova-compute"}),
        ("PUT", "/os-services/enable", {"host": "host-1", "binary": "nova-compute"}),
        ("PUT", "/os-services/force-down", {"host": "host-1", "binary": "nova-compute",
                                            "forced_down": True}),
        ("DELETE", f"/os-services/{svc}", None), ("DELETE", "/os-services/99999", None),
        ("GET", "/os-aggregates", None),
        ("POST", "/os-aggregates", {"aggregate": {"name": "mine"}}),
        ("GET", f"/os-aggregates/{agg}", None), ("GET", "/os-aggregates/99999", None),
        ("PUT", f"/os-aggregates/{agg}", {"aggregate": {"name": "x"}}),
        ("DELETE", f"/os-aggregates/{agg}", None),
        ("POST", f"/os-aggregates/{agg}/action", {"add_host": {"host": "host-1"}}),
        ("POST", "/os-aggregates/99999/action", {"add_host": {"host": "host-1"}}),
        ("POST", f"/os-aggregates/{agg}/action", {"set_metadata": {"metadata": {"a": "b"}}}),
        ("GET", "/os-availability-zone/detail", None),
        ("PUT", f"/os-quota-sets/{a.id}", {"quota_set": {"instances": 100}}),
        ("DELETE", f"/os-quota-sets/{a.id}", None),
        ("POST", "/flavors", {"flavor": {"name": "f", "ram": 1, "vcpus": 1, "disk": 0}}),
        ("GET", "/os-migrations", None),
        ("POST", f"/servers/{a.server}/action", {"migrate": None}),
        ("POST", f"/servers/{a.server}/action",
         {"os-migrateLive": {"host": None, "block_migration": "auto"}}),
        ("POST", f"/servers/{a.server}/action", {"evacuate": {}}),
        ("POST", f"/servers/{a.server}/action", {"forceDelete": None}),
    ]
    for token in (a.member, a.reader):
        for method, path, body in requests:
            resp = _call(world, token, method, path, body)
            assert resp.status_code == 403, (method, path, resp.text)
            assert resp.json()["forbidden"]["message"].startswith("Policy doesn't allow")


def test_refusals_changed_nothing(world: World) -> None:
    a, b = world.a, world.b
    for p in (a, b):
        server = _call(world, p.member, "GET", f"/servers/{p.server}").json()["server"]
        assert (server["status"], server["locked"], server["name"]) == (
            "ACTIVE", False, f"vm-{p.server == a.server and 'a' or 'b'}")
        assert _call(world, p.member, "GET", f"/os-server-groups/{p.group}").status_code == 200
        assert _call(world, p.member, "GET", f"/os-keypairs/{p.keypair}").status_code == 200
        quota = _call(world, p.member, "GET", f"/os-quota-sets/{p.id}").json()["quota_set"]
        assert quota["instances"] == -1  # the fixture's unlimited default, untouched
    with world.cloud.client(version="2.47") as admin:
        agg = admin.get(f"/os-aggregates/{world.aggregate}").json()["aggregate"]
        assert (agg["name"], agg["hosts"], agg["metadata"]) == ("agg", [], {})
        services = admin.get("/os-services").json()["services"]
        assert all(s["status"] == "enabled" and not s["forced_down"] for s in services)
        assert len(admin.get("/os-aggregates").json()["aggregates"]) == 1
        assert all(f["name"] != "f" for f in admin.get("/flavors").json()["flavors"])
