"""Bad requests get Nova's error bodies, a request id, and change nothing in the DB."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fixtures.cloud import RunningCloud, start_cloud
from novalith.db.models import ComputeNode, Instance, InstanceAction, InstanceFault

MISSING = "00000000-0000-4000-8000-000000000000"
FAST_HASHES: dict[str, dict[str, Any]] = {"identity": {"password_hash_cost": 10}}
CN = ComputeNode.__table__


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("bad-input"), overrides=FAST_HASHES)
    yield running
    running.close()


@pytest.fixture(scope="module")
def server_id(cloud: RunningCloud) -> str:
    """An ACTIVE server of the admin project that the error cases aim at."""
    with cloud.client() as c:
        sid = cloud.boot(c, "target")
        cloud.wait_status(c, sid, {"ACTIVE"})
    return sid


@pytest.fixture(scope="module")
def users(cloud: RunningCloud) -> dict[str, str]:
    return {"member": cloud.add_user("admin", "bad-member", "member"),
            "reader": cloud.add_user("admin", "bad-reader", "reader"),
            "other": cloud.add_user("bad-other-project", "bad-other", "member")}


def db_snapshot(cloud: RunningCloud) -> dict[str, Any]:
    """Row counts and used figures that no rejected request may change."""
    with cloud.cloud.db.read() as conn:
        counts = {m.__tablename__: conn.execute(select(func.count()).select_from(m)
                                                ).scalar_one()
                  for m in (Instance, InstanceAction, InstanceFault)}
        nodes = [tuple(r) for r in conn.execute(
            select(CN.c.id, CN.c.vcpus_used, CN.c.memory_mb_used, CN.c.local_gb_used,
                   CN.c.running_vms).order_by(CN.c.id))]
        states = [tuple(r) for r in conn.execute(
            select(Instance.__table__.c.uuid, Instance.__table__.c.vm_state,
                   Instance.__table__.c.task_state, Instance.__table__.c.display_name,
                   Instance.__table__.c.deleted).order_by(Instance.__table__.c.id))]
    return {"counts": counts, "nodes": nodes, "instances": states}


def check_error(cloud: RunningCloud, send: Callable[[], httpx.Response], status: int,
                fault: str, *message_parts: str) -> dict[str, Any]:
    """Send a request that must fail; check the answer and that the DB did not move."""
    before = db_snapshot(cloud)
    resp = send()
    assert resp.status_code == status, resp.text
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    body = resp.json()
    assert list(body) == [fault], body
    inner = body[fault]
    assert inner["code"] == status
    assert isinstance(inner["message"], str) and inner["message"]
    for part in message_parts:
        assert part in inner["message"], inner["message"]
    if fault == "error":  # keystonemiddleware's 401
        assert inner["title"] == "Unauthorized"
        assert "WWW-Authenticate" in resp.headers
    assert db_snapshot(cloud) == before
    return inner


def _create_body(cloud: RunningCloud, **server: Any) -> dict[str, Any]:
    body = {"name": "bad", "flavorRef": "1", "imageRef": cloud.image_id, "networks": "none"}
    body.update(server)
    return {"server": {k: v for k, v in body.items() if v is not None}}


# ---- POST /servers bodies ---------------------------------------------------------------------

@pytest.mark.parametrize(("server", "extra", "parts"), [
    ({"flavorRef": "no-such-flavor"}, {}, ("Flavor no-such-flavor could not be found",)),
    ({"imageRef": MISSING}, {}, (f"Image {MISSING} could not be found",)),
    ({"name": None}, {}, ("'name' is a required property",)),
    ({"name": 42}, {}, ("name", "42")),
    ({}, {"bogus": 1}, ("bogus",)),
    ({"bogus_field": "x"}, {}, ("bogus_field",)),
    ({"min_count": 3, "max_count": 2}, {}, ("min_count", "max_count")),
], ids=["unknown-flavor", "unknown-image", "missing-name", "name-wrong-type",
        "unknown-top-level-field", "unknown-server-field", "min-count-above-max"])
def test_create_rejected(cloud: RunningCloud, server_id: str, server: dict[str, Any],
                         extra: dict[str, Any], parts: tuple[str, ...]) -> None:
    body = {**_create_body(cloud, **server), **extra}
    with cloud.client(version="2.37") as c:
        check_error(cloud, lambda: c.post("/servers", json=body), 400, "badRequest", *parts)


@pytest.mark.parametrize("headers", [{"Content-Type": "application/json"}, {}],
                         ids=["json-content-type", "no-content-type"])
def test_malformed_json(cloud: RunningCloud, server_id: str, headers: dict[str, str]) -> None:
    # Nova reads a body without Content-Type as JSON too.
    with cloud.client() as c:
        check_error(cloud, lambda: c.post("/servers", content=b'{"server": {', headers=headers),
                    400, "badRequest", "Malformed request body")
        check_error(cloud, lambda: c.post(f"/servers/{server_id}/action", content=b"{[",
                                          headers=headers),
                    400, "badRequest", "Malformed request body")


def test_body_without_content_type_is_read_as_json(cloud: RunningCloud, server_id: str
                                                   ) -> None:
    # Regression: FastAPI's strict Content-Type check turned such bodies into bytes.
    with cloud.client() as c:
        resp = c.put(f"/servers/{server_id}", content=b'{"server": {"name": "target"}}')
        assert resp.status_code == 200, resp.text
        assert resp.json()["server"]["name"] == "target"


def test_update_rejected(cloud: RunningCloud, server_id: str) -> None:
    with cloud.client() as c:
        check_error(cloud, lambda: c.put(f"/servers/{server_id}",
                                         json={"server": {"name": ["x"]}}),
                    400, "badRequest", "name")
        check_error(cloud, lambda: c.put(f"/servers/{server_id}",
                                         json={"server": {"colour": "red"}}),
                    400, "badRequest", "colour")


# ---- unknown and malformed server ids ---------------------------------------------------------

@pytest.mark.parametrize("ident", ["not-a-uuid", MISSING], ids=["malformed", "unknown"])
def test_server_not_found(cloud: RunningCloud, server_id: str, ident: str) -> None:
    with cloud.client() as c:
        for send in (lambda: c.get(f"/servers/{ident}"),
                     lambda: c.put(f"/servers/{ident}", json={"server": {"name": "x"}}),
                     lambda: c.delete(f"/servers/{ident}"),
                     lambda: c.post(f"/servers/{ident}/action", json={"os-stop": None})):
            check_error(cloud, send, 404, "itemNotFound", ident)


def test_unknown_action_and_wrong_state(cloud: RunningCloud, server_id: str) -> None:
    with cloud.client() as c:
        check_error(cloud, lambda: c.post(f"/servers/{server_id}/action", json={"fly": None}),
                    400, "badRequest", "fly")
        check_error(cloud, lambda: c.post(f"/servers/{server_id}/action", json={}),
                    400, "badRequest")
        check_error(cloud, lambda: c.post(f"/servers/{server_id}/action",
                                          json={"reboot": {"type": "GENTLE"}}),
                    400, "badRequest", "type")
        for action in ("unpause", "os-start", "resume"):
            check_error(cloud, partial(c.post, f"/servers/{server_id}/action",
                                       json={action: None}),
                        409, "conflictingRequest", server_id, "active")
        assert c.get(f"/servers/{server_id}").json()["server"]["status"] == "ACTIVE"


# ---- authentication and authorisation ---------------------------------------------------------

def test_wrong_and_missing_token(cloud: RunningCloud, server_id: str) -> None:
    with cloud.client(token="not-a-real-token") as c:
        check_error(cloud, lambda: c.get("/servers"), 401, "error", "requires authentication")
        check_error(cloud, lambda: c.post("/servers", json=_create_body(cloud)), 401, "error")
        check_error(cloud, lambda: c.delete(f"/servers/{server_id}"), 401, "error")
    check_error(cloud, lambda: httpx.get(cloud.compute_url + "/servers"), 401, "error")


def test_authentication_comes_before_body_and_version(cloud: RunningCloud) -> None:
    # Regression: a malformed body was reported (400) before the bad token (401), and a
    # bad microversion (406) before either, unlike keystonemiddleware in front of Nova.
    bad_version = {"OpenStack-API-Version": "compute 9.9"}
    with cloud.client(token="not-a-real-token") as c:
        for headers in ({"Content-Type": "application/json"}, bad_version):
            check_error(cloud, partial(c.post, "/servers", content=b"{oops", headers=headers),
                        401, "error")
        check_error(cloud, lambda: c.get("/servers", headers=bad_version), 401, "error")
    with cloud.client() as c:
        check_error(cloud, lambda: c.post("/servers", content=b"{oops", headers=bad_version),
                    406, "computeFault", "9.9")
        resp = c.post("/servers", content=b"{oops", headers={
            "Content-Type": "application/json", "OpenStack-API-Version": "compute 2.30"})
        assert resp.status_code == 400
        assert resp.headers["openstack-api-version"] == "compute 2.30"


def test_expired_token(tmp_path: Path) -> None:
    # 3 s: long enough for the first request on a loaded machine, short enough to wait out.
    running = start_cloud(tmp_path, overrides={"token": {"expiration": 3}})
    try:
        token = running.token()
        with running.client(token) as c:
            assert c.get("/servers").status_code == 200
            deadline = time.monotonic() + 10
            while c.get("/servers").status_code == 200:
                assert time.monotonic() < deadline, "token never expired"
                time.sleep(0.1)
            check_error(running, lambda: c.get("/servers"), 401, "error",
                        "requires authentication")
            check_error(running, lambda: c.post("/servers", json=_create_body(running)),
                        401, "error")
    finally:
        running.close()


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/os-hypervisors", None),
    ("GET", "/os-hypervisors/detail", None),
    ("GET", "/os-hypervisors/statistics", None),
    ("GET", "/os-services", None),
    ("POST", "/flavors", {"flavor": {"name": "mine", "ram": 64, "vcpus": 1, "disk": 0}}),
    ("DELETE", "/flavors/1", None),
    ("POST", "/flavors/1/os-extra_specs", {"extra_specs": {"a": "b"}}),
])
def test_member_forbidden_admin_apis(cloud: RunningCloud, users: dict[str, str], method: str,
                                     path: str, body: dict[str, Any] | None) -> None:
    with cloud.client(users["member"]) as c:
        check_error(cloud, lambda: c.request(method, path, json=body), 403, "forbidden",
                    "Policy doesn't allow")
    with cloud.client() as admin:
        assert admin.get("/flavors/1").status_code == 200


def test_other_project_sees_404_never_403(cloud: RunningCloud, server_id: str,
                                          users: dict[str, str]) -> None:
    with cloud.client(users["other"]) as c:
        for send in (lambda: c.get(f"/servers/{server_id}"),
                     lambda: c.put(f"/servers/{server_id}", json={"server": {"name": "mine"}}),
                     lambda: c.delete(f"/servers/{server_id}"),
                     lambda: c.post(f"/servers/{server_id}/action", json={"os-stop": None}),
                     lambda: c.post(f"/servers/{server_id}/action", json={"reboot": {
                         "type": "HARD"}})):
            check_error(cloud, send, 404, "itemNotFound", server_id)
        assert server_id not in {s["id"] for s in c.get("/servers").json()["servers"]}


def test_reader_cannot_write(cloud: RunningCloud, server_id: str, users: dict[str, str]
                             ) -> None:
    with cloud.client(users["reader"], version="2.37") as c:
        assert c.get(f"/servers/{server_id}").status_code == 200
        check_error(cloud, lambda: c.post("/servers", json=_create_body(cloud)), 403,
                    "forbidden", "servers:create")
        check_error(cloud, lambda: c.delete(f"/servers/{server_id}"), 403, "forbidden",
                    "servers:delete")
        check_error(cloud, lambda: c.put(f"/servers/{server_id}",
                                         json={"server": {"name": "r"}}), 403, "forbidden")
        check_error(cloud, lambda: c.post(f"/servers/{server_id}/action",
                                          json={"os-stop": None}), 403, "forbidden")


# ---- microversion headers ---------------------------------------------------------------------

@pytest.mark.parametrize(("header", "status", "fault", "part"), [
    ("compute 2.999", 406, "computeFault", "2.999"),
    ("compute 3.0", 406, "computeFault", "3.0"),
    ("compute 2.0", 406, "computeFault", "2.0"),
    ("compute 2.x", 400, "badRequest", "2.x"),
    ("compute two", 400, "badRequest", "two"),
])
def test_bad_microversion(cloud: RunningCloud, server_id: str, header: str, status: int,
                          fault: str, part: str) -> None:
    with cloud.client() as c:
        check_error(cloud, lambda: c.get("/servers", headers={"OpenStack-API-Version": header}),
                    status, fault, part)
        check_error(cloud, lambda: c.post("/servers", json=_create_body(cloud),
                                          headers={"OpenStack-API-Version": header}),
                    status, fault, part)
        legacy = header.split()[1]
        check_error(cloud, lambda: c.get("/servers",
                                         headers={"X-OpenStack-Nova-API-Version": legacy}),
                    status, fault, part)
