"""An ImageService on each database backend, with a filesystem store in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from image_service_helpers import make_service

from fixtures.databases import BACKENDS, open_database
from novalith.image.service import ImageService


@pytest.fixture(params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ImageService]:
    with open_database(request.param, tmp_path) as db:
        yield make_service(db, tmp_path)


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[ImageService]:
    """SQLite, with small limits so quotas and the size cap are easy to reach."""
    with open_database("sqlite", tmp_path) as db:
        yield make_service(db, tmp_path, image_size_cap=1000, image_member_quota=2,
                           image_tag_quota=3, image_property_quota=3)


@pytest.fixture
def plain_service(tmp_path: Path) -> Iterator[ImageService]:
    """SQLite, default limits."""
    with open_database("sqlite", tmp_path) as db:
        yield make_service(db, tmp_path)
