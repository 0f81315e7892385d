"""lookup and quotes: oracles, built-in oracle, parties, quotes (owned by the lookup/quoting contexts)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mojahub.storage.metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "als_oracle",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("party_id_type", sa.String(length=32), nullable=False),
        sa.Column("endpoint_value", sa.Text(), nullable=False),
        sa.Column("endpoint_type", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_als_oracle")),
    )
    op.create_index("ix_als_oracle_type", "als_oracle", ["party_id_type", "is_active"], unique=False)
    op.create_table(
        "als_party",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("party_id_type", sa.String(length=32), nullable=False),
        sa.Column("party_identifier", sa.String(length=128), nullable=False),
        sa.Column("party_sub_id", sa.String(length=128), nullable=False),
        sa.Column("fsp_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_als_party")),
        sa.UniqueConstraint(
            "party_id_type", "party_identifier", "party_sub_id", name=op.f("uq_als_party_party_id_type")
        ),
    )
    op.create_table(
        "quote",
        sa.Column("quote_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("transaction_request_id", sa.String(length=64), nullable=True),
        sa.Column("payer_fsp", sa.String(length=32), nullable=False),
        sa.Column("payee_fsp", sa.String(length=32), nullable=False),
        sa.Column("amount_type", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=True),
        sa.Column("fees_currency", sa.String(length=3), nullable=True),
        sa.Column("scenario", sa.String(length=16), nullable=False),
        sa.Column("initiator", sa.String(length=8), nullable=False),
        sa.Column("initiator_type", sa.String(length=16), nullable=False),
        sa.Column("expires_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("transfer_amount", sa.BigInteger(), nullable=True),
        sa.Column("transfer_currency", sa.String(length=3), nullable=True),
        sa.Column("payee_receive_amount", sa.BigInteger(), nullable=True),
        sa.Column("payee_receive_currency", sa.String(length=3), nullable=True),
        sa.Column("payee_fsp_fee", sa.BigInteger(), nullable=True),
        sa.Column("payee_fsp_fee_currency", sa.String(length=3), nullable=True),
        sa.Column("payee_fsp_commission", sa.BigInteger(), nullable=True),
        sa.Column("payee_fsp_commission_currency", sa.String(length=3), nullable=True),
        sa.Column("answer_expires_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ilp_packet", sa.Text(), nullable=True),
        sa.Column("condition", sa.String(length=48), nullable=True),
        sa.Column("error_code", sa.String(length=4), nullable=True),
        sa.Column("error_description", sa.String(length=128), nullable=True),
        sa.Column("answer_hash", sa.String(length=64), nullable=True),
        sa.Column("answer_path", sa.String(length=256), nullable=True),
        sa.Column("answer_headers", sa.JSON(), nullable=True),
        sa.Column("answer_body", sa.LargeBinary(), nullable=True),
        sa.Column("answered_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", mojahub.storage.metadata.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("quote_id", name=op.f("pk_quote")),
    )
    op.create_index("ix_quote_transaction", "quote", ["transaction_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_quote_transaction", table_name="quote")
    op.drop_table("quote")
    op.drop_table("als_party")
    op.drop_index("ix_als_oracle_type", table_name="als_oracle")
    op.drop_table("als_oracle")
