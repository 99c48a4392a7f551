"""distributed mode (issue 6): an index for the conductor's build watchdog

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
    # The watchdog (novalith.conductor.recovery) asks for building instances every
    # [conductor] build_check_interval seconds, in every conductor.
    op.create_index("ix_instances_vm_state_deleted", "instances", ["vm_state", "deleted"])


def downgrade() -> None:
    op.drop_index("ix_instances_vm_state_deleted", table_name="instances")
