"""Regression: a value the database refuses is bad input (400), not a server error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from fixtures.databases import open_database
from novalith import exceptions
from novalith.db.models import Flavor


def test_nul_character_on_postgresql_is_invalid_input(tmp_path: Path) -> None:
    with open_database("postgresql", tmp_path) as db:
        with pytest.raises(exceptions.Invalid) as err:
            with db.write() as conn:
                conn.execute(insert(Flavor.__table__).values(
                    flavorid="x", name="bad\x00name", memory_mb=1, vcpus=1, root_gb=0,
                    ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True, disabled=False))
        assert err.value.status == 400
        with db.read() as conn:  # rolled back: nothing written
            assert conn.execute(Flavor.__table__.select()).first() is None
