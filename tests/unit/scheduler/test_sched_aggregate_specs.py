"""AggregateInstanceExtraSpecsFilter and the extra-spec operator language."""

from __future__ import annotations

import pytest

from novalith.objects.specs import FlavorSpec
from novalith.scheduler.filters.aggregate_instance_extra_specs import (
    AggregateInstanceExtraSpecsFilter,
)
from novalith.scheduler.filters.extra_specs_ops import matches


@pytest.mark.parametrize(("value", "requirement", "expected"), [
    ("true", "true", True), ("true", "True", False),
    ("4", "= 2", True), ("1", "= 2", False), ("x", "= 2", False),
    ("2", "== 2.0", True), ("3", "!= 2", True), ("3", ">= 3", True), ("3", "<= 2", False),
    ("abc", "s== abc", True), ("abc", "s!= abc", False), ("abc", "s< abd", True),
    ("abc", "s<= abc", True), ("abd", "s> abc", True), ("abc", "s>= abd", False),
    ("sse4 avx", "<in> avx", True), ("sse4", "<in> avx", False),
    ("sse4 avx aes", "<all-in> avx aes", True), ("sse4 avx", "<all-in> avx aes", False),
    ("ssd", "<or> hdd <or> ssd", True), ("nvme", "<or> hdd <or> ssd", False),
    ("", "", True),
])
def test_operators(value: str, requirement: str, expected: bool) -> None:
    assert matches(value, requirement) is expected


def _spec(make_spec, specs: dict[str, str]):
    flavor = FlavorSpec(flavorid="f", name="f", memory_mb=512, vcpus=1, root_gb=1,
                        extra_specs=specs)
    return make_spec(flavor=flavor)


def test_scoped_and_unscoped_keys_must_match_aggregate_metadata(make_host, make_spec) -> None:
    ssd = make_host("ssd", aggregate_metadata={"ssd": {"true"}, "gen": {"3", "4"}})
    plain = make_host("plain")
    other = make_host("hdd", aggregate_metadata={"ssd": {"false"}})
    hosts = [ssd, plain, other]
    filt = AggregateInstanceExtraSpecsFilter()
    wanted = _spec(make_spec, {"aggregate_instance_extra_specs:ssd": "true"})
    assert [h.host for h in filt.filter_all(hosts, wanted)] == ["ssd"]
    unscoped = _spec(make_spec, {"gen": ">= 4"})
    assert [h.host for h in filt.filter_all(hosts, unscoped)] == ["ssd"]
    assert [filt.host_passes(h, unscoped) for h in hosts] == [True, False, False]


def test_other_scopes_and_empty_specs_pass_every_host(make_host, make_spec) -> None:
    hosts = [make_host("a"), make_host("b", aggregate_metadata={"x": {"1"}})]
    filt = AggregateInstanceExtraSpecsFilter()
    assert filt.filter_all(hosts, make_spec()) is hosts
    hw = _spec(make_spec, {"hw:cpu_policy": "dedicated", "capabilities:cpu_info": "x"})
    assert filt.filter_all(hosts, hw) is hosts
