"""Test helpers for the identity unit tests (imported by conftest and tests)."""

from __future__ import annotations

import datetime as dt


class FakeClock:
    """Naive-UTC time that only moves when told to."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, 12, 0, 0, 250000)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class StatementLog:
    """SQL statements run on an engine, to count database reads."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def token_selects(self) -> int:
        return sum(1 for s in self.statements
                   if s.lstrip().upper().startswith("SELECT") and "tokens" in s)
