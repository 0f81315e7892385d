"""outbox: the delivering attempt is kept on the message (delivered_url/status/latency)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("delivered_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("delivered_latency_ms", sa.Integer(), nullable=True))
    # Delivered messages migrated from 0004 keep their attempt rows (attempts_of reads both).


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("delivered_latency_ms")
        batch_op.drop_column("delivered_status")
        batch_op.drop_column("delivered_url")
