"""The whole stack in one process: boot, act, delete over real HTTP."""

from __future__ import annotations

from fixtures.cloud import RunningCloud


def test_boot_reboot_stop_start_delete(cloud: RunningCloud) -> None:
    with cloud.client() as c:
        sid = cloud.boot(c, "smoke")
        server = cloud.wait_status(c, sid, {"ACTIVE"})
        assert server["OS-EXT-STS:power_state"] == 1
        for action, status in (({"reboot": {"type": "HARD"}}, "ACTIVE"),
                               ({"os-stop": None}, "SHUTOFF"), ({"os-start": None}, "ACTIVE"),
                               ({"pause": None}, "PAUSED"), ({"unpause": None}, "ACTIVE"),
                               ({"suspend": None}, "SUSPENDED"), ({"resume": None}, "ACTIVE")):
            resp = c.post(f"/servers/{sid}/action", json=action)
            assert resp.status_code == 202, resp.text
            cloud.wait_status(c, sid, {status})
        assert c.delete(f"/servers/{sid}").status_code == 204
        for _ in range(500):
            if c.get(f"/servers/{sid}").status_code == 404:
                break
            import time
            time.sleep(0.02)
        assert c.get(f"/servers/{sid}").status_code == 404
