"""The in-memory fake driver: for tests and for simulating many hosts at scale."""

from __future__ import annotations

from novalith.virt.fake.driver import FakeDriver, FakeSettings

__all__ = ["FakeDriver", "FakeSettings"]
