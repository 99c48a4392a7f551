"""Boot the tiny guest through the API and compare with bare ``virsh create``.

Run by hand (root, libvirtd running or startable, as ``make run`` needs)::

    python bench/libvirt_boot.py [--runs 3] [--concurrent 10]

It starts a whole cloud in this process with the libvirt driver (virt_type qemu,
TCG), registers the tiny guest, then:

1. sequential boots: POST /servers -> ACTIVE, and -> the guest's banner on the
   console (os-getConsoleOutput polled every 0.1 s);
2. the same domain XML started with ``virsh create`` (fresh overlay disk on the same
   cached base, same kernel, initramfs and config drive): create -> banner in the
   console file (polled every 0.1 s);
3. ``--concurrent`` boots POSTed at once: time until all are ACTIVE and until every
   banner is on its console.

The ratio (API to banner) / (virsh to banner) is the figure of merit (target 1.15).
Results go to stdout; bench/README.md records them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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

BANNER = "=== Novalith tiny guest: boot 1 "
PASSWORD = "bench-admin-pw"


def start_cloud(state: Path, instances: Path) -> tuple[Any, str, str]:
    from novalith.cloud import Cloud
    from novalith.conf import make_conf
    from novalith.objects.context import RequestContext
    from novalith.virt.libvirt import daemons, tiny_image

    reason = daemons.ensure_local_libvirtd()
    if reason:
        sys.exit(f"libvirt cannot run here: {reason}")
    tiny = tiny_image.build()
    conf = make_conf([], {
        "DEFAULT": {"state_path": str(state), "host": "bench-host", "compute_driver": "libvirt",
                    "instances_path": str(instances), "sync_power_state_interval": -1,
                    "ram_allocation_ratio": 4.0, "reserved_host_memory_mb": 0},
        "libvirt": {"virt_type": "qemu", "domain_name_template": "bench-%08x"},
        "bootstrap": {"admin_password": PASSWORD},
        "wsgi": {"listen": "127.0.0.1", "port": 0}})
    cloud = Cloud(conf)
    first = cloud.first_start()
    admin = RequestContext(project_id=first.admin.project_id, user_id=first.admin.user_id,
                           roles=("admin", "member", "reader"))
    images = tiny_image.register(cloud.image_client, admin, tiny)
    sock = cloud.bind("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    cloud.start_services()
    cloud.serve_in_thread(sock)
    for _ in range(200):
        try:
            if httpx.get(base + "/compute/").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    return cloud, base, images.image_id


def api_client(base: str) -> httpx.Client:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    token = httpx.post(base + "/identity/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    return httpx.Client(base_url=base + "/compute/v2.1", timeout=60,
                        headers={"X-Auth-Token": token,
                                 "OpenStack-API-Version": "compute 2.37"})


def flavor(client: httpx.Client) -> str:
    name = f"bench.tiny.{uuid.uuid4().hex[:6]}"
    resp = client.post("/flavors", json={"flavor": {"name": name, "ram": 128, "vcpus": 1,
                                                    "disk": 1}})
    resp.raise_for_status()
    return str(resp.json()["flavor"]["id"])


def boot_via_api(client: httpx.Client, image: str, flavor_id: str, name: str
                 ) -> tuple[str, float, float, float]:
    """(server id, POST time, ACTIVE time, banner time) on the monotonic clock."""
    t0 = time.monotonic()
    resp = client.post("/servers", json={"server": {
        "name": name, "imageRef": image, "flavorRef": flavor_id, "networks": "none",
        "config_drive": True}})
    resp.raise_for_status()
    server = resp.json()["server"]["id"]
    active = banner = 0.0
    while not banner:
        if time.monotonic() - t0 > 600:
            raise RuntimeError(f"{name}: no banner after 600 s")
        if not active:
            status = client.get(f"/servers/{server}").json()["server"]["status"]
            if status == "ERROR":
                raise RuntimeError(f"{name} went to ERROR")
            if status == "ACTIVE":
                active = time.monotonic()
        if active:
            out = client.post(f"/servers/{server}/action",
                              json={"os-getConsoleOutput": {}}).json().get("output", "")
            if BANNER in out:
                banner = time.monotonic()
        if not banner:
            time.sleep(0.1)
    return server, t0, active, banner


def delete(client: httpx.Client, servers: list[str]) -> None:
    for server in servers:
        client.delete(f"/servers/{server}")
    deadline = time.monotonic() + 120
    while servers and time.monotonic() < deadline:
        servers = [s for s in servers if client.get(f"/servers/{s}").status_code != 404]
        time.sleep(0.2)


def virsh_boot(instances: Path, template_server: str, work: Path) -> float:
    """Seconds from ``virsh create`` to the banner, for a copy of a booted server's
    domain: same XML except name, UUID and file paths; a fresh overlay disk on the
    same cached base, so the counter starts again."""
    src = instances / template_server
    run = work / uuid.uuid4().hex[:8]
    run.mkdir(parents=True)
    run.chmod(0o755)
    backing = subprocess.run(["qemu-img", "info", "--force-share", "--output=json",
                              str(src / "disk")], capture_output=True, text=True, check=True)
    info = json.loads(backing.stdout)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b",
                    info["backing-filename"], "-F", info.get("backing-filename-format", "raw"),
                    str(run / "disk"), str(info["virtual-size"])], check=True)
    for name in ("kernel", "ramdisk", "disk.config"):
        shutil.copyfile(src / name, run / name)
    xml = (src / "libvirt.xml").read_text().replace(str(src), str(run))
    new_uuid = str(uuid.uuid4())
    xml = xml.replace(template_server, new_uuid)
    xml = re.sub(r"<name>[^<]*</name>", f"<name>virsh-bench-{new_uuid[:8]}</name>", xml, count=1)
    (run / "domain.xml").write_text(xml)
    console = run / "console.log"
    t0 = time.monotonic()
    subprocess.run(["virsh", "-q", "-c", "qemu:///system", "create", str(run / "domain.xml")],
                   check=True, capture_output=True)
    try:
        while True:
            if console.exists() and BANNER in console.read_text(errors="replace"):
                return time.monotonic() - t0
            if time.monotonic() - t0 > 300:
                raise RuntimeError("virsh-created guest printed no banner")
            time.sleep(0.1)
    finally:
        subprocess.run(["virsh", "-q", "-c", "qemu:///system", "destroy",
                        f"virsh-bench-{new_uuid[:8]}"], capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="novalith-bench-", dir="/var/tmp"))
    root.chmod(0o755)
    instances = root / "instances"
    cloud, base, image = start_cloud(root / "state", instances)
    client = api_client(base)
    try:
        flavor_id = flavor(client)
        # Warm-up: the first boot fills the host's image cache (a one-time download).
        warm = boot_via_api(client, image, flavor_id, "bench-warm")
        print(f"warm-up boot (cold image cache): ACTIVE {warm[2] - warm[1]:.2f} s, "
              f"banner {warm[3] - warm[1]:.2f} s")
        api_active, api_banner, bare = [], [], []
        for i in range(args.runs):
            server, t0, active, banner = boot_via_api(client, image, flavor_id, f"bench-{i}")
            api_active.append(active - t0)
            api_banner.append(banner - t0)
            bare.append(virsh_boot(instances, server, root / "virsh"))
            delete(client, [server])
            print(f"run {i + 1}: API->ACTIVE {api_active[-1]:.2f} s, API->banner "
                  f"{api_banner[-1]:.2f} s, virsh create->banner {bare[-1]:.2f} s")
        delete(client, [warm[0]])
        med_api, med_bare = statistics.median(api_banner), statistics.median(bare)
        print(f"median over {args.runs}: API->ACTIVE {statistics.median(api_active):.2f} s, "
              f"API->banner {med_api:.2f} s, virsh->banner {med_bare:.2f} s, "
              f"ratio {med_api / med_bare:.3f} (target <= 1.15)")
        if args.concurrent:
            n = args.concurrent
            with ThreadPoolExecutor(n) as pool:
                results = list(pool.map(
                    lambda i: boot_via_api(client, image, flavor_id, f"bench-c{i}"), range(n)))
            t0 = min(r[1] for r in results)
            print(f"{n} concurrent boots: all ACTIVE after {max(r[2] for r in results) - t0:.2f}"
                  f" s, all banners after {max(r[3] for r in results) - t0:.2f} s "
                  f"(median banner {statistics.median(r[3] - r[1] for r in results):.2f} s)")
            delete(client, [r[0] for r in results])
    finally:
        client.close()
        cloud.close()
        shutil.rmtree(root, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
