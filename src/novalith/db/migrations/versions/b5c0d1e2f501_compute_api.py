"""compute API: keypairs, server groups, aggregates, quotas, migrations (issue 5)

Revision ID: b5c0d1e2f501
Revises: b3c0d1e2f301
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "b5c0d1e2f501"
down_revision = "b3c0d1e2f301"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
