"""Boot N servers through the HTTP API of an all-in-one cloud (fake driver).

Reports boots per second to ACTIVE, the p50/p99 of POST /servers, and the
latency of GET /servers/detail with the N servers present. The cloud runs as a
`novalith up` subprocess; the load comes from a small thread pool using
keep-alive connections, so client and cloud each have their own interpreter.

    python bench/boot_fake.py --servers 1000 --concurrency 16
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "bench-admin-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Client(threading.local):
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: object | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        hdrs = {"X-Auth-Token": self.token, "Content-Type": "application/json",
                "OpenStack-API-Version": "compute 2.37", **(headers or {})}
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers=hdrs)
        resp = self.conn.getresponse()
        payload = resp.read()
        return resp.status, payload, dict(resp.getheaders())


def get_token(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    conn.request("POST", "/identity/v3/auth/tokens", body=json.dumps(body),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 201, resp.status
    return str(resp.getheader("X-Subject-Token"))


def start_cloud(data_dir: str, port: int, hosts: int, quota: int = -1
                ) -> subprocess.Popen[bytes]:
    conf = os.path.join(data_dir, "novalith.conf")
    with open(conf, "w") as fh:
        fh.write(f"[DEFAULT]\nstate_path = {data_dir}\nhost = bench\n"
                 f"[bootstrap]\nadmin_password = {PASSWORD}\n"
                 "[fake_driver]\nvcpus = 100000\nmemory_mb = 100000000\nlocal_gb = 10000000\n"
                 # Nova's default quotas (10 servers) would stop the benchmark; -1 skips the
                 # quota count, a large limit makes every boot count usage under the lock.
                 f"[quota]\ninstances = {quota}\ncores = {quota}\n"
                 f"ram = {quota if quota < 0 else quota * 1024}\n")
    proc = subprocess.Popen([sys.executable, "-m", "novalith", "up", "--config-file", conf,
                             "--port", str(port), "--fake-hosts", str(hosts)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                output = proc.stdout.read().decode() if proc.stdout else "died"
                raise RuntimeError(output) from None
            time.sleep(0.1)
    raise RuntimeError("cloud did not start")


def image_id(client: Client) -> str:
    status, body, _ = client.request("GET", "/image/v2/images?name=fake-image")
    assert status == 200
    return str(json.loads(body)["images"][0]["id"])


def run(servers: int, concurrency: int, hosts: int, detail_runs: int, quota: int = -1
        ) -> dict[str, float]:
    data_dir = tempfile.mkdtemp(prefix="novalith-bench-")
    port = free_port()
    proc = start_cloud(data_dir, port, hosts, quota)
    try:
        token = get_token(port)
        client = Client(port, token)
        image = image_id(client)
        latencies: list[float] = []
        lock = threading.Lock()

        def boot(i: int) -> None:
            t0 = time.perf_counter()
            status, body, _ = client.request("POST", "/compute/v2.1/servers", {"server": {
                "name": f"bench-{i}", "flavorRef": "1", "imageRef": image, "networks": "none"}})
            dt = time.perf_counter() - t0
            assert status == 202, body
            with lock:
                latencies.append(dt)

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(boot, range(servers)))
        posted = time.perf_counter() - start
        poller = Client(port, token)
        while True:
            status, body, _ = poller.request("GET", "/compute/v2.1/servers?status=BUILD&limit=1")
            if not json.loads(body)["servers"]:
                break
            time.sleep(0.05)
        to_active = time.perf_counter() - start
        status, body, _ = poller.request("GET", "/compute/v2.1/servers?status=ACTIVE&limit=100000")
        active = len(json.loads(body)["servers"])
        detail: list[float] = []
        for _ in range(detail_runs):
            t0 = time.perf_counter()
            status, body, _ = poller.request("GET", f"/compute/v2.1/servers/detail?limit={servers}")
            detail.append(time.perf_counter() - t0)
            assert status == 200 and len(json.loads(body)["servers"]) == min(servers, 1000)
        return {"servers": servers, "active": active, "post_seconds": posted,
                "seconds_to_active": to_active, "boots_per_second": active / to_active,
                "post_p50_ms": pct(latencies, 50) * 1000, "post_p99_ms": pct(latencies, 99) * 1000,
                "detail_p50_ms": pct(detail, 50) * 1000, "detail_p99_ms": pct(detail, 99) * 1000,
                "detail_bytes": len(body)}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--detail-runs", type=int, default=50)
    parser.add_argument("--quota", type=int, default=-1,
                        help="instances/cores/ram quota of the admin project; -1: unlimited")
    args = parser.parse_args()
    result = run(args.servers, args.concurrency, args.hosts, args.detail_runs, args.quota)
    for key, value in result.items():
        print(f"{key:20s} {value:.1f}" if isinstance(value, float) else f"{key:20s} {value}")


if __name__ == "__main__":
    main()
