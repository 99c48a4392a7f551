"""Boot N servers on a distributed cloud: every service its own process, over RabbitMQ
and PostgreSQL (fake driver).

Starts, on this machine: one `novalith api`, S schedulers, C conductors and H fake
`novalith compute` processes, each with its own config file, on a fresh PostgreSQL
database and a RabbitMQ vhost of its own (both removed afterwards). Then sends N
`POST /servers` over keep-alive connections and reports:

- boots per second to ACTIVE (first POST until no server is left in BUILD);
- p50/p99 of one scheduler decision (filter, weigh and the DB claim of one instance),
  from the schedulers' ``novalith.scheduler.decisions`` log;
- RabbitMQ messages per boot, from the broker's own counters (messages published to
  it and delivered by it during the boots; `rabbitmqctl eval` of
  rabbit_global_counters, so the management plugin is not needed).

    python bench/distributed_boot.py --servers 1000 --computes 10
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from boot_fake import Client, get_token, image_id, pct  # noqa: E402

from fixtures.cluster import Cluster, rabbit_vhost, rabbitmqctl  # noqa: E402

PASSWORD = "bench-admin-pw"  # boot_fake.get_token logs in with this one
DECISION = re.compile(r"decision \S+ ([0-9.]+) ms")


def broker_counters() -> dict[str, int]:
    """Messages the broker received (published) and delivered, all vhosts, so far."""
    ctl = rabbitmqctl()
    if ctl is None:
        return {}
    out = subprocess.run([ctl, "eval", "rabbit_global_counters:overview()."],
                         capture_output=True, text=True, timeout=60).stdout
    received = re.search(r"messages_received_total => (\d+)", out)
    delivered = [int(n) for n in re.findall(r"\bmessages_delivered_total => (\d+)", out)]
    return {"published": int(received.group(1)) if received else 0,
            "delivered": sum(delivered)}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes (and their reaped children) used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of stat(5); [0] here is field 3
        total += sum(int(v) for v in fields[11:15]) / tick
    return total


def broker_pid() -> int | None:
    """The RabbitMQ node's OS process (to read its CPU use; nothing else is done to it)."""
    ctl = rabbitmqctl()
    if ctl is None:
        return None
    out = subprocess.run([ctl, "eval", "os:getpid()."], capture_output=True, text=True,
                         timeout=60).stdout.strip().strip('"')
    return int(out) if out.isdigit() else None


def fresh_postgres(admin_url: str) -> tuple[str, Any]:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = "novalith_bench_" + uuid.uuid4().hex[:10]
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


