"""Per-server APIs: lock/unlock, metadata, tags (and the list's tag filters), instance
actions."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud
from fixtures.moves import action, wait_for


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("server-extras"), fake_hosts=2,
                          overrides={"quota": {"metadata_items": 5}})
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def tokens(cloud: RunningCloud) -> dict[str, str]:
    return {"member": cloud.add_user("extras", "extras-member", "member"),
            "reader": cloud.add_user("extras", "extras-reader", "reader"),
            "other": cloud.add_user("extras-other", "extras-other", "member")}


@pytest.fixture
def admin(cloud: RunningCloud) -> Iterator[httpx.Client]:
    with cloud.client(version="2.26") as c:
        yield c


@pytest.fixture
def member(cloud: RunningCloud, tokens: dict[str, str]) -> Iterator[httpx.Client]:
    with cloud.client(tokens["member"], version="2.26") as c:
        yield c


def boot(cloud: RunningCloud, client: httpx.Client, name: str = "x") -> str:
    sid = cloud.boot(client, name)
    cloud.wait_status(client, sid, {"ACTIVE"})
    return sid


# ---- lock -----------------------------------------------------------------------------------

def test_locked_server_refuses_its_owner_but_not_an_admin(
        cloud: RunningCloud, member: httpx.Client, admin: httpx.Client) -> None:
    sid = boot(cloud, member, "locked")
    assert action(member, sid, {"lock": None}).status_code == 202
    server = member.get(f"/servers/{sid}").json()["server"]
    assert server["locked"] is True
    refused = [{"reboot": {"type": "SOFT"}}, {"os-stop": None}, {"pause": None},
               {"resize": {"flavorRef": "2"}}, {"rebuild": {"imageRef": cloud.image_id}}]
    for body in refused:
        resp = action(member, sid, body)
        assert resp.status_code == 409, (body, resp.text)
        assert "is locked" in resp.json()["conflictingRequest"]["message"]
    assert member.delete(f"/servers/{sid}").status_code == 409
    assert member.post(f"/servers/{sid}/metadata",
                       json={"metadata": {"a": "b"}}).status_code == 409
    # An admin is not held back by the lock.
    assert action(admin, sid, {"os-stop": None}).status_code == 202
    cloud.wait_status(admin, sid, {"SHUTOFF"})
    # The owner's own lock: the owner may lift it.
    assert action(member, sid, {"unlock": None}).status_code == 202
    assert member.get(f"/servers/{sid}").json()["server"]["locked"] is False
    assert action(member, sid, {"os-start": None}).status_code == 202
    cloud.wait_status(member, sid, {"ACTIVE"})
    actions = [a["action"] for a in member.get(
        f"/servers/{sid}/os-instance-actions").json()["instanceActions"]]
    assert actions[:5] == ["start", "unlock", "stop", "lock", "create"]


def test_an_admin_lock_is_lifted_only_by_an_admin(
        cloud: RunningCloud, member: httpx.Client, admin: httpx.Client,
        tokens: dict[str, str]) -> None:
    sid = boot(cloud, member, "admin-locked")
    assert action(admin, sid, {"lock": None}).status_code == 202
    assert action(member, sid, {"unlock": None}).status_code == 403
    with cloud.client(tokens["reader"], version="2.26") as reader:
        assert action(reader, sid, {"lock": None}).status_code == 403
        assert reader.get(f"/servers/{sid}").json()["server"]["locked"] is True
    assert action(admin, sid, {"unlock": None}).status_code == 202
    assert action(member, sid, {"lock": {"locked_reason": "2.73 only"}}).status_code == 400
    with cloud.client(tokens["other"]) as other:
        assert action(other, sid, {"lock": None}).status_code == 404


# ---- metadata -------------------------------------------------------------------------------

def test_metadata_crud(cloud: RunningCloud, member: httpx.Client) -> None:
    sid = boot(cloud, member, "meta")
    base = f"/servers/{sid}/metadata"
    assert member.get(base).json() == {"metadata": {}}
    assert member.post(base, json={"metadata": {"a": "1", "b": "2"}}).json() == {
        "metadata": {"a": "1", "b": "2"}}
    assert member.post(base, json={"metadata": {"b": "3", "c": "4"}}).json() == {
        "metadata": {"a": "1", "b": "3", "c": "4"}}
    assert member.put(base, json={"metadata": {"x": "y"}}).json() == {"metadata": {"x": "y"}}
    assert member.get(f"{base}/x").json() == {"meta": {"x": "y"}}
    assert member.put(f"{base}/z", json={"meta": {"z": "zz"}}).json() == {"meta": {"z": "zz"}}
    assert member.get(base).json() == {"metadata": {"x": "y", "z": "zz"}}
    assert member.delete(f"{base}/x").status_code == 204
    assert member.get(f"{base}/x").status_code == 404
    assert member.delete(f"{base}/x").status_code == 404
    server = member.get(f"/servers/{sid}").json()["server"]
    assert server["metadata"] == {"z": "zz"}


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("put", "/k", {"meta": {"other": "v"}}, 400),           # body and URI mismatch
    ("put", "/k", {"meta": {"k": "v", "l": "w"}}, 400),     # more than one item
    ("put", "/k", {"meta": {}}, 400),
    ("post", "", {"metadata": {"bad!key": "v"}}, 400),
    ("post", "", {"metadata": {"k": "v" * 256}}, 400),
    ("post", "", {"metadata": {"k": 1}}, 400),
    ("post", "", {"metadata": {"": "v"}}, 400),
    ("post", "", {"meta": {"k": "v"}}, 400),
    ("put", "", {"metadata": {f"k{i}": "v" for i in range(6)}}, 403),  # quota is 5
])
def test_metadata_errors(cloud: RunningCloud, member: httpx.Client, method: str, path: str,
                         body: dict, status: int) -> None:
    sid = boot(cloud, member, "meta-bad")
    resp = member.request(method, f"/servers/{sid}/metadata{path}", json=body)
    assert resp.status_code == status, resp.text
    assert member.get(f"/servers/{sid}/metadata").json() == {"metadata": {}}


def test_metadata_roles_and_states(cloud: RunningCloud, member: httpx.Client,
                                   admin: httpx.Client, tokens: dict[str, str]) -> None:
    sid = boot(cloud, member, "meta-roles")
    assert member.post(f"/servers/{sid}/metadata", json={"metadata": {"a": "1"}}
                       ).status_code == 200
    with cloud.client(tokens["reader"]) as reader:
        assert reader.get(f"/servers/{sid}/metadata").json() == {"metadata": {"a": "1"}}
        assert reader.post(f"/servers/{sid}/metadata",
                           json={"metadata": {"b": "2"}}).status_code == 403
        assert reader.delete(f"/servers/{sid}/metadata/a").status_code == 403
    with cloud.client(tokens["other"]) as other:
        assert other.get(f"/servers/{sid}/metadata").status_code == 404
        assert other.put(f"/servers/{sid}/metadata/a", json={"meta": {"a": "x"}}
                         ).status_code == 404
    # VERIFY_RESIZE is not a state metadata may change in.
    assert action(admin, sid, {"resize": {"flavorRef": "2"}}).status_code == 202
    cloud.wait_status(admin, sid, {"VERIFY_RESIZE"})
    assert member.post(f"/servers/{sid}/metadata",
                       json={"metadata": {"b": "2"}}).status_code == 409


# ---- tags -----------------------------------------------------------------------------------

def test_tags_crud_and_limits(cloud: RunningCloud, member: httpx.Client) -> None:
    sid = boot(cloud, member, "tagged")
    base = f"/servers/{sid}/tags"
    assert member.get(base).json() == {"tags": []}
    assert member.put(base, json={"tags": ["b", "a", "a"]}).json() == {"tags": ["a", "b"]}
    assert member.get(f"{base}/a").status_code == 204
    assert member.get(f"{base}/zz").status_code == 404
    resp = member.put(f"{base}/c")
    assert resp.status_code == 201 and resp.headers["Location"].endswith(f"{base}/c")
    assert member.put(f"{base}/c").status_code == 204
    assert member.delete(f"{base}/a").status_code == 204
    assert member.delete(f"{base}/a").status_code == 404
    assert member.get(f"/servers/{sid}").json()["server"]["tags"] == ["b", "c"]
    assert member.delete(base).status_code == 204
    assert member.get(base).json() == {"tags": []}
    # Limits: 50 tags, 60 characters, no '/' or ','.
    assert member.put(base, json={"tags": [f"t{i}" for i in range(51)]}).status_code == 400
    assert member.put(base, json={"tags": ["x" * 61]}).status_code == 400
    assert member.put(base, json={"tags": ["a,b"]}).status_code == 400
    assert member.put(base, json={"tags": ["a/b"]}).status_code == 400
    assert member.put(f"{base}/{'y' * 61}").status_code == 400
    assert member.put(f"{base}/a,b").status_code == 400
    assert member.put(base, json={"tags": "a"}).status_code == 400
    assert member.put(base, json={"tags": [f"t{i}" for i in range(50)]}).status_code == 200
    assert member.put(f"{base}/one-more").status_code == 400
    assert len(member.get(base).json()["tags"]) == 50
    with cloud.client(version="2.25") as old:
        assert old.get(base).status_code == 404


def test_tag_filters_of_the_server_list(cloud: RunningCloud, member: httpx.Client) -> None:
    ids = {name: boot(cloud, member, f"filter-{name}") for name in ("ab", "a", "b", "none")}
    for name, tags in (("ab", ["fa", "fb"]), ("a", ["fa"]), ("b", ["fb"])):
        assert member.put(f"/servers/{ids[name]}/tags", json={"tags": tags}).status_code == 200

    def names(**query: str) -> set[str]:
        servers = member.get("/servers", params={"name": "^filter-", **query}).json()["servers"]
        return {s["name"].removeprefix("filter-") for s in servers}

    assert names(tags="fa,fb") == {"ab"}
    assert names(**{"tags-any": "fa,fb"}) == {"ab", "a", "b"}
    assert names(**{"not-tags": "fa,fb"}) == {"a", "b", "none"}
    assert names(**{"not-tags-any": "fa,fb"}) == {"none"}
    assert names(tags="fa", **{"not-tags": "fb"}) == {"a"}


def test_tags_roles(cloud: RunningCloud, member: httpx.Client, tokens: dict[str, str]) -> None:
    sid = boot(cloud, member, "tag-roles")
    assert member.put(f"/servers/{sid}/tags/t").status_code == 201
    with cloud.client(tokens["reader"], version="2.26") as reader:
        assert reader.get(f"/servers/{sid}/tags").json() == {"tags": ["t"]}
        assert reader.put(f"/servers/{sid}/tags/u").status_code == 403
        assert reader.delete(f"/servers/{sid}/tags").status_code == 403
    with cloud.client(tokens["other"], version="2.26") as other:
        assert other.get(f"/servers/{sid}/tags").status_code == 404


# ---- instance actions -------------------------------------------------------------------------

def test_instance_actions_list_and_show(cloud: RunningCloud, member: httpx.Client,
                                        admin: httpx.Client) -> None:
    sid = boot(cloud, member, "acted")
    assert action(member, sid, {"os-stop": None}).status_code == 202
    cloud.wait_status(member, sid, {"SHUTOFF"})
    listed = member.get(f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in listed] == ["stop", "create"]
    assert set(listed[0]) == {"action", "instance_uuid", "message", "project_id",
                              "request_id", "start_time", "user_id"}
    rid = listed[0]["request_id"]
    # Events are for admins (policy os-instance-actions:events); members see the action.
    shown = member.get(f"/servers/{sid}/os-instance-actions/{rid}").json()["instanceAction"]
    assert "events" not in shown and shown["request_id"] == rid
    events = admin.get(f"/servers/{sid}/os-instance-actions/{rid}").json()[
        "instanceAction"]["events"]
    assert [e["event"] for e in events] == ["compute_stop_instance"]
    assert events[0]["result"] == "Success" and events[0]["finish_time"]
    assert member.get(f"/servers/{sid}/os-instance-actions/req-nope").status_code == 404
    # A deleted server's actions stay readable from 2.21.
    assert member.delete(f"/servers/{sid}").status_code == 204
    wait_for(lambda: member.get(f"/servers/{sid}").status_code == 404, what="delete")
    listed = member.get(f"/servers/{sid}/os-instance-actions",
                        headers={"OpenStack-API-Version": "compute 2.21"}).json()
    assert listed["instanceActions"][0]["action"] == "delete"
    assert member.get(f"/servers/{sid}/os-instance-actions",
                      headers={"OpenStack-API-Version": "compute 2.20"}).status_code == 404
