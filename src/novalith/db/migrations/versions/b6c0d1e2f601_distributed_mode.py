"""distributed mode (issue 6)

Revision ID: b6c0d1e2f601
Revises: b5c0d1e2f501
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "b6c0d1e2f601"
down_revision = "b5c0d1e2f501"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
