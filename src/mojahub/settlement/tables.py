"""Settlement windows and the per-window clearing aggregate.

``window_flow`` is maintained at commit time (one upsert per payer/payee account pair per commit
batch), so closing a window and netting a settlement read O(participants), not O(transfers).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from mojahub.storage.metadata import UtcDateTime, metadata

settlement_window = Table(
    "settlement_window",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(24), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_settlement_window_state", "state"),
)

window_flow = Table(
    "window_flow",
    metadata,
    Column("window_id", Integer, ForeignKey("settlement_window.id"), primary_key=True),
    Column("payer_account_id", Integer, ForeignKey("account.id"), primary_key=True),
    Column("payee_account_id", Integer, ForeignKey("account.id"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("transfer_count", Integer, nullable=False),
)
