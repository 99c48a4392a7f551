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
    _upgrade_tenancy()
    _upgrade_moves()


def downgrade() -> None:
    _downgrade_moves()
    _downgrade_tenancy()


# ---- keypairs, server groups, aggregates, quotas (api-tenancy) ---------------------------

def _upgrade_tenancy() -> None:
    op.create_table('aggregates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aggregates')),
    sa.UniqueConstraint('name', name=op.f('uq_aggregates_name')),
    sa.UniqueConstraint('uuid', name=op.f('uq_aggregates_uuid'))
    )
    op.create_table('instance_groups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('policy', sa.String(length=64), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instance_groups')),
    sa.UniqueConstraint('uuid', name=op.f('uq_instance_groups_uuid'))
    )
    with op.batch_alter_table('instance_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instance_groups_project_id'), ['project_id'], unique=False)

    op.create_table('key_pairs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=255), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_pairs')),
    sa.UniqueConstraint('user_id', 'name', name=op.f('uq_key_pairs_user_id_name'))
    )
    op.create_table('quota_locks',
    sa.Column('scope', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_quota_locks'))
    )
    op.create_table('quotas',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=255), nullable=False),
    sa.Column('hard_limit', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('project_id', 'resource', name=op.f('pk_quotas'))
    )
    op.create_table('aggregate_hosts',
    sa.Column('aggregate_id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['aggregate_id'], ['aggregates.id'], name=op.f('fk_aggregate_hosts_aggregate_id_aggregates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('aggregate_id', 'host', name=op.f('pk_aggregate_hosts'))
    )
    with op.batch_alter_table('aggregate_hosts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aggregate_hosts_host'), ['host'], unique=False)

    op.create_table('aggregate_metadata',
    sa.Column('aggregate_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['aggregate_id'], ['aggregates.id'], name=op.f('fk_aggregate_metadata_aggregate_id_aggregates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('aggregate_id', 'key', name=op.f('pk_aggregate_metadata'))
    )
    with op.batch_alter_table('aggregate_metadata', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aggregate_metadata_key'), ['key'], unique=False)

    op.create_table('instance_group_members',
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['instance_groups.id'], name=op.f('fk_instance_group_members_group_id_instance_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('instance_uuid', name=op.f('pk_instance_group_members'))
    )
    with op.batch_alter_table('instance_group_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_instance_group_members_group_id'), ['group_id'], unique=False)


def _downgrade_tenancy() -> None:
    for table in ('instance_group_members', 'aggregate_metadata', 'aggregate_hosts', 'quotas',
                  'quota_locks', 'key_pairs', 'instance_groups', 'aggregates'):
        op.drop_table(table)


# ---- migrations (moves) and server tags (api-moves) --------------------------------------

def _upgrade_moves() -> None:
    op.create_table('instance_tags',
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('tag', sa.String(length=60), nullable=False),
    sa.PrimaryKeyConstraint('instance_uuid', 'tag', name=op.f('pk_instance_tags'))
    )
    op.create_index('ix_instance_tags_tag', 'instance_tags', ['tag'], unique=False)
    op.create_table('migrations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('instance_uuid', sa.String(length=36), nullable=False),
    sa.Column('migration_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('source_compute', sa.String(length=255), nullable=True),
    sa.Column('source_node', sa.String(length=255), nullable=True),
    sa.Column('dest_compute', sa.String(length=255), nullable=True),
    sa.Column('dest_node', sa.String(length=255), nullable=True),
    sa.Column('dest_host', sa.String(length=255), nullable=True),
    sa.Column('old_instance_type_id', sa.Integer(), nullable=True),
    sa.Column('new_instance_type_id', sa.Integer(), nullable=True),
    sa.Column('old_flavor', sa.JSON(), nullable=False),
    sa.Column('new_flavor', sa.JSON(), nullable=False),
    sa.Column('old_vm_state', sa.String(length=32), nullable=True),
    sa.Column('claim_node_id', sa.Integer(), nullable=True),
    sa.Column('claim_vcpus', sa.Integer(), nullable=False),
    sa.Column('claim_memory_mb', sa.Integer(), nullable=False),
    sa.Column('claim_disk_gb', sa.Integer(), nullable=False),
    sa.Column('memory_total_bytes', sa.BigInteger(), nullable=True),
    sa.Column('memory_processed_bytes', sa.BigInteger(), nullable=True),
    sa.Column('memory_remaining_bytes', sa.BigInteger(), nullable=True),
    sa.Column('disk_total_bytes', sa.BigInteger(), nullable=True),
    sa.Column('disk_processed_bytes', sa.BigInteger(), nullable=True),
    sa.Column('disk_remaining_bytes', sa.BigInteger(), nullable=True),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('project_id', sa.String(length=64), nullable=True),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migrations')),
    sa.UniqueConstraint('uuid', name=op.f('uq_migrations_uuid'))
    )
    op.create_index('ix_migrations_claim_node_id', 'migrations', ['claim_node_id'], unique=False)
    op.create_index('ix_migrations_dest_compute_status', 'migrations', ['dest_compute', 'status'], unique=False)
    op.create_index('ix_migrations_instance_uuid_status', 'migrations', ['instance_uuid', 'status'], unique=False)
    op.create_index('ix_migrations_source_compute_status', 'migrations', ['source_compute', 'status'], unique=False)


def _downgrade_moves() -> None:
    op.drop_index('ix_migrations_source_compute_status', table_name='migrations')
    op.drop_index('ix_migrations_instance_uuid_status', table_name='migrations')
    op.drop_index('ix_migrations_dest_compute_status', table_name='migrations')
    op.drop_index('ix_migrations_claim_node_id', table_name='migrations')
    op.drop_table('migrations')
    op.drop_index('ix_instance_tags_tag', table_name='instance_tags')
    op.drop_table('instance_tags')
