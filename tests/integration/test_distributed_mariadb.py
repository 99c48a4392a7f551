"""The same distributed cloud on MariaDB: `novalith manage db sync` and `bootstrap`
on a fresh MariaDB database, an API with two worker processes, a scheduler, a
conductor and two fake compute processes over RabbitMQ; boots spread over both
hosts and deletes give every claim back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from openstack.connection import Connection

from fixtures.cluster import Cluster, rabbit_vhost, require
from fixtures.cluster_checks import (
    BASE,
    SDK_WARNINGS,
    assert_each_guest_once,
    assert_no_overcommit,
    boot_many,
    delete_all,
    hypervisors,
    service_states,
    wait_settled,
)
from fixtures.databases import _server_database

pytestmark = [pytest.mark.timeout(300), *SDK_WARNINGS]


@pytest.fixture(scope="module")
def mariadb_cluster(servers_up: dict[str, bool], tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Cluster]:
    require(servers_up, "rabbitmq", "mariadb")
    root: Path = tmp_path_factory.mktemp("mariadb-cluster")
    with _server_database("mariadb") as db_url, rabbit_vhost() as (url, exchange):
        c = Cluster(root=root, db_url=db_url, transport_url=url, control_exchange=exchange,
                    base={**BASE, "DEFAULT": {**BASE["DEFAULT"], "osapi_compute_workers": 2}})
        c.manage("db", "sync")
        c.manage("bootstrap")
        c.add("api", "api")
        c.add("scheduler-1", "scheduler")
        c.add("conductor-1", "conductor")
        for name in ("compute-1", "compute-2"):
            c.add(name, "compute")
        try:
            c.start()
            yield c
        finally:
            c.stop_all()


def test_boots_and_deletes_on_mariadb(mariadb_cluster: Cluster) -> None:
    c = mariadb_cluster
    with closing(c.connect()) as sdk:
        _boot_and_delete(c, sdk)


def _boot_and_delete(c: Cluster, sdk: Connection) -> None:
    states = service_states(sdk)
    assert states == {("nova-scheduler", "scheduler-1"): "up",
                      ("nova-conductor", "conductor-1"): "up",
                      ("nova-compute", "compute-1"): "up", ("nova-compute", "compute-2"): "up"}
    ids = boot_many(c, sdk, (f"maria-{i}" for i in range(20)))
    servers = wait_settled(sdk, ids, timeout=90)
    per_host = Counter(s.compute_host for s in servers.values())
    assert set(per_host) == {"compute-1", "compute-2"} and min(per_host.values()) >= 5
    assert_no_overcommit(sdk)
    assert_each_guest_once(c, servers)
    delete_all(c, sdk, ids)
    assert all(h["memory_mb_used"] == 0 for h in hypervisors(sdk).values())
