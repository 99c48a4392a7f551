"""os-keypairs through the API, per microversion, and booting with a key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.cloud import RunningCloud, start_cloud
from novalith.api.compute import keypair_crypto
from novalith.db import instances as inst_db

PUBLIC = keypair_crypto.generate_ssh().public_key


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("keypairs"), overrides={
        "quota": {"key_pairs": 5}})
    yield running
    running.close()


def test_generate_once_then_list_show_delete(cloud: RunningCloud) -> None:
    token = cloud.add_user("kp-a", "kp-a-member", "member")
    with cloud.client(token, version="2.47") as c:
        resp = c.post("/os-keypairs", json={"keypair": {"name": "gen-1"}})
        assert resp.status_code == 201, resp.text
        created = resp.json()["keypair"]
        assert created["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
        assert created["type"] == "ssh" and created["public_key"].startswith("ssh-rsa ")
        assert created["fingerprint"] == keypair_crypto.ssh_fingerprint(created["public_key"])
        user_id = created["user_id"]
        listed = c.get("/os-keypairs").json()["keypairs"]
        assert listed == [{"keypair": {"name": "gen-1", "public_key": created["public_key"],
                                       "fingerprint": created["fingerprint"],
                                       "type": "ssh"}}]
        shown = c.get("/os-keypairs/gen-1").json()["keypair"]
        assert "private_key" not in shown  # returned once, at creation only
        assert shown["user_id"] == user_id and shown["deleted"] is False
        assert {"created_at", "updated_at", "id", "deleted_at"} <= set(shown)
        assert c.post("/os-keypairs", json={"keypair": {"name": "gen-1"}}).status_code == 409
        assert c.delete("/os-keypairs/gen-1").status_code == 204
        assert c.get("/os-keypairs/gen-1").status_code == 404
        assert c.delete("/os-keypairs/gen-1").status_code == 404


def test_import_and_x509_and_bad_input(cloud: RunningCloud) -> None:
    token = cloud.add_user("kp-b", "kp-b-member", "member")
    with cloud.client(token, version="2.2") as c:
        resp = c.post("/os-keypairs", json={"keypair": {"name": "imp", "public_key": PUBLIC}})
        assert resp.status_code == 201
        body = resp.json()["keypair"]
        assert "private_key" not in body and body["public_key"] == PUBLIC
        resp = c.post("/os-keypairs", json={"keypair": {"name": "cert", "type": "x509"}})
        assert resp.status_code == 201
        cert = resp.json()["keypair"]
        assert cert["public_key"].startswith("-----BEGIN CERTIFICATE-----")
        assert len(cert["fingerprint"].split(":")) == 20
        for bad in ({"name": "x", "public_key": "ssh-rsa garbage"},
                    {"name": "bad/name"}, {"name": ""}, {"name": "x", "type": "pgp"},
                    {"name": "x", "extra": 1}):
            assert c.post("/os-keypairs", json={"keypair": bad}).status_code == 400, bad
    # Before 2.2 there is no type: asking for one is a 400; answers are 200 / 202.
    with cloud.client(token, version="2.1") as c:
        assert c.post("/os-keypairs", json={"keypair": {"name": "t", "type": "ssh"}}
                      ).status_code == 400
        resp = c.post("/os-keypairs", json={"keypair": {"name": "old"}})
        assert resp.status_code == 200 and "type" not in resp.json()["keypair"]
        assert c.delete("/os-keypairs/old").status_code == 202


def test_keypairs_are_per_user_and_admin_names_a_user_from_2_10(cloud: RunningCloud) -> None:
    alice = cloud.add_user("kp-c", "kp-alice", "member")
    bob = cloud.add_user("kp-c", "kp-bob", "member")
    with cloud.client(alice, version="2.47") as c:
        c.post("/os-keypairs", json={"keypair": {"name": "mine", "public_key": PUBLIC}})
        alice_id = c.get("/os-keypairs/mine").json()["keypair"]["user_id"]
    with cloud.client(bob, version="2.47") as c:
        assert c.get("/os-keypairs").json()["keypairs"] == []
        assert c.get("/os-keypairs/mine").status_code == 404
        # Another user's keypairs are the admin's business only.
        assert c.get("/os-keypairs", params={"user_id": alice_id}).status_code == 403
        assert c.post("/os-keypairs", json={"keypair": {
            "name": "theirs", "public_key": PUBLIC, "user_id": alice_id}}).status_code == 403
    with cloud.client(version="2.10") as admin:
        names = [k["keypair"]["name"] for k in
                 admin.get("/os-keypairs", params={"user_id": alice_id}).json()["keypairs"]]
        assert names == ["mine"]
        resp = admin.post("/os-keypairs", json={"keypair": {
            "name": "given", "public_key": PUBLIC, "user_id": alice_id}})
        assert resp.status_code == 201 and resp.json()["keypair"]["user_id"] == alice_id
        assert admin.delete("/os-keypairs/given", params={"user_id": alice_id}
                            ).status_code == 204
    with cloud.client(version="2.9") as admin:  # user_id is not known before 2.10
        assert admin.post("/os-keypairs", json={"keypair": {
            "name": "n", "user_id": alice_id}}).status_code == 400


def test_paging_from_2_35_and_quota(cloud: RunningCloud) -> None:
    token = cloud.add_user("kp-d", "kp-d-member", "member")
    with cloud.client(token, version="2.35") as c:
        for i in range(5):
            assert c.post("/os-keypairs", json={"keypair": {
                "name": f"k{i}", "public_key": PUBLIC}}).status_code == 201
        resp = c.post("/os-keypairs", json={"keypair": {"name": "k5", "public_key": PUBLIC}})
        assert resp.status_code == 403
        assert resp.json()["forbidden"]["message"] == "Quota exceeded, too many key pairs."
        page = c.get("/os-keypairs", params={"limit": 2}).json()
        assert [k["keypair"]["name"] for k in page["keypairs"]] == ["k0", "k1"]
        assert "marker=k1" in page["keypairs_links"][0]["href"]
        rest = c.get("/os-keypairs", params={"limit": 10, "marker": "k1"}).json()
        assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["k2", "k3", "k4"]
        assert "keypairs_links" not in rest
        assert c.get("/os-keypairs", params={"marker": "nope"}).status_code == 400
    with cloud.client(token, version="2.34") as c:  # no paging before 2.35
        assert len(c.get("/os-keypairs", params={"limit": 2}).json()["keypairs"]) == 5


def test_boot_with_key_name(cloud: RunningCloud) -> None:
    token = cloud.add_user("kp-e", "kp-e-member", "member")
    with cloud.client(token, version="2.47") as c:
        c.post("/os-keypairs", json={"keypair": {"name": "boot-key", "public_key": PUBLIC}})
        sid = cloud.boot(c, "keyed", key_name="boot-key")
        server = cloud.wait_status(c, sid, {"ACTIVE"})
        assert server["key_name"] == "boot-key"
        resp = c.post("/servers", json={"server": {
            "name": "nokey", "flavorRef": "1", "imageRef": cloud.image_id,
            "networks": "none", "key_name": "missing"}})
        assert resp.status_code == 400
        assert resp.json()["badRequest"]["message"] == "Invalid key_name provided."
    with cloud.cloud.db.read() as conn:
        row = inst_db.get(conn, sid)
    assert row is not None and row["key_data"] == PUBLIC
