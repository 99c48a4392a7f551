"""Move N servers through the HTTP API of an all-in-one cloud (fake driver, 3 hosts).

Boots N servers, then, each phase for all of them at once (C client threads):
resize to another flavor until VERIFY_RESIZE, confirm until ACTIVE, live-migrate
until ACTIVE on another host. Reports moves per second per phase and checks that
the hypervisors' used figures are exactly what the servers hold at the end.

    python bench/moves_fake.py --servers 200 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from boot_fake import Client, free_port, get_token, image_id, start_cloud


def wait_all(client: Client, ids: list[str], status: str, timeout: float = 600) -> None:
    """Until every server in ``ids`` shows ``status`` with no task."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body, _ = client.request("GET", "/compute/v2.1/servers/detail?limit=100000")
        done = {s["id"] for s in json.loads(body)["servers"]
                if s["status"] == status and s["OS-EXT-STS:task_state"] is None}
        if wanted <= done:
            return
        errors = [s["id"] for s in json.loads(body)["servers"] if s["status"] == "ERROR"]
        if errors:
            raise RuntimeError(f"{len(errors)} servers in ERROR")
        time.sleep(0.1)
    raise RuntimeError(f"servers did not all reach {status}")


def phase(client: Client, poller: Client, ids: list[str], body: object, expect: int,
          status: str, concurrency: int) -> float:
    def act(sid: str) -> None:
        code, payload, _ = client.request("POST", f"/compute/v2.1/servers/{sid}/action", body,
                                          {"OpenStack-API-Version": "compute 2.47"})
        assert code == expect, payload

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(act, ids))
    wait_all(poller, ids, status)
    return len(ids) / (time.perf_counter() - start)


def run(servers: int, concurrency: int) -> dict[str, float]:
    data_dir = tempfile.mkdtemp(prefix="novalith-bench-moves-")
    port = free_port()
    proc = start_cloud(data_dir, port, 3)
    try:
        token = get_token(port)
        client, poller = Client(port, token), Client(port, token)
        image = image_id(client)

        def boot(i: int) -> str:
            code, body, _ = client.request("POST", "/compute/v2.1/servers", {"server": {
                "name": f"move-{i}", "flavorRef": "1", "imageRef": image, "networks": "none"}})
            assert code == 202, body
            return str(json.loads(body)["server"]["id"])

        with ThreadPoolExecutor(concurrency) as pool:
            ids = list(pool.map(boot, range(servers)))
        wait_all(poller, ids, "ACTIVE")
        result = {
            "resize_per_s": phase(client, poller, ids, {"resize": {"flavorRef": "2"}}, 202,
                                  "VERIFY_RESIZE", concurrency),
            "confirm_per_s": phase(client, poller, ids, {"confirmResize": None}, 204,
                                   "ACTIVE", concurrency),
            "live_migrate_per_s": phase(client, poller, ids, {"os-migrateLive": {
                "host": None, "block_migration": "auto"}}, 202, "ACTIVE", concurrency),
        }
        _, body, _ = poller.request("GET", "/compute/v2.1/os-hypervisors/statistics")
        stats = json.loads(body)["hypervisor_statistics"]
        # flavor 2 is 1 vCPU, 2048 MB, 20 GB; the fake hosts reserve 512 MB each.
        assert stats["running_vms"] == servers, stats
        assert stats["vcpus_used"] == servers, stats
        assert stats["local_gb_used"] == 20 * servers, stats
        assert stats["memory_mb_used"] == 2048 * servers + 3 * 512, stats
        result["servers"] = servers
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    for key, value in run(args.servers, args.concurrency).items():
        print(f"{key:20s} {value:.1f}" if isinstance(value, float) else f"{key:20s} {value}")


if __name__ == "__main__":
    main()
