"""While the database cannot be reached the API answers 503 serviceUnavailable at once,
and serves again as soon as it is back, without a restart (issue 6).

The whole cloud's Database is pointed at a server address where nothing listens,
then back: the real connection failure, not a mock.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fixtures.cloud import start_cloud
from novalith.db.engine import make_engine


def test_api_answers_503_while_the_database_is_away_then_recovers(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    running = start_cloud(tmp_path)
    try:
        with running.client(version="2.47") as api:
            server_id = running.boot(api)
            running.wait_status(api, server_id, {"ACTIVE"})
            db = running.cloud.db
            real = db.engine
            db.engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone")
            try:
                for method, path, body in (
                        ("GET", "/servers/detail", None),
                        ("GET", f"/servers/{server_id}", None),
                        ("POST", f"/servers/{server_id}/action", {"os-stop": None})):
                    began = time.monotonic()
                    resp = api.request(method, path, json=body)
                    assert resp.status_code == 503, resp.text
                    assert resp.json() == {"serviceUnavailable": {
                        "code": 503,
                        "message": "The database is unavailable; try again later."}}
                    assert time.monotonic() - began < 5
            finally:
                db.engine.dispose()
                db.engine = real
            resp = api.get(f"/servers/{server_id}")
            assert resp.status_code == 200 and resp.json()["server"]["status"] == "ACTIVE"
            stop = api.post(f"/servers/{server_id}/action", json={"os-stop": None})
            assert stop.status_code == 202, stop.text
            running.wait_status(api, server_id, {"SHUTOFF"})
    finally:
        running.close()
