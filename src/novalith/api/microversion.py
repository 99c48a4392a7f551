"""Compute API microversions: negotiation from request headers."""

from __future__ import annotations

import re
from functools import total_ordering

from novalith import exceptions

_VERSION = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@total_ordering
class APIVersion:
    __slots__ = ("major", "minor")

    def __init__(self, major: int, minor: int) -> None:
        self.major, self.minor = major, minor

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        m = _VERSION.match(text.strip())
        if not m:
            raise exceptions.InvalidMicroversion(
                f"API Version String {text} is of invalid format. Must be of format "
                "MajorNum.MinorNum.")
        return cls(int(m.group(1)), int(m.group(2)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, APIVersion) and (self.major, self.minor) == (
            other.major, other.minor)

    def __lt__(self, other: APIVersion) -> bool:
        return (self.major, self.minor) < (other.major, other.minor)

    def __hash__(self) -> int:
        return hash((self.major, self.minor))

    def at_least(self, text: str) -> bool:
        major, minor = text.split(".")
        return (self.major, self.minor) >= (int(major), int(minor))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = APIVersion(2, 1)
# The highest microversion whose changes to the APIs we serve are all implemented.
MAX_VERSION = APIVersion(2, 47)


def negotiate(openstack_header: str | None, legacy_header: str | None) -> APIVersion:
    """The version a request asks for; 2.1 when it names none.

    ``OpenStack-API-Version: compute X.Y`` wins over the legacy
    ``X-OpenStack-Nova-API-Version: X.Y``; ``latest`` means the maximum.
    """
    requested: str | None = None
    if openstack_header:
        for part in openstack_header.split(","):
            words = part.strip().split()
            if len(words) == 2 and words[0].lower() == "compute":
                requested = words[1]
    if requested is None and legacy_header:
        requested = legacy_header.strip()
    if requested is None:
        return MIN_VERSION
    if requested.lower() == "latest":
        return MAX_VERSION
    version = APIVersion.parse(requested)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise exceptions.VersionNotAcceptable(
            f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} and "
            f"maximum is {MAX_VERSION}.")
    return version
