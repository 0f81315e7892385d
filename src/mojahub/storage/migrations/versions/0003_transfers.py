"""transfers: transfers, state changes, fulfilments, duplicate checks (owned by the transfers context)

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mojahub.storage.metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfer",
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("payer_fsp", sa.String(length=32), nullable=False),
        sa.Column("payee_fsp", sa.String(length=32), nullable=False),
        sa.Column("payer_account_id", sa.Integer(), nullable=True),
        sa.Column("payee_account_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("condition", sa.String(length=48), nullable=False),
        sa.Column("expires_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("prepare_hash", sa.String(length=64), nullable=False),
        sa.Column("fulfil_hash", sa.String(length=64), nullable=True),
        sa.Column("error_hash", sa.String(length=64), nullable=True),
        sa.Column("fulfilment", sa.String(length=48), nullable=True),
        sa.Column("completed_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=4), nullable=True),
        sa.Column("error_description", sa.String(length=128), nullable=True),
        sa.Column("settlement_window_id", sa.Integer(), nullable=True),
        sa.Column("created_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_transfer")),
    )
    op.create_index("ix_transfer_state_expires", "transfer", ["state", "expires_at"], unique=False)
    op.create_table(
        "transfer_ilp_packet",
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("ilp_packet", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_transfer_ilp_packet")),
    )
    op.create_table(
        "transfer_state_change",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("transfer_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("created_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_state_change")),
    )
    op.create_index("ix_transfer_state_change_transfer", "transfer_state_change", ["transfer_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_transfer_state_change_transfer", table_name="transfer_state_change")
    op.drop_table("transfer_state_change")
    op.drop_table("transfer_ilp_packet")
    op.drop_index("ix_transfer_state_expires", table_name="transfer")
    op.drop_table("transfer")
