"""Tables of moving instances (migrations) and of server tags.

A ``migrations`` row records one resize, cold migration, live migration or
evacuation, and holds the one resource claim of the move that the instance row
does not hold (see :mod:`novalith.db.claims`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from novalith.db.base import Base, new_uuid, utcnow


class Migration(Base):
    __tablename__ = "migrations"
    __table_args__ = (
        Index("ix_migrations_instance_uuid_status", "instance_uuid", "status"),
        Index("ix_migrations_source_compute_status", "source_compute", "status"),
        Index("ix_migrations_dest_compute_status", "dest_compute", "status"),
        Index("ix_migrations_claim_node_id", "claim_node_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    instance_uuid: Mapped[str] = mapped_column(String(36))
    # resize, migration, live-migration, evacuation (Nova's names)
    migration_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    source_compute: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_compute: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    old_instance_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_instance_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    old_flavor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    new_flavor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # vm_state the instance returns to when the move ends (confirm, revert, failure)
    old_vm_state: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The migration's claim: which node and how much (NULL node: holds nothing).
    claim_node_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    claim_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    claim_memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    claim_disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    memory_total_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    memory_processed_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    memory_remaining_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disk_total_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disk_processed_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    disk_remaining_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class InstanceTag(Base):
    """One tag of one server; the authority for the tag filters of GET /servers.

    ``instances.tags`` mirrors the list (written in the same transaction) so that
    server views need no join.
    """

    __tablename__ = "instance_tags"
    __table_args__ = (Index("ix_instance_tags_tag", "tag"),)
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    tag: Mapped[str] = mapped_column(String(60), primary_key=True)
