"""Shared pytest fixtures; fixtures of outside services live in tests/fixtures/."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures.cloud import RunningCloud, start_cloud  # noqa: E402


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[RunningCloud]:
    running = start_cloud(tmp_path)
    yield running
    running.close()
