from __future__ import annotations

import pytest

from novalith.scheduler.filters.image_properties import (
    ImagePropertiesFilter,
    parse_version_constraint,
    version_to_int,
)

KVM_X86 = [["x86_64", "kvm", "hvm"]]


def _passes(host, spec) -> bool:
    filt = ImagePropertiesFilter()
    result = filt.host_passes(host, spec)
    assert filt.filter_all([host], spec) == ([host] if result else [])
    return result


def test_no_image_or_no_properties_passes(make_host, make_spec) -> None:
    host = make_host(supported_instances=[])
    assert _passes(host, make_spec())
    assert _passes(host, make_spec(image_props={}))
    assert _passes(host, make_spec(image_props={"os_distro": "ubuntu"}))


@pytest.mark.parametrize("props", [
    {"hw_architecture": "x86_64"},
    {"architecture": "AMD64"},
    {"hw_architecture": "x64", "img_hv_type": "KVM", "hw_vm_mode": "hv"},
    {"hypervisor_type": "kvm", "vm_mode": "HVM"},
])
def test_matching_properties_pass(make_host, make_spec, props) -> None:
    assert _passes(make_host(supported_instances=KVM_X86), make_spec(image_props=props))


@pytest.mark.parametrize("props", [
    {"hw_architecture": "aarch64"},
    {"img_hv_type": "qemu"},  # qemu and kvm are distinct
    {"hw_vm_mode": "xen"},
    {"hw_vm_mode": "pv"},
])
def test_mismatching_properties_fail(make_host, make_spec, props) -> None:
    assert not _passes(make_host(supported_instances=KVM_X86), make_spec(image_props=props))


def test_new_name_wins_over_old(make_host, make_spec) -> None:
    host = make_host(supported_instances=KVM_X86)
    props = {"hw_architecture": "x86_64", "architecture": "aarch64"}
    assert _passes(host, make_spec(image_props=props))


def test_all_properties_must_match_one_entry(make_host, make_spec) -> None:
    host = make_host(supported_instances=[["x86_64", "qemu", "hvm"], ["aarch64", "kvm", "hvm"]])
    assert _passes(host, make_spec(image_props={"hw_architecture": "aarch64",
                                                "img_hv_type": "kvm"}))
    assert not _passes(host, make_spec(image_props={"hw_architecture": "x86_64",
                                                    "img_hv_type": "kvm"}))


def test_empty_supported_instances_fail_when_asked(make_host, make_spec) -> None:
    assert not _passes(make_host(supported_instances=[]),
                       make_spec(image_props={"hw_architecture": "x86_64"}))


@pytest.mark.parametrize(("constraint", "expected"), [
    (">=7000000", True), ("8002000", True), ("==8002000", True), (">8002000", False),
    ("<8.0", False), (">=8.2", True), (">=8.2.1", False), (">=7.0, <9.0", True),
    ("!=8.2.0", False),
])
def test_requested_version(make_host, make_spec, constraint, expected) -> None:
    host = make_host(supported_instances=KVM_X86, hypervisor_version=8002000)
    spec = make_spec(image_props={"hw_architecture": "x86_64",
                                  "img_hv_requested_version": constraint})
    assert _passes(host, spec) is expected


def test_version_alone_needs_no_supported_instances(make_host, make_spec) -> None:
    spec = make_spec(image_props={"img_hv_requested_version": ">=6000000"})
    assert _passes(make_host(supported_instances=[], hypervisor_version=6000000), spec)
    assert not _passes(make_host(supported_instances=[], hypervisor_version=5000000), spec)


def test_unknown_host_version_and_bad_constraint_fail(make_host, make_spec) -> None:
    spec = make_spec(image_props={"img_hv_requested_version": ">=1"})
    assert not _passes(make_host(hypervisor_version=0), spec)
    bad = make_spec(image_props={"img_hv_requested_version": "~> 6"})
    assert not _passes(make_host(hypervisor_version=8002000), bad)


def test_filter_all_over_mixed_hosts_keeps_order(make_host, make_spec) -> None:
    hosts = [
        make_host("a", supported_instances=KVM_X86, hypervisor_version=8000000),
        make_host("b", supported_instances=[["aarch64", "kvm", "hvm"]]),
        make_host("c", supported_instances=KVM_X86, hypervisor_version=6000000),
        make_host("d", supported_instances=[["i686", "kvm", "hvm"], *KVM_X86],
                  hypervisor_version=9000000),
    ]
    spec = make_spec(image_props={"hw_architecture": "amd64",
                                  "img_hv_requested_version": ">=7.0"})
    passed = ImagePropertiesFilter().filter_all(hosts, spec)
    assert [h.host for h in passed] == ["a", "d"]


def test_version_helpers() -> None:
    assert version_to_int("6.1") == 6001000
    assert version_to_int("6001000") == 6001000
    assert parse_version_constraint(" >= 6.0 ")(6000000)
    with pytest.raises(ValueError):
        parse_version_constraint(">=six")
