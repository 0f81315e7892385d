"""settlement: settlements, participant accounts, window content (owned by the settlement context)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import mojahub.storage.metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('settlement_open_window',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['window_id'], ['settlement_window.id'], name=op.f('fk_settlement_open_window_window_id_settlement_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_open_window'))
    )
    op.create_table('settlement',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('settlement_model_id', sa.Integer(), nullable=False),
    sa.Column('settlement_model', sa.String(length=50), nullable=False),
    sa.Column('ledger_account_type', sa.String(length=50), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('auto_position_reset', sa.Boolean(), nullable=False),
    sa.Column('require_liquidity_check', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
    sa.Column('changed_at', mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement'))
    )
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.create_index('ix_settlement_state', ['state'], unique=False)

    op.create_table('settlement_window_content',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('ledger_account_type', sa.String(length=50), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('settlement_model_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=True),
    sa.Column('created_at', mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
    sa.Column('changed_at', mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_window_content_settlement_id_settlement')),
    sa.ForeignKeyConstraint(['window_id'], ['settlement_window.id'], name=op.f('fk_settlement_window_content_window_id_settlement_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_window_content'))
    )
    with op.batch_alter_table('settlement_window_content', schema=None) as batch_op:
        batch_op.create_index('ix_settlement_window_content_settlement', ['settlement_id'], unique=False)
        batch_op.create_index('ix_settlement_window_content_window', ['window_id'], unique=False)

    op.create_table('settlement_settlement_window',
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_settlement_window_settlement_id_settlement')),
    sa.ForeignKeyConstraint(['window_id'], ['settlement_window.id'], name=op.f('fk_settlement_settlement_window_window_id_settlement_window')),
    sa.PrimaryKeyConstraint('settlement_id', 'window_id', name=op.f('pk_settlement_settlement_window'))
    )
    with op.batch_alter_table('settlement_settlement_window', schema=None) as batch_op:
        batch_op.create_index('ix_settlement_settlement_window_window', ['window_id'], unique=False)

    op.create_table('settlement_account',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('net_amount', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('external_reference', sa.String(length=256), nullable=True),
    sa.Column('settlement_transfer_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
    sa.Column('changed_at', mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_settlement_account_account_id_account')),
    sa.ForeignKeyConstraint(['settlement_id'], ['settlement.id'], name=op.f('fk_settlement_account_settlement_id_settlement')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settlement_account')),
    sa.UniqueConstraint('settlement_id', 'account_id', name=op.f('uq_settlement_account_settlement_id'))
    )
    with op.batch_alter_table('settlement_account', schema=None) as batch_op:
        batch_op.create_index('ix_settlement_account_account', ['account_id'], unique=False)

    # The first OPEN window and the pointer every commit reads (reference: central-ledger seeds
    # settlement window 1 OPEN).
    now = datetime.now(UTC)
    conn = op.get_bind()
    window = sa.table(
        "settlement_window",
        sa.column("id", sa.Integer), sa.column("state", sa.String), sa.column("reason", sa.Text),
        sa.column("created_at", mojahub.storage.metadata.UtcDateTime),
        sa.column("changed_at", mojahub.storage.metadata.UtcDateTime),
    )
    pointer = sa.table("settlement_open_window", sa.column("id", sa.Integer), sa.column("window_id", sa.Integer))
    open_id = conn.execute(sa.select(window.c.id).where(window.c.state == "OPEN").order_by(window.c.id.desc())).scalar()
    if open_id is None:
        open_id = conn.execute(
            sa.insert(window).values(state="OPEN", reason="initial window", created_at=now, changed_at=now)
            .returning(window.c.id)
        ).scalar_one()
    conn.execute(sa.insert(pointer).values(id=1, window_id=open_id))


def downgrade() -> None:
    with op.batch_alter_table('settlement_account', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_account_account')
    op.drop_table('settlement_account')
    with op.batch_alter_table('settlement_settlement_window', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_settlement_window_window')
    op.drop_table('settlement_settlement_window')
    with op.batch_alter_table('settlement_window_content', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_window_content_window')
        batch_op.drop_index('ix_settlement_window_content_settlement')
    op.drop_table('settlement_window_content')
    with op.batch_alter_table('settlement', schema=None) as batch_op:
        batch_op.drop_index('ix_settlement_state')
    op.drop_table('settlement')
    op.drop_table('settlement_open_window')
