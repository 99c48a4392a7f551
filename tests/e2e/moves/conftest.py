"""A ``novalith up`` with three fake hosts for the move e2e tests (resize, migrations,
evacuation, rebuild, lock, metadata, tags, instance actions), driven with unmodified
openstacksdk.

Every test boots its own servers, pinned to a host (``nova:<host>``, as admin) so it
knows where they start; usage figures are compared as deltas from before the test.
Live migrations take ``live_migration_delay`` seconds unless forced to complete, so
the running migration can be seen and acted on.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from ..conftest import NovalithProcess, launch, stop

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

# openstacksdk's own pending deprecations, emitted on ordinary calls.
SDK_WARNINGS = [
    pytest.mark.filterwarnings(
        "ignore:Support for InfluxDB:openstack.warnings.RemovedInSDK60Warning"),
    pytest.mark.filterwarnings(
        "ignore:The 'service_type' parameter is unnecesary:"
        "openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings(
        "ignore:The _compute_attributes method is deprecated:"
        "openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings(
        "ignore:The ignore_missing parameter of all find_:"
        "openstack.warnings.RemovedInSDK60Warning"),
]


@pytest.fixture(scope="package")
def moves_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NovalithProcess]:
    proc, running = launch(tmp_path_factory.mktemp("novalith-e2e-moves"), fake_hosts=3,
                           extra_config=CONFIG)
    try:
        yield running
    finally:
        returncode = stop(proc, signal.SIGINT)
    if returncode != 0:
        pytest.fail(f"novalith up did not stop cleanly (exit status {returncode}):\n"
                    f"{running.output()}", pytrace=False)


@pytest.fixture(scope="package")
def conn(moves_cloud: NovalithProcess) -> Iterator[Connection]:
    connection = moves_cloud.connect()
    yield connection
    connection.close()
