"""image service: members, tags, stores (issue 3)

Revision ID: b3c0d1e2f301
Revises: 923a41494c64
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "b3c0d1e2f301"
down_revision = "923a41494c64"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
