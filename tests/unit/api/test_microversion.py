"""Microversion negotiation from the OpenStack-API-Version and legacy Nova headers."""

from __future__ import annotations

import pytest

from novalith import exceptions
from novalith.api.microversion import MAX_VERSION, MIN_VERSION, APIVersion, negotiate


def test_no_header_means_the_minimum() -> None:
    assert negotiate(None, None) == MIN_VERSION == APIVersion(2, 1)
    assert negotiate("", "") == MIN_VERSION


@pytest.mark.parametrize(("header", "expected"), [
    ("compute 2.10", "2.10"),
    ("compute 2.1", "2.1"),
    ("COMPUTE 2.37", "2.37"),
    ("  compute   2.5  ", "2.5"),
    ("volume 3.40, compute 2.3", "2.3"),
    ("compute 2.3, volume 3.40", "2.3"),
])
def test_openstack_header(header: str, expected: str) -> None:
    assert str(negotiate(header, None)) == expected


def test_latest_means_the_maximum_in_either_header() -> None:
    assert negotiate("compute latest", None) == MAX_VERSION
    assert negotiate("compute LATEST", None) == MAX_VERSION
    assert negotiate(None, "latest") == MAX_VERSION


def test_legacy_header_is_used_when_the_new_one_is_absent() -> None:
    assert str(negotiate(None, "2.20")) == "2.20"
    assert str(negotiate(None, " 2.20 ")) == "2.20"


def test_new_header_wins_over_the_legacy_one() -> None:
    assert str(negotiate("compute 2.15", "2.30")) == "2.15"


def test_new_header_for_another_service_falls_back_to_the_legacy_one() -> None:
    assert str(negotiate("volume 3.0", "2.30")) == "2.30"
    assert negotiate("volume 3.0", None) == MIN_VERSION


@pytest.mark.parametrize("bad", ["2", "2.", "2.x", "two.one", "2.01", "02.1", "2.1.1",
                                 "-2.1", "2.-1", "v2.1"])
def test_malformed_version_is_invalid(bad: str) -> None:
    with pytest.raises(exceptions.InvalidMicroversion) as info:
        negotiate(f"compute {bad}", None)
    assert info.value.status == 400
    with pytest.raises(exceptions.InvalidMicroversion):
        negotiate(None, bad)


@pytest.mark.parametrize("version", ["2.0", "1.1", "3.0", f"2.{MAX_VERSION.minor + 1}",
                                     "2.1000"])
def test_out_of_range_version_is_not_acceptable(version: str) -> None:
    with pytest.raises(exceptions.VersionNotAcceptable) as info:
        negotiate(f"compute {version}", None)
    assert info.value.status == 406
    assert str(MIN_VERSION) in str(info.value) and str(MAX_VERSION) in str(info.value)


def test_range_ends_are_accepted() -> None:
    assert negotiate(f"compute {MIN_VERSION}", None) == MIN_VERSION
    assert negotiate(f"compute {MAX_VERSION}", None) == MAX_VERSION


def test_versions_compare_numerically() -> None:
    assert APIVersion.parse("2.10") > APIVersion.parse("2.9")
    assert APIVersion.parse("2.9") < APIVersion.parse("2.10")
    assert APIVersion.parse("2.0") < APIVersion.parse("3.0")
    assert APIVersion.parse("2.10") == APIVersion(2, 10)
    assert APIVersion(2, 10) != "2.10"
    assert len({APIVersion(2, 1), APIVersion.parse("2.1")}) == 1
    assert MIN_VERSION <= MAX_VERSION


@pytest.mark.parametrize(("version", "floor", "expected"), [
    ("2.47", "2.47", True), ("2.47", "2.9", True), ("2.9", "2.10", False),
    ("2.10", "2.9", True), ("2.1", "2.1", True), ("2.37", "2.38", False),
])
def test_at_least(version: str, floor: str, expected: bool) -> None:
    assert APIVersion.parse(version).at_least(floor) is expected