def write_log_config(path: Path, decisions: Path) -> None:
    """Schedulers log each decision's time to ``decisions``, everything else as usual."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_dict({
        "loggers": {"keys": "root,decisions"},
        "handlers": {"keys": "stderr,decisions"},
        "formatters": {"keys": "plain"},
        "logger_root": {"level": "WARNING", "handlers": "stderr"},
        "logger_decisions": {"level": "DEBUG", "handlers": "decisions", "propagate": "0",
                             "qualname": "novalith.scheduler.decisions"},
        "handler_stderr": {"class": "StreamHandler", "args": "(sys.stderr,)",
                           "formatter": "plain"},
        "handler_decisions": {"class": "FileHandler", "args": f"({str(decisions)!r}, 'a')",
                              "formatter": "plain"},
        "formatter_plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    })
    with open(path, "w") as fh:
        cfg.write(fh)


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="novalith-dist-bench-"))
    db_url, drop_db = fresh_postgres(args.db_admin_url)
    base: dict[str, dict[str, Any]] = {
        "DEFAULT": {"osapi_compute_workers": args.api_workers},
        # guests in memory only (state_dir is for the fault tests)
        "fake_driver": {"vcpus": 100000, "memory_mb": 100000000, "local_gb": 10000000,
                        "state_dir": ""},
        "quota": {"instances": -1, "cores": -1, "ram": -1},
        "database": {"max_pool_size": 2, "max_overflow": 2},
    }
    pools = {"api": {"max_pool_size": 5, "max_overflow": 10},
             "scheduler": {"max_pool_size": 3, "max_overflow": 3},
             "conductor": {"max_pool_size": 3, "max_overflow": 5}}
    log_config = root / "scheduler-logging.ini"
    decisions = root / "decisions.log"
    write_log_config(log_config, decisions)
    try:
        with rabbit_vhost("novalith-bench") as (url, exchange):
            c = Cluster(root=root, db_url=db_url, transport_url=url,
                        control_exchange=exchange, base=base, admin_password=PASSWORD)
            c.manage("db", "sync")
            c.manage("bootstrap")
            c.add("api", "api", {"database": pools["api"]})
            for i in range(1, args.schedulers + 1):
                proc = c.add(f"scheduler-{i}", "scheduler", {"database": pools["scheduler"]})
                proc.args += ["--log-config", str(log_config)]
            for i in range(1, args.conductors + 1):
                c.add(f"conductor-{i}", "conductor", {"database": pools["conductor"]})
            for i in range(1, args.computes + 1):
                c.add(f"compute-{i}", "compute")
            try:
                c.start()
                return measure(c, args, decisions)
            finally:
                c.stop_all()
    finally:
        drop_db()
        shutil.rmtree(root, ignore_errors=True)


def measure(c: Cluster, args: argparse.Namespace, decisions: Path) -> dict[str, Any]:
    token = get_token(c.port)
    client = Client(c.port, token)
    image = image_id(client)
    latencies: list[float] = []
    lock = threading.Lock()

    def boot(i: int) -> None:
        t0 = time.perf_counter()
        status, body, _ = client.request("POST", "/compute/v2.1/servers", {"server": {
            "name": f"bench-{i}", "flavorRef": "1", "imageRef": image, "networks": "none"}})
        took = time.perf_counter() - t0
        assert status == 202, body
        with lock:
            latencies.append(took)

    before = broker_counters()
    pids = [p.pid for p in c.procs.values() if p.alive()]
    if args.api_workers > 1:  # the forked workers, children of the api process
        pids += [int(x) for x in Path(f"/proc/{c.procs['api'].pid}/task/"
                                      f"{c.procs['api'].pid}/children").read_text().split()]
    cpu_before = cpu_seconds(pids)
    broker = broker_pid()
    broker_before = cpu_seconds([broker]) if broker else 0.0
    decisions.write_text("")
    start = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(boot, range(args.servers)))
    posted = time.perf_counter() - start
    poller = Client(c.port, token)
    while True:
        _, body, _ = poller.request("GET", "/compute/v2.1/servers?status=BUILD&limit=1")
        if not json.loads(body)["servers"]:
            break
        time.sleep(0.05)
    to_active = time.perf_counter() - start
    cpu_used = cpu_seconds(pids) - cpu_before
    broker_used = cpu_seconds([broker]) - broker_before if broker else 0.0
    after = broker_counters()
    _, body, _ = poller.request("GET", "/compute/v2.1/servers?status=ACTIVE&limit=100000")
    active = len(json.loads(body)["servers"])
    _, body, _ = poller.request("GET", "/compute/v2.1/servers?status=ERROR&limit=100000")
    errors = len(json.loads(body)["servers"])
    times = [float(m.group(1)) for m in DECISION.finditer(decisions.read_text())]
    result: dict[str, Any] = {
        "servers": args.servers, "computes": args.computes, "schedulers": args.schedulers,
        "conductors": args.conductors, "api_workers": args.api_workers,
        "active": active, "error": errors, "post_seconds": round(posted, 2),
        "seconds_to_active": round(to_active, 2),
        "boots_per_second": round(active / to_active, 1),
        "post_p50_ms": round(pct(latencies, 50) * 1000, 1),
        "post_p99_ms": round(pct(latencies, 99) * 1000, 1),
        "decisions": len(times),
        # CPU of the novalith processes only (not PostgreSQL, RabbitMQ or this client)
        "novalith_cpu_ms_per_boot": round(cpu_used * 1000 / max(active, 1), 1),
        "rabbitmq_cpu_ms_per_boot": round(broker_used * 1000 / max(active, 1), 1),
    }
    if times:
        result["decision_p50_ms"] = round(pct(times, 50), 2)
        result["decision_p99_ms"] = round(pct(times, 99), 2)
    if before and after and active:
        result["broker_published_per_boot"] = round(
            (after["published"] - before["published"]) / active, 2)
        result["broker_delivered_per_boot"] = round(
            (after["delivered"] - before["delivered"]) / active, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--computes", type=int, default=10)
    parser.add_argument("--schedulers", type=int, default=1)
    parser.add_argument("--conductors", type=int, default=1)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db-admin-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
