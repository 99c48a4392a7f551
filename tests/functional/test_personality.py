"""Personality (injected files) on server create, kept for the config drive."""

from __future__ import annotations

import base64

from fixtures.cloud import RunningCloud
from novalith.compute.instance_spec import from_row
from novalith.db import instances as inst_db


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_injected_files_reach_the_driver_spec(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        server = cloud.boot(client, personality=[
            {"path": "/etc/motd", "contents": b64(b"hello")},
            {"path": "/root/.x", "contents": b64(b"\x00\x01")}])
        cloud.wait_status(client, server, ["ACTIVE"])
    with cloud.cloud.db.read() as conn:
        spec = from_row(inst_db.get(conn, server))
    assert spec.injected_files == [("/etc/motd", b64(b"hello")), ("/root/.x", b64(b"\x00\x01"))]


def test_bad_personality_is_refused_and_nothing_is_made(cloud: RunningCloud) -> None:
    with cloud.client() as client:
        before = len(client.get("/servers").json()["servers"])
        resp = client.post("/servers", json={"server": {
            "name": "p", "flavorRef": "1", "imageRef": cloud.image_id,
            "personality": [{"path": "/x", "contents": "***"}]}})
        assert resp.status_code == 400, resp.text
        assert "cannot be decoded" in resp.json()["badRequest"]["message"]
        resp = client.post("/servers", json={"server": {
            "name": "p", "flavorRef": "1", "imageRef": cloud.image_id,
            "personality": [{"path": f"/f{i}", "contents": b64(b"x")} for i in range(6)]}})
        assert resp.status_code == 403, resp.text
        assert len(client.get("/servers").json()["servers"]) == before
