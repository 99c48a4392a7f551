"""Alembic environment: the engine comes from the caller (novalith.db.migration)."""

from __future__ import annotations

from alembic import context

import novalith.db.models  # noqa: F401  (registers every table)
from novalith.db.base import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through `novalith manage db sync`.")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite",
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
