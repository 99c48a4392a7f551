"""Schemathesis against /compute/openapi.json: generated requests, as admin, on an
in-process cloud, never get a 5xx.

Bounded: every Compute API operation in the document gets EXAMPLES generated
requests (a few hundred in all), each at microversion 2.1 or 2.47. Half of them
name real resources in their path (a server, an aggregate, a keypair, a group, the
admin project, a flavor, a hypervisor), so the generated bodies reach past the
lookups. Identity and image operations are left out: the point is the Compute API,
and fuzzing the identity API would revoke the very token the run uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fixtures.cloud import RunningCloud, start_cloud

EXAMPLES = 6
PREFIX = "/compute/v2.1/"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path_factory.mktemp("fuzz"), fake_hosts=2)
    yield running
    running.close()


def _real_ids(cloud: RunningCloud) -> dict[str, str]:
    """Resources that generated requests may name in their paths."""
    with cloud.client(version="2.47") as c:
        server = cloud.boot(c, "fuzz-target")
        cloud.wait_status(c, server, {"ACTIVE"})
        aggregate = c.post("/os-aggregates", json={"aggregate": {"name": "fuzz"}}
                           ).json()["aggregate"]["id"]
        c.post("/os-keypairs", json={"keypair": {"name": "fuzz-key"}})
        group = c.post("/os-server-groups", json={"server_group": {
            "name": "fuzz", "policies": ["affinity"]}}).json()["server_group"]["id"]
        hypervisor = c.get("/os-hypervisors").json()["hypervisors"][0]["id"]
    return {"server_id": server, "aggregate_id": str(aggregate), "keypair_name": "fuzz-key",
            "group_id": group, "project_id": cloud.cloud.identity.find_project("admin").id,
            "flavor_id": "1", "hypervisor_id": str(hypervisor)}


def test_generated_requests_get_no_server_error(cloud: RunningCloud) -> None:
    document = httpx.get(cloud.base_url + "/compute/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    real = _real_ids(cloud)
    token = cloud.token()
    operations = [result.ok() for result in schema.get_all_operations()]
    compute = [op for op in operations if op.path.startswith(PREFIX)]
    assert len(compute) >= 40, [op.path for op in compute]
    failures: list[str] = []
    sent = 0
    with httpx.Client(base_url=cloud.base_url, timeout=30) as client:
        for operation in compute:
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(), use_real=st.booleans(),
                   version=st.sampled_from(["2.1", "2.47"]))
            def run(case: Any, use_real: bool, version: str) -> None:
                nonlocal sent
                if use_real and case.path_parameters:
                    for name in list(case.path_parameters):
                        if name in real:
                            case.path_parameters[name] = real[name]
                headers = {"X-Auth-Token": token, "OpenStack-API-Version": f"compute {version}"}
                request = case.as_transport_kwargs(base_url=cloud.base_url, headers=headers)
                resp = client.request(request["method"], request["url"],
                                      headers=request.get("headers"),
                                      params=request.get("params"),
                                      content=request.get("data"),
                                      json=request.get("json"))
                sent += 1
                if resp.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {version} "
                                    f"{request.get('json')!r} -> {resp.status_code} "
                                    f"{resp.text[:200]}")
            run()
    assert not failures, "\n".join(failures)
    assert len(compute) * 2 <= sent <= len(compute) * EXAMPLES
