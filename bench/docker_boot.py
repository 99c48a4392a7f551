"""Boot the busybox container through the API and compare with a bare ``docker run``.

Run by hand (root, a dockerd answering at ``--docker-url``)::

    python bench/docker_boot.py [--runs 7] [--concurrent 20] [--poll 0.02]

It starts ``novalith up --driver docker`` as a subprocess (its own host name and
container names on the engine; the busybox image registered by ``up``), boots one
warm-up server (the engine loads the image once), then:

1. ``--runs`` rounds, each one API boot and one bare boot, interleaved:
   * API: POST /servers -> status ACTIVE (GET polled every ``--poll`` s) -> the
     line ``end of user data`` in os-getConsoleOutput (polled likewise);
   * bare: docker-py ``create_container`` + ``start`` of the same engine image with
     the same limits as the driver sets for the flavor (memory, memory+swap, CFS
     quota and shares, pids limit, ``network_mode=none``, json-file log), the same
     environment and a metadata directory holding the same user data bind-mounted
     read-only where the driver mounts it; -> running (``start`` returned and
     inspect says running, as the driver checks) -> the same console line in
     ``docker logs`` (polled likewise);
2. ``--concurrent`` API boots POSTed at once: time until all are ACTIVE and until
   all are deleted (404); and, for reference, as many bare containers created and
   started at once until all run.

Medians and the ratio API/bare (to running, to the console line) go to stdout
(target: API to the console line within 1.3x of the bare run); bench/README.md
records them. Everything the run made on the engine is removed at the end.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "bench-admin-pw"
LINE = "end of user data"
USER_DATA = "hello from the docker boot benchmark"
FLAVOR_ID, MEMORY_MB, VCPUS = "1", 512, 1  # m1.tiny
CONFIG_DRIVE_MOUNT = "/var/lib/cloud/seed/config_drive"


# ---- the cloud -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_cloud(root: Path, docker_url: str, host: str, names: str
                ) -> tuple[subprocess.Popen[bytes], str]:
    conf = root / "novalith.conf"
    conf.write_text(
        f"[DEFAULT]\nstate_path = {root / 'state'}\nsync_power_state_interval = -1\n"
        f"[bootstrap]\nadmin_password = {PASSWORD}\n"
        "[quota]\ninstances = -1\ncores = -1\nram = -1\n"
        f"[docker]\nurl = {docker_url}\ncontainer_name_template = {names}\n")
    port = free_port()
    with open(root / "novalith-up.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "novalith", "up", "--config-file", str(conf),
             "--driver", "docker", "--host", host, "--listen", "127.0.0.1",
             "--port", str(port)], cwd=root, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/compute/", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_cloud(proc)
            sys.exit("novalith up did not start:\n"
                     + (root / "novalith-up.log").read_text(errors="replace")[-3000:])
        time.sleep(0.2)


def stop_cloud(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def token(base: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = httpx.post(base + "/identity/v3/auth/tokens", json=body, timeout=30)
    resp.raise_for_status()
    return str(resp.headers["X-Subject-Token"])


def compute(base: str, auth: str) -> httpx.Client:
    return httpx.Client(base_url=base + "/compute/v2.1", timeout=60,
                        headers={"X-Auth-Token": auth, "OpenStack-API-Version": "compute 2.37"})


def busybox_image(base: str, auth: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # up registers it right after the first start
        resp = httpx.get(base + "/image/v2/images?name=novalith-busybox",
                         headers={"X-Auth-Token": auth}, timeout=30)
        found = [i for i in resp.json()["images"] if i["status"] == "active"]
        if found:
            return str(found[0]["id"])
        time.sleep(0.2)
    sys.exit("novalith up registered no novalith-busybox image")


# ---- API boots -------------------------------------------------------------------------------

def post_server(client: httpx.Client, image: str, name: str) -> str:
    resp = client.post("/servers", json={"server": {
        "name": name, "imageRef": image, "flavorRef": FLAVOR_ID, "networks": "none",
        "user_data": base64.b64encode(USER_DATA.encode()).decode()}})
    resp.raise_for_status()
    return str(resp.json()["server"]["id"])


def boot_via_api(client: httpx.Client, image: str, name: str, poll: float
                 ) -> tuple[str, float, float]:
    """(server id, seconds to ACTIVE, seconds to the console line)."""
    t0 = time.monotonic()
    server = post_server(client, image, name)
    while True:
        status = client.get(f"/servers/{server}").json()["server"]["status"]
        if status == "ACTIVE":
            active = time.monotonic() - t0
            break
        if status == "ERROR":
            raise RuntimeError(f"{name} went to ERROR")
        time.sleep(poll)
    while True:
        out = client.post(f"/servers/{server}/action",
                          json={"os-getConsoleOutput": {}}).json().get("output", "")
        if LINE in out:
            return server, active, time.monotonic() - t0
        if time.monotonic() - t0 > 120:
            raise RuntimeError(f"{name}: no {LINE!r} on the console")
        time.sleep(poll)


def delete_servers(client: httpx.Client, servers: list[str]) -> float:
    """DELETE them all, then seconds until every one answers 404."""
    t0 = time.monotonic()
    for server in servers:
        client.delete(f"/servers/{server}")
    left = list(servers)
    while left:
        if time.monotonic() - t0 > 300:
            raise RuntimeError(f"{len(left)} servers not deleted")
        left = [s for s in left if client.get(f"/servers/{s}").status_code != 404]
        if left:
            time.sleep(0.05)
    return time.monotonic() - t0


# ---- bare docker ----------------------------------------------------------------------------

def metadata_dir(work: Path) -> Path:
    """A config-drive directory with the same user data, as the driver writes one."""
    root = work / f"md-{uuid.uuid4().hex[:8]}"
    latest = root / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "user_data").write_text(USER_DATA)
    for path in (root, root / "openstack", latest):
        path.chmod(0o755)
    return root


def bare_create(api: Any, image_ref: str, name: str, md: Path, run: str) -> str:
    memory = MEMORY_MB << 20
    host_config = api.create_host_config(
        network_mode="none", mem_limit=memory, memswap_limit=memory,
        cpu_period=100_000, cpu_quota=VCPUS * 100_000,
        cpu_shares=VCPUS * 1024, pids_limit=1024, init=False,
        binds={str(md): {"bind": CONFIG_DRIVE_MOUNT, "mode": "ro"}},
        log_config={"type": "json-file", "config": {"max-size": "10m", "max-file": "2"}})
    answer = api.create_container(
        image=image_ref, name=name, hostname=name, detach=True, stop_timeout=30,
        environment={"NOVALITH_INSTANCE_UUID": str(uuid.uuid4()),
                     "NOVALITH_INSTANCE_NAME": name, "NOVALITH_CONFIG_DRIVE": CONFIG_DRIVE_MOUNT},
        labels={"novalith.bench": run}, host_config=host_config)
    return str(answer["Id"])


def bare_start(api: Any, cid: str) -> None:
    api.start(cid)
    if api.inspect_container(cid)["State"]["Status"] != "running":
        raise RuntimeError(f"bare container {cid[:12]} is not running after its start")


def boot_bare(api: Any, image_ref: str, work: Path, poll: float, run: str
              ) -> tuple[str, float, float]:
    """(container id, seconds to running, seconds to the console line)."""
    md = metadata_dir(work)  # made before the clock starts: the API's is part of its time
    name = f"bench-bare-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    cid = bare_create(api, image_ref, name, md, run)
    bare_start(api, cid)
    running = time.monotonic() - t0
    while True:
        out = api.logs(cid, stdout=True, stderr=True).decode(errors="replace")
        if LINE in out:
            return cid, running, time.monotonic() - t0
        if time.monotonic() - t0 > 120:
            raise RuntimeError(f"{name}: no {LINE!r} in its log")
        time.sleep(poll)


def purge(api: Any, host: str, run: str) -> None:
    """Remove this run's containers (the cloud's and the bare ones) and image tags."""
    from novalith.virt.docker import images

    for label in (f"novalith.host={host}", f"novalith.bench={run}"):
        for container in api.containers(all=True, filters={"label": [label]}):
            api.remove_container(container["Id"], force=True, v=True)
    repo = images.repository(host)
    for image in api.images(name=repo):
        for ref in image.get("RepoTags") or ():
            if ref.startswith(repo + ":"):
                api.remove_image(ref)


# ---- main ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--poll", type=float, default=0.02,
                        help="seconds between polls, the same for both paths")
    parser.add_argument("--docker-url", default="unix:///var/run/docker.sock")
    args = parser.parse_args()

    import docker

    from novalith.virt.docker import images

    tag = uuid.uuid4().hex[:8]
    host, names = f"bench-docker-{tag}", f"benchdk{tag}-%08x"
    root = Path(tempfile.mkdtemp(prefix="novalith-bench-docker-", dir="/var/tmp"))
    root.chmod(0o755)
    api = docker.APIClient(base_url=args.docker_url, version="auto", timeout=120)
    proc, base = start_cloud(root, args.docker_url, host, names)
    client = None
    bare_ids: list[str] = []
    try:
        auth = token(base)
        client = compute(base, auth)
        image = busybox_image(base, auth)
        warm = boot_via_api(client, image, "bench-warm", args.poll)
        print(f"warm-up boot (image loaded into the engine): ACTIVE {warm[1]:.2f} s, "
              f"console line {warm[2]:.2f} s")
        image_ref = images.reference(host, image)  # what the driver created it from
        api_active, api_line, bare_running, bare_line = [], [], [], []
        for i in range(args.runs):
            server, active, line = boot_via_api(client, image, f"bench-{i}", args.poll)
            cid, running, bare = boot_bare(api, image_ref, root, args.poll, tag)
            bare_ids.append(cid)
            api_active.append(active)
            api_line.append(line)
            bare_running.append(running)
            bare_line.append(bare)
            delete_servers(client, [server])
            api.remove_container(cid, force=True, v=True)
            print(f"run {i + 1}: API ->ACTIVE {active:.3f} s ->line {line:.3f} s | bare "
                  f"->running {running:.3f} s ->line {bare:.3f} s")
        delete_servers(client, [warm[0]])
        med = {k: statistics.median(v) for k, v in (
            ("api_active", api_active), ("api_line", api_line),
            ("bare_running", bare_running), ("bare_line", bare_line))}
        print(f"median of {args.runs}: API ->ACTIVE {med['api_active']:.3f} s, ->line "
              f"{med['api_line']:.3f} s; bare ->running {med['bare_running']:.3f} s, ->line "
              f"{med['bare_line']:.3f} s; ratio to running/ACTIVE "
              f"{med['api_active'] / med['bare_running']:.2f}, to the line "
              f"{med['api_line'] / med['bare_line']:.2f} (target <= 1.3)")

        if args.concurrent:
            n = args.concurrent
            t0 = time.monotonic()
            with ThreadPoolExecutor(n) as pool:
                clients = [compute(base, auth) for _ in range(n)]
                servers = list(pool.map(lambda i: post_server(clients[i], image,
                                                              f"bench-c{i}"), range(n)))
                for c in clients:
                    c.close()
            posted = time.monotonic() - t0
            left = set(servers)
            while left:
                if time.monotonic() - t0 > 300:
                    raise RuntimeError(f"{len(left)} servers never ACTIVE")
                detail = client.get("/servers/detail", params={"name": "^bench-c"}).json()
                states = {s["id"]: s["status"] for s in detail["servers"]}
                if any(states.get(s) == "ERROR" for s in left):
                    raise RuntimeError("a concurrent boot went to ERROR")
                left = {s for s in left if states.get(s) != "ACTIVE"}
                if left:
                    time.sleep(0.05)
            all_active = time.monotonic() - t0
            deleted = delete_servers(client, servers)
            print(f"{n} concurrent API boots: all POSTed after {posted:.2f} s, all ACTIVE "
                  f"after {all_active:.2f} s; all deleted {deleted:.2f} s after the DELETEs")
            mds = [metadata_dir(root) for _ in range(n)]
            t0 = time.monotonic()
            with ThreadPoolExecutor(n) as pool:
                made = list(pool.map(lambda i: bare_create(
                    api, image_ref, f"bench-bare-c{i}-{tag}", mds[i], tag), range(n)))
                bare_ids += made
                list(pool.map(lambda cid: bare_start(api, cid), made))
            print(f"{n} concurrent bare create+start: all running after "
                  f"{time.monotonic() - t0:.2f} s")
            for cid in made:
                api.remove_container(cid, force=True, v=True)
    finally:
        if client is not None:
            client.close()
        stop_cloud(proc)
        for cid in bare_ids:
            try:
                api.remove_container(cid, force=True, v=True)
            except docker.errors.NotFound:
                pass
        purge(api, host, tag)
        api.close()
        shutil.rmtree(root, ignore_errors=True)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
