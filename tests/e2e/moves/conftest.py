"""A ``novalith up`` with three fake hosts for the move e2e tests (resize, migrations,
evacuation, rebuild, lock, metadata, tags, instance actions), driven with unmodified
openstacksdk.

Every test boots its own servers, pinned to a host (``nova:<host>``, as admin) so it
knows where they start; usage figures are compared as deltas from before the test.
Live migrations take ``live_migration_delay`` seconds unless forced to complete, so
the running migration can be seen and acted on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from ..conftest import SDK_WARNINGS, NovalithProcess, running_cloud

__all__ = ["SDK_WARNINGS"]  # the package's test modules import it from here

HOSTS = ("e2e-host-1", "e2e-host-2", "e2e-host-3")
CONFIG = """
[DEFAULT]
reserved_host_memory_mb = 0
report_interval = 1
[fake_driver]
vcpus = 16
memory_mb = 32768
local_gb = 1000
live_migration_delay = 20
"""


@pytest.fixture(scope="package")
def moves_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NovalithProcess]:
    with running_cloud(tmp_path_factory.mktemp("novalith-e2e-moves"), fake_hosts=3,
                       extra_config=CONFIG) as running:
        yield running


@pytest.fixture(scope="package")
def conn(moves_cloud: NovalithProcess) -> Iterator[Connection]:
    connection = moves_cloud.connect()
    yield connection
    connection.close()
