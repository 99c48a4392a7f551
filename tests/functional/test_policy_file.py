"""An operator's policy file changes what the Compute API allows, without a restart."""

from __future__ import annotations

import os
import time
from pathlib import Path

from fixtures.cloud import start_cloud


def test_policy_file_overrides_defaults_and_is_reread(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"os_compute_api:os-aggregates:index": "role:reader"\n'
                      '"os_compute_api:os-keypairs:create": "!"\n')
    cloud = start_cloud(tmp_path, overrides={"oslo_policy": {"policy_file": str(policy)}})
    try:
        reader = cloud.add_user("pol", "pol-reader", "reader")
        with cloud.client(reader) as c:
            assert c.get("/os-aggregates").status_code == 200  # widened
            assert c.post("/os-aggregates", json={"aggregate": {"name": "x"}}
                          ).status_code == 403  # untouched default
        with cloud.client() as admin:
            resp = admin.post("/os-keypairs", json={"keypair": {"name": "k"}})
            assert resp.status_code == 403  # narrowed, even for an admin
            assert "os_compute_api:os-keypairs:create" in resp.text
        # Edit the file: the next check after the recheck interval uses it.
        policy.write_text('"os_compute_api:os-aggregates:index": "role:admin"\n')
        later = time.time() + 5
        os.utime(policy, (later, later))
        time.sleep(1.1)
        with cloud.client(reader) as c:
            assert c.get("/os-aggregates").status_code == 403
        with cloud.client() as admin:
            assert admin.post("/os-keypairs", json={"keypair": {"name": "k"}}
                              ).status_code == 200
    finally:
        cloud.close()
