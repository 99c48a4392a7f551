"""``[api] auth_strategy = noauth2``: the test-only mode trusting 'user:project' tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.cloud import RunningCloud, start_cloud


@pytest.fixture
def noauth_cloud(tmp_path: Path) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path, overrides={"api": {"auth_strategy": "noauth2"}})
    yield running
    running.close()


def test_user_project_token_scopes_requests(noauth_cloud: RunningCloud) -> None:
    base = noauth_cloud.compute_url
    alice = {"X-Auth-Token": "alice:p1", "OpenStack-API-Version": "compute 2.37"}
    body = {"server": {"name": "a", "flavorRef": "1", "imageRef": noauth_cloud.image_id,
                       "networks": "none"}}
    created = httpx.post(base + "/servers", json=body, headers=alice)
    assert created.status_code == 202, created.text
    sid = created.json()["server"]["id"]
    shown = httpx.get(f"{base}/servers/{sid}", headers=alice).json()["server"]
    assert (shown["tenant_id"], shown["user_id"]) == ("p1", "alice")
    # Another project does not see it; a non-admin user is refused admin APIs.
    assert httpx.get(f"{base}/servers/{sid}", headers={"X-Auth-Token": "bob:p2"}
                     ).status_code == 404
    assert httpx.get(base + "/os-services", headers=alice).status_code == 403
    assert httpx.get(base + "/os-services", headers={"X-Auth-Token": "admin:p1"}
                     ).status_code == 200


def test_a_token_is_still_required(noauth_cloud: RunningCloud) -> None:
    assert httpx.get(noauth_cloud.compute_url + "/servers").status_code == 401
