"""Quota checks are atomic: concurrent count-then-insert never goes over a limit, on
SQLite, PostgreSQL and MariaDB (skipped, saying why, when a server is missing)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from fixtures.databases import BACKENDS, open_database
from novalith import exceptions
from novalith.db import quotas as quota_db
from novalith.db.api import Database
from novalith.db.base import utcnow
from novalith.db.instances import INST

DEFAULTS = {"instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100,
            "server_groups": 10, "server_group_members": 10, "metadata_items": 128}


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with open_database(request.param, tmp_path) as database:
        yield database


def _row(project: str, vcpus: int = 1, ram: int = 512) -> dict[str, object]:
    now = utcnow()
    return {"uuid": str(uuid.uuid4()), "display_name": "q", "hostname": "q",
            "user_id": "u", "project_id": project, "image_ref": "", "flavor_id": 1,
            "flavor": {}, "vcpus": vcpus, "memory_mb": ram, "root_gb": 1, "ephemeral_gb": 0,
            "swap": 0, "vm_state": "building", "task_state": "scheduling", "power_state": 0,
            "attempts": [], "metadata": {}, "system_metadata": {}, "tags": [],
            "reservation_id": "r-1", "launch_index": 0, "config_drive": "",
            "created_at": now, "updated_at": now, "deleted": False, "locked": False,
            "progress": 0}


def _boot(db: Database, project: str, count: int = 1) -> str:
    """One 'POST /servers' worth of DB work: lock, count, insert; 'ok' or 'quota'."""
    try:
        with db.write() as conn:
            limits = quota_db.limits(conn, project, DEFAULTS)
            quota_db.lock(conn, [f"project:{project}"])
            allowed = quota_db.check_instances(conn, project, limits,
                                               {"cores": 1, "ram": 512}, count, count)
            conn.execute(insert(INST), [_row(project) for _ in range(allowed)])
    except exceptions.QuotaExceeded:
        return "quota"
    return "ok"


def _count(db: Database, project: str) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(INST)
                                .where(INST.c.project_id == project)).scalar() or 0)


def test_twenty_concurrent_boots_against_ten(db: Database) -> None:
    project = "p-" + uuid.uuid4().hex[:6]
    start = threading.Barrier(20)

    def boot(_: int) -> str:
        start.wait()
        return _boot(db, project)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(boot, range(20)))
    assert results.count("ok") == 10 and results.count("quota") == 10
    assert _count(db, project) == 10
    with db.read() as conn:
        assert quota_db.project_usage(conn, project)["instances"] == 10


def test_refusal_message_and_nothing_written(db: Database) -> None:
    project = "p-" + uuid.uuid4().hex[:6]
    for _ in range(10):
        assert _boot(db, project) == "ok"
    with pytest.raises(exceptions.QuotaExceeded) as err:
        with db.write() as conn:
            limits = quota_db.limits(conn, project, DEFAULTS)
            quota_db.check_instances(conn, project, limits, {"cores": 1, "ram": 512}, 1, 1)
    assert str(err.value) == ("Quota exceeded for instances: Requested 1, but already used "
                              "10 of 10 instances")
    assert err.value.status == 403
    assert _count(db, project) == 10


def test_min_max_count_is_trimmed_to_what_fits(db: Database) -> None:
    project = "p-" + uuid.uuid4().hex[:6]
    with db.write() as conn:
        quota_db.set_limits(conn, project, {"cores": 3})
        limits = quota_db.limits(conn, project, DEFAULTS)
        assert limits["cores"] == 3 and limits["instances"] == 10
        assert quota_db.check_instances(conn, project, limits, {"cores": 1, "ram": 1}, 1, 5) == 3
        with pytest.raises(exceptions.QuotaExceeded, match="Quota exceeded for cores: "
                           "Requested 8, but already used 0 of 3 cores"):
            quota_db.check_instances(conn, project, limits, {"cores": 2, "ram": 1}, 4, 4)
        quota_db.delete_limits(conn, project)
        assert quota_db.limits(conn, project, DEFAULTS)["cores"] == 20


def test_unlimited_skips_counting(db: Database) -> None:
    limits = dict(DEFAULTS, instances=-1, cores=-1, ram=-1)
    with db.write() as conn:
        assert quota_db.check_instances(conn, "nobody", limits, {"cores": 99, "ram": 9}, 1,
                                        1000) == 1000
