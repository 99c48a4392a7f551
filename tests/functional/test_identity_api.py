"""The Identity v3 HTTP API over a FastAPI app, and keystoneauth1 against a real server."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

import novalith.db.models  # noqa: F401  (registers every table on Base.metadata)
from novalith.api.identity import build_identity_router
from novalith.db.api import Database
from novalith.db.base import Base
from novalith.identity import IdentityConfig, IdentityService, bootstrap

with warnings.catch_warnings():
    # Starlette warns at import that its TestClient wants httpx2; httpx works.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ADMIN_PASSWORD = "admin-secret"
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


def fake_catalog(base: str) -> list[dict[str, Any]]:
    return [{"type": "compute", "name": "nova", "id": "c0ffee",
             "endpoints": [{"id": "e1", "interface": "public", "region": "RegionOne",
                            "region_id": "RegionOne", "url": f"{base}/compute/v2.1"}]}]


@pytest.fixture
def identity(tmp_path: Path) -> Iterator[IdentityService]:
    db = Database(f"sqlite:///{tmp_path}/t.sqlite")
    Base.metadata.create_all(db.engine)
    service = IdentityService(db, IdentityConfig(password_hash_cost=10))
    bootstrap(service, ADMIN_PASSWORD)
    yield service
    db.dispose()


@pytest.fixture
def app(identity: IdentityService) -> FastAPI:
    application = FastAPI()
    application.include_router(build_identity_router(identity, fake_catalog),
                               prefix="/identity")
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def password_auth(user: str, password: str, project: str | None = "admin",
                  scope: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}
    if scope is not None:
        auth["scope"] = scope
    elif project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def get_token(client: TestClient, user: str = "admin", password: str = ADMIN_PASSWORD,
              project: str | None = "admin") -> str:
    r = client.post("/identity/v3/auth/tokens", json=password_auth(user, password, project))
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


VERSION = {
    "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
    "links": [{"rel": "self", "href": "http://testserver/identity/v3/"}],
    "media-types": [{"base": "application/json",
                     "type": "application/vnd.openstack.identity-v3+json"}],
}


@pytest.mark.parametrize("path", ["/identity", "/identity/"])
def test_version_list(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 300
    assert r.json() == {"versions": {"values": [VERSION]}}


@pytest.mark.parametrize("path", ["/identity/v3", "/identity/v3/"])
def test_version_v3(client: TestClient, path: str) -> None:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 200 and r.json() == {"version": VERSION}


def test_issue_token_body(client: TestClient, identity: IdentityService) -> None:
    r = client.post("/identity/v3/auth/tokens", json=password_auth("admin", ADMIN_PASSWORD))
    assert r.status_code == 201
    token = r.json()["token"]
    admin = identity.find_user("admin")
    project = identity.find_project("admin")
    assert token["methods"] == ["password"]
    assert token["user"] == {"domain": {"id": "default", "name": "Default"},
                             "id": admin.id, "name": "admin", "password_expires_at": None}
    assert token["project"] == {"domain": {"id": "default", "name": "Default"},
                                "id": project.id, "name": "admin"}
    assert token["is_domain"] is False
    assert sorted(role["name"] for role in token["roles"]) == ["admin", "member", "reader"]
    assert token["catalog"] == fake_catalog("http://testserver")
    assert len(token["audit_ids"]) == 1
    for key in ("expires_at", "issued_at"):
        assert token[key].endswith(".000000Z") and token[key][10] == "T"
    assert identity.validate(r.headers["X-Subject-Token"]).user_id == admin.id


def test_nocatalog_and_scope_by_id(client: TestClient, identity: IdentityService) -> None:
    project = identity.find_project("admin")
    admin = identity.find_user("admin")
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": admin.id, "password": ADMIN_PASSWORD}}},
        "scope": {"project": {"id": project.id}}}}
    r = client.post("/identity/v3/auth/tokens?nocatalog", json=body)
    assert r.status_code == 201
    assert "catalog" not in r.json()["token"]
    assert r.json()["token"]["project"]["id"] == project.id


def test_unscoped_then_rescope_with_token_method(client: TestClient) -> None:
    r = client.post("/identity/v3/auth/tokens",
                    json=password_auth("admin", ADMIN_PASSWORD, scope="unscoped"))
    assert r.status_code == 201
    unscoped = r.json()["token"]
    assert "project" not in unscoped and "roles" not in unscoped and "catalog" not in unscoped
    body = {"auth": {"identity": {"methods": ["token"],
                                  "token": {"id": r.headers["X-Subject-Token"]}},
                     "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    r2 = client.post("/identity/v3/auth/tokens", json=body)
    assert r2.status_code == 201
    assert r2.json()["token"]["project"]["name"] == "admin"
    assert r2.json()["token"]["methods"] == ["token", "password"]
    assert r2.json()["token"]["expires_at"] == unscoped["expires_at"]


@pytest.mark.parametrize("user,password", [("admin", "wrong"), ("ghost", ADMIN_PASSWORD)])
def test_wrong_credentials_401(client: TestClient, user: str, password: str) -> None:
    r = client.post("/identity/v3/auth/tokens", json=password_auth(user, password))
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert r.headers["WWW-Authenticate"] == 'Keystone uri="http://testserver/identity"'
    assert "X-Subject-Token" not in r.headers


@pytest.mark.parametrize("body", [
    {}, {"auth": {}}, {"auth": {"identity": {"methods": "password"}}},
    {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin"}}}}},
    {"auth": {"identity": {"methods": ["token"], "token": {}}}}, [1, 2],
])
def test_malformed_auth_400(client: TestClient, body: Any) -> None:
    r = client.post("/identity/v3/auth/tokens", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == 400 and r.json()["error"]["title"] == "Bad Request"


def test_invalid_json_400(client: TestClient) -> None:
    r = client.post("/identity/v3/auth/tokens", content=b"{nope",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["title"] == "Bad Request"


def test_unsupported_method_401(client: TestClient) -> None:
    body = {"auth": {"identity": {"methods": ["totp"], "totp": {}}}}
    r = client.post("/identity/v3/auth/tokens", json=body)
    assert r.status_code == 401


def test_validate_check_revoke(client: TestClient) -> None:
    admin = get_token(client)
    subject = get_token(client)
    headers = {"X-Auth-Token": admin, "X-Subject-Token": subject}
    r = client.get("/identity/v3/auth/tokens", headers=headers)
    assert r.status_code == 200 and r.headers["X-Subject-Token"] == subject
    assert r.json()["token"]["user"]["name"] == "admin" and "catalog" in r.json()["token"]
    assert "catalog" not in client.get("/identity/v3/auth/tokens?nocatalog",
                                       headers=headers).json()["token"]
    r = client.head("/identity/v3/auth/tokens", headers=headers)
    assert r.status_code == 200 and r.content == b""
    assert client.delete("/identity/v3/auth/tokens", headers=headers).status_code == 204
    r = client.get("/identity/v3/auth/tokens", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["title"] == "Not Found"
    assert client.head("/identity/v3/auth/tokens", headers=headers).status_code == 404
    # The revoked token no longer authenticates anything.
    r = client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": subject})
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


def test_validate_needs_a_valid_auth_token(client: TestClient) -> None:
    subject = get_token(client)
    for headers in ({"X-Subject-Token": subject},
                    {"X-Auth-Token": "bogus", "X-Subject-Token": subject}):
        r = client.get("/identity/v3/auth/tokens", headers=headers)
        assert r.status_code == 401 and r.json() == UNAUTHORIZED
        assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")


def _make_member(client: TestClient, admin: str) -> dict[str, str]:
    """As admin, over HTTP: a project 'tenant1' and a user 'carol' who is its member."""
    h = {"X-Auth-Token": admin}
    r = client.post("/identity/v3/projects", headers=h,
                    json={"project": {"name": "tenant1", "description": "t",
                                      "domain_id": "default"}})
    assert r.status_code == 201, r.text
    project = r.json()["project"]
    assert project["name"] == "tenant1" and project["domain_id"] == "default"
    assert project["links"]["self"].endswith(f"/identity/v3/projects/{project['id']}")
    r = client.post("/identity/v3/users", headers=h,
                    json={"user": {"name": "carol", "password": "carolpw",
                                   "default_project_id": project["id"]}})
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert "password" not in user and user["default_project_id"] == project["id"]
    roles = client.get("/identity/v3/roles?name=member", headers=h).json()["roles"]
    assert [x["name"] for x in roles] == ["member"]
    r = client.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}"
                   f"/roles/{roles[0]['id']}", headers=h)
    assert r.status_code == 204
    return {"project_id": project["id"], "user_id": user["id"], "role_id": roles[0]["id"]}


def test_admin_creates_tenant_and_member_uses_it(client: TestClient) -> None:
    admin = get_token(client)
    ids = _make_member(client, admin)
    r = client.post("/identity/v3/auth/tokens", json=password_auth("carol", "carolpw",
                                                                   "tenant1"))
    assert r.status_code == 201
    token = r.json()["token"]
    assert token["project"]["id"] == ids["project_id"]
    assert sorted(x["name"] for x in token["roles"]) == ["member", "reader"]
    carol = r.headers["X-Subject-Token"]
    r = client.get("/identity/v3/auth/projects", headers={"X-Auth-Token": carol})
    assert [p["name"] for p in r.json()["projects"]] == ["tenant1"]
    assert r.json()["links"] == {"self": "http://testserver/identity/v3/auth/projects",
                                 "previous": None, "next": None}
    # A user reads itself, its projects and its roles there.
    h = {"X-Auth-Token": carol}
    assert client.get(f"/identity/v3/users/{ids['user_id']}", headers=h).status_code == 200
    assert client.get(f"/identity/v3/projects/{ids['project_id']}",
                      headers=h).status_code == 200
    r = client.get(f"/identity/v3/users/{ids['user_id']}/projects", headers=h)
    assert [p["id"] for p in r.json()["projects"]] == [ids["project_id"]]
    r = client.get(f"/identity/v3/projects/{ids['project_id']}/users/{ids['user_id']}/roles",
                   headers=h)
    assert [x["name"] for x in r.json()["roles"]] == ["member"]
    # No scope given: carol lands in her default project.
    r = client.post("/identity/v3/auth/tokens", json=password_auth("carol", "carolpw", None))
    assert r.json()["token"]["project"]["name"] == "tenant1"
    # Another project where carol has no role: 401, as Keystone answers.
    r = client.post("/identity/v3/auth/tokens", json=password_auth("carol", "carolpw",
                                                                   "admin"))
    assert r.status_code == 401 and r.json() == UNAUTHORIZED


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/identity/v3/projects", None),
    ("GET", "/identity/v3/users", None),
    ("GET", "/identity/v3/roles", None),
    ("POST", "/identity/v3/projects", {"project": {"name": "x"}}),
    ("POST", "/identity/v3/users", {"user": {"name": "x", "password": "y"}}),
])
def test_member_gets_403_on_admin_endpoints(client: TestClient, method: str, path: str,
                                            body: Any) -> None:
    _make_member(client, get_token(client))
    carol = get_token(client, "carol", "carolpw", "tenant1")
    r = client.request(method, path, headers={"X-Auth-Token": carol}, json=body)
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == 403 and error["title"] == "Forbidden"
    assert error["message"].startswith("You are not authorized to perform")


def test_member_cannot_read_others_or_assign(client: TestClient,
                                            identity: IdentityService) -> None:
    admin = get_token(client)
    ids = _make_member(client, admin)
    carol = {"X-Auth-Token": get_token(client, "carol", "carolpw", "tenant1")}
    admin_user = identity.find_user("admin").id
    admin_project = identity.find_project("admin").id
    assert client.get(f"/identity/v3/users/{admin_user}", headers=carol).status_code == 403
    assert client.get(f"/identity/v3/projects/{admin_project}",
                      headers=carol).status_code == 403
    r = client.put(f"/identity/v3/projects/{admin_project}/users/{ids['user_id']}"
                   f"/roles/{ids['role_id']}", headers=carol)
    assert r.status_code == 403
    # Validating somebody else's token is not allowed either.
    r = client.get("/identity/v3/auth/tokens", headers={**carol, "X-Subject-Token": admin})
    assert r.status_code == 403


def test_admin_listing_conflicts_and_not_found(client: TestClient) -> None:
    h = {"X-Auth-Token": get_token(client)}
    r = client.get("/identity/v3/projects?name=admin", headers=h)
    assert [p["name"] for p in r.json()["projects"]] == ["admin"]
    assert r.json()["links"]["next"] is None
    r = client.get("/identity/v3/users", headers=h)
    assert [u["name"] for u in r.json()["users"]] == ["admin"]
    r = client.post("/identity/v3/projects", headers=h, json={"project": {"name": "admin"}})
    assert r.status_code == 409 and r.json()["error"]["title"] == "Conflict"
    r = client.get("/identity/v3/projects/nope", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == 404
    r = client.post("/identity/v3/users", headers=h, json={"user": {"password": "x"}})
    assert r.status_code == 400
    r = client.post("/identity/v3/projects", headers=h, json={"project": {"name": 3}})
    assert r.status_code == 400


def test_disable_and_delete_user(client: TestClient) -> None:
    admin = {"X-Auth-Token": get_token(client)}
    ids = _make_member(client, admin["X-Auth-Token"])
    carol = get_token(client, "carol", "carolpw", "tenant1")
    r = client.patch(f"/identity/v3/users/{ids['user_id']}", headers=admin,
                     json={"user": {"enabled": False}})
    assert r.status_code == 200 and r.json()["user"]["enabled"] is False
    assert client.get("/identity/v3/auth/projects",
                      headers={"X-Auth-Token": carol}).status_code == 401
    r = client.post("/identity/v3/auth/tokens", json=password_auth("carol", "carolpw",
                                                                   "tenant1"))
    assert r.status_code == 401
    assert client.delete(f"/identity/v3/users/{ids['user_id']}",
                         headers=admin).status_code == 204
    assert client.get(f"/identity/v3/users/{ids['user_id']}",
                      headers=admin).status_code == 404


# -- keystoneauth1 against a real HTTP server -------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("plugin", ["v3", "generic"])
def test_keystoneauth_password_session(live_server: str, plugin: str) -> None:
    """keystoneauth's v3 plugin, and its generic one that discovers v3 from /identity."""
    from keystoneauth1 import identity as ks_identity
    from keystoneauth1 import session as ks_session

    cls = ks_identity.v3.Password if plugin == "v3" else ks_identity.Password
    auth = cls(auth_url=f"{live_server}/identity", username="admin",
               password=ADMIN_PASSWORD, project_name="admin",
               user_domain_name="Default", project_domain_id="default")
    sess = ks_session.Session(auth=auth)
    token = sess.get_token()
    assert token
    assert sess.get_endpoint(service_type="compute",
                             interface="public") == f"{live_server}/compute/v2.1"
    assert sess.get_project_id() and sess.get_user_id()
    access = auth.get_access(sess)
    assert set(access.role_names) == {"admin", "member", "reader"}
    r = sess.get(f"{live_server}/identity/v3/auth/projects", authenticated=True)
    assert [p["name"] for p in r.json()["projects"]] == ["admin"]
